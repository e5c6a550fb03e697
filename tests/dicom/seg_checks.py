"""Checks of written DICOM objects (imported by the test modules as ``seg_checks``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for ``path`` (warnings are allowed); the test is marked ``dciodvfy``."""
    tool = shutil.which("dciodvfy")
    assert tool is not None
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    lines = (run.stdout + run.stderr).splitlines()
    assert lines, "dciodvfy printed nothing"
    return [line for line in lines if line.startswith("Error") or " Error " in line]


def seg_labels_in_space(seg_path: Path, labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str]) -> None:
    """Every voxel of ``labels`` (on RAS+ ``affine``) has the same label at the same patient position in the SEG.

    The SEG is read with highdicom's own volume (its affine maps (slice, row, column) to LPS), independent of
    spine-rt's reader; positions outside the SEG's frames must be background.
    """
    import highdicom as hd

    seg = hd.seg.segread(seg_path)
    volume = seg.get_volume(combine_segments=True, relabel=False)
    by_name = {name: label for label, name in names.items()}
    lookup = np.zeros(max(int(s.SegmentNumber) for s in seg.SegmentSequence) + 1, np.int64)
    for item in seg.SegmentSequence:
        lookup[int(item.SegmentNumber)] = by_name[item.SegmentLabel]
    seg_labels = lookup[np.asarray(volume.array)]
    index = np.indices(labels.shape).reshape(3, -1)
    world = LPS @ affine @ np.vstack([index, np.ones(index.shape[1])])
    where = np.linalg.solve(volume.affine, world)[:3]
    assert np.allclose(where, np.round(where), atol=1e-3), "SEG frames are not on the label map's grid"
    where = np.round(where).astype(int)
    inside = np.all((where >= 0) & (where < np.array(seg_labels.shape)[:, None]), axis=0)
    flat = labels.reshape(-1)
    assert np.array_equal(seg_labels[tuple(where[:, inside])], flat[inside])
    assert not flat[~inside].any(), "labelled voxels fall outside the SEG"
