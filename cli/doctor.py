"""``spine-rt doctor``: what this machine can run (backends, GPU, versions).

Works with the base install alone: every optional package is reported as
"not installed" rather than failing. ``auto`` backend selection is shown with
its reason so a user sees exactly which backend ``spine-rt infer`` would use.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="report backends, GPU, CPU and versions of torch, onnxruntime, OpenVINO, TensorRT",
        description="Report what this machine can run: Python and package versions, "
        "onnxruntime providers, torch and CUDA, TensorRT, cuda-python, OpenVINO, the CPU's capabilities "
        "(AVX-512, AVX512_BF16, AMX), visible GPUs, "
        "and which backend 'auto' would pick.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def _flatten(report: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, prefix=f"{name}."))
        elif value is None:
            rows.append((name, "not installed"))
        elif isinstance(value, (list, tuple)):
            rows.append((name, ", ".join(str(v) for v in value) or "-"))
        else:
            rows.append((name, str(value)))
    return rows


def run(args: argparse.Namespace) -> int:
    from spine_rt.runtime import describe_environment, select_backend

    report = describe_environment()
    for device in ("cpu", "cuda"):
        try:
            choice = select_backend("auto", device)
            report[f"auto backend ({device})"] = f"{choice.name} on {choice.device}: {choice.reason}"
        except Exception as exc:  # doctor reports, it never fails on a missing piece
            report[f"auto backend ({device})"] = f"unavailable: {exc}"
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    rows = _flatten(report)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
