"""Peak host memory of the pipeline call on volumes of growing size, each in a fresh process.

For every size a new Python process (``--child``) loads the package
(onnxruntime by default), runs one warm-up call on a one-patch volume (so the
backend's arenas exist), draws the synthetic scan, then resets the process's
RSS high-water mark (``/proc/self/clear_refs``) and records the resident
memory as its *baseline* (interpreter, libraries, weights, arenas, the scan
itself). After one pipeline call on the scan, the high-water mark minus the
baseline is what the call needed; divided by the scan's voxels it gives
bytes per voxel. Targets: linear growth and < 16 bytes per voxel. The
package is a random-init tiny SSHSNet on SEEDS' 0.3448 mm grid, so the
network volume has the scan's size.

    pytest benchmarks/test_memory.py                             # sizes up to 12 x 1024 x 1024
    SPINE_RT_BENCH_LARGEST=1 pytest benchmarks/test_memory.py    # and 24 x 1024 x 1024
    python benchmarks/test_memory.py [--largest] [--backend onnxruntime] [--threads 1] [--json F]
    python benchmarks/test_memory.py --steps 12,1024,1024 --threads 1   # numpy memory per pipeline step

The largest size, 24 x 1024 x 1024 (25 M voxels), is behind ``--largest``
(``SPINE_RT_BENCH_LARGEST=1`` for pytest): it takes minutes on two cores.
Shapes are ``(slices, S-I, A-P)`` at 4.4 x 0.3448 x 0.3448 mm, the grid the
networks run on (:mod:`spine_rt.bench.plan`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

SIZES = [(12, 512, 512), (12, 1024, 512), (12, 1024, 1024)]
LARGEST = (24, 1024, 1024)
TARGET_BYTES_PER_VOXEL = 16.0
#: a one-patch volume for the warm-up call
WARMUP_SHAPE = (12, 192, 192)
_MIB = 1024.0 * 1024.0


def measure_in_child(package: str, shape: tuple[int, int, int], backend: str, threads: int | None,
                     maps_dtype: str | None = None) -> dict:
    """Run this file with ``--child`` for one size; returns its JSON line."""
    command = [sys.executable, __file__, "--child", "--package", package, "--shape", ",".join(map(str, shape)),
               "--backend", backend]
    if maps_dtype:
        command += ["--maps-dtype", maps_dtype]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child for {shape} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def warmed_pipeline(package: str, backend: str, threads: int | None, maps_dtype: str | None = None):
    """The pipeline on ``package`` (CPU, ``threads`` for torch and onnxruntime) after one small warm-up call."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    import spine_rt
    from spine_rt.bench.plan import shaped_input

    pipeline = spine_rt.load_pipeline(package, backend=backend, device="cpu", maps_dtype=maps_dtype)
    for runner in (*pipeline.stage_one.runners, *pipeline.stage_two.runners):
        if threads and getattr(runner, "backend", "") == "onnxruntime":
            runner.threads = threads
    warm = shaped_input(WARMUP_SHAPE)
    pipeline(warm.image, warm.affine)
    return pipeline


def child(package: str, shape: tuple[int, int, int], backend: str, threads: int | None,
          maps_dtype: str | None = None) -> dict:
    """One size in this (fresh) process: see the module docstring."""
    from spine_rt.bench.instruments import current_host_memory_bytes, peak_host_memory_bytes, reset_peak_host_memory
    from spine_rt.bench.plan import shaped_input

    pipeline = warmed_pipeline(package, backend, threads, maps_dtype)
    scan = shaped_input(shape)
    if not reset_peak_host_memory():
        raise RuntimeError("cannot reset the RSS high-water mark here (/proc/self/clear_refs)")
    baseline = current_host_memory_bytes()
    result = pipeline(scan.image, scan.affine)
    peak = peak_host_memory_bytes()
    extra = peak - baseline
    return {"shape": list(shape), "voxels": scan.voxels, "backend": backend, "threads": threads,
            "baseline_bytes": baseline, "peak_bytes": peak, "call_bytes": extra,
            "bytes_per_voxel": extra / scan.voxels, "maps_dtype": pipeline.schedule.maps_dtype,
            "network_volume_shape": result.report["preprocessing"]["network_volume_shape"],
            "stage_two_patches": result.report["stage_two_patches"],
            "seconds": result.report["seconds"]["total"]}


#: pipeline steps whose numpy memory ``--steps`` traces: (module, function) or (module, class, method)
TRACED_STEPS = (
    ("spine_rt.pipelines.spine_mr.preprocessing", "MrPreprocessing", "prepare"),
    ("spine_rt.pipelines.schedules.fast", "FastSchedule", "predict"),
    ("spine_rt.pipelines.schedules.stage_one", "downsample_in_plane"),
    ("spine_rt.pipelines.schedules.stage_one", "StageOne", "_stitch"),
    ("spine_rt.pipelines.schedules.stage_one", "StageOne", "fold_mean"),
    ("spine_rt.pipelines.schedules.fast", "windows_in_roi"),
    ("spine_rt.pipelines.schedules.roi", "windows_near_foreground"),
    ("spine_rt.pipelines.schedules.stage_two", "StageTwo", "_build"),
    ("spine_rt.pipelines.schedules.stage_two", "StageTwo", "_blend"),
    ("spine_rt.pipelines.schedules.stage_two", "Fusion", "__call__"),
    ("spine_rt.pipelines.schedules.fast", "full_resolution_rows"),
    ("spine_rt.pipelines.spine_mr.preprocessing", "PreparedVolume", "labels_to_input"),
)


def step_peaks(package: str, shape: tuple[int, int, int], backend: str, threads: int | None,
               maps_dtype: str | None = None) -> list[tuple]:
    """Numpy memory (``tracemalloc``) of each pipeline step, bytes per voxel: ``(step, calls, at first entry,
    highest peak inside, at last exit)``, in order of first entry.

    A step called once per slab or batch is one row. Nested steps are handled
    (every reset of the peak first credits it to every step still open).
    Memory that the backends allocate themselves (onnxruntime's arena) is not
    traced; the scan itself is drawn before tracing starts.
    """
    import functools
    import importlib
    import threading
    import tracemalloc

    from spine_rt.bench.plan import shaped_input

    pipeline = warmed_pipeline(package, backend, threads, maps_dtype)
    scan = shaped_input(shape)
    stats: dict[str, list] = {}  # name -> [calls, first entry, peak, last exit]
    open_peaks: list[list[int]] = []
    lock = threading.Lock()

    def credit() -> int:
        peak = tracemalloc.get_traced_memory()[1]
        for frame in open_peaks:
            frame[0] = max(frame[0], peak)
        tracemalloc.reset_peak()
        return peak

    def traced(name: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with lock:
                credit()
                frame = [tracemalloc.get_traced_memory()[0]]
                row = stats.setdefault(name, [0, frame[0], 0, 0])
                open_peaks.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    credit()
                    del open_peaks[next(i for i, f in enumerate(open_peaks) if f is frame)]
                    row[0] += 1
                    row[2] = max(row[2], frame[0])
                    row[3] = tracemalloc.get_traced_memory()[0]
        return wrapper

    originals = []
    for module_name, *path in TRACED_STEPS:
        owner = importlib.import_module(module_name)
        if len(path) == 2:
            owner = getattr(owner, path[0])
        name = path[-1]
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, traced(".".join([module_name.rsplit(".", 1)[1], *path]), getattr(owner, name)))
    tracemalloc.start()
    try:
        pipeline(scan.image, scan.affine)
    finally:
        tracemalloc.stop()
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
    return [(name, calls, entry / scan.voxels, peak / scan.voxels, exit_ / scan.voxels)
            for name, (calls, entry, peak, exit_) in stats.items()]


def linear_fit(rows: list[dict]) -> dict:
    """Least-squares ``call_bytes = intercept + slope * voxels`` and its worst relative residual."""
    voxels = np.array([row["voxels"] for row in rows], float)
    used = np.array([row["call_bytes"] for row in rows], float)
    if len(rows) < 2:
        return {"slope_bytes_per_voxel": float(used[0] / voxels[0]), "intercept_bytes": 0.0, "max_residual": 0.0}
    slope, intercept = np.polyfit(voxels, used, 1)
    residual = np.max(np.abs(used - (intercept + slope * voxels)) / used)
    return {"slope_bytes_per_voxel": float(slope), "intercept_bytes": float(intercept),
            "max_residual": float(residual)}


def package_folder(folder: str) -> str:
    """A random-init tiny package on SEEDS' 0.3448 mm grid (the demo package's coarser grid would make a
    network volume ~12x smaller than the scan, so bytes per scan voxel would not describe the paper's workload)."""
    from spine_rt.bench.plan import export_bench_package

    return str(export_bench_package(folder))


# --------------------------------------------------------------------------- pytest
def _sizes() -> list[tuple[int, int, int]]:
    return SIZES + ([LARGEST] if os.environ.get("SPINE_RT_BENCH_LARGEST") == "1" else [])


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    pytest.importorskip("torch")
    return package_folder(str(tmp_path_factory.mktemp("memory_bench")))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/clear_refs (Linux)")
@pytest.mark.parametrize("shape", _sizes(), ids=lambda s: "x".join(map(str, s)))
def test_peak_memory(package, shape, record_property):
    row = measure_in_child(package, shape, "onnxruntime", threads=1)
    for key, value in row.items():
        record_property(key, value)
    record_property("target_met", row["bytes_per_voxel"] < TARGET_BYTES_PER_VOXEL)  # reported, not asserted
    assert row["call_bytes"] > 0


# --------------------------------------------------------------------------- script
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", action="store_true", help=f"also {'x'.join(map(str, LARGEST))}")
    parser.add_argument("--backend", default="onnxruntime", help="pipeline backend (default onnxruntime)")
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the rows and the fit as JSON")
    parser.add_argument("--steps", default=None, metavar="SLICES,SI,AP",
                        help="instead: traced numpy memory per pipeline step for one size (bytes per voxel)")
    parser.add_argument("--maps-dtype", default=None, choices=("auto", "float32", "float16"),
                        help="dtype of stage one's maps (default: the pipeline's, auto = float32 on this fp32 path)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--package", default=None, metavar="DIR",
                        help="measure this package instead of the random-init tiny one (for example a two-member "
                             "package of scripts/train_real.sh); its own grid sets the network volume, so the fit "
                             "is also given per network-volume voxel")
    parser.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        shape = tuple(int(v) for v in args.shape.split(","))
        print(json.dumps(child(args.package, shape, args.backend, args.threads, args.maps_dtype)))
        return
    sizes = SIZES + ([LARGEST] if args.largest else [])
    with tempfile.TemporaryDirectory(prefix="spine-rt-memory-bench-") as folder:
        package = args.package or package_folder(folder)
        if args.steps:
            shape = tuple(int(v) for v in args.steps.split(","))
            print(f"{'x'.join(map(str, shape))}: numpy memory per input voxel (bytes; the scan itself excluded)")
            print(f"{'step':44s} {'calls':>6s} {'at entry':>9s} {'peak in step':>13s} {'at exit':>8s}")
            for name, calls, before, peak, after in step_peaks(package, shape, args.backend, args.threads,
                                                                         args.maps_dtype):
                print(f"{name:44s} {calls:6d} {before:9.1f} {peak:13.1f} {after:8.1f}")
            return
        rows = []
        print(f"{'shape':>14}  {'voxels':>11}  {'baseline MiB':>12}  {'peak MiB':>9}  {'call MiB':>9}  "
              f"{'B/voxel':>8}  {'s':>6}", flush=True)
        for shape in sizes:
            row = measure_in_child(package, shape, args.backend, args.threads, args.maps_dtype)
            rows.append(row)
            print(f"{'x'.join(map(str, shape)):>14}  {row['voxels']:>11,}  {row['baseline_bytes'] / _MIB:>12.0f}  "
                  f"{row['peak_bytes'] / _MIB:>9.0f}  {row['call_bytes'] / _MIB:>9.0f}  "
                  f"{row['bytes_per_voxel']:>8.2f}  {row['seconds']:>6.1f}", flush=True)
    fit = linear_fit(rows)
    print(f"linear fit: {fit['slope_bytes_per_voxel']:.2f} bytes/voxel + {fit['intercept_bytes'] / _MIB:.0f} MiB, "
          f"worst residual {100 * fit['max_residual']:.1f} % (target < {TARGET_BYTES_PER_VOXEL:.0f} bytes/voxel: "
          f"{'met' if fit['slope_bytes_per_voxel'] < TARGET_BYTES_PER_VOXEL else 'MISSED'})")
    network = linear_fit([{**row, "voxels": int(np.prod(row["network_volume_shape"]))} for row in rows])
    if args.package:
        print(f"per network-volume voxel ({', '.join('x'.join(map(str, r['network_volume_shape'])) for r in rows)}): "
              f"{network['slope_bytes_per_voxel']:.2f} bytes/voxel + {network['intercept_bytes'] / _MIB:.0f} MiB, "
              f"worst residual {100 * network['max_residual']:.1f} %")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "fit": fit, "fit_per_network_voxel": network},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
