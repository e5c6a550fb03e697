"""What a benchmark says: latency summaries, progress while it runs, and the report.

* :class:`LatencySummary`: median and 95th percentile of repeated timings (s).

**Progress** while it runs: which configuration, which round, how long is left.
``spine-rt bench`` calls every configuration once per round (after its
warm-up calls); :class:`BenchProgress` is told about every finished call and
returns the line to print, e.g.::

    [round 2/3] spine-rt fast (openvino): 6.12 s; about 1 min 05 s left

The time left is the sum, over the calls still to make, of each
configuration's mean call time so far; until every configuration has made
one call it is unknown ("time left known after the first call of each").

**The report** (:class:`BenchReport`): every configuration of one benchmark run,
compared with spine-rt's fast schedule. The first spine-rt configuration is the *primary* one (spine-rt fast on the
first backend asked for). For every configuration the report gives

* ``time_ratio_vs_primary`` = its median end-to-end time / the primary's
  (a baseline at 6.0 takes six times as long as spine-rt fast);
* ``dice_vs_primary`` = mean Dice between its labels and the primary's over
  the structures present in either (:func:`spine_rt.measure.overlap.mean_dice`).

With random-init weights the label agreement compares near-random label
maps; it tests that the schedules compute the same function, not accuracy.
When the authors' schedule ran, ``dice_vs_authors`` is the same against its
labels. ``extras`` holds the per-patch engine comparison and the CPU's
matrix-product peak of ``--preset full`` (:mod:`spine_rt.bench.stage_engines`);
each run then also gets ``stage_two_seconds_per_patch`` (stage-two backend
time over patches run, padding of the last batch included) and
``stage_two_gflops_per_second`` with its ``fraction_of_peak`` (wall time, the
peak measured in the same run on the same thread count).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spine_rt.bench.segmenters import REFERENCE_NAME
from spine_rt.measure.overlap import mean_dice

if TYPE_CHECKING:  # configuration_measurement imports this module's summaries and progress
    from spine_rt.bench.configuration_measurement import ConfigurationMeasurement


@dataclass(frozen=True)
class LatencySummary:
    """Timings of one quantity over the timed (not warm-up) repeats.

    Attributes:
        median_s: median (s).
        p95_s: 95th percentile, nearest rank (s); the maximum for fewer than 20 samples.
        samples_s: every timing, in run order (s).
    """

    median_s: float
    p95_s: float
    samples_s: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary:
        """Summarise ``samples`` (s); raises ``ValueError`` when there are none."""
        values = tuple(float(v) for v in samples)
        if not values:
            raise ValueError("no timings to summarise")
        return cls(statistics.median(values), percentile(values, 95.0), values)

    def as_dict(self) -> dict[str, object]:
        return {"median_s": self.median_s, "p95_s": self.p95_s, "samples_s": list(self.samples_s)}


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``percent`` % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[rank - 1]


WARM_UP = "warm-up"
TIMED = "timed"


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class CallDone:
    """One finished call: configuration, phase (``"warm-up"`` / ``"timed"``), 1-based round, seconds."""

    configuration: str
    phase: str
    round: int
    seconds: float


class BenchProgress:
    """Counts the calls of an interleaved measurement and estimates the time left.

    Args:
        configurations: names, in call order.
        warmup: untimed calls of each configuration, made first (one configuration after another).
        repeat: timed rounds (one call of every configuration per round).
    """

    def __init__(self, configurations: Sequence[str], warmup: int, repeat: int) -> None:
        if not configurations:
            raise ValueError("no configuration to measure")
        self.configurations = list(configurations)
        self.warmup = int(warmup)
        self.repeat = int(repeat)
        self._seconds: dict[str, list[float]] = {name: [] for name in self.configurations}

    @property
    def total_calls(self) -> int:
        return len(self.configurations) * (self.warmup + self.repeat)

    @property
    def calls_done(self) -> int:
        return sum(len(values) for values in self._seconds.values())

    def plan_line(self) -> str:
        """One line: the configurations and the calls that will be made."""
        return (f"plan: {len(self.configurations)} configuration(s) ({', '.join(self.configurations)}); "
                f"{self.warmup} warm-up call(s) each, then {self.repeat} round(s) of one timed call each "
                f"= {self.total_calls} calls")

    def seconds_left(self) -> float | None:
        """Estimated seconds of the calls still to make; ``None`` until every configuration has one call."""
        means = {}
        for name, values in self._seconds.items():
            if not values:
                return None
            means[name] = sum(values) / len(values)
        return sum(means[name] * (self.warmup + self.repeat - len(values))
                   for name, values in self._seconds.items())

    def record(self, call: CallDone) -> str:
        """Count ``call`` and return its progress line.

        Raises:
            ValueError: an unknown configuration.
        """
        if call.configuration not in self._seconds:
            raise ValueError(f"unknown configuration {call.configuration!r}")
        self._seconds[call.configuration].append(float(call.seconds))
        if call.phase == WARM_UP:
            where = f"warm-up {call.round}/{self.warmup}"
        else:
            where = f"round {call.round}/{self.repeat}"
        left = self.seconds_left()
        if self.calls_done >= self.total_calls:
            tail = "done"
        elif left is None:
            tail = "time left known after the first call of each configuration"
        else:
            tail = f"about {format_duration(left)} left"
        return f"[{where}, call {self.calls_done}/{self.total_calls}] {call.configuration}: {call.seconds:.2f} s; {tail}"


_MIB = 1024.0 * 1024.0


@dataclass(eq=False)
class BenchReport:
    """One benchmark run.

    Attributes:
        measurements: every configuration, the primary one first.
        model: the package and how it was obtained.
        input: the scan (description, shape, voxels, spacing).
        settings: repeat, warmup, device, threads, baselines.
        environment: :func:`spine_rt.runtime.describe_environment`.
        machine: :func:`spine_rt.runtime.machine.machine_snapshot` at the start and end.
        notes: sentences a reader must see (random weights, loaded machine, ...).
        date: ISO date and time of the run.
    """

    measurements: list[ConfigurationMeasurement]
    model: dict[str, Any]
    input: dict[str, Any]
    settings: dict[str, Any]
    environment: dict[str, Any]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    date: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> ConfigurationMeasurement:
        return self.measurements[0]

    @property
    def authors(self) -> ConfigurationMeasurement | None:
        """The authors' schedule's measurement, when it ran."""
        return next((m for m in self.measurements if m.name == REFERENCE_NAME), None)

    def agreement_with_authors(self, measurement: ConfigurationMeasurement) -> float | None:
        """Mean Dice of ``measurement``'s labels against the authors' schedule's (``None`` without it)."""
        authors = self.authors
        if authors is None or measurement.labels.shape != authors.labels.shape:
            return None
        return mean_dice(measurement.labels, authors.labels)

    def stage_two_rates(self, measurement: ConfigurationMeasurement) -> dict[str, float | None]:
        """Stage-two seconds per patch, GFLOP/s and fraction of the FP32/BF16 peak (``None`` where unknown)."""
        seconds = measurement.backend_by_stage.get("stage2")
        patches = measurement.stage_two_patches_run
        per_patch = seconds / patches if seconds and patches else None
        comparison = self.extras.get("stage_two_per_patch", {})
        gflop = comparison.get("gflop_per_patch")
        rate = gflop / per_patch if gflop and per_patch else None
        dtype = "bf16" if measurement.settings.get("precision") == "bf16" else "fp32"
        peak = self.extras.get("matmul_peak", {}).get(dtype)
        fraction = rate / peak["gflops_per_second"] if rate and peak else None
        return {"stage_two_seconds_per_patch": per_patch, "stage_two_gflops_per_second": rate,
                "fraction_of_peak": fraction}

    def time_ratio(self, measurement: ConfigurationMeasurement) -> float:
        """``measurement``'s median end-to-end time over the primary's."""
        return measurement.end_to_end.median_s / self.primary.end_to_end.median_s

    def agreement(self, measurement: ConfigurationMeasurement) -> float | None:
        """Mean Dice of ``measurement``'s labels against the primary's (``None`` when the shapes differ)."""
        if measurement.labels.shape != self.primary.labels.shape:
            return None
        return mean_dice(measurement.labels, self.primary.labels)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        runs = []
        for measurement in self.measurements:
            entry = measurement.as_dict()
            entry["time_ratio_vs_primary"] = self.time_ratio(measurement)
            entry["dice_vs_primary"] = self.agreement(measurement)
            entry["dice_vs_authors"] = self.agreement_with_authors(measurement)
            entry.update(self.stage_two_rates(measurement))
            runs.append(entry)
        return {
            "tool": "spine-rt bench",
            "date": self.date,
            "primary": self.primary.name if self.measurements else None,
            "model": self.model,
            "input": self.input,
            "settings": self.settings,
            "machine": self.machine,
            "environment": self.environment,
            "notes": list(self.notes),
            "runs": runs,
            "extras": self.extras,
        }

    def format_table(self) -> str:
        """A fixed-width table, one row per configuration, the per-patch table, and the notes."""
        lines = self._scan_table() if self.measurements else []
        lines += self._patch_table()
        env = self.environment
        versions = ", ".join(f"{name} {env.get(key)}" for name, key in (
            ("spine-rt", "spine_rt"), ("python", "python"), ("numpy", "numpy"), ("onnxruntime", "onnxruntime"),
            ("openvino", "openvino"), ("torch", "torch"), ("tensorrt", "tensorrt")) if env.get(key))
        machine = self.machine.get("before", {})
        cpu = env.get("cpu") or {}
        flags = ", ".join(name for name in ("avx512", "avx512_bf16", "amx") if cpu.get(name))
        lines.append(f"versions: {versions}; CPU {machine.get('cpu_model')} ({machine.get('usable_cores')} cores"
                     f"{'; ' + flags if flags else ''}), load {machine.get('load_average_1_5_15_min')}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def _patch_table(self) -> list[str]:
        comparison = self.extras.get("stage_two_per_patch")
        if not comparison:
            return []
        gflop = comparison.get("gflop_per_patch")
        peaks = self.extras.get("matmul_peak_per_patch", {})
        lines = ["", f"stage two, one patch per call ({comparison['batch']} x {comparison['stage']} patch, "
                 f"{comparison['threads']} thread(s), {'?' if gflop is None else f'{gflop:.1f}'} GFLOP per patch), "
                 f"CPU seconds, median of {comparison['engines'][0]['rounds']} interleaved round(s)"]
        header = ("engine", "CPU s/patch", "wall s", f"vs {comparison['reference_engine']}", "GFLOP/CPU s",
                  "of peak", "argmax agree", "max abs err")
        reference = comparison["engines"][0]["cpu_seconds_per_patch"]
        rows = [header]
        for timing in comparison["engines"]:
            rate, fraction = timing.get("gflops_per_cpu_second"), timing.get("fraction_of_peak")
            rows.append((timing["engine"], f"{timing['cpu_seconds_per_patch']:.2f}", f"{timing['wall_seconds']:.2f}",
                         f"{timing['cpu_seconds_per_patch'] / reference:.2f}x",
                         "-" if rate is None else f"{rate:.1f}", "-" if fraction is None else f"{100 * fraction:.0f} %",
                         f"{100 * timing['argmax_agreement']:.2f} %", f"{timing['max_abs_error']:.2e}"))
        lines += _aligned(rows)
        lines.append("peak (torch.mm, same run, per CPU second): " + ", ".join(
            f"{dtype} {peak['gflops_per_cpu_second']:.0f} GFLOP/s" for dtype, peak in peaks.items()))
        for left_out in comparison.get("left_out", []):
            lines.append(f"left out: {left_out}")
        return lines

    def _scan_table(self) -> list[str]:
        header = ("configuration", "median s", "p95 s", "stage1 s", "stage2 s", "patches", "patch/s",
                  "Mvox/s", "overhead", "peak MiB", "time/fast", "Dice")
        rows = [header]
        for m in self.measurements:
            stage_one = m.stages.get("stage_one")
            stage_two = m.stages.get("stage_two")
            dice = self.agreement(m)
            rows.append((
                m.name,
                f"{m.end_to_end.median_s:.3f}",
                f"{m.end_to_end.p95_s:.3f}",
                "-" if stage_one is None else f"{stage_one.median_s:.3f}",
                "-" if stage_two is None else f"{stage_two.median_s:.3f}",
                f"{m.stage_two_patches_run}/{m.stage_two_patches_total}",
                f"{m.patches_per_second:.2f}",
                f"{m.voxels_per_second / 1e6:.3f}",
                f"{100 * m.overhead_fraction:.1f} %",
                f"{m.peak_host_memory_bytes / _MIB:.0f}",
                f"{self.time_ratio(m):.2f}x",
                "-" if dice is None else f"{dice:.4f}",
            ) + self._extra_cells(m))
        if len(rows[1]) > len(header):
            rows[0] = header + ("s/patch", "GFLOP/s", "of peak", "Dice authors")
        lines = _aligned(rows)
        model = self.model
        lines.insert(0, f"model {model.get('package')} ({model.get('origin')}); input {self.input.get('description')}; "
                        f"device {self.settings.get('device')}; {self.settings.get('repeat')} timed runs after "
                        f"{self.settings.get('warmup')} warm-up; timer {self.primary.timer}")
        lines.append("time/fast: median end-to-end time over spine-rt fast's ("
                     f"{self.primary.name}); Dice: mean label agreement with it; overhead: share of the time "
                     "outside backend calls; peak: largest process RSS high-water mark over the configuration's calls")
        return lines

    def _extra_cells(self, measurement: ConfigurationMeasurement) -> tuple[str, ...]:
        """Stage-two s/patch, GFLOP/s, fraction of peak and Dice vs the authors' (with ``extras`` or the authors' run)."""
        if not self.extras and self.authors is None:
            return ()
        rates = self.stage_two_rates(measurement)
        dice = self.agreement_with_authors(measurement)

        def number(value: float | None, text: str) -> str:
            return "-" if value is None else text.format(value)

        return (number(rates["stage_two_seconds_per_patch"], "{:.2f}"),
                number(rates["stage_two_gflops_per_second"], "{:.1f}"),
                number(rates["fraction_of_peak"] and 100 * rates["fraction_of_peak"], "{:.0f} %"),
                number(dice, "{:.4f}"))


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as fixed-width lines: first column left-aligned, the rest right-aligned, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines
