"""Real tritonservers from ``spine-rt triton-serve`` on 127.0.0.1 (python flavour) and the triton backend.

Every server is a ``spine-rt triton-serve`` child process on free ports chosen
at run time, stopped by its process id (SIGTERM) at the end, and checked to
have taken its tritonserver with it. The scans are the tiny phantoms of the
infer CLI tests (about 180 x 90 x 12 voxels on the model grid).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spine_rt.cli.main import main
from spine_rt.errors import InputError

pytestmark = [pytest.mark.triton, pytest.mark.torch, pytest.mark.slow]

MODEL_IN_PLANE_MM = 0.3448
READY = re.compile(r"tritonserver ready \(pid (\d+)\)")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that nothing listens on now (bound to port 0 together, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Served:
    """One ``spine-rt triton-serve`` process and its tritonserver."""

    def __init__(self, repo: Path, log: Path) -> None:
        self.http, self.grpc, self.metrics = free_ports(3)
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spine_rt.cli", "triton-serve", str(repo), "--http-port", str(self.http),
             "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics)],
            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
        line = self.process.stdout.readline()  # blocks until ready, or empty when the process ended
        match = READY.search(line)
        if match is None:
            self.stop()
            raise AssertionError(f"triton-serve did not start: {line!r}; log: {log.read_text()[-2000:]}")
        self.server_pid = int(match.group(1))

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Signal by pid (SIGTERM, or SIGINT as Ctrl-C sends), wait; the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, how)
        code = self.process.wait(timeout=90)
        return code

    def server_gone(self, within_s: float = 60) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if not pid_alive(self.server_pid):
                return True
            time.sleep(0.2)
        return False


def write_mr_scan(path: Path, seed: int) -> Path:
    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(seed, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= MODEL_IN_PLANE_MM / 2.0
    nib.save(nib.Nifti1Image(phantom.image, affine), path)
    return path


@pytest.fixture(scope="module")
def python_repo(tiny_package_root, tmp_path_factory, tritonserver_installed) -> Path:
    repo = tmp_path_factory.mktemp("triton") / "repo"
    assert main(["triton-repo", str(tiny_package_root), "--out", str(repo), "--flavour", "python",
                 "--threads", "1"]) == 0
    return repo


@pytest.fixture(scope="module")
def two_servers(python_repo, tmp_path_factory):
    logs = tmp_path_factory.mktemp("server_logs")
    servers = []
    try:
        servers.append(Served(python_repo, logs / "a.log"))
        servers.append(Served(python_repo, logs / "b.log"))
        yield servers
    finally:
        for server, how in zip(servers, (signal.SIGINT, signal.SIGTERM)):
            assert server.stop(how) == 0, server.log.read_text()[-2000:]
            assert f"tritonserver stopped ({how.name}" in server.log.read_text()
            assert server.server_gone(), f"tritonserver {server.server_pid} outlived triton-serve"


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scans")
    for seed in range(4):
        write_mr_scan(folder / f"case{seed}.nii.gz", seed)
    return folder


def inference_count(url: str, model: str) -> int:
    import tritonclient.grpc as grpcclient

    stats = grpcclient.InferenceServerClient(url).get_inference_statistics(model, as_json=True)
    return int(stats["model_stats"][0].get("inference_count", 0))


def test_infer_over_two_servers_equals_onnxruntime(two_servers, tiny_package_root, scans, tmp_path):
    scan = scans / "case0.nii.gz"
    before = [inference_count(s.url, "stage2_fold0") for s in two_servers]
    servers = ",".join(s.url for s in two_servers)
    assert main(["infer", str(scan), "--model", str(tiny_package_root), "-o", str(tmp_path / "triton.nii.gz"),
                 "--backend", "triton", "--server", servers, "--report", str(tmp_path / "triton.json")]) == 0
    assert main(["infer", str(scan), "--model", str(tiny_package_root), "-o", str(tmp_path / "ort.nii.gz"),
                 "--backend", "onnxruntime"]) == 0
    remote = np.asarray(nib.load(tmp_path / "triton.nii.gz").dataobj)
    local = np.asarray(nib.load(tmp_path / "ort.nii.gz").dataobj)
    assert remote.shape == local.shape and len(np.unique(local)) > 5
    assert np.mean(remote == local) >= 0.999
    after = [inference_count(s.url, "stage2_fold0") for s in two_servers]
    assert all(b > a for a, b in zip(before, after)), (before, after)  # both servers did stage-two work
    report = (tmp_path / "triton.json").read_text()
    assert '"backend": "triton"' in report and '"precision": "fp32"' in report  # as the repository serves it


def test_pipeline_precision_must_match_the_repository(two_servers, tiny_package_root):
    from spine_rt.pipelines import load_pipeline

    with pytest.raises(InputError, match="precision fp16 asked for, but the servers' stage1 models run fp32"):
        load_pipeline(tiny_package_root, backend="triton", servers=two_servers[0].url, precision="fp16")


def test_runner_equals_onnxruntime_splits_large_batches_and_validates(two_servers, tiny_package_root):
    from spine_rt.runtime import OnnxRuntimeRunner, TritonRunner, TritonServerPool

    rng = np.random.default_rng(0)
    slices = rng.standard_normal((17, 3, 64, 128)).astype(np.float32)  # more than max_batch_size 16
    with OnnxRuntimeRunner(tiny_package_root / "stage1" / "fold0.fp32.onnx") as local:
        expected = local.infer({"slices": slices})
    for protocol, port in (("grpc", two_servers[0].grpc), ("http", two_servers[0].http)):
        for shared_memory in (True, False):
            pool = TritonServerPool(f"127.0.0.1:{port}", protocol)
            with TritonRunner("stage1_fold0", pool, shared_memory=shared_memory) as runner:
                assert runner.max_batch_size == 16 and [s.name for s in runner.input_specs] == ["slices"]
                assert runner.describe()["shared_memory"] is shared_memory
                got = runner.infer({"slices": slices})
                with pytest.raises(InputError, match="expected float32"):
                    runner.infer({"slices": slices[:, :, :32]})
            assert list(got) == list(expected)
            for name in expected:
                np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5)
    assert not [p for p in Path("/dev/shm").glob(f"spine_rt_{os.getpid()}_stage1_fold0_*")]  # regions removed


def test_killed_server_mid_cohort_moves_work_to_the_other(python_repo, two_servers, tiny_package_root, scans,
                                                          tmp_path):
    doomed = Served(python_repo, tmp_path / "doomed.log")
    out = tmp_path / "out"
    cohort = subprocess.Popen(
        [sys.executable, "-m", "spine_rt.cli", "infer", str(scans), "--model", str(tiny_package_root), "-o", str(out),
         "--backend", "triton", "--server", f"{doomed.url},{two_servers[1].url}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "case0_report.json").exists():
            assert cohort.poll() is None and time.monotonic() < deadline, "the cohort ended before its first case"
            time.sleep(0.1)
        done_at_kill = len(list(out.glob("*_report.json")))
        os.kill(doomed.process.pid, signal.SIGKILL)  # a crash: triton-serve cannot stop its server itself
        stdout, stderr = cohort.communicate(timeout=600)
    finally:
        if cohort.poll() is None:
            cohort.kill()
        doomed.process.wait(timeout=30)
    assert done_at_kill < 4
    assert cohort.returncode == 0, stderr
    assert "4 case(s) segmented" in stdout
    assert f"Triton server {doomed.url} failed and is no longer used" in stderr
    assert f"moving its work to {two_servers[1].url}" in stderr
    assert len(list(out.glob("*_seg.nii.gz"))) == 4
    assert doomed.server_gone(), "the tritonserver of a killed triton-serve was orphaned"


def test_server_not_ready_is_one_line_and_exit_3(two_servers, tiny_package_root, scans, tmp_path, capsys):
    (nobody,) = free_ports(1)
    scan = str(scans / "case0.nii.gz")
    code = main(["infer", scan, "--model", str(tiny_package_root), "-o", str(tmp_path / "a.nii.gz"),
                 "--backend", "triton", "--server", f"{two_servers[0].url},127.0.0.1:{nobody}"])
    err = capsys.readouterr().err.strip()
    assert code == 3 and len(err.splitlines()) == 1
    assert f"Triton server 127.0.0.1:{nobody} (grpc) is not reachable" in err and "spine-rt triton-serve" in err
    code = main(["infer", scan, "--model", str(tiny_package_root), "-o", str(tmp_path / "b.nii.gz"),
                 "--backend", "triton", "--server", two_servers[0].url, "--model-name-prefix", "other_"])
    err = capsys.readouterr().err.strip()
    assert code == 3 and len(err.splitlines()) == 1 and "does not serve a ready model 'other_stage1_fold0'" in err
    assert not list(tmp_path.iterdir())


def test_triton_serve_refusals(two_servers, python_repo, tiny_package_root, scans, tmp_path, capsys):
    repo = tmp_path / "onnxruntime_repo"
    assert main(["triton-repo", str(tiny_package_root), "--out", str(repo)]) == 0
    capsys.readouterr()
    assert main(["triton-serve", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "Python backend only" in err and "NVIDIA's Triton container" in err
    taken = two_servers[0].grpc
    http, metrics = free_ports(2)
    assert main(["triton-serve", str(python_repo), "--grpc-port", str(taken), "--http-port", str(http),
                 "--metrics-port", str(metrics)]) == 3
    assert f"port {taken} on 127.0.0.1 is in use" in capsys.readouterr().err
    assert main(["infer", str(scans / "case0.nii.gz"), "--model", str(tiny_package_root), "-o",
                 str(tmp_path / "x.nii.gz"), "--backend", "onnxruntime", "--server", "127.0.0.1:1"]) == 2
    assert "--server: options of --backend triton" in capsys.readouterr().err
