"""``spine-rt triton-serve``: run a local Triton Inference Server (nvidia-pytriton's binary) on a repository.

::

    spine-rt triton-repo PKG --out REPO --flavour python
    spine-rt triton-serve REPO                       # 127.0.0.1, HTTP 8000, gRPC 8001, metrics 8002
    spine-rt infer scans/ --model PKG --backend triton --server 127.0.0.1:8001

Prints one line when the server is ready (with its process id and ports),
then runs until SIGINT (Ctrl-C) or SIGTERM, which stop the server cleanly
(SIGTERM, then SIGKILL after 30 s); the server also receives SIGTERM if this
process is killed. Exit 0 after a requested stop, 3 when the server cannot
start or exits by itself.
"""

from __future__ import annotations

import argparse
import signal
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "triton-serve",
        help="run a local Triton Inference Server on a python-flavour repository",
        description="Start the tritonserver of the nvidia-pytriton wheel (Python backend only: repositories "
        "written with spine-rt triton-repo --flavour python) on 127.0.0.1 and keep it running until SIGINT or "
        "SIGTERM. For the tensorrt and onnxruntime flavours use NVIDIA's Triton container (README).",
    )
    parser.add_argument("repository", metavar="REPO", help="model repository folder")
    parser.add_argument("--http-port", type=int, default=None, metavar="N", help="HTTP port (default 8000)")
    parser.add_argument("--grpc-port", type=int, default=None, metavar="N", help="gRPC port (default 8001)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="N", help="metrics port (default 8002)")
    parser.add_argument("--address", default=None, metavar="IP",
                        help="the interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--startup-timeout", type=float, default=None, metavar="S",
                        help="seconds to wait for the server and its models to be ready (default 120)")
    parser.set_defaults(run=run)


class _Stop(Exception):
    """Raised by the signal handler to leave the wait."""


def run(args: argparse.Namespace) -> int:
    from spine_rt.errors import EnvironmentProblem
    from spine_rt.serving.triton_server import DEFAULT_STARTUP_TIMEOUT_S, TritonServerProcess

    server = TritonServerProcess(args.repository, http_port=args.http_port, grpc_port=args.grpc_port,
                                 metrics_port=args.metrics_port, address=args.address)

    def stop(signum, frame):
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    reason, code = None, None
    try:
        server.start(timeout_s=args.startup_timeout or DEFAULT_STARTUP_TIMEOUT_S)
        print(f"tritonserver ready (pid {server.pid}): {len(server.models)} model(s) of {server.repository}; "
              f"gRPC {server.url('grpc')}, HTTP {server.url('http')}, metrics "
              f"{server.address}:{server.ports['metrics']}; Ctrl-C stops it", flush=True)
        code = server.wait()
    except _Stop as signalled:
        reason = str(signalled)
    finally:
        for sig in previous:  # a second Ctrl-C must not interrupt the stop (SIGTERM, then SIGKILL after 30 s)
            signal.signal(sig, signal.SIG_IGN)
        stopped = server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if reason is not None:
        print(f"tritonserver stopped ({reason}, exit code {stopped})", file=sys.stderr)
        return 0
    last = server.log_tail().splitlines()[-1:] or ["no log output"]
    raise EnvironmentProblem(f"tritonserver exited by itself with code {code}: {last[0]}")
