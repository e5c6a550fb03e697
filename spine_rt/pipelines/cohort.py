"""Many scans through one pipeline, reading ahead while the networks run.

:func:`segment_cohort` yields one :class:`CohortItem` per scan, in order.
While scan ``k`` is in the networks, up to ``prefetch`` following scans are
read and preprocessed by worker threads (a bounded read-ahead: at most
``prefetch + 1`` prepared volumes exist at a time). A scan that is bad input
(:class:`~spine_rt.errors.InputError`: unreadable, not 3D, empty) becomes an
item carrying the error and the cohort goes on; any other exception stops
it. With ``out_dir`` every label map is written there as
``<scan name>_seg.nii.gz``.

:func:`scans_in_folder` lists what a folder holds: NIfTI files and DICOM
series sub-folders, sorted by name.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.io.nifti import is_nifti_path
from spine_rt.pipelines.result import Result
from spine_rt.pipelines.spine_mr_pipeline import SpineMrPipeline

#: scans read and preprocessed ahead of the one in the networks
DEFAULT_PREFETCH = 2
OUTPUT_SUFFIX = "_seg.nii.gz"


@dataclass(frozen=True)
class CohortItem:
    """One scan of a cohort.

    Attributes:
        index: position in the cohort (0-based).
        name: the scan's name (file name without ``.nii``/``.nii.gz``, folder
            name, or ``scan_<index>`` for arrays).
        result: the segmentation, or None when the scan was bad input.
        error: the :class:`InputError` of a bad scan, else None.
        output: where the labels were written (with ``out_dir``), else None.
    """

    index: int
    name: str
    result: Result | None
    error: InputError | None = None
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def scan_name(scan: Any, index: int) -> str:
    """A file-system friendly name for ``scan`` (see :class:`CohortItem`)."""
    source = scan.source if isinstance(scan, Image) else scan if isinstance(scan, (str, os.PathLike)) else None
    if source is None:
        return f"scan_{index:04d}"
    name = Path(source).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def scans_in_folder(folder: str | os.PathLike) -> list[Path]:
    """NIfTI files and sub-folders holding files (DICOM series) of ``folder``, sorted by name.

    Raises:
        InputError: ``folder`` is not a folder, or holds no scan.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    scans = [p for p in sorted(root.iterdir()) if (p.is_file() and is_nifti_path(p))
             or (p.is_dir() and any(child.is_file() for child in p.iterdir()))]
    if not scans:
        raise InputError(f"{root}: no NIfTI file (.nii, .nii.gz) or DICOM series folder inside")
    return scans


def segment_cohort(
    pipeline: SpineMrPipeline,
    scans: Iterable[Any],
    *,
    out_dir: str | os.PathLike | None = None,
    prefetch: int = DEFAULT_PREFETCH,
    return_probabilities: bool = False,
) -> Iterator[CohortItem]:
    """Segment ``scans`` one after the other, reading ahead (see the module docstring).

    Args:
        pipeline: the pipeline (its networks run in the calling thread).
        scans: paths, DICOM folders or :class:`Image` s (arrays need their affine: wrap them in an Image).
        out_dir: write every label map there (the folder must exist).
        prefetch: scans prepared ahead by worker threads (>= 1).
        return_probabilities: passed to :meth:`SpineMrPipeline.segment`.

    Raises:
        InputError: ``prefetch`` < 1, ``out_dir`` not a folder.
    """
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        raise InputError(f"prefetch must be a positive integer, got {prefetch!r}")
    folder = None if out_dir is None else Path(out_dir)
    if folder is not None and not folder.is_dir():
        raise InputError(f"{folder}: the output folder does not exist")
    pool = ThreadPoolExecutor(max_workers=prefetch, thread_name_prefix="spine-rt-prepare")
    pending: deque[tuple[int, Any, Future]] = deque()
    source = enumerate(scans)

    def read_ahead() -> None:
        for index, scan in source:
            pending.append((index, scan, pool.submit(pipeline.prepare, scan)))
            return

    try:
        for _ in range(prefetch):
            read_ahead()
        while pending:
            index, scan, future = pending.popleft()
            read_ahead()
            name = scan_name(scan, index)
            try:
                result = pipeline.segment(future.result(), return_probabilities=return_probabilities)
            except InputError as error:
                yield CohortItem(index, name, None, error)
                continue
            output = result.save(folder / f"{name}{OUTPUT_SUFFIX}") if folder is not None else None
            yield CohortItem(index, name, result, None, output)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
