"""Level naming of the bundled demo model on unseen phantoms, with and without relabelling.

For each phantom seed (default 2000-2019: none is a training phantom, seeds
0-79, nor the demo's default 1000, nor the 1000-1009 the training script
scores) the bundled package segments the phantom on its own grid with
relabelling off (``relabel_levels=False``: the network's names, the count's
disagreements only reported); relabelling is then applied to those same
labels exactly as the pipeline applies it
(:func:`spine_rt.measure.spine_reading.read_spine`). Per seed and setting:

* mean Dice over the structures of the truth (:func:`spine_rt.demo.dice_per_structure`);
* levels off by one: truth structures whose most common predicted label is
  the neighbouring level of the same kind (a vertebra for the vertebra
  above or below, a disc for the disc above or below);
* flagged: the report's level naming is not consistent (any flag), so an
  off-by-one left in the labels is *silent* only when nothing is flagged.

``--real-scan`` also runs a real MR with vertebral body labels 1..5 = L1..L5
(``../shared/data/mr3d``) and prints which name each true level gets, with
and without relabelling, and the flags.

::

    nice -n 10 python scripts/level_naming_benchmark.py                   # the table, about 10 min on 2 shared cores
    nice -n 10 python scripts/level_naming_benchmark.py --seeds 2000-2004 --json out.json
    nice -n 10 python scripts/level_naming_benchmark.py --seeds none --real-scan ../shared/data/mr3d/vb3_01
    nice -n 10 python scripts/level_naming_benchmark.py --model /tmp/demo_pkg      # another package
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SEEDS = "2000-2019"


def seed_list(text: str) -> list[int]:
    """``"2000-2019"`` or ``"1,5,9"`` -> seeds; ``"none"`` -> ``[]``."""
    if text == "none":
        return []
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def off_by_one(prediction: np.ndarray, truth: np.ndarray, names: dict[int, str]) -> list[str]:
    """``"T10->T11"`` for every truth structure whose most common predicted label is the neighbouring level."""
    from spine_rt.anatomy.levels import level_rank, structure_kind

    found = []
    for label in (int(v) for v in np.unique(truth) if v):
        counts = np.bincount(prediction[truth == label].astype(np.int64), minlength=max(names) + 1)
        counts[0] = 0
        guess = int(np.argmax(counts))
        if counts[guess] == 0 or guess == label:
            continue
        true_name, guess_name = names[label], names.get(guess, str(guess))
        same_kind = (structure_kind(true_name) == "disc") == (structure_kind(guess_name) == "disc")
        ranks = level_rank(true_name), level_rank(guess_name)
        if same_kind and None not in ranks and abs(ranks[0] - ranks[1]) == 1.0:
            found.append(f"{true_name}->{guess_name}")
    return found


def score(labels: np.ndarray, truth: np.ndarray, names: dict[int, str], naming: dict[str, Any]) -> dict[str, Any]:
    from spine_rt.demo import dice_per_structure

    dice = dice_per_structure(labels, truth, names)
    wrong = off_by_one(labels, truth, names)
    return {"mean_dice": float(np.mean(list(dice.values()))), "off_by_one": wrong,
            "flagged": not naming["consistent"], "silent_off_by_one": bool(wrong) and naming["consistent"],
            "renamed": len(naming.get("renamed", [])), "flags": [f["kind"] for f in naming["flags"]]}


def run_phantoms(seeds: list[int], model: Path | None = None) -> list[dict[str, Any]]:
    from spine_rt.demo import phantom_spacing_of_package
    from spine_rt.io import Image
    from spine_rt.measure.spine_reading import read_spine
    from spine_rt.model_package import ModelPackage
    from spine_rt.phantoms import spine_mr
    from spine_rt.pipelines.default_model import default_package_path
    from spine_rt.pipelines.load import load_pipeline

    package = ModelPackage.open(default_package_path() if model is None else model)
    names = {int(k): v for k, v in package.manifest.labels.items()}
    spacing = phantom_spacing_of_package(package.manifest.preprocessing)
    rows = []
    with load_pipeline(package, backend="onnxruntime", device="cpu", relabel_levels=False) as pipeline:
        for seed in seeds:
            phantom = spine_mr(seed, spacing=spacing)
            result = pipeline(Image(phantom.image, phantom.affine))
            relabelled = read_spine(result.labels, result.affine, names, relabel=True)
            row = {"seed": seed,
                   "without": score(result.labels, phantom.labels, names, result.report["level_naming"]),
                   "with": score(relabelled.labels, phantom.labels, names, relabelled.level_naming)}
            rows.append(row)
            print(f"seed {seed}: Dice {row['without']['mean_dice']:.3f} -> {row['with']['mean_dice']:.3f}; "
                  f"off by one {row['without']['off_by_one'] or '-'} -> {row['with']['off_by_one'] or '-'}",
                  file=sys.stderr, flush=True)
    return rows


def summarise(rows: list[dict[str, Any]], setting: str) -> dict[str, Any]:
    scores = [row[setting]["mean_dice"] for row in rows]
    worst = int(np.argmin(scores))
    return {"mean_dice": float(np.mean(scores)), "worst_dice": scores[worst], "worst_seed": rows[worst]["seed"],
            "below_0.75": sum(s < 0.75 for s in scores),
            "phantoms_off_by_one": sum(bool(row[setting]["off_by_one"]) for row in rows),
            "silent_off_by_one": sum(row[setting]["silent_off_by_one"] for row in rows),
            "flagged": sum(row[setting]["flagged"] for row in rows)}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| seed | Dice without | Dice with | off by one without | off by one with | flagged without | "
             "flagged with |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        a, b = row["without"], row["with"]
        lines.append(f"| {row['seed']} | {a['mean_dice']:.3f} | {b['mean_dice']:.3f} | "
                     f"{', '.join(a['off_by_one']) or '-'} | {', '.join(b['off_by_one']) or '-'} | "
                     f"{'yes' if a['flagged'] else 'no'} | {'yes' if b['flagged'] else 'no'} |")
    lines += ["", "| relabelling | mean Dice | worst (seed) | phantoms < 0.75 | phantoms with a level off by one | "
              "silent off-by-one | flagged |", "|---|---|---|---|---|---|---|"]
    for setting in ("without", "with"):
        s = summarise(rows, setting)
        lines.append(f"| {setting} | {s['mean_dice']:.3f} | {s['worst_dice']:.3f} ({s['worst_seed']}) | "
                     f"{s['below_0.75']} | {s['phantoms_off_by_one']} | {s['silent_off_by_one']} | {s['flagged']} |")
    return "\n".join(lines)


def run_real_scan(stem: Path, model: Path | None = None) -> dict[str, Any]:
    """A real MR with body labels 1..5 = L1..L5: the name each true level gets, with and without relabelling."""
    import nibabel as nib

    from spine_rt.io import read_image
    from spine_rt.measure.spine_reading import read_spine
    from spine_rt.model_package import ModelPackage
    from spine_rt.pipelines.default_model import default_package_path
    from spine_rt.pipelines.load import load_pipeline

    image = read_image(f"{stem}_image.nii.gz")
    truth = np.asarray(nib.load(f"{stem}_label.nii.gz").dataobj).astype(np.int64)
    package = ModelPackage.open(default_package_path() if model is None else model)
    names = {int(k): v for k, v in package.manifest.labels.items()}
    with load_pipeline(package, backend="onnxruntime", device="cpu", relabel_levels=False) as pipeline:
        result = pipeline(image)
    relabelled = read_spine(result.labels, result.affine, names, relabel=True)
    found: dict[str, Any] = {"scan": str(stem)}
    for setting, labels, naming in (("without", result.labels, result.report["level_naming"]),
                                    ("with", relabelled.labels, relabelled.level_naming)):
        named = {}
        for level in range(1, 6):
            counts = np.bincount(labels[truth == level].astype(np.int64), minlength=max(names) + 1)
            counts[0] = 0
            named[f"L{level}"] = names.get(int(np.argmax(counts)), "background") if counts.any() else "background"
        found[setting] = {"true level -> name": named, "consistent": naming["consistent"],
                          "flags": [f"{f['kind']}: {f['message']}" for f in naming["flags"]]}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help=f"phantom seeds ({DEFAULT_SEEDS}; 'none' for none)")
    parser.add_argument("--real-scan", type=Path, default=None,
                        help="a real scan stem: STEM_image.nii.gz with STEM_label.nii.gz (1..5 = L1..L5 bodies)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a spine MR package to score instead of the bundled demo model (e.g. a retrained one)")
    parser.add_argument("--json", type=Path, default=None, help="also write everything as JSON here")
    args = parser.parse_args(argv)
    started = time.process_time()
    out: dict[str, Any] = {}
    seeds = seed_list(args.seeds)
    if seeds:
        rows = run_phantoms(seeds, args.model)
        out["phantoms"] = rows
        out["summary"] = {setting: summarise(rows, setting) for setting in ("without", "with")}
        print(markdown(rows))
    if args.real_scan is not None:
        out["real_scan"] = run_real_scan(args.real_scan, args.model)
        print(json.dumps(out["real_scan"], indent=2))
    out["cpu_seconds"] = time.process_time() - started
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
