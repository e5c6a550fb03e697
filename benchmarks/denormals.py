"""Stage two on onnxruntime with and without flushing denormal floats to zero, on a feed the pipeline built.

The random-init tiny bench package segments the MRSpineSeg-geometry phantom
once; the first stage-two batch it feeds onnxruntime is captured. That batch
then runs, interleaved, on sessions that differ only in
``session.set_denormal_as_zero`` (what ``OnnxRuntimeRunner`` sets) and the
thread count, each in a fresh process (the flush state belongs to a thread
and outlives the session), plus a batch of uniform random numbers of the
same shapes for scale. Median seconds per call over ``--repeat`` rounds,
ratios against the session without the flag::

    python benchmarks/denormals.py [--repeat 3] [--threads 1,2]

``benchmarks/RESULTS.md``, "Denormal floats in stage two", has the figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def captured_feed(package: str, path: str) -> None:
    """Save to ``path`` (npz) the first stage-two feed of one pipeline call on the MRSpineSeg phantom.

    Run in a child process: onnxruntime's flush setting also sets FTZ/DAZ on the thread that called a
    multi-threaded session and leaves it set, which would make every later single-threaded call of the
    measuring process fast whatever its session says."""
    import spine_rt
    from spine_rt.bench.plan import phantom_input

    scan = phantom_input()
    feeds: list[dict[str, np.ndarray]] = []
    with spine_rt.load_pipeline(package, backend="onnxruntime", device="cpu") as pipeline:
        runner = pipeline.stage_two.runners[0]
        infer = runner.infer

        def spy(feed, **options):
            if not feeds:
                feeds.append({name: np.array(value) for name, value in feed.items()})
            return infer(feed, **options)

        runner.infer = spy
        pipeline(scan.image, scan.affine)
    np.savez(path, **feeds[0])


def timed(graph: str, feed_path: str, threads: int, flush: bool, out) -> None:
    """In a fresh process: one session, a warm-up call, then one timed call per feed (seconds to ``out``)."""
    import onnxruntime

    from spine_rt.runtime.onnxruntime_runner import DENORMALS_AS_ZERO

    feed = dict(np.load(feed_path))
    random = {name: np.random.default_rng(0).random(value.shape, dtype=np.float32) for name, value in feed.items()}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    if flush:
        options.add_session_config_entry(DENORMALS_AS_ZERO, "1")
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    session.run(None, random)
    for name, batch in (("pipeline feed", feed), ("random feed", random)):
        start = time.perf_counter()
        session.run(None, batch)
        out.put((name, time.perf_counter() - start))


def in_child(target, *args) -> list:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed in its process (exit {child.exitcode})")
    results = []
    while not queue.empty():
        results.append(queue.get())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts to try (default 1,2)")
    args = parser.parse_args()
    from spine_rt.bench.plan import export_bench_package

    configurations = [(int(t), flush) for t in args.threads.split(",") for flush in (False, True)]
    seconds: dict[tuple, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="spine-rt-denormals-") as folder:
        package = export_bench_package(folder)
        saved = f"{folder}/feed.npz"
        in_child(_capture, str(package), saved)
        graph = str(package / "stage2" / "fold0.fp32.onnx")
        shape = "x".join(map(str, np.load(saved)["image"].shape))
        for _ in range(args.repeat):  # every configuration in a fresh process: the FTZ/DAZ state is per thread
            for threads, flush in configurations:
                for name, value in in_child(timed, graph, saved, threads, flush):
                    seconds.setdefault((threads, flush, name), []).append(value)
    print(f"stage-two batch {shape}, median of {args.repeat} interleaved rounds, one fresh process per call")
    print(f"{'threads':>7}  {'flush':>5}  {'feed':<14}  {'s':>7}  {'vs no flush':>11}")
    for (threads, flush, name), values in sorted(seconds.items(), key=lambda item: (item[0][2], item[0][0], item[0][1])):
        base = float(np.median(seconds[(threads, False, name)]))
        median = float(np.median(values))
        print(f"{threads:>7}  {'yes' if flush else 'no':>5}  {name:<14}  {median:7.2f}  {base / median:10.2f}x")


def _capture(package: str, path: str, out) -> None:
    captured_feed(package, path)


if __name__ == "__main__":
    main()
