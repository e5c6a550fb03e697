"""``BenchReport``: every configuration of one benchmark run, compared with spine-rt's fast schedule.

The first spine-rt configuration is the *primary* one (spine-rt fast on the
first backend asked for). For every configuration the report gives

* ``time_ratio_vs_primary`` = its median end-to-end time / the primary's
  (a baseline at 6.0 takes six times as long as spine-rt fast);
* ``dice_vs_primary`` = mean Dice between its labels and the primary's over
  the structures present in either (:mod:`spine_rt.bench.label_agreement`).

With random-init weights the label agreement compares near-random label
maps; it tests that the schedules compute the same function, not accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spine_rt.bench.configuration_measurement import ConfigurationMeasurement
from spine_rt.bench.label_agreement import mean_dice

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
        machine: :func:`spine_rt.bench.machine_facts.machine_facts` at the start and end.
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

    @property
    def primary(self) -> ConfigurationMeasurement:
        return self.measurements[0]

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
            runs.append(entry)
        return {
            "tool": "spine-rt bench",
            "date": self.date,
            "primary": self.primary.name,
            "model": self.model,
            "input": self.input,
            "settings": self.settings,
            "machine": self.machine,
            "environment": self.environment,
            "notes": list(self.notes),
            "runs": runs,
        }

    def format_table(self) -> str:
        """A fixed-width table, one row per configuration, and the notes."""
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
            ))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for index, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
            lines.append("  ".join(cells))
            if index == 0:
                lines.append("  ".join("-" * width for width in widths))
        model = self.model
        lines.insert(0, f"model {model.get('package')} ({model.get('origin')}); input {self.input.get('description')}; "
                        f"device {self.settings.get('device')}; {self.settings.get('repeat')} timed runs after "
                        f"{self.settings.get('warmup')} warm-up; timer {self.primary.timer}")
        env = self.environment
        versions = ", ".join(f"{name} {env.get(key)}" for name, key in (
            ("spine-rt", "spine_rt"), ("python", "python"), ("numpy", "numpy"), ("onnxruntime", "onnxruntime"),
            ("torch", "torch"), ("tensorrt", "tensorrt")) if env.get(key))
        machine = self.machine.get("before", {})
        lines.append(f"versions: {versions}; CPU {machine.get('cpu_model')} ({machine.get('usable_cores')} cores), "
                     f"load {machine.get('load_average_1_5_15_min')}")
        lines.append("time/fast: median end-to-end time over spine-rt fast's ("
                     f"{self.primary.name}); Dice: mean label agreement with it; overhead: share of the time "
                     "outside backend calls; peak: largest process RSS high-water mark over the configuration's calls")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)
