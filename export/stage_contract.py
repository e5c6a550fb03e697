"""What a stage's ONNX graph must look like for the pipelines to run it: names, ranks, channels, sizes.

``spine-rt package`` checks every foreign graph against its stage's
contract before it goes into a package. Shapes are batch first, the batch
axis dynamic, every other axis static; ``C`` = number of labels, ``F`` =
stage one's feature channels (any number, the same in both SSHSNet stages):

================  =========================================  ==============================================
stage (network)   inputs                                     outputs
================  =========================================  ==============================================
stage1            ``slices (N, 3, X, Y)``                    ``probabilities (N, C, X, Y)`` (softmax),
(stage1_pair)                                                ``features (N, F, X/4, Y/4)``
stage2            ``image (N, 1 + C, X, Y, Z)``,             ``logits (N, C, X, Y, Z)`` or
(stage2)          ``stage_one_features (N, F, X/4, Y/4, Z)`` ``probabilities`` (softmax already applied)
xray (bilunet)    ``image (N, 3, H, W)`` (RGB)               ``probabilities (N, C, H, W)``
xray (mbnet)      ``image (N, 3, H, W)`` (RGB)               ``segmentation (N, C, H, W)`` (softmax),
                                                             ``inspection_values (N, 18)`` (scaled to [0, 1])
================  =========================================  ==============================================

``X, Y`` (MR, in-plane) and ``H, W`` (X-ray) are the patch size; ``Z`` the
slices of a stage-two patch. A shape is a tuple of dims: an ``int`` (static),
a ``str`` (a named dynamic axis) or ``None`` (unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.errors import InputError
from spine_rt.export.model_families import StageRecipe

Dim = int | str | None
Shape = tuple[Dim, ...]

#: stage one's feature map and stage two's ``stage_one_features`` are at 1/4 of the in-plane patch size
FEATURE_STRIDE = 4

# what axis 1 of a tensor holds
RGB = "rgb"
CLASSES = "classes"
IMAGE_AND_CLASSES = "image+classes"
FEATURES = "features"
# the spatial axes of a tensor
PATCH = "patch"
QUARTER = "quarter"
NO_SPATIAL = "none"


@dataclass(frozen=True)
class TensorRule:
    """One graph input or output of a stage.

    Attributes:
        names: spine-rt's names for it; the first is the usual one, others are
            accepted alternatives (stage two's ``probabilities`` for ``logits``).
        channels: what axis 1 holds (``rgb``, ``classes``, ``image+classes``,
            ``features``) or a fixed count.
        spatial: ``patch``, ``quarter`` (in-plane axes / 4) or ``none`` (a vector per item).
        meaning: a few words for messages.
    """

    names: tuple[str, ...]
    channels: str | int
    spatial: str
    meaning: str

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True)
class StageContract:
    """The inputs and outputs of one stage, in the order the pipelines use them."""

    network: str
    patch_rank: int
    inputs: tuple[TensorRule, ...]
    outputs: tuple[TensorRule, ...]

    def rank(self, rule: TensorRule) -> int:
        """Expected rank of ``rule``'s tensor (batch and channels included)."""
        return 2 if rule.spatial == NO_SPATIAL else 2 + self.patch_rank

    def layout(self, rule: TensorRule) -> str:
        """``(N, C, X, Y)``-style description of ``rule``'s tensor."""
        axes = {2: ("X", "Y"), 3: ("X", "Y", "Z")}[self.patch_rank]
        if self.network in ("bilunet", "mbnet"):
            axes = ("H", "W")
        channel = {RGB: "3", CLASSES: "C", IMAGE_AND_CLASSES: "1 + C", FEATURES: "F"}.get(rule.channels,
                                                                                           str(rule.channels))
        if rule.spatial == NO_SPATIAL:
            return f"(N, {channel})"
        if rule.spatial == QUARTER:
            axes = tuple(f"{axis}/4" if i < 2 else axis for i, axis in enumerate(axes))
        return f"(N, {channel}, {', '.join(axes)})"

    def all_names(self) -> set[str]:
        return {name for rule in (*self.inputs, *self.outputs) for name in rule.names}


CONTRACTS: dict[str, StageContract] = {
    "stage1_pair": StageContract(
        "stage1_pair", 2,
        inputs=(TensorRule(("slices",), RGB, PATCH, "slices z-1, z, z+1 as 3 channels"),),
        outputs=(TensorRule(("probabilities",), CLASSES, PATCH, "mean softmax of the branches"),
                 TensorRule(("features",), FEATURES, QUARTER, "decoder feature maps")),
    ),
    "stage2": StageContract(
        "stage2", 3,
        inputs=(TensorRule(("image",), IMAGE_AND_CLASSES, PATCH, "MR patch + stage-one softmax"),
                TensorRule(("stage_one_features",), FEATURES, QUARTER, "stage-one feature maps")),
        outputs=(TensorRule(("logits", "probabilities"), CLASSES, PATCH, "class scores"),),
    ),
    "bilunet": StageContract(
        "bilunet", 2,
        inputs=(TensorRule(("image",), RGB, PATCH, "RGB picture in [0, 1]"),),
        outputs=(TensorRule(("probabilities",), CLASSES, PATCH, "class softmax"),),
    ),
    "mbnet": StageContract(
        "mbnet", 2,
        inputs=(TensorRule(("image",), RGB, PATCH, "RGB picture in [0, 1]"),),
        outputs=(TensorRule(("segmentation",), CLASSES, PATCH, "class softmax"),
                 TensorRule(("inspection_values",), len(INSPECTION_VALUE_NAMES), NO_SPATIAL,
                            "the 18 lumbar values scaled to [0, 1]")),
    ),
}


def stage_contract(recipe: StageRecipe) -> StageContract:
    """The contract of a family's stage (by its network name)."""
    return CONTRACTS[recipe.network]


@dataclass(frozen=True)
class CheckedIO:
    """What a graph that fits its contract tells about the stage.

    Attributes:
        patch_size: the static spatial size of the first input.
        feature_channels: ``F`` (SSHSNet stages), else ``None``.
        inputs / outputs: spine-rt name -> shape with ``None`` for the batch axis.
    """

    patch_size: tuple[int, ...]
    feature_channels: int | None
    inputs: dict[str, tuple[int | None, ...]]
    outputs: dict[str, tuple[int | None, ...]]


def _spatial(contract: StageContract, rule: TensorRule, patch: Sequence[int]) -> tuple[int, ...]:
    if rule.spatial == QUARTER:
        return tuple(size // FEATURE_STRIDE if axis < 2 else size for axis, size in enumerate(patch))
    return tuple(patch) if rule.spatial == PATCH else ()


def _expected_channels(rule: TensorRule, num_classes: int, feature_channels: int | None) -> int | None:
    if isinstance(rule.channels, int):
        return rule.channels
    return {RGB: 3, CLASSES: num_classes, IMAGE_AND_CLASSES: 1 + num_classes, FEATURES: feature_channels}[rule.channels]


def _channel_meaning(rule: TensorRule, num_classes: int) -> str:
    return {RGB: "RGB", CLASSES: f"one per label, {num_classes} labels",
            IMAGE_AND_CLASSES: f"the image + one per label, {num_classes} labels",
            FEATURES: "stage one's feature channels"}.get(rule.channels, rule.meaning)


def _readable(shape: Shape) -> str:
    return "(" + ", ".join("?" if dim is None else str(dim) for dim in shape) + ")"


def check_stage_io(
    contract: StageContract,
    inputs: Mapping[str, Shape],
    outputs: Mapping[str, Shape],
    num_classes: int,
    recipe: StageRecipe,
    feature_channels: int | None = None,
    unmatched: Mapping[str, Sequence[str]] | None = None,
) -> tuple[CheckedIO | None, list[str]]:
    """Check named graph shapes against ``contract``; returns the facts and every mismatch (one phrase each).

    Args:
        inputs / outputs: spine-rt name -> shape of the graph's tensors
            (already renamed and in channels-first layout); absent names are reported missing.
        num_classes: number of labels (``C``).
        recipe: the stage (its patch-size rules).
        feature_channels: ``F`` if another stage fixed it already.
        unmatched: ``{"input": [...], "output": [...]}`` graph names no spine-rt name
            matched (named in the message of a missing tensor).

    Returns:
        ``(facts, problems)``; ``facts`` is ``None`` when a problem prevents them.
    """
    problems: list[str] = []
    unmatched = unmatched or {}
    first = contract.inputs[0]
    patch: tuple[int, ...] | None = None
    shape = inputs.get(first.name)
    if shape is not None and len(shape) == contract.rank(first):
        spatial = shape[2:]
        if all(isinstance(dim, int) for dim in spatial):
            try:
                patch = recipe.check_patch_size(spatial)  # type: ignore[arg-type]
            except InputError as exc:
                problems.append(f"input {first.name!r} {exc}".replace(f"stage {recipe.name}: ", ""))
    features = feature_channels
    dynamic_input = False
    checked: dict[str, dict[str, tuple[int | None, ...]]] = {"input": {}, "output": {}}
    for kind, rules, shapes in (("input", contract.inputs, inputs), ("output", contract.outputs, outputs)):
        for rule in rules:
            name = next((n for n in rule.names if n in shapes), None)
            if name is None:
                others = ", ".join(map(repr, unmatched.get(kind, ()))) or "none"
                problems.append(f"{kind} {rule.name!r} {contract.layout(rule)} ({rule.meaning}) is missing "
                                f"(the graph's other {kind}s: {others}; map one with the spec's "
                                f"\"{kind}s\": {{\"{rule.name}\": GRAPH_NAME}} or --{kind} {rule.name}=GRAPH_NAME)")
                continue
            shape = tuple(shapes[name])
            label = f"{kind} {name!r}"
            if len(shape) != contract.rank(rule):
                problems.append(f"{label} has rank {len(shape)}, expected {contract.rank(rule)} "
                                f"{contract.layout(rule)}")
                continue
            if isinstance(shape[0], int):
                problems.append(f"{label} has a fixed batch size {shape[0]} on axis 0; spine-rt needs a dynamic "
                                "batch axis (re-export with a dynamic first axis)")
            dynamic = [axis for axis, dim in enumerate(shape[1:], start=1) if not isinstance(dim, int)]
            if dynamic:
                if kind == "input" or not dynamic_input:  # an output's dynamic size follows from the input's
                    problems.append(f"{label} has a dynamic size on axis {', '.join(map(str, dynamic))} "
                                    f"{_readable(shape)}; every axis but the batch must be fixed to the patch "
                                    "(re-export with static spatial sizes)")
                dynamic_input = dynamic_input or kind == "input"
                continue
            channels = int(shape[1])  # type: ignore[arg-type]
            if rule.channels == FEATURES and features is None:
                features = channels
            expected = _expected_channels(rule, num_classes, features)
            if expected is not None and channels != expected:
                problems.append(f"{label} has {channels} channels on axis 1, expected {expected} "
                                f"({_channel_meaning(rule, num_classes)}) {contract.layout(rule)}")
            if patch is not None:
                want = _spatial(contract, rule, patch)
                if tuple(shape[2:]) != want:
                    problems.append(f"{label} has spatial size {tuple(shape[2:])}, expected {want} "
                                    f"{contract.layout(rule)} for patch {patch}")
            checked[kind][name] = (None, *shape[1:])  # type: ignore[misc]
    if problems or patch is None:
        return None, problems
    return CheckedIO(patch, features, checked["input"], checked["output"]), problems
