"""Which checkpoint files feed which stage: ``--checkpoint STAGE=PATH`` (repeat a stage for folds).

The Python API takes ``{stage: path or [paths]}``; the command line gives
strings ``"stage2=S2.pt"`` (or a bare ``"M.pt"`` for one-stage models),
parsed by :func:`parse_checkpoint_specs`. Both end in
:func:`resolve_checkpoints`, which checks the stage names and the files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from spine_rt.errors import InputError
from spine_rt.export.model_families import ModelFamily

CheckpointPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def parse_checkpoint_specs(family: ModelFamily, specs: Sequence[str]) -> dict[str, list[str]]:
    """``["stage1=a.pt", "stage2=b.pt", "stage2=c.pt"]`` -> ``{"stage1": ["a.pt"], "stage2": ["b.pt", "c.pt"]}``.

    For one-stage models (``mbnet``, ``bilunet``) a bare path means that stage.

    Raises:
        InputError: a spec without ``STAGE=`` for a multi-stage model, an
            unknown stage name, or an empty path.
    """
    result: dict[str, list[str]] = {}
    single = family.stage_names[0] if len(family.stages) == 1 else None
    for spec in specs:
        stage, separator, path = spec.partition("=")
        if not separator or (single is not None and stage not in family.stage_names and Path(spec).exists()):
            if single is None:
                raise InputError(
                    f"--checkpoint {spec!r}: {family.name} has several stages; write STAGE=PATH "
                    f"with STAGE one of {', '.join(family.stage_names)}"
                )
            stage, path = single, spec
        family.stage(stage)  # unknown stage -> InputError listing the stages
        if not path:
            raise InputError(f"--checkpoint {spec!r}: no file after {stage}=")
        result.setdefault(stage, []).append(path)
    return result


def resolve_checkpoints(family: ModelFamily,
                        checkpoints: Mapping[str, CheckpointPaths] | CheckpointPaths) -> dict[str, list[Path]]:
    """Check ``checkpoints`` against ``family``: every stage has >= 1 existing file.

    Args:
        checkpoints: ``{stage: path or [paths, one per fold]}``; for one-stage
            models also a bare path or list of paths.

    Returns:
        ``{stage: [Path, ...]}`` in the family's stage order.

    Raises:
        InputError: unknown stage, a stage without checkpoint, or a missing file.
    """
    if not isinstance(checkpoints, Mapping):
        if len(family.stages) != 1:
            raise InputError(f"{family.name} has several stages; give checkpoints as "
                             f"{{stage: path}} with stages {', '.join(family.stage_names)}")
        checkpoints = {family.stage_names[0]: checkpoints}
    for stage in checkpoints:
        family.stage(stage)
    resolved: dict[str, list[Path]] = {}
    for stage in family.stage_names:
        given = checkpoints.get(stage)
        if given is None or (not isinstance(given, (str, os.PathLike)) and len(given) == 0):
            raise InputError(f"no checkpoint for stage {stage} of {family.name} "
                             f"(give --checkpoint {stage}=PATH, or --random-init)")
        paths = [given] if isinstance(given, (str, os.PathLike)) else list(given)
        files = [Path(path) for path in paths]
        for file in files:
            if not file.is_file():
                raise InputError(f"checkpoint not found: {file} (stage {stage})")
        resolved[stage] = files
    return resolved
