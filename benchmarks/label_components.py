"""Connected pieces of every label: one multi-label cc3d pass against SciPy label by label.

The level check, the level recount and the measurements need the connected
pieces of every structure. :func:`spine_rt.measure.label_components.label_components`
finds them in one pass (``cc3d``); the baseline is what the code did before:
``scipy.ndimage.label`` on each label's bounding box (``find_objects``) and
``center_of_mass`` per label. Both run on the same label maps, interleaved
round by round, and must find the same pieces (sizes and centroids):

* ``scattered``: 20 labels over 12 x 1052 x 555 voxels, the argmax of
  smoothed noise (what a random-init network gives on the MRSpineSeg
  geometry: every label's box is the whole volume);
* ``compact``: five stacked blocks, one per label (a trained network's
  labels: small boxes).

Then :func:`spine_rt.measure.read_spine` (level naming and measurements,
which use it) on both maps. Median seconds over ``--repeat`` rounds::

    python benchmarks/label_components.py [--repeat 3]

``benchmarks/RESULTS.md``, "One-pass connected components", has the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.measure import read_spine
from spine_rt.measure.label_components import label_components

FULL = np.ones((3, 3, 3), bool)


def scattered_map(seed: int = 0, shape: tuple[int, int, int] = (12, 1052, 555)) -> np.ndarray:
    """``(X, Y, Z)`` uint8 labels 0..19: argmax of 20 channels of smoothed noise."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((20,) + shape, dtype=np.float32), (0, 0.7, 4, 4))
    return field.argmax(0).astype(np.uint8)


def compact_map(shape: tuple[int, int, int] = (12, 1052, 555)) -> np.ndarray:
    """``(X, Y, Z)`` uint8: five blocks, labels 1..5, stacked along Y."""
    labels = np.zeros(shape, np.uint8)
    step = shape[1] // 7
    for level in range(1, 6):
        labels[2:-2, level * step: level * step + step - 8, shape[2] // 3: 2 * shape[2] // 3] = level
    return labels


def per_label_scipy(labels: np.ndarray) -> list[tuple[int, int, tuple[float, ...]]]:
    """The baseline: SciPy labelling (26-connected) and centroids label by label, in each label's box."""
    found = []
    for index, box in enumerate(ndimage.find_objects(labels.astype(np.int32, copy=False))):
        if box is None:
            continue
        parts, count = ndimage.label(labels[box] == index + 1, structure=FULL)
        sizes = np.bincount(parts.ravel())
        centres = ndimage.center_of_mass(parts > 0, parts, range(1, count + 1))
        offset = np.array([s.start for s in box], dtype=np.float64)
        found += [(index + 1, int(sizes[k + 1]), tuple(np.round(np.asarray(c) + offset, 6)))
                  for k, c in enumerate(centres)]
    return found


def one_pass(labels: np.ndarray) -> list[tuple[int, int, tuple[float, ...]]]:
    found = label_components(labels, connectivity=26)
    return [(int(found.owner[k]), int(found.sizes[k]), tuple(np.round(found.centroids[k], 6)))
            for k in range(1, found.count + 1)]


def timed(function, *args) -> tuple[float, object]:
    clock = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - clock, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    args = parser.parse_args()
    maps = {"scattered": scattered_map(), "compact": compact_map()}
    affine = np.diag([4.4, 0.3448, 0.3448, 1.0])
    names = MR_SPINE_LABELS
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for name, labels in maps.items():
            seconds_scipy, baseline = timed(per_label_scipy, labels)
            seconds_cc3d, ours = timed(one_pass, labels)
            if sorted(baseline) != sorted(ours):
                raise SystemExit(f"{name}: the one-pass pieces differ from SciPy's")
            seconds_read, _ = timed(read_spine, labels, affine, names, None, True)
            times.setdefault((name, "scipy per label"), []).append(seconds_scipy)
            times.setdefault((name, "cc3d one pass"), []).append(seconds_cc3d)
            times.setdefault((name, "read_spine"), []).append(seconds_read)
    print(f"{'labels':<10} {'pieces':>7} {'scipy per label s':>18} {'cc3d one pass s':>16} {'ratio':>6} "
          f"{'read_spine s':>13}")
    for name, labels in maps.items():
        scipy_s = float(np.median(times[(name, "scipy per label")]))
        cc3d_s = float(np.median(times[(name, "cc3d one pass")]))
        read_s = float(np.median(times[(name, "read_spine")]))
        pieces = label_components(labels).count
        print(f"{name:<10} {pieces:>7} {scipy_s:>18.3f} {cc3d_s:>16.3f} {scipy_s / cc3d_s:>5.1f}x {read_s:>13.3f}")
    print(f"median of {args.repeat} interleaved rounds; pieces found identical (label, size, centroid)")


if __name__ == "__main__":
    main()
