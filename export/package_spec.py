"""The spec of ``spine-rt package``: which ONNX graph is which stage and fold, names, layout, labels, preprocessing.

A spec is a small JSON file (or the same as a dict in the Python API);
every key is optional, and flags/keywords given beside it win::

    {
      "model": "mbnet",
      "labels": ["background", "vertebra", "sacrum", "femoral head 1", "femoral head 2"],
      "preprocessing": {"scale": 0.00392156862745098, "offset": 0.0},
      "precision": "fp32,fp16",
      "stages": {
        "xray": {
          "graphs": ["mbnet_fold0.onnx", "mbnet_fold1.onnx"],
          "layout": "channels_last",
          "inputs": {"image": "input_1"},
          "outputs": {"segmentation": "seg_softmax", "inspection_values": "dense_3"}
        }
      }
    }

* ``graphs``: one file per fold, relative to the spec's folder.
* ``inputs`` / ``outputs``: ``{spine-rt name: name in the graph}``
  (:mod:`spine_rt.export.stage_contract` lists spine-rt's names per stage).
* ``layout``: ``channels_first`` (default; PyTorch) or ``channels_last``
  (Keras/tf2onnx graphs taking ``(N, H, W, C)``).
* ``labels``: ``{id: name}``, a list of names or a ``labels.json`` path
  (default: the model's labels); the class outputs must have one channel per label.
* ``preprocessing``: entries replacing the model's defaults in the manifest
  (MR: ``spacing_mm`` per stage, ``intensity.clip_percentiles``; X-ray:
  ``scale``, ``offset``, MBNet's ``value_scaling``); checked by the pipelines' readers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError
from spine_rt.export.foreign_graph import CHANNELS_FIRST, LAYOUTS
from spine_rt.export.model_families import ModelFamily

GraphPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
SPEC_KEYS = ("model", "labels", "preprocessing", "precision", "stages")
STAGE_KEYS = ("graphs", "inputs", "outputs", "layout")


@dataclass(frozen=True)
class StageSpec:
    """One stage: its graph files (one per fold), name mapping and layout."""

    graphs: tuple[Path, ...]
    names: dict[str, dict[str, str]]
    layout: str


@dataclass(frozen=True)
class PackageSpec:
    """Everything ``spine-rt package`` needs besides the output folder."""

    stages: dict[str, StageSpec]
    labels: Any
    preprocessing: dict[str, Any]
    precisions: Any


def read_spec(spec: str | os.PathLike[str] | Mapping[str, Any] | None) -> tuple[dict[str, Any], Path]:
    """A spec file or dict -> ``(dict, folder its relative paths start from)``.

    Raises:
        InputError: a missing file, invalid JSON, not an object, or an unknown key.
    """
    if spec is None:
        return {}, Path.cwd()
    if isinstance(spec, Mapping):
        data, folder, source = dict(spec), Path.cwd(), "spec"
    else:
        file = Path(spec)
        if not file.is_file():
            raise InputError(f"spec file not found: {file}")
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{file}: not valid JSON ({exc})") from None
        folder, source = file.parent, str(file)
    if not isinstance(data, dict):
        raise InputError(f"{source}: the spec must be a JSON object")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)} (valid: {', '.join(SPEC_KEYS)})")
    stages = data.get("stages", {})
    if not isinstance(stages, dict):
        raise InputError(f"{source}: \"stages\" must be an object {{stage: {{...}}}}")
    for stage, entry in stages.items():
        if not isinstance(entry, dict):
            raise InputError(f"{source}: stage {stage!r} must be an object with keys {', '.join(STAGE_KEYS)}")
        bad = sorted(set(entry) - set(STAGE_KEYS))
        if bad:
            raise InputError(f"{source}: stage {stage!r} has unknown key(s) {', '.join(bad)} "
                             f"(valid: {', '.join(STAGE_KEYS)})")
    return data, folder


def _per_stage(family: ModelFamily, value: Any, what: str, plain: type | tuple[type, ...]) -> dict[str, Any]:
    """``{stage: value}`` from a per-stage mapping, or one bare value for one-stage models."""
    if value is None:
        return {}
    if isinstance(value, Mapping) and set(value) <= set(family.stage_names) and value:
        return dict(value)
    if len(family.stages) == 1 and isinstance(value, plain):
        return {family.stage_names[0]: value}
    raise InputError(f"{what}: give {{stage: ...}} with stages {', '.join(family.stage_names)}")


def _paths(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def _names(value: Any, where: str) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or set(value) - {"inputs", "outputs"}:
        raise InputError(f"{where}: names must be {{\"inputs\": {{...}}, \"outputs\": {{...}}}}")
    result = {}
    for side, mapping in value.items():
        if not isinstance(mapping, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in mapping.items()):
            raise InputError(f"{where}: \"{side}\" must map spine-rt names to graph names (strings)")
        result[side] = dict(mapping)
    return result


def resolve_package_spec(
    family: ModelFamily,
    spec: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    graphs: Mapping[str, GraphPaths] | GraphPaths | None = None,
    *,
    labels: Any = None,
    preprocessing: Mapping[str, Any] | None = None,
    names: Mapping[str, Any] | None = None,
    layout: str | Mapping[str, str] | None = None,
    precisions: Any = None,
) -> PackageSpec:
    """Combine the spec with the explicit arguments (which win) into a :class:`PackageSpec`.

    Args:
        family: the model family (``sshsnet``, ``mbnet``, ``bilunet``).
        spec: a spec file, a dict, or ``None``.
        graphs: ``{stage: path or [paths, one per fold]}`` (a bare path or list
            for one-stage models); a stage given here replaces the spec's graphs.
        labels / preprocessing / precisions: as in the spec.
        names: ``{stage: {"inputs": ..., "outputs": ...}}`` (or the inner dict for one-stage models).
        layout: ``channels_first`` / ``channels_last``, one for all stages or ``{stage: layout}``.

    Raises:
        InputError: a spec for another model, an unknown stage, a stage without
            graphs, a graph file that does not exist, a bad layout or mapping.
    """
    data, folder = read_spec(spec)
    if data.get("model") not in (None, family.name):
        raise InputError(f"the spec is for model {data['model']!r}, not {family.name}")
    from_spec = data.get("stages", {})
    for stage in from_spec:
        family.stage(stage)
    given_graphs = _per_stage(family, graphs, "graphs", (str, os.PathLike, list, tuple))
    for stage in given_graphs:
        family.stage(stage)
    if names is None:
        given_names: dict[str, Any] = {}
    elif len(family.stages) == 1 and set(names) <= {"inputs", "outputs"}:
        given_names = {family.stage_names[0]: names}
    else:
        given_names = dict(names)
        for stage in given_names:
            family.stage(stage)
    layouts = {stage: layout for stage in family.stage_names} if isinstance(layout, str) else dict(layout or {})
    stages: dict[str, StageSpec] = {}
    for stage in family.stage_names:
        entry = from_spec.get(stage, {})
        if stage in given_graphs:
            files = [Path(path) for path in _paths(given_graphs[stage])]
        else:
            files = [folder / Path(path) for path in _paths(entry.get("graphs", []))]
        if not files:
            raise InputError(f"no ONNX graph for stage {stage} of {family.name} (give --graph {stage}=FILE.onnx "
                             f"or \"stages\": {{\"{stage}\": {{\"graphs\": [...]}}}} in the spec)")
        for file in files:
            if not file.is_file():
                raise InputError(f"ONNX file not found: {file} (stage {stage})")
        chosen_layout = layouts.get(stage) or entry.get("layout") or CHANNELS_FIRST
        if chosen_layout not in LAYOUTS:
            raise InputError(f"stage {stage}: unknown layout {chosen_layout!r}; valid layouts: {', '.join(LAYOUTS)}")
        mapping = _names({k: entry[k] for k in ("inputs", "outputs") if k in entry} or None, f"stage {stage}")
        mapping.update(_names(given_names.get(stage), f"stage {stage}"))
        stages[stage] = StageSpec(tuple(files), mapping, chosen_layout)
    spec_labels = data.get("labels")
    if isinstance(spec_labels, str) and not Path(spec_labels).is_absolute():
        spec_labels = str(folder / spec_labels)
    merged_preprocessing = dict(data.get("preprocessing") or {})
    merged_preprocessing.update(preprocessing or {})
    return PackageSpec(stages=stages, labels=labels if labels is not None else spec_labels,
                       preprocessing=merged_preprocessing,
                       precisions=precisions if precisions is not None else data.get("precision"))
