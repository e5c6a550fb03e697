"""Throughput of the tiny package through one and two local Triton servers vs in-process onnxruntime.

::

    python benchmarks/triton_throughput.py --inflight 1,2,4,8 --requests 16 --rounds 2 --scans 2 --json triton.json

Not a test (no time is asserted anywhere); the figures and the command go to
RESULTS.md. Two measurements, configurations interleaved round by round so
that they see the same machine load:

* **per call**: the stage-two call the pipeline makes (batch 4, the tiny
  package's 21 x 64 x 64 x 12 + 64 x 16 x 16 x 12 inputs), sent by K client
  threads at once (requests in flight K = 1..8) in a closed loop to
  in-process onnxruntime (one session, one intra-op thread per call, shared
  by the K threads), one server, and two servers (the
  :class:`~spine_rt.runtime.TritonServerPool` spreads them, least
  outstanding requests), each with the tensors in system shared memory and
  as binary gRPC data. Each server is ``spine-rt triton-serve``'s
  tritonserver on a python-flavour repository (one instance per model, one
  onnxruntime thread, dynamic batching preferred 4 and 8, queue delay 2 ms).
  Reported: requests/s (wall clock), CPU seconds per request summed over
  this process and the servers with their Python backend stubs
  (``/proc/<pid>/stat``; the machine is shared, so CPU time is the steadier
  figure), the average batch per server execution (the dynamic batcher's
  merging, from Triton's statistics) and the overhead per call: Triton's
  latency minus onnxruntime's, in wall and in CPU time.
* **per scan**: ``spine-rt infer``'s pipeline on a tiny phantom (about
  180 x 90 x 12 voxels on the model grid) in process vs over one and two
  servers (shared memory, binary gRPC): wall and CPU seconds per scan and the difference.

Servers are started here (127.0.0.1, free ports) and stopped by their
process id at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_PATCHES = {"stage1": (64, 128), "stage2": (64, 64, 12)}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and every descendant alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        todo += children.get(current, [])
    return total


class CpuMeter:
    """CPU seconds of this process plus the given server processes (and their stubs)."""

    def __init__(self, server_pids: list[int]) -> None:
        self.pids = server_pids

    def read(self) -> float:
        return time.process_time() + sum(process_tree_cpu(pid) for pid in self.pids)


def export_tiny(folder: Path) -> Path:
    from spine_rt.export import export_package

    package = export_package("sshsnet", out=folder / "pkg", preset="tiny", random_init=True, seed=3,
                             patch_sizes=TINY_PATCHES, precisions=["fp32"])
    return Path(package.root)


def stage_two_feed(package: Path, batch: int = 4) -> dict[str, np.ndarray]:
    from spine_rt.model_package import ModelPackage

    stage = ModelPackage.open(package).stage("stage2")
    rng = np.random.default_rng(0)
    return {t.name: rng.standard_normal((batch, *t.shape[1:])).astype(np.float32) for t in stage.inputs}


def closed_loop(call, feed, inflight: int, requests: int) -> float:
    """``inflight`` threads, ``requests`` calls in all; wall seconds."""
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            call(feed)

    threads = [threading.Thread(target=worker) for _ in range(inflight)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def batch_statistics(urls: list[str], model: str) -> tuple[int, int]:
    """(inferences, executions) of ``model`` summed over the servers."""
    import tritonclient.grpc as grpcclient

    inferences = executions = 0
    for url in urls:
        stats = grpcclient.InferenceServerClient(url).get_inference_statistics(model, as_json=True)["model_stats"][0]
        inferences += int(stats.get("inference_count", 0))
        executions += int(stats.get("execution_count", 0))
    return inferences, executions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="tiny package (default: export the tests' tiny package)")
    parser.add_argument("--inflight", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=16, help="calls per configuration and level per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scans", type=int, default=2, help="phantom scans per configuration per round")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    levels = [int(v) for v in args.inflight.split(",")]

    from spine_rt.runtime.machine import cpu_capabilities, load_average, usable_cores
    from spine_rt.pipelines import load_pipeline
    from spine_rt.runtime import OnnxRuntimeRunner, TritonRunner, TritonServerPool
    from spine_rt.serving import RepositoryOptions, TritonServerProcess, write_triton_repository

    work = Path(tempfile.mkdtemp(prefix="spine-rt-triton-bench-"))
    package = Path(args.model) if args.model else export_tiny(work)
    repo = work / "repo"
    write_triton_repository(package, repo, RepositoryOptions(flavour="python", threads=1))
    servers = []
    log = open(work / "servers.log", "w")
    try:
        for _ in range(2):
            http, grpc, metrics = free_ports(3)
            server = TritonServerProcess(repo, http_port=http, grpc_port=grpc, metrics_port=metrics, log=log)
            server.start()
            servers.append(server)
        urls = [s.url("grpc") for s in servers]
        meter = CpuMeter([s.pid for s in servers])
        feed = stage_two_feed(package)
        local = OnnxRuntimeRunner(package / "stage2" / "fold0.fp32.onnx", threads=1).activate()
        remote = {f"{label}, {transfer}": TritonRunner("stage2_fold0", TritonServerPool(
                      chosen, shared_memory=transfer == "shared memory")).activate()
                  for label, chosen in (("1 server", urls[:1]), ("2 servers", urls))
                  for transfer in ("shared memory", "binary gRPC")}
        configs = {"in-process onnxruntime": local.infer, **{k: r.infer for k, r in remote.items()}}
        for call in configs.values():  # warm-up
            call(feed)
        calls: dict[str, dict[int, dict[str, float]]] = {c: {k: {"wall": 0.0, "cpu": 0.0, "n": 0} for k in levels}
                                                         for c in configs}
        batches: dict[str, dict[int, list[int]]] = {c: {k: [0, 0] for k in levels} for c in configs}
        load_before = load_average()
        for round_index in range(args.rounds):
            for level in levels:
                for name, call in configs.items():
                    stats0 = batch_statistics(urls, "stage2_fold0")
                    cpu0 = meter.read()
                    wall = closed_loop(call, feed, level, args.requests)
                    cpu = meter.read() - cpu0
                    stats1 = batch_statistics(urls, "stage2_fold0")
                    entry = calls[name][level]
                    entry["wall"] += wall
                    entry["cpu"] += cpu
                    entry["n"] += args.requests
                    batches[name][level][0] += stats1[0] - stats0[0]
                    batches[name][level][1] += stats1[1] - stats0[1]
                    print(f"round {round_index} inflight {level} {name}: {args.requests / wall:.2f} req/s, "
                          f"{cpu / args.requests * 1000:.1f} ms CPU/req", file=sys.stderr, flush=True)

        scan_rows = scan_benchmark(package, urls, meter, args.scans, args.rounds, load_pipeline, work)
        load_after = load_average()
        report = {"cpu": cpu_capabilities().model, "cores": usable_cores(), "load_before": load_before, "load_after": load_after,
                  "requests_per_level": args.requests * args.rounds, "calls": calls, "batches": batches,
                  "scans": scan_rows, "command": " ".join(sys.argv)}
        print_report(report, levels)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    finally:
        for server in servers:
            server.stop()
        log.close()
    return 0


def scan_benchmark(package, urls, meter, scans, rounds, load_pipeline, work) -> dict[str, dict[str, float]]:
    import nibabel as nib

    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(0, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= 0.3448 / 2.0
    path = work / "scan.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, affine), path)
    from spine_rt.runtime import TritonServerPool

    pipelines = {"in-process onnxruntime": load_pipeline(package, backend="onnxruntime", device="cpu")}
    for stage in (pipelines["in-process onnxruntime"].stage_one, pipelines["in-process onnxruntime"].stage_two):
        for runner in stage.runners:  # one intra-op thread, as each server instance has
            runner.threads = 1
    for label, chosen in (("1 server", urls[:1]), ("2 servers", urls)):
        for transfer in ("shared memory", "binary gRPC"):
            pool = TritonServerPool(chosen, shared_memory=transfer == "shared memory")
            pipelines[f"{label}, {transfer}"] = load_pipeline(package, backend="triton", servers=pool)
    for pipe in pipelines.values():
        pipe(path)  # warm-up
    rows = {name: {"wall": 0.0, "cpu": 0.0, "n": 0} for name in pipelines}
    labels = {}
    for _ in range(rounds):
        for name, pipe in pipelines.items():
            for _ in range(scans):
                cpu0, wall0 = meter.read(), time.perf_counter()
                result = pipe(path)
                rows[name]["wall"] += time.perf_counter() - wall0
                rows[name]["cpu"] += meter.read() - cpu0
                rows[name]["n"] += 1
                labels[name] = result.labels
    for name in rows:
        rows[name]["agreement"] = float(np.mean(labels[name] == labels["in-process onnxruntime"]))
    for pipe in pipelines.values():
        pipe.close()
    return rows


def print_report(report, levels) -> None:
    print(f"CPU {report['cpu']} ({report['cores']} cores), load {report['load_before']} -> {report['load_after']}")
    print("per call (stage two, batch 4): requests/s | CPU ms per request (this process + servers) | "
          "requests per server execution")
    base = report["calls"]["in-process onnxruntime"]
    for name, by_level in report["calls"].items():
        cells = []
        for level in levels:
            entry = by_level[level]
            inferences, executions = report["batches"][name][level]
            merged = f", {inferences / 4 / executions:.2f} req/exec" if executions else ""
            cells.append(f"K={level}: {entry['n'] / entry['wall']:.2f}/s, {entry['cpu'] / entry['n'] * 1000:.0f} ms"
                         f"{merged}")
        print(f"  {name:32s} " + " | ".join(cells))
    print("overhead per call vs in-process (K=1): wall ms, CPU ms")
    for name in [n for n in report["calls"] if n != "in-process onnxruntime"]:
        entry, ref = report["calls"][name][levels[0]], base[levels[0]]
        print(f"  {name:32s} {(entry['wall'] / entry['n'] - ref['wall'] / ref['n']) * 1000:+.1f} ms wall, "
              f"{(entry['cpu'] / entry['n'] - ref['cpu'] / ref['n']) * 1000:+.1f} ms CPU")
    print("per scan (tiny phantom, whole pipeline): wall s, CPU s, label agreement with in-process")
    ref = report["scans"]["in-process onnxruntime"]
    for name, row in report["scans"].items():
        print(f"  {name:32s} {row['wall'] / row['n']:.2f} s wall ({row['wall'] / row['n'] - ref['wall'] / ref['n']:+.2f}),"
              f" {row['cpu'] / row['n']:.2f} s CPU ({row['cpu'] / row['n'] - ref['cpu'] / ref['n']:+.2f}), "
              f"{row['agreement'] * 100:.2f} %")


if __name__ == "__main__":
    sys.exit(main())
