"""Loading trained weights into a spine-rt network, with one clear error when they do not fit.

Accepted forms (a file path or the loaded object):

* a bare state dict ``{name: tensor}``;
* a training checkpoint ``{"state_dict": {...}, ...}`` or ``{"model": {...}, ...}``;
* either of these saved from ``nn.DataParallel`` / DDP (every key prefixed ``module.``);
* the SSHSNet authors' checkpoints (``M<score>.pkl`` of their stage one
  ``DualNetwork`` and stage two ``DeeplabV3Plus3D``), recognised by their
  keys and renamed onto spine-rt's networks
  (:mod:`~spine_rt.models.authors_checkpoints`).

:func:`load_checkpoint_format` loads and says which of these layouts the
weights came in (the *source format* recorded in package manifests).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spine_rt.errors import InputError
from spine_rt.models.authors_checkpoints import LAYOUTS, SPINE_RT_FORMAT, Layout, find_layout

logger = logging.getLogger(__name__)

#: Keys under which training scripts commonly store the weights, tried in order.
STATE_DICT_KEYS: tuple[str, ...] = ("state_dict", "model")
DATA_PARALLEL_PREFIX = "module."
#: How many names each part of the error message lists before "...".
NAMES_SHOWN = 3


def _read(path: str | os.PathLike[str]) -> Any:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"checkpoint not found: {file}")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling fails in many ways; all mean "not a readable checkpoint"
        raise InputError(f"cannot read checkpoint {file}: not a torch checkpoint "
                         f"({type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''})") from error


def extract_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` weights inside ``checkpoint``, without a ``module.`` prefix.

    Raises:
        InputError: no mapping of tensors found.
    """
    if not isinstance(checkpoint, Mapping):
        raise InputError(f"checkpoint must be a state dict (a mapping), got {type(checkpoint).__name__}")
    state = checkpoint
    for key in STATE_DICT_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    not_tensors = [name for name, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise InputError(
            f"checkpoint is not a state dict: {len(not_tensors)} entries are not tensors "
            f"({_first_names(not_tensors)}); expected {{name: tensor}} or a dict with one of "
            f"the keys {', '.join(STATE_DICT_KEYS)}"
        )
    if state and all(name.startswith(DATA_PARALLEL_PREFIX) for name in state):
        state = {name[len(DATA_PARALLEL_PREFIX):]: value for name, value in state.items()}
    return dict(state)


def read_state_dict(path_or_state: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` weights of a checkpoint file or loaded object, without a ``module.`` prefix.

    Raises:
        InputError: unreadable file or no state dict inside.
    """
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else _read(path_or_state)
    return extract_state_dict(checkpoint)


def checkpoint_layout(state: Mapping[str, Any]) -> Layout | None:
    """The foreign layout (:data:`~spine_rt.models.authors_checkpoints.LAYOUTS`) of ``state``, or ``None``
    for spine-rt's own names (or an unknown layout)."""
    return find_layout(state)


def _first_names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (", ..." if len(names) > NAMES_SHOWN else "")


def describe_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """``(missing, unexpected, wrong_shape)`` names of ``state`` against ``model.state_dict()``.

    ``wrong_shape`` entries read ``"name: checkpoint (a, b) vs model (c, d)"``.
    """
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    wrong_shape = [
        f"{name}: checkpoint {tuple(state[name].shape)} vs model {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and tuple(state[name].shape) != tuple(tensor.shape)
    ]
    return missing, unexpected, wrong_shape


def load_checkpoint(
    model: nn.Module,
    path_or_state: str | os.PathLike[str] | Mapping[str, Any],
    strict: bool = True,
) -> nn.Module:
    """Load weights into ``model`` (in place) and return it.

    Args:
        model: the network, e.g. from :func:`spine_rt.models.build`.
        path_or_state: a file saved with ``torch.save`` or the loaded object
            (see the module docstring for the accepted forms, the SSHSNet
            authors' checkpoints included: stage one needs the pair built
            with ``stem_pool="ceil"``, e.g. ``build("stage1_pair", stem_pool="ceil")``).
        strict: when true, missing and unexpected names are errors; when
            false they are logged and skipped. Shape mismatches are always errors.

    Raises:
        InputError: unreadable file, no state dict inside, or weights that do
            not fit: one line with the counts and the first names of the
            missing, unexpected and wrongly shaped entries (and, when the keys
            follow no known layout, a note saying so).
    """
    load_checkpoint_format(model, path_or_state, strict)
    return model


def _renamed_for(model: nn.Module, state: dict[str, torch.Tensor], layout: Layout) -> dict[str, torch.Tensor]:
    """``state`` in a foreign ``layout`` renamed onto ``model``'s names, after checking the model can take it."""
    expected_class = {"stage1_pair": "StageOnePair", "stage2": "StageTwoNet"}[layout.network]
    if type(model).__name__ != expected_class:
        raise InputError(f"checkpoint is the {layout.description}; it does not fit {type(model).__name__} "
                         f"(it is spine-rt's {layout.network} network)")
    config = getattr(model, "config", None)
    wrong = {name: value for name, value in layout.config.items() if getattr(config, name, None) != value}
    if wrong:
        settings = ", ".join(f"{name}={value!r}" for name, value in wrong.items())
        raise InputError(f"checkpoint is the {layout.description}; build the network with {settings} to compute "
                         f"the same function (e.g. build({layout.network!r}, preset, {settings}))")
    renamed, uncovered = layout.rename(state)
    if uncovered:
        raise InputError(f"checkpoint looks like the {layout.description}, but {len(uncovered)} keys follow no "
                         f"rule of that layout ({_first_names(uncovered)})")
    return renamed


def load_checkpoint_format(
    model: nn.Module,
    path_or_state: str | os.PathLike[str] | Mapping[str, Any],
    strict: bool = True,
) -> str:
    """:func:`load_checkpoint`, returning the checkpoint's source format instead of the model.

    Returns:
        ``"spine-rt"`` for spine-rt's own names, else the name of the foreign
        layout (``"sshsnet-authors-stage1"``, ``"sshsnet-authors-stage2"``).

    Raises:
        InputError: see :func:`load_checkpoint`.
    """
    state = read_state_dict(path_or_state)
    layout = checkpoint_layout(state)
    if layout is not None:
        state = _renamed_for(model, state, layout)
    missing, unexpected, wrong_shape = describe_mismatch(model, state)
    problems = []
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} with a wrong shape ({_first_names(wrong_shape)})")
    if strict and missing:
        problems.append(f"{len(missing)} missing ({_first_names(missing)})")
    if strict and unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_first_names(unexpected)})")
    if problems:
        if layout is None and (missing or unexpected) and strict:
            known = ", ".join(known_layout.name for known_layout in LAYOUTS)
            problems.append(f"the keys follow neither spine-rt's names nor a recognised layout ({known})")
        raise InputError(f"checkpoint does not fit {type(model).__name__}: " + "; ".join(problems))
    if missing or unexpected:
        logger.warning("loading %s non-strictly: %d missing (%s), %d unexpected (%s) entries skipped",
                       type(model).__name__, len(missing), _first_names(missing),
                       len(unexpected), _first_names(unexpected))
    model.load_state_dict(state, strict=strict)
    return SPINE_RT_FORMAT if layout is None else layout.name
