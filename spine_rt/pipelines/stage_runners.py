"""``StageRunners``: the runners of one network stage, one per fold, and how to feed them.

A stage of a model package (``stage1`` or ``stage2``) may hold several folds
(independently trained copies); the pipeline runs every fold on the same
inputs and averages. This record keeps the runners together with the graph's
input/output names and the static patch size they accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spine_rt.errors import InputError


@dataclass(frozen=True)
class StageRunners:
    """The runners of one stage.

    Attributes:
        name: stage name (``"stage1"``, ``"stage2"``).
        runners: one :class:`~spine_rt.runtime.Runner` per fold (anything with
            ``infer(feed) -> dict`` and ``close()``).
        folds: the fold number of each runner.
        input_names: graph inputs in order: stage one ``("slices",)``, stage two
            ``("image", "stage_one_features")``.
        output_names: graph outputs in order: stage one ``("probabilities",
            "features")``, stage two ``("logits",)`` (softmax applied by the
            pipeline) or ``("probabilities",)``.
        patch_size: the spatial input size every call gets: ``(X, Y)`` for
            stage one (half resolution), ``(X, Y, Z)`` for stage two.
        backend / device / precision: for the report.
        sources: what each runner was made from (file names), for the report.

    Raises:
        InputError: no runners, or as many fold numbers as runners missing.
    """

    name: str
    runners: tuple[Any, ...]
    folds: tuple[int, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    patch_size: tuple[int, ...]
    backend: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.runners:
            raise InputError(f"stage {self.name}: no runners (no fold to run)")
        if len(self.folds) != len(self.runners):
            raise InputError(f"stage {self.name}: {len(self.runners)} runners but {len(self.folds)} fold numbers")

    @property
    def fold_count(self) -> int:
        return len(self.runners)

    def describe(self) -> dict[str, Any]:
        """Plain facts for the report."""
        return {
            "backend": self.backend,
            "device": self.device,
            "precision": self.precision,
            "folds": list(self.folds),
            "patch_size": list(self.patch_size),
            "sources": list(self.sources),
        }

    def close(self) -> None:
        """Close every runner (idempotent)."""
        for runner in self.runners:
            close = getattr(runner, "close", None)
            if close is not None:
                close()


def pair_folds(stage_one: StageRunners, stage_two: StageRunners) -> tuple[int, ...]:
    """For each stage-two fold, the index of the stage-one fold whose maps it gets.

    Folds with the same number are paired (fold ``k`` of stage two was trained
    on fold ``k`` of stage one); a single stage-one fold serves every stage-two
    fold.

    Raises:
        InputError: several stage-one folds that do not cover the stage-two folds.
    """
    if stage_one.fold_count == 1:
        return (0,) * stage_two.fold_count
    position = {fold: i for i, fold in enumerate(stage_one.folds)}
    missing = [fold for fold in stage_two.folds if fold not in position]
    if missing:
        raise InputError(
            f"stage2 folds {list(stage_two.folds)} cannot be paired with stage1 folds {list(stage_one.folds)} "
            f"(no stage1 fold {missing[0]}); give one stage1 fold or the same folds for both stages"
        )
    return tuple(position[fold] for fold in stage_two.folds)


def select_folds(available: Sequence[int], wanted: Sequence[int] | None, stage: str) -> tuple[int, ...]:
    """The folds to load: all of ``available`` or the ``wanted`` ones.

    Raises:
        InputError: a wanted fold the stage does not have.
    """
    if wanted is None:
        return tuple(available)
    chosen = tuple(int(f) for f in wanted)
    missing = [f for f in chosen if f not in available]
    if missing or not chosen:
        raise InputError(f"stage {stage} has folds {list(available)}; cannot use folds {list(chosen)}")
    return chosen
