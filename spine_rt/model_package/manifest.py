"""The ``manifest.json`` of a model package: what it holds and how to run it.

A model package is a folder, self-describing like an nnU-Net model folder::

    PKG/
      manifest.json
      stage1/fold0.fp32.onnx  stage1/fold0.fp16.onnx  stage1/fold0.weights.pt
      stage2/fold0.fp32.onnx  ...
      engines/<key>/engine.json + <stage>.plan    (written by build-engine)

The manifest records the task, labels, preprocessing, and per stage: the
network name and configuration (so the torch backend can rebuild it), the
patch size, the graph's inputs/outputs (batch dynamic, spatial static), the
graph files per precision and fold, the weight files, and the sha256 of every
file. Only the standard library and numpy are used here: the runtime reads
packages without torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from spine_rt.errors import InputError
from spine_rt.runtime.backends import GRAPH_PRECISIONS

FORMAT_VERSION = 1
#: the precisions a package stores graphs in
PRECISIONS = GRAPH_PRECISIONS
TASKS = ("spine_mr", "xray")


@dataclass(frozen=True)
class TensorEntry:
    """One graph input or output: ``shape`` uses ``None`` for the dynamic batch axis.

    ``dtype`` is a numpy dtype name (``"float32"``). Graph inputs and outputs
    are float32 for every precision (the FP16 graph casts inside).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class GraphFile:
    """One ONNX graph of a stage: a fold at a precision, path relative to the package."""

    path: str
    precision: str
    fold: int = 0


@dataclass(frozen=True)
class WeightFile:
    """One fold's torch weights (state_dict), path relative to the package.

    ``checkpoint_sha256`` is the hash of the checkpoint file the weights came
    from (``None`` for ``--random-init``).
    """

    path: str
    fold: int = 0
    checkpoint_sha256: str | None = None


@dataclass(frozen=True)
class Stage:
    """One network of the package (``stage1``, ``stage2``, ``xray``).

    Attributes:
        network: the name for :func:`spine_rt.models.build` (``stage1_pair``...).
        preset: ``full`` or ``tiny``.
        config: the network's configuration fields (overrides of the preset).
        patch_size: spatial size of one network input, e.g. ``(192, 192, 12)``.
        inputs / outputs: graph IO, batch axis ``None``.
        graphs: every ONNX file (folds x precisions).
        weights: every fold's weights.
    """

    network: str
    preset: str
    config: dict[str, Any]
    patch_size: tuple[int, ...]
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[TensorEntry, ...]
    graphs: tuple[GraphFile, ...] = ()
    weights: tuple[WeightFile, ...] = ()

    @property
    def folds(self) -> tuple[int, ...]:
        """Fold numbers present (sorted)."""
        return tuple(sorted({g.fold for g in self.graphs} | {w.fold for w in self.weights}))

    def graph(self, precision: str, fold: int = 0) -> GraphFile:
        """The graph of ``fold`` at ``precision``; InputError naming what exists otherwise."""
        for entry in self.graphs:
            if entry.precision == precision and entry.fold == fold:
                return entry
        have = ", ".join(f"{g.precision}/fold{g.fold}" for g in self.graphs) or "none"
        raise InputError(f"no {precision} graph for fold {fold} in this stage (graphs present: {have})")


@dataclass(frozen=True)
class Manifest:
    """The whole ``manifest.json``.

    Attributes:
        task: ``spine_mr`` or ``xray``.
        model: ``sshsnet``, ``mbnet`` or ``bilunet``.
        labels: label id -> structure name (0 is background).
        preprocessing: axis codes, spacing (mm), normalisation numbers.
        stages: stage name -> :class:`Stage`, in execution order.
        files: relative path -> sha256 of every file in the package.
        provenance: versions of spine-rt, torch, onnx; creation date.
        postprocessing: inference defaults the model was validated with, applied unless the caller
            chooses otherwise (like nnU-Net's postprocessing decided on cross-validation and stored with
            the trained model); keys: ``relabel_levels`` (bool: the level recount,
            :func:`spine_rt.measure.level_relabel.relabel_levels`). Absent from the JSON when empty.
    """

    task: str
    model: str
    labels: dict[int, str]
    preprocessing: dict[str, Any]
    stages: dict[str, Stage]
    files: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    postprocessing: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_postprocessing(self.postprocessing)

    def to_json(self) -> str:
        """Serialise (labels keys as strings, tuples as lists)."""
        data = asdict(self)
        data["labels"] = {str(k): v for k, v in self.labels.items()}
        if not self.postprocessing:
            del data["postprocessing"]
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "manifest.json") -> "Manifest":
        """Parse and validate; every problem is one InputError line naming ``source``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not valid JSON ({exc})") from None
        try:
            return _manifest_from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise InputError(f"{source}: {exc}") from None
            raise InputError(f"{source}: malformed manifest ({type(exc).__name__}: {exc})") from None


#: postprocessing keys a manifest may carry, with their type
POSTPROCESSING_KEYS: dict[str, type] = {"relabel_levels": bool}


def check_postprocessing(postprocessing: dict[str, Any]) -> None:
    """Raise :class:`InputError` for an unknown key or a value of the wrong type."""
    for key, value in postprocessing.items():
        if key not in POSTPROCESSING_KEYS:
            raise InputError(f"unknown postprocessing setting {key!r} (valid: {', '.join(POSTPROCESSING_KEYS)})")
        if not isinstance(value, POSTPROCESSING_KEYS[key]):
            raise InputError(f"postprocessing {key} must be a {POSTPROCESSING_KEYS[key].__name__}, got {value!r}")


def _tensor(data: dict[str, Any]) -> TensorEntry:
    return TensorEntry(name=data["name"], shape=tuple(data["shape"]), dtype=data.get("dtype", "float32"))


def _stage(name: str, data: dict[str, Any]) -> Stage:
    graphs = tuple(GraphFile(**g) for g in data.get("graphs", ()))
    for graph in graphs:
        if graph.precision not in PRECISIONS:
            raise InputError(f"stage {name}: unknown precision {graph.precision!r} (valid: {', '.join(PRECISIONS)})")
    return Stage(
        network=data["network"],
        preset=data["preset"],
        config=dict(data.get("config", {})),
        patch_size=tuple(int(s) for s in data["patch_size"]),
        inputs=tuple(_tensor(t) for t in data["inputs"]),
        outputs=tuple(_tensor(t) for t in data["outputs"]),
        graphs=graphs,
        weights=tuple(WeightFile(**w) for w in data.get("weights", ())),
    )


def _manifest_from_dict(data: dict[str, Any]) -> Manifest:
    if not isinstance(data, dict):
        raise InputError("the manifest must be a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"format_version {version!r} is not supported (this spine-rt reads version {FORMAT_VERSION})")
    if data["task"] not in TASKS:
        raise InputError(f"unknown task {data['task']!r} (valid: {', '.join(TASKS)})")
    stages = {name: _stage(name, stage) for name, stage in data["stages"].items()}
    if not stages:
        raise InputError("the manifest lists no stages")
    return Manifest(
        task=data["task"],
        model=data["model"],
        labels={int(k): str(v) for k, v in data["labels"].items()},
        preprocessing=dict(data.get("preprocessing", {})),
        stages=stages,
        files=dict(data.get("files", {})),
        provenance=dict(data.get("provenance", {})),
        format_version=version,
        postprocessing=dict(data.get("postprocessing", {})),
    )
