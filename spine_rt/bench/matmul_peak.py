"""This CPU's attainable peak, measured: GFLOP/s of a large matrix product in FP32 and BF16.

A benchmark reports the GFLOP/s a network achieved as a fraction of this
figure, measured in the same run (a shared machine's load moves both alike).
The product is ``torch.mm`` of two ``n x n`` matrices (oneDNN/MKL: AVX-512
FMA in FP32; AVX512_BF16 or AMX tiles in BF16), timed in CPU seconds
(``time.process_time``: the process's threads together, so other processes
on a busy machine do not count), best of ``repeat``. FLOPs = ``2 n^3``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

#: matrix size: large enough for the library's best kernel, small enough to take ~0.1 s
DEFAULT_SIZE = 2048
DEFAULT_REPEAT = 5


@dataclass(frozen=True)
class MatmulPeak:
    """Measured matrix-product rate.

    Attributes:
        dtype: ``"fp32"`` or ``"bf16"``.
        threads: torch intra-op threads during the measurement.
        size: ``n`` of the ``n x n`` matrices.
        gflops_per_cpu_second: best ``2 n^3 / CPU seconds / 1e9`` over the repeats
            (per CPU second: a per-core figure regardless of ``threads``).
        gflops_per_second: the same repeat's ``2 n^3 / wall seconds / 1e9``.
    """

    dtype: str
    threads: int
    size: int
    gflops_per_cpu_second: float
    gflops_per_second: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure_matmul_peak(dtype: str = "fp32", threads: int = 1, size: int = DEFAULT_SIZE,
                        repeat: int = DEFAULT_REPEAT) -> MatmulPeak:
    """Best rate of ``torch.mm`` at ``dtype`` on ``threads`` threads (torch's thread count is restored).

    Raises:
        ValueError: unknown dtype, ``size`` or ``repeat`` < 1.
        EnvironmentProblem: torch is not installed.
    """
    from spine_rt.dependencies import require

    torch = require("torch", "measuring the CPU's matrix-product peak")
    kinds = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if dtype not in kinds or size < 1 or repeat < 1:
        raise ValueError(f"dtype must be one of {', '.join(kinds)} and size, repeat >= 1")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator).to(kinds[dtype])
        b = torch.randn(size, size, generator=generator).to(kinds[dtype])
        flops = 2.0 * size ** 3
        torch.mm(a, b)  # warm-up: library initialisation, kernel choice
        best_cpu, best_wall = float("inf"), float("inf")
        for _ in range(repeat):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            torch.mm(a, b)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if cpu < best_cpu:
                best_cpu, best_wall = cpu, wall
    finally:
        torch.set_num_threads(previous)
    return MatmulPeak(dtype, threads, size, flops / max(best_cpu, 1e-9) / 1e9, flops / max(best_wall, 1e-9) / 1e9)
