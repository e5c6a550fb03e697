"""spine-rt sliding window vs MONAI ``sliding_window_inference``: same predictor, same volume, CPU.

Volume ``(1, 1, 12, 256, 512)``, patch ``(12, 96, 96)``, overlap 0.5, Gaussian
weights, 4 windows per predictor call, 20 output channels. The predictor is a
fixed 1x1x1 convolution (1 -> 20 channels, written as the multiply-add it is,
``bias + weight * x``; ``nn.Conv3d`` computes the same numbers several times
slower on CPU), in two flavours:

* ``allocating`` - returns a new tensor per call, like a PyTorch module;
* ``static`` - writes into one output buffer reused across calls, like a
  TensorRT engine or an onnxruntime IO binding (what spine-rt deploys).

Each engine must give the same output as MONAI (``allclose``) before times
count. MONAI runs on torch tensors; spine-rt on torch tensors and on numpy
arrays (the predictor then takes and returns numpy, as onnxruntime does).

    pytest benchmarks/test_sliding_window.py                 # pytest-benchmark tables
    python benchmarks/test_sliding_window.py [--repeats 15] [--threads 1]

The script interleaves the engines round by round (fair under a noisy
machine) and prints median and p95 times, the time of the predictor calls
alone, and two ratios: total time MONAI / spine-rt, and the same for the time
each engine spends outside the predictor ("overhead").
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
monai_inferers = pytest.importorskip("monai.inferers")

from spine_rt.patching import sliding_window_inference  # noqa: E402

SHAPE = (1, 1, 12, 256, 512)
PATCH = (12, 96, 96)
OVERLAP = 0.5
BATCH = 4
CHANNELS = 20
PREDICTOR_CALLS = 13  # 50 windows in batches of 4


class Conv1x1(torch.nn.Module):
    """A fixed 1x1x1 convolution from 1 to 20 channels; ``static`` reuses one output buffer."""

    def __init__(self, static: bool) -> None:
        super().__init__()
        self.weight = torch.linspace(-2.0, 2.0, CHANNELS).reshape(1, CHANNELS, 1, 1, 1)
        self.bias = torch.linspace(-1.0, 1.0, CHANNELS).reshape(1, CHANNELS, 1, 1, 1)
        self.static = static
        self._out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.static:
            return torch.addcmul(self.bias, x, self.weight)
        shape = (x.shape[0], CHANNELS, *x.shape[2:])
        if self._out is None or tuple(self._out.shape) != shape:
            self._out = torch.empty(shape)
        return torch.addcmul(self.bias, x, self.weight, out=self._out)


PREDICTORS = {"allocating": Conv1x1(static=False), "static": Conv1x1(static=True)}


def make_volume() -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))


def run_monai(volume: torch.Tensor, predictor: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return monai_inferers.sliding_window_inference(
            volume, PATCH, BATCH, predictor, overlap=OVERLAP, mode="gaussian", progress=False
        )


def run_spine_rt_torch(volume: torch.Tensor, predictor: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return sliding_window_inference(volume, predictor, PATCH, OVERLAP, BATCH, "gaussian")


def run_spine_rt_numpy(volume: np.ndarray, predictor: torch.nn.Module) -> np.ndarray:
    def numpy_predictor(batch: np.ndarray) -> np.ndarray:
        return predictor(torch.from_numpy(batch)).numpy()

    with torch.inference_mode():
        return sliding_window_inference(volume, numpy_predictor, PATCH, OVERLAP, BATCH, "gaussian")


def run_predictor_alone(volume: torch.Tensor, predictor: torch.nn.Module) -> None:
    """The predictor calls every engine makes, without any sliding window around them."""
    batch = volume[:, :, :, : PATCH[1], : PATCH[2]].expand(BATCH, -1, -1, -1, -1).contiguous()
    with torch.inference_mode():
        for _ in range(PREDICTOR_CALLS):
            predictor(batch)


ENGINES: dict[str, Callable] = {
    "monai (torch)": run_monai,
    "spine-rt (torch)": run_spine_rt_torch,
    "spine-rt (numpy)": run_spine_rt_numpy,
}


def check_outputs_equal(volume: torch.Tensor, predictor: torch.nn.Module) -> None:
    expected = run_monai(volume, predictor).numpy()
    np.testing.assert_allclose(run_spine_rt_torch(volume, predictor).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_spine_rt_numpy(volume.numpy(), predictor), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    return make_volume()


@pytest.mark.parametrize("kind", list(PREDICTORS))
def test_outputs_equal(volume, kind):
    check_outputs_equal(volume, PREDICTORS[kind])


@pytest.mark.parametrize("kind", list(PREDICTORS))
@pytest.mark.parametrize("engine", list(ENGINES))
def test_sliding_window(benchmark, volume, engine, kind):
    benchmark.group = f"sliding window, {kind} predictor"
    data = volume.numpy() if "numpy" in engine else volume
    benchmark(ENGINES[engine], data, PREDICTORS[kind])


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description="spine-rt vs MONAI sliding window (CPU)")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per engine (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    volume = make_volume()
    print(
        f"volume {SHAPE}, patch {PATCH}, overlap {OVERLAP}, batch {BATCH}, {CHANNELS} channels, "
        f"{args.repeats} rounds, torch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    for kind, predictor in PREDICTORS.items():
        check_outputs_equal(volume, predictor)
        runs = {name: (function, volume.numpy() if "numpy" in name else volume) for name, function in ENGINES.items()}
        runs["predictor alone"] = (run_predictor_alone, volume)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for name, (function, data) in runs.items():  # warm-up
            function(data, predictor)
        for _ in range(args.repeats):
            for name, (function, data) in runs.items():
                start = time.perf_counter()
                function(data, predictor)
                times[name].append(time.perf_counter() - start)
        median = {name: statistics.median(values) for name, values in times.items()}
        alone = median["predictor alone"]
        monai = median["monai (torch)"]
        print(f"\n{kind} predictor (outputs allclose to MONAI: yes); predictor calls alone {alone * 1e3:.1f} ms")
        for name in ENGINES:
            p95 = _percentile(times[name], 0.95)
            line = f"  {name:18s} median {median[name] * 1e3:7.1f} ms  p95 {p95 * 1e3:7.1f} ms"
            if name != "monai (torch)":
                overhead = (monai - alone) / max(median[name] - alone, 1e-9)
                line += f"  MONAI/spine-rt total {monai / median[name]:.2f}x  overhead {overhead:.2f}x"
            print(line)


if __name__ == "__main__":
    main()
