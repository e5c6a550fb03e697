"""Many scans through one pipeline: the cohort loop of both tasks.

:func:`run_cohort` runs a planned cohort (:func:`~spine_rt.pipelines.cohort_outputs.cohort_cases`)
of spine MRs or X-rays: finished cases skipped unless ``overwrite``, every
other case segmented and published, a case that is bad input recorded as
failed while the others go on, and ``summary.csv`` written in the end (also
when the run stops early). ``spine-rt infer`` on a folder is argument
handling plus this call.

:func:`segment_cohort` yields one :class:`CohortItem` per scan, in order.
While scan ``k`` is in the networks, up to ``prefetch`` following scans are
read and preprocessed by worker threads (a bounded read-ahead: at most
``prefetch + 1`` prepared volumes exist at a time). A scan that is bad input
(:class:`~spine_rt.errors.InputError`: unreadable, not 3D, empty) becomes an
item carrying the error and the cohort goes on; any other exception stops
it. With ``out_dir`` every label map is written there as
``<scan name>_seg.nii.gz``.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.pipelines.cohort_outputs import MR_SUFFIX, Case, previous_report, publish_case, summary_row, write_summary
from spine_rt.pipelines.spine_mr.result import Result
from spine_rt.pipelines.spine_mr.pipeline import SpineMrPipeline
from spine_rt.pipelines.xray.result import XrayResult

#: scans read and preprocessed ahead of the one in the networks
DEFAULT_PREFETCH = 2


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
    result: Result | XrayResult | None
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
            output = result.save(folder / f"{name}{MR_SUFFIX}") if folder is not None else None
            yield CohortItem(index, name, result, None, output)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class CohortRun:
    """What :func:`run_cohort` did.

    Attributes:
        out_dir: the output folder.
        cases: every case, in order.
        ran: cases segmented or failed (the others were skipped as done).
        failed: the names of the failed cases.
        summary: the ``summary.csv`` written.
    """

    out_dir: Path
    cases: tuple[Case, ...]
    ran: int
    failed: tuple[str, ...]
    summary: Path

    @property
    def skipped(self) -> int:
        return len(self.cases) - self.ran


def run_cohort(
    load: Callable[[], Any],
    out_dir: Path,
    cases: Iterable[Case],
    task: str,
    *,
    labels: dict[int, str],
    model: dict[str, Any],
    overwrite: bool = False,
    on_loaded: Callable[[], None] | None = None,
    say: Callable[[str], None] | None = None,
    progress: str | None = None,
) -> CohortRun:
    """Segment and publish every case not done yet, then write ``out_dir/summary.csv``.

    Args:
        load: makes the pipeline (a context manager; called only when a case needs running).
        out_dir / cases: the planned cohort (:func:`~spine_rt.pipelines.cohort_outputs.cohort_cases`).
        task: ``"spine_mr"`` (read ahead with :func:`segment_cohort`) or ``"xray"`` (one picture at a time).
        labels: label id -> name (QC pictures); model: the package identity (reports).
        overwrite: redo finished cases and replace their outputs.
        on_loaded: called once the pipeline is loaded (e.g. to say which model runs).
        say: gets one line per case warning or failure (``"<case>: <message>"``).
        progress: the label of a tqdm bar on stderr (shown when stderr is a terminal); ``None``: no bar.

    A case failing with an :class:`InputError` or an ``OSError`` while publishing
    is recorded as failed; any other exception stops the cohort, the summary
    written first (unfinished cases ``not run``).
    """
    from tqdm import tqdm

    cases = tuple(cases)
    tell = say if say is not None else (lambda line: None)
    todo = [case for case in cases if overwrite or not case.done]
    rows: dict[str, dict[str, Any]] = {case.name: summary_row(case, "skipped (already done)", previous_report(case),
                                                              task=task)
                                       for case in cases if case not in todo}
    failed: list[str] = []
    bar = tqdm(total=len(todo), unit="case", desc=progress, disable=None if progress is not None else True,
               file=sys.stderr)
    try:
        if todo:
            with load() as pipeline:
                if on_loaded is not None:
                    on_loaded()
                inputs = [case.input for case in todo]
                items = _one_at_a_time(pipeline, inputs) if task == "xray" else segment_cohort(pipeline, inputs)
                for case, item in zip(todo, items):
                    result, error = item.result, item.error
                    if error is None:
                        try:
                            publish_case(result, case, task, labels, model, overwrite)
                        except (InputError, OSError) as problem:
                            error = problem
                    if error is None:
                        rows[case.name] = summary_row(case, "done", result.report, task=task)
                        for warning in (result.report.get("input") or {}).get("warnings", []):
                            tell(f"{case.name}: warning: {warning}")
                    else:
                        message = str(error).splitlines()[0] if str(error) else type(error).__name__
                        failed.append(case.name)
                        rows[case.name] = summary_row(case, "failed", None, message, task=task)
                        tell(f"{case.name}: {message}")
                    bar.update(1)
    finally:
        bar.close()
        ordered = [rows.get(case.name) or summary_row(case, "not run", None, task=task) for case in cases]
        summary = write_summary(out_dir, ordered, task)
    return CohortRun(out_dir, cases, len(todo), tuple(failed), summary)


def _one_at_a_time(pipeline: Any, pictures: list[Path]) -> Iterator[CohortItem]:
    """X-rays: each picture read in the pipeline's call (its report times the reading); a bad one is an item
    carrying its :class:`InputError`."""
    for index, picture in enumerate(pictures):
        try:
            result = pipeline(picture)
        except InputError as error:
            yield CohortItem(index, scan_name(picture, index), None, error)
            continue
        yield CohortItem(index, scan_name(picture, index), result, None)
