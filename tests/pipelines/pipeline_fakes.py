"""Fakes and volumes for the pipeline tests (imported by the test modules as ``pipeline_fakes``).

* Fake runners (numpy only) with outputs the tests control: a stage one that
  marks bright voxels as one structure, a stage two that returns stage one's
  probabilities back (optionally with small per-window noise), and a runner
  wrapper that records every batch it is given.
* Small synthetic volumes on the model grid (``IPR`` at 0.3448 x 0.3448 x 4.4 mm)
  and the same volume in other orientations.
"""

from __future__ import annotations

import zlib

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from spine_rt.io import Image
from spine_rt.pipelines import PipelineOptions, SpineMrPipeline, StageRunners

CLASSES = 20
FEATURES = 8
#: the class the fake stage one gives bright voxels
FOREGROUND_CLASS = 5
MODEL_SPACING = (0.3448, 0.3448, 4.4)


class RecordingRunner:
    """Wraps a runner; records the shape of every input of every call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[dict[str, tuple[int, ...]]] = []
        self.closed = False

    def infer(self, feed):
        self.calls.append({name: tuple(value.shape) for name, value in feed.items()})
        return self.inner.infer(feed)

    def close(self) -> None:
        self.closed = True


class ThresholdStageOne:
    """Stage one whose 'spine' is where the centre slice is brighter than ``threshold``.

    Probabilities ``(B, 20, px, py)``: one-hot :data:`FOREGROUND_CLASS` there,
    background elsewhere; features ``(B, 8, px/4, py/4)``: the centre slice
    averaged over 4 x 4 blocks, repeated.
    """

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    def infer(self, feed):
        slices = feed["slices"]
        centre = slices[:, 1]
        batch, size_x, size_y = centre.shape
        probabilities = np.zeros((batch, CLASSES, size_x, size_y), np.float32)
        bright = centre > self.threshold
        probabilities[:, FOREGROUND_CLASS][bright] = 1.0
        probabilities[:, 0][~bright] = 1.0
        pooled = centre.reshape(batch, size_x // 4, 4, size_y // 4, 4).mean(axis=(2, 4))
        features = np.repeat(pooled[:, None], FEATURES, axis=1).astype(np.float32)
        return {"probabilities": probabilities, "features": features}


class EchoStageTwo:
    """Stage two that returns the stage-one probabilities it is given, as logits.

    ``noise`` adds a small perturbation that depends on the window's content
    (deterministic), so overlapping windows disagree slightly, like a real network.
    """

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def infer(self, feed):
        image = feed["image"]
        logits = np.log(np.clip(image[:, 1:], 1e-4, 1.0)).astype(np.float32)
        if self.noise:
            for slot in range(image.shape[0]):
                seed = zlib.crc32(np.ascontiguousarray(image[slot, 0, ::7, ::7]).tobytes())
                noise = np.random.default_rng(seed).standard_normal(logits.shape[1:]).astype(np.float32)
                logits[slot] += self.noise * noise
        return {"logits": logits}


class ConstantStageTwo:
    """Stage two that predicts ``label`` everywhere (to see where it ran)."""

    def __init__(self, label: int) -> None:
        self.label = label

    def infer(self, feed):
        image = feed["image"]
        logits = np.zeros((image.shape[0], CLASSES, *image.shape[2:]), np.float32)
        logits[:, self.label] = 10.0
        return {"logits": logits}


def stage_one_runners(runners, patch=(64, 128)) -> StageRunners:
    runners = list(runners)
    return StageRunners("stage1", tuple(runners), tuple(range(len(runners))), ("slices",),
                        ("probabilities", "features"), tuple(patch), backend="fake")


def stage_two_runners(runners, patch=(64, 64, 12)) -> StageRunners:
    runners = list(runners)
    return StageRunners("stage2", tuple(runners), tuple(range(len(runners))), ("image", "stage_one_features"),
                        ("logits",), tuple(patch), backend="fake")


def fake_pipeline(stage_one=None, stage_two=None, stage_one_patch=(64, 128), stage_two_patch=(64, 64, 12),
                  **options) -> SpineMrPipeline:
    """A pipeline of fake runners (numpy only, fast)."""
    first = stage_one_runners([stage_one or ThresholdStageOne()], stage_one_patch)
    second = stage_two_runners([stage_two or EchoStageTwo()], stage_two_patch)
    labels = {k: f"structure {k}" for k in range(CLASSES)}
    labels[0] = "background"
    return SpineMrPipeline(first, second, PipelineOptions(**options), labels=labels)


def ipr_affine(spacing=MODEL_SPACING, origin=(10.0, -20.0, 30.0)) -> np.ndarray:
    """Voxel axes (X, Y, Z) pointing Inferior, Posterior, Right."""
    sx, sy, sz = spacing
    affine = np.array([[0.0, 0.0, sz, 0.0], [0.0, -sy, 0.0, 0.0], [-sx, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    affine[:3, 3] = origin
    return affine


def model_grid_volume(shape=(128, 256, 12), seed: int = 0) -> np.ndarray:
    """A body (values 20-60) with a zero border, a bright column (values 100-120) and noise."""
    rng = np.random.default_rng(seed)
    size_x, size_y, size_z = shape
    volume = np.zeros(shape, np.float32)
    volume[:, 8 : size_y - 20] = 40.0 + 10.0 * rng.standard_normal((size_x, size_y - 28, size_z))
    columns = slice(size_y // 3, size_y // 3 + size_y // 8)
    volume[size_x // 8 : size_x - size_x // 8, columns, 2 : size_z - 2] = 110.0
    volume[:, 8 : size_y - 20] += rng.uniform(0, 5, (size_x, size_y - 28, size_z)).astype(np.float32)
    return np.clip(volume, 0, None)


def reoriented(image: Image, codes: str) -> Image:
    """The same voxels and world, with voxel axes pointing ``codes`` (e.g. ``"RAS"``)."""
    transform = ornt_transform(io_orientation(image.affine), axcodes2ornt(tuple(codes)))
    array = apply_orientation(image.array, transform)
    affine = image.affine @ inv_ornt_aff(transform, image.array.shape)
    return Image(np.ascontiguousarray(array), affine)


def labels_in_orientation(labels: np.ndarray, affine: np.ndarray, codes: str) -> np.ndarray:
    """``labels`` (on the grid of ``affine``) with voxel axes pointing ``codes``."""
    transform = ornt_transform(io_orientation(affine), axcodes2ornt(tuple(codes)))
    return apply_orientation(labels, transform)
