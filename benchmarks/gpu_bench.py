"""Full SSHSNet on a GPU: the authors' schedule and MONAI (torch FP32 eager) vs spine-rt (torch FP16).

Both stages at the paper's sizes (stage one 2 x 28.7 M parameters, stage two
33.1 M, 343.7 GFLOP per 192 x 192 x 12 patch) with seeded random weights
(batch norms calibrated on real-looking inputs, as ``spine-rt export
--random-init`` does), on a 12 x 512 x 1024 synthetic spine MR (exactly one
outer window of the authors' schedule). Configurations, each on its own copy
of the same weights, the same scan:

* ``spine-rt fast (torch fp16, channels-last, CUDA graphs, two streams)`` -
  the reference row of the ratios: TorchRunner(precision="fp16",
  channels_last=True, cuda_graph=True), the fast schedule (stage one once per
  slice, ROI, Gaussian stage-two windows, batch 4) as the *device* schedule
  with two CUDA streams (``pipelining="two-stream"``,
  :mod:`spine_rt.pipelines.schedules.fast`): volume, stage-one maps,
  feeds, softmax and stitching stay on the GPU, stage one of slab ``k + 1``
  on one stream while stage two of slab ``k`` runs on another;
* ``spine-rt fast, host schedule (torch fp16, channels-last, CUDA graphs)`` -
  the same runners with ``pipelining="off"`` (numpy between the network
  calls), so the ratio of the two rows is what the device schedule brings;
* ``spine-rt fast (torch fp32 eager, two streams)`` - the two-stream schedule
  without the runner's speed options (separates schedule from precision);
* ``authors' schedule (torch fp32 eager)`` - SEEDS' schedule;
* ``MONAI sliding window (torch fp32 eager)`` - MONAI over the whole volume
  (:mod:`spine_rt.bench.segmenters`).

Timings are CUDA events (median, p95 over ``--repeat`` runs after
``--warmup``); peak GPU memory is ``torch.cuda.max_memory_allocated``. The
FLOP floor of a configuration = FLOPs it ran (stage-one windows x stage one's
FLOPs + stage-two patches x stage two's, from
``spine_rt.models.complexity.forward_flops``; padded batch slots not counted)
/ the peak throughput of the row's own precision, measured here with a large
matmul (FP16 rows: FP16; FP32 rows: TF32 where cuDNN may use it for FP32
convolutions, torch's default, else FP32); the fraction reached = floor /
measured median. torch's default math flags are kept; they are in the JSON.

    python benchmarks/gpu_bench.py --json gpu_bench.json [--repeat 5] [--warmup 2] [--shape 12,512,1024]

Exit codes: 0 done, 3 no CUDA device (or no torch/MONAI), 2 bad arguments.
``--device cpu --preset tiny`` runs the same wiring on the CPU (FP32, no
graphs; the device schedule in order, ``pipelining="sequential"``, since two
streams need a GPU) to check the script where no GPU is available; its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import sys
from pathlib import Path
from typing import Any

EXIT_ENVIRONMENT = 3
SEED = 0
#: the paper's patches: stage one 256 x 512 at half resolution, stage two 192 x 192 x 12
STAGE_ONE_PATCH = (512, 256)  # (S->I, A->P): long side along the spine
STAGE_TWO_PATCH = (192, 192, 12)
#: calibration batch of the random batch-norm statistics (as the export)
CALIBRATION_BATCH = 4
#: square matmul measuring the peak tensor throughput
PEAK_MATMUL_SIZE = 8192
PEAK_MATMUL_ITERATIONS = 50


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Full SSHSNet on CUDA: authors' schedule and MONAI (torch fp32) "
                                     "vs spine-rt (torch fp16, channels-last, CUDA graphs, two CUDA streams)")
    parser.add_argument("--json", required=True, metavar="FILE", help="write every figure here")
    parser.add_argument("--shape", default="12,512,1024", metavar="SLICES,SI,AP", help="input size (default 12,512,1024)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before them (default 2)")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N (cpu: wiring check only)")
    parser.add_argument("--preset", choices=("full", "tiny"), default="full", help="network size (default full)")
    parser.add_argument("--skip", default="", metavar="LIST",
                        help="configurations to leave out, comma-separated: host, reference, monai, fp32")
    return parser.parse_args(argv)


def environment_problem(device: str) -> str | None:
    """Why this machine cannot run the benchmark on ``device``, or ``None``."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install torch, a CUDA build)"
    try:
        import monai  # noqa: F401
    except ImportError:
        return "MONAI is not installed (pip install monai)"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return (f"no CUDA device visible to torch {torch.__version__} (CUDA build: {torch.version.cuda}); "
                "this benchmark needs an NVIDIA GPU")
    return None


def build_networks(preset: str, device: str) -> tuple[Any, Any]:
    """Seeded random stage-one pair and stage two with calibrated batch norms, on ``device`` in fp32."""
    import torch

    from spine_rt.export.model_families import network_config
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.export.random_init import calibrate_batch_norms, randomize_for_export
    from spine_rt.models import build

    networks = []
    for index, (name, patch) in enumerate((("stage1_pair", STAGE_ONE_PATCH), ("stage2", STAGE_TWO_PATCH))):
        overrides = {"patch_size": patch} if name == "stage2" else {}
        network = build(name, preset, **overrides)
        randomize_for_export(network, seed=SEED * 1000 + index * 100)  # drawn on the CPU (seeded generator)
        network.to(device)
        calibration = parity_inputs(name, network_config(network), patch, batch=CALIBRATION_BATCH, seed=SEED + 1)
        calibrate_batch_norms(network, [torch.from_numpy(calibration[n]).to(device) for n in network.input_names])
        networks.append(network.eval())
    return networks[0], networks[1]


def flops_per_call(preset: str) -> dict[str, int]:
    """FLOPs (2 per multiply-accumulate) of one stage-one window and one stage-two patch (meta device)."""
    import torch

    from spine_rt.models import build
    from spine_rt.models.complexity import forward_flops

    with torch.device("meta"):
        stage_one = build("stage1_pair", preset)
        stage_two = build("stage2", preset, patch_size=STAGE_TWO_PATCH)
    features = int(stage_two.config.stage_one_feature_channels)
    classes = int(stage_two.config.num_classes)
    quarter = (STAGE_TWO_PATCH[0] // 4, STAGE_TWO_PATCH[1] // 4, STAGE_TWO_PATCH[2])
    return {
        "stage1_window": forward_flops(stage_one, (1, 3, *STAGE_ONE_PATCH)),
        "stage2_patch": forward_flops(stage_two, (1, 1 + classes, *STAGE_TWO_PATCH), (1, features, *quarter)),
    }


#: the precision each configuration's networks run in on a GPU (on the CPU every row is fp32)
ROW_PRECISION = {"spine-rt": "fp16", "host": "fp16", "fp32": "fp32", "reference": "fp32", "monai": "fp32"}
#: matmul peaks measured: the three math modes a row can run in
PEAK_KINDS = ("float16", "tf32", "float32")


def peak_kind(precision: str, device: str, tf32_convolutions: bool) -> str:
    """Which measured peak (a :data:`PEAK_KINDS` entry) bounds a row run in ``precision`` on ``device``.

    FP16 rows: the FP16 peak. FP32 rows on CUDA where cuDNN may use TF32 for
    FP32 convolutions (``torch.backends.cudnn.allow_tf32``): the TF32 peak;
    otherwise (or on the CPU) the FP32 peak.
    """
    on_gpu = device.startswith("cuda")
    if precision == "fp16" and on_gpu:
        return "float16"
    if on_gpu and tf32_convolutions:
        return "tf32"
    return "float32"


def peak_matmul_flops(device: str, kind: str) -> float:
    """FLOP/s of a large square matmul in ``kind`` (``float16``, ``tf32``, ``float32``), CUDA events."""
    import torch

    from spine_rt.bench.instruments import stopwatch_for

    if kind == "tf32":  # float32 tensors with TF32 tensor-core math allowed for this measurement only
        allowed = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return peak_matmul_flops(device, "float32")
        finally:
            torch.backends.cuda.matmul.allow_tf32 = allowed
    dtype = getattr(torch, kind)
    size = PEAK_MATMUL_SIZE if device.startswith("cuda") else 1024
    generator = torch.Generator(device=device).manual_seed(SEED)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(5):
        torch.mm(a, b, out=out)
    watch = stopwatch_for(device)
    iterations = PEAK_MATMUL_ITERATIONS if device.startswith("cuda") else 3
    watch.start()
    for _ in range(iterations):
        torch.mm(a, b, out=out)
    seconds = watch.stop()
    return 2.0 * size ** 3 * iterations / seconds


def configurations(stage_one: Any, stage_two: Any, device: str, skip: set[str]) -> list[tuple[str, Any]]:
    """``(name, builder)`` in measuring order; the first is spine-rt's reference row."""
    from spine_rt.pipelines import pipeline_from_modules as module_pipeline
    from spine_rt.pipelines.runner_factory import module_stage_runners
    from spine_rt.bench.segmenters import MonaiBaseline, PipelineSegmenter
    from spine_rt.pipelines import MrPreprocessing

    on_gpu = device.startswith("cuda")
    #: the spine-rt rows run the device fast schedule: two CUDA streams on a GPU, in order on the CPU
    device_schedule = "two-stream" if on_gpu else "sequential"

    def copies() -> tuple[Any, Any]:
        return copy.deepcopy(stage_one), copy.deepcopy(stage_two)

    fast_options = {"precision": "fp16", "cuda_graph": True, "channels_last": True} if on_gpu else {}

    def spine_rt_fast_fp16() -> Any:
        name = ("spine-rt fast (torch fp16, channels-last, CUDA graphs, two streams)" if on_gpu
                else "spine-rt fast (cpu wiring check)")
        return PipelineSegmenter(name, "spine-rt", module_pipeline(*copies(), schedule="fast", device=device,
                                                                  pipelining=device_schedule, **fast_options))

    def spine_rt_fast_host() -> Any:
        name = ("spine-rt fast, host schedule (torch fp16, channels-last, CUDA graphs)" if on_gpu
                else "spine-rt fast, host schedule (cpu wiring check)")
        return PipelineSegmenter(name, "spine-rt", module_pipeline(*copies(), schedule="fast", device=device,
                                                                  pipelining="off", **fast_options))

    def spine_rt_fast_fp32() -> Any:
        return PipelineSegmenter("spine-rt fast (torch fp32 eager, two streams)" if on_gpu
                                 else "spine-rt fast (torch fp32 eager)", "spine-rt",
                                 module_pipeline(*copies(), schedule="fast", device=device,
                                                 pipelining=device_schedule))

    def reference() -> Any:
        return PipelineSegmenter("authors' schedule (torch fp32 eager)", "baseline",
                                 module_pipeline(*copies(), schedule="reference", device=device))

    def monai() -> Any:
        first, second = module_stage_runners(*copies(), device=device)
        return MonaiBaseline(first, second, MrPreprocessing(), device,
                             name="MONAI sliding window (torch fp32 eager)")

    chosen = [("spine-rt", spine_rt_fast_fp16)]
    if "host" not in skip:
        chosen.append(("host", spine_rt_fast_host))
    if "fp32" not in skip:
        chosen.append(("fp32", spine_rt_fast_fp32))
    if "reference" not in skip:
        chosen.append(("reference", reference))
    if "monai" not in skip:
        chosen.append(("monai", monai))
    return chosen


def stage_one_windows(counts: dict[str, int]) -> int:
    """Stage-one windows a call ran (slices x windows per slice; summed over outer windows by the reference)."""
    return int(counts.get("stage_one_slices", 0)) * int(counts.get("stage_one_windows_per_slice", 1))


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    problem = environment_problem(args.device)
    if problem is not None:
        print(f"gpu_bench.py: {problem}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    import torch

    from spine_rt.bench.configuration_measurement import measure
    from spine_rt.bench.plan import parse_shape, shaped_input
    from spine_rt.bench.report import BenchReport
    from spine_rt.errors import InputError
    from spine_rt.runtime import describe_environment
    from spine_rt.runtime.machine import machine_snapshot

    try:
        shape = parse_shape(args.shape)
    except InputError as exc:
        print(f"gpu_bench.py: {exc}", file=sys.stderr)
        return 2
    device = args.device if args.device != "cuda" else "cuda:0"
    skip = {item.strip() for item in args.skip.split(",") if item.strip()}
    machine_before = machine_snapshot()
    print(f"building {args.preset} networks (seeded random weights, calibrated batch norms) on {device}", flush=True)
    stage_one, stage_two = build_networks(args.preset, device)
    flops = flops_per_call(args.preset)
    peak = {kind: peak_matmul_flops(device, kind) for kind in PEAK_KINDS}
    tf32_convolutions = bool(torch.backends.cudnn.allow_tf32)
    print(f"peak matmul: fp16 {peak['float16'] / 1e12:.1f} TFLOP/s, tf32 {peak['tf32'] / 1e12:.1f} TFLOP/s, "
          f"fp32 {peak['float32'] / 1e12:.1f} TFLOP/s; "
          f"stage one {flops['stage1_window'] / 1e9:.2f} GFLOP/window, stage two {flops['stage2_patch'] / 1e9:.2f} "
          "GFLOP/patch", flush=True)
    scan = shaped_input(shape, seed=SEED)

    measurements, kinds = [], []
    for key, build in configurations(stage_one, stage_two, device, skip):
        kinds.append(peak_kind(ROW_PRECISION[key], device, tf32_convolutions))
        segmenter = build()
        try:
            print(f"measuring {segmenter.name}: {args.warmup} warm-up + {args.repeat} timed runs", flush=True)
            measurements.append(measure(segmenter, scan.image, scan.affine, args.repeat, args.warmup, device))
        finally:
            segmenter.close()
            if device.startswith("cuda"):
                torch.cuda.empty_cache()

    report = BenchReport(
        measurements=measurements,
        model={"package": None, "origin": f"SSHSNet {args.preset} built in this script, seeded random weights "
               f"(seed {SEED}), batch norms calibrated", "random_weights": True},
        input=scan.describe(),
        settings={"device": device, "repeat": args.repeat, "warmup": args.warmup, "preset": args.preset},
        environment=describe_environment(),
        machine={"before": machine_before, "after": machine_snapshot()},
        notes=["random weights: label agreement (Dice) shows that the schedules compute the same function, "
               "not accuracy; with random weights the ROI covers the whole volume"],
        date=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    floors = {}
    for m, kind in zip(measurements, kinds):
        flops_run = stage_one_windows(m.counts) * flops["stage1_window"] + m.stage_two_patches_run * flops["stage2_patch"]
        floor = flops_run / peak[kind]
        floors[m.name] = {"flops_run": flops_run, "flop_floor_s": floor, "peak": kind,
                          "fraction_of_peak": floor / m.end_to_end.median_s,
                          "achieved_tflops": flops_run / m.end_to_end.median_s / 1e12,
                          "stage_one_windows": stage_one_windows(m.counts)}
    print(report.format_table())
    print("\nFLOP floor (FLOPs run / measured matmul peak of the row's precision) and fraction of it reached:")
    for name, entry in floors.items():
        print(f"  {name:58s} {entry['flops_run'] / 1e12:8.2f} TFLOP  floor {1e3 * entry['flop_floor_s']:8.2f} ms  "
              f"achieved {entry['achieved_tflops']:7.1f} TFLOP/s  {100 * entry['fraction_of_peak']:5.1f} % of "
              f"{entry['peak']} peak")
    for m in measurements:
        if m.peak_gpu_memory_bytes is not None:
            print(f"  {m.name:58s} peak GPU memory {m.peak_gpu_memory_bytes / 2 ** 30:.2f} GiB")
    document = report.as_dict()
    document["flops_per_call"] = flops
    document["peak_matmul_flops_per_s"] = peak
    document["flop_floor"] = floors
    document["torch_flags"] = {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                               "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                               "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    document["command"] = " ".join(["python", "benchmarks/gpu_bench.py", *(argv if argv is not None else sys.argv[1:])])
    Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
