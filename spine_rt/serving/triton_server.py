"""A local ``tritonserver`` from the nvidia-pytriton wheel: found, prepared, started, stopped.

::

    server = TritonServerProcess("repo/", http_port=8000, grpc_port=8001, metrics_port=8002)
    server.start()              # returns when the server and its models are ready (or raises)
    ...                         # clients on 127.0.0.1:8001 (gRPC) / :8000 (HTTP)
    server.stop()               # SIGTERM, then SIGKILL after a grace period

What the wheel holds and what running it needs (measured with
nvidia-pytriton 0.7.0, tritonserver 2.51.0, Python 3.11, numpy 2.3):

* ``site-packages/pytriton/tritonserver/bin/tritonserver`` and the Python
  backend only (``backends/python``: no onnxruntime, PyTorch or TensorRT
  backend), its shared libraries in ``site-packages/nvidia_pytriton.libs``.
* The Python backend's stub is shipped per Python version
  (``python_backend_stubs/3.X/triton_python_backend_stub``) and must sit in
  the backend folder: a backend folder is assembled here under a temporary
  folder (links to the wheel's files plus the stub for this interpreter),
  as pytriton itself does, leaving site-packages untouched.
* The stub embeds this interpreter's ``libpython3.X.so``: its folder goes
  first on ``LD_LIBRARY_PATH`` (else another Python's library may be found).
* The stub starts its interpreter from the first ``python3`` on ``PATH`` and
  ignores ``PYTHONPATH``: this environment's ``bin/`` goes first on ``PATH``
  so that the models see this environment's numpy and onnxruntime.
* The stub is built against numpy 1's C API; under numpy 2 tensors must
  cross it through DLPack (see :mod:`spine_rt.serving.triton_python_model`).
* Each server gets its own prefix for the Python backend's shared-memory
  regions in ``/dev/shm``, so several servers on one machine do not collide.

The server is started with ``PR_SET_PDEATHSIG`` (Linux), so it receives
SIGTERM when the process that started it dies, even by SIGKILL: no orphaned
server. Health is polled over HTTP (``/v2/health/ready``), no tritonclient needed.
"""

from __future__ import annotations

import collections
import ctypes
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from spine_rt.errors import EnvironmentProblem, InputError

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
DEFAULT_STARTUP_TIMEOUT_S = 120.0
STOP_GRACE_S = 30.0
PYTRITON_HINT = ("install it with: pip install --no-deps nvidia-pytriton (--no-deps: its numpy<2 pin would "
                 "replace numpy 2, and the server needs none of its Python dependencies)")
CONTAINER_HINT = ("run NVIDIA's Triton container for the tensorrt and onnxruntime flavours (README: "
                  "'Scale-out on Triton'), or write the repository with --flavour python")
#: lines of the server's log kept for error messages
LOG_TAIL = 30


@dataclass(frozen=True)
class TritonInstallation:
    """The files of the wheel's tritonserver.

    Attributes:
        binary: the ``tritonserver`` executable.
        python_backend: the wheel's ``backends/python`` folder.
        stub: the Python backend stub built for this interpreter's Python version.
        libraries: the wheel's shared libraries (``nvidia_pytriton.libs``).
    """

    binary: Path
    python_backend: Path
    stub: Path
    libraries: Path


def find_tritonserver() -> TritonInstallation:
    """The tritonserver of the installed nvidia-pytriton wheel, with the stub for this Python.

    Raises:
        EnvironmentProblem: nvidia-pytriton is not installed, or lacks the binary or a
            stub for this Python version (names the versions it has).
    """
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem(f"spine-rt triton-serve needs the tritonserver of nvidia-pytriton, which is not "
                                 f"installed; {PYTRITON_HINT}")
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    binary = root / "bin" / "tritonserver"
    python_backend = root / "backends" / "python"
    if not binary.is_file() or not (python_backend / "libtriton_python.so").is_file():
        raise EnvironmentProblem(f"{root}: no tritonserver binary or Python backend in this nvidia-pytriton; {PYTRITON_HINT}")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        have = sorted(p.name for p in (root / "python_backend_stubs").glob("*") if p.is_dir())
        raise EnvironmentProblem(f"nvidia-pytriton has no Python backend stub for Python {version} "
                                 f"(it has: {', '.join(have) or 'none'}); use one of those Python versions")
    libraries = root.parent.parent / "nvidia_pytriton.libs"
    return TritonInstallation(binary, python_backend, stub, libraries)


def server_environment(installation: TritonInstallation, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the server and its Python backend stubs need (see the module docstring)."""
    env = dict(os.environ if base is None else base)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    library_path = [p for p in (libdir, str(installation.libraries)) if p and Path(p).is_dir()]
    if env.get("LD_LIBRARY_PATH"):
        library_path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(library_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def check_repository(repository: Path) -> list[str]:
    """The model names of a repository that the wheel's server can run (Python backend only).

    Raises:
        InputError: not a folder, no model in it, or a model of another flavour
            (onnxruntime, tensorrt) that this server cannot run.
    """
    if not repository.is_dir():
        raise InputError(f"{repository}: no such model repository folder")
    names = []
    for config in sorted(repository.glob("*/config.pbtxt")):
        text = config.read_text()
        platform = re.search(r'^\s*platform\s*:\s*"([^"]*)"', text, re.MULTILINE)
        backend = re.search(r'^\s*backend\s*:\s*"([^"]*)"', text, re.MULTILINE)
        kind = platform.group(1) if platform else backend.group(1) if backend else "unknown"
        if kind != "python":
            raise InputError(f"{config}: model runs on {kind!r}; the tritonserver of nvidia-pytriton has the Python "
                             f"backend only; {CONTAINER_HINT}")
        names.append(config.parent.name)
    if not names:
        raise InputError(f"{repository}: no model (no */config.pbtxt); write one with spine-rt triton-repo PKG "
                         "--out REPO --flavour python")
    return names


def port_in_use(address: str, port: int) -> bool:
    """True when ``address:port`` cannot be bound (something listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return True
    return False


class TritonServerProcess:
    """One tritonserver process serving a repository on ``address``.

    Args:
        repository: the model repository (python flavour).
        http_port / grpc_port / metrics_port: ports (defaults 8000 / 8001 / 8002).
        address: the interface to bind (default 127.0.0.1, this machine only).
        log: where the server's log lines go (default: stderr); the last lines
            are also kept for error messages.

    Raises:
        InputError: a bad repository or port number.
    """

    def __init__(self, repository: str | os.PathLike, *, http_port: int | None = None, grpc_port: int | None = None,
                 metrics_port: int | None = None, address: str | None = None, log: TextIO | None = None) -> None:
        self.repository = Path(repository).resolve()
        self.models = check_repository(self.repository)
        self.address = address or DEFAULT_ADDRESS
        self.ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        for what, port in self.ports.items():
            if port is None:
                self.ports[what] = DEFAULT_PORTS[what]
            elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise InputError(f"--{what}-port must be a port number from 1 to 65535, got {port!r}")
        if len(set(self.ports.values())) != 3:
            raise InputError(f"the HTTP, gRPC and metrics ports must differ, got {self.ports}")
        self.log = log
        self.process: subprocess.Popen | None = None
        self._workspace: tempfile.TemporaryDirectory | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id (``None`` before :meth:`start`)."""
        return None if self.process is None else self.process.pid

    def url(self, protocol: str = "grpc") -> str:
        """``HOST:PORT`` of the gRPC or HTTP endpoint."""
        return f"{self.address}:{self.ports[protocol]}"

    def start(self, timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S) -> None:
        """Start the server and wait until it and every model are ready.

        Raises:
            EnvironmentProblem: nvidia-pytriton missing, a port in use, or the server
                exited or was not ready within ``timeout_s`` (with its last log lines).
        """
        installation = find_tritonserver()
        for what, port in self.ports.items():
            if port_in_use(self.address, port):
                raise EnvironmentProblem(f"port {port} on {self.address} is in use; choose another with --{what}-port")
        self._workspace = tempfile.TemporaryDirectory(prefix="spine-rt-triton-")
        backends = Path(self._workspace.name) / "backends"
        python = backends / "python"
        python.mkdir(parents=True)
        for item in installation.python_backend.iterdir():
            if item.is_file():
                (python / item.name).symlink_to(item)
        (python / "triton_python_backend_stub").symlink_to(installation.stub)
        prefix = f"spine_rt_{os.getpid()}_{uuid.uuid4().hex[:8]}_"
        command = [
            str(installation.binary), f"--model-repository={self.repository}", f"--backend-directory={backends}",
            f"--http-address={self.address}", f"--grpc-address={self.address}", f"--metrics-address={self.address}",
            f"--http-port={self.ports['http']}", f"--grpc-port={self.ports['grpc']}",
            f"--metrics-port={self.ports['metrics']}", "--allow-gpu-metrics=false", "--exit-on-error=true",
            "--strict-readiness=true", f"--backend-config=python,shm-region-prefix-name={prefix}",
        ]
        self.process = subprocess.Popen(command, env=server_environment(installation), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                        preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read_log, name="tritonserver-log", daemon=True)
        self._reader.start()
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def wait(self) -> int:
        """Block until the server exits; its exit code."""
        if self.process is None:
            raise InputError("the Triton server was not started")
        return self.process.wait()

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM the server, SIGKILL it after ``grace_s``; its exit code (``None`` if never started)."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
            if self._reader is not None:
                self._reader.join(timeout=5)
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None
        return code

    def log_tail(self) -> str:
        """The server's last log lines."""
        return "\n".join(self._tail)

    # ----------------------------------------------------------------- internals
    def _read_log(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._tail.append(line.rstrip("\n"))
            stream = self.log if self.log is not None else sys.stderr
            try:
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):  # the log's reader went away; keep draining the pipe
                pass

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.url('http')}/v2/health/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvironmentProblem(f"tritonserver exited with code {self.process.returncode} while starting: "
                                         f"{self._last_error()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise EnvironmentProblem(f"tritonserver was not ready after {timeout_s:.0f} s: {self._last_error()}")

    def _last_error(self) -> str:
        time.sleep(0.2)  # let the reader catch the last lines
        lines = [line for line in self._tail if line.startswith("E") or "error" in line.lower()]
        return (lines[-1] if lines else (self._tail[-1] if self._tail else "no log output")).strip()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the server then outlives a killed parent
        pass
