"""Forward time per input on torch CPU, and parameter/FLOP counts, for every network.

As a pytest-benchmark suite (not a unit test; ``benchmarks/`` is outside the
default test paths)::

    pytest benchmarks/test_models.py -m 'not slow'      # tiny presets
    pytest benchmarks/test_models.py                    # tiny and full presets (full: ~1 s per call)

As a script, printing a Markdown table (the one in docs/models.md)::

    python benchmarks/test_models.py [--full] [--rounds 5]

FLOPs are counted on the meta device with ``FlopCounterMode``: 2 FLOPs per
multiply-accumulate, convolutions and matrix products only. Times are the
median of ``rounds`` timed calls after one warm-up call, batch 1, fp32, in
``torch.no_grad()`` with torch's default thread count.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from dataclasses import dataclass

import pytest

torch = pytest.importorskip("torch")

from spine_rt.models import build  # noqa: E402
from spine_rt.models.complexity import forward_flops, parameter_count  # noqa: E402
from spine_rt.runtime.machine import cpu_capabilities  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One network and the input of one forward call (batch 1)."""

    name: str
    preset: str
    input_shapes: tuple[tuple[int, ...], ...]
    what: str


def cases() -> list[Case]:
    """Every network in both presets at its working input size."""
    result = []
    for preset, feature_channels in (("tiny", 64), ("full", 512)):
        result += [
            Case("stage1", preset, ((1, 3, 256, 512),), "one 256 x 512 slice"),
            Case("stage1_pair", preset, ((1, 3, 256, 512),), "one 256 x 512 slice, both branches"),
            Case("stage2", preset, ((1, 21, 192, 192, 12), (1, feature_channels, 48, 48, 12)),
                 "one 192 x 192 x 12 patch"),
            Case("bilunet", preset, ((1, 3, 512, 512),), "one 512 x 512 X-ray"),
            Case("mbnet", preset, ((1, 3, 512, 512),), "one 512 x 512 X-ray"),
        ]
    return result


def counts(case: Case) -> tuple[int, int]:
    """``(parameters, FLOPs)`` of one forward call, on the meta device."""
    with torch.device("meta"):
        model = build(case.name, case.preset)
    return parameter_count(model), forward_flops(model, *case.input_shapes)


def prepared(case: Case):
    """The model on the CPU in eval mode and random inputs of the case."""
    torch.manual_seed(0)
    model = build(case.name, case.preset).eval()
    inputs = [torch.randn(shape) for shape in case.input_shapes]
    return model, inputs


def time_forward(case: Case, rounds: int) -> float:
    """Median seconds of ``rounds`` forward calls after one warm-up call."""
    model, inputs = prepared(case)
    seconds = []
    with torch.no_grad():
        model(*inputs)
        for _ in range(rounds):
            start = time.perf_counter()
            model(*inputs)
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _case_id(case: Case) -> str:
    return f"{case.name}-{case.preset}"


TINY = [case for case in cases() if case.preset == "tiny"]
FULL = [case for case in cases() if case.preset == "full"]


@pytest.mark.torch
@pytest.mark.parametrize("case", TINY, ids=_case_id)
def test_forward_tiny(benchmark, case):
    model, inputs = prepared(case)
    parameters, flops = counts(case)
    benchmark.extra_info.update(parameters=parameters, gflop=flops / 1e9, input=case.what)
    with torch.no_grad():
        benchmark.pedantic(model, args=tuple(inputs), rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("case", FULL, ids=_case_id)
def test_forward_full(benchmark, case):
    model, inputs = prepared(case)
    parameters, flops = counts(case)
    benchmark.extra_info.update(parameters=parameters, gflop=flops / 1e9, input=case.what)
    with torch.no_grad():
        benchmark.pedantic(model, args=tuple(inputs), rounds=2, iterations=1, warmup_rounds=1)


def table(include_full: bool, rounds: int) -> str:
    """The Markdown table of counts and CPU times."""
    lines = [
        f"`python benchmarks/test_models.py{' --full' if include_full else ''} --rounds {rounds}`, "
        f"{datetime.date.today().isoformat()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{cpu_capabilities().model}",
        "",
        "| model | preset | input (batch 1) | parameters | GFLOP | CPU ms (median) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for case in cases():
        parameters, flops = counts(case)
        if case.preset == "tiny" or include_full:
            milliseconds = f"{1000 * time_forward(case, rounds if case.preset == 'tiny' else min(rounds, 2)):.0f}"
        else:
            milliseconds = "not run"
        lines.append(f"| {case.name} | {case.preset} | {case.what} | {parameters:,} | "
                     f"{flops / 1e9:.2f} | {milliseconds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the full presets (seconds per call)")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per model (full presets: at most 2)")
    arguments = parser.parse_args()
    print(table(arguments.full, arguments.rounds))


if __name__ == "__main__":
    main()
