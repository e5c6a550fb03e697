"""The SSHSNet authors' checkpoints: recognising their key layout and renaming it onto spine-rt's networks.

The authors' training scripts (Meiyan88/SSHSNet, torch 1.7 +
segmentation_models_pytorch 0.1.3) save ``nn.DataParallel(model).state_dict()``
as ``M<score>.pkl``:

* stage one: a ``DualNetwork`` holding ``branch1`` and ``branch2``, each smp
  ``DeepLabV3Plus("se_resnext50_32x4d", classes=20, encoder_output_stride=16,
  decoder_atrous_rates=(12, 24, 36))``: 886 tensors, keys
  ``module.branch1.encoder.layer0.conv1.weight`` ...
  ``module.branch2.segmentation_head.0.bias``. Later smp versions (0.3 up to
  the current one) keep these names for this encoder and decoder.
* stage two: ``DeeplabV3Plus3D`` (3D SE-ResNeXt-50 ``encoder``, 3D DeepLabv3+
  decoder ``assp``, ``conv1``/``bn1`` on the stage-one features, the cross
  tri-attention ``dual_att_module_feature``, ``conv2``/``bn2``,
  ``segmentation``): 464 tensors.

Both networks compute what spine-rt's :class:`~spine_rt.models.stage_one.StageOnePair`
(built with ``stem_pool="ceil"``, the ImageNet SE-ResNeXt stem of
``pretrainedmodels``) and :class:`~spine_rt.models.stage_two.StageTwoNet`
compute; only the names differ. Each :class:`Layout` is a list of renaming
rules written once and applied in either direction, so a checkpoint maps onto
spine-rt's names and back (``tests/models/test_authors_checkpoints.py``
checks both against every key of ``keys.json``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: placeholder -> what it matches in a key (rules below use ``{name}`` placeholders)
_PLACEHOLDERS = {
    "branch": r"branch[12]",
    "i": r"[1-4]",
    "j": r"\d+",
    "k": r"[123]",
    "a": r"[123]",
    "n": r"[01]",
    "n1": r"[12]",
    "param": r"weight|bias|running_mean|running_var|num_batches_tracked",
}

#: The smp DeepLabv3+ decoder (2D in smp, 3D in the authors' ``Deeplabv3decoder.py``) -> spine-rt's.
_DECODER_RULES: tuple[tuple[str, str], ...] = (
    ("aspp.0.convs.0.{n}.{param}", "aspp.0.branches.0.{n}.{param}"),
    ("aspp.0.convs.{a}.0.{n}.{param}", "aspp.0.branches.{a}.0.{n}.{param}"),
    ("aspp.0.convs.{a}.1.{param}", "aspp.0.branches.{a}.1.{param}"),
    ("aspp.0.convs.4.1.{param}", "aspp.0.branches.4.project.0.{param}"),
    ("aspp.0.convs.4.2.{param}", "aspp.0.branches.4.project.1.{param}"),
    ("aspp.0.project.{n}.{param}", "aspp.0.project.{n}.{param}"),
    ("aspp.1.{n}.{param}", "aspp.1.0.{n}.{param}"),
    ("aspp.2.{param}", "aspp.1.1.{param}"),
    ("block1.{n}.{param}", "skip.{n}.{param}"),
    ("block2.0.{n}.{param}", "fuse.0.{n}.{param}"),
    ("block2.1.{param}", "fuse.1.{param}"),
)

#: Bottlenecks of both encoders: convolutions and norms keep their names; the shortcut and SE gate are renamed.
_BOTTLENECK_RULES: tuple[tuple[str, str], ...] = (
    ("layer{i}.{j}.conv{k}.{param}", "stage{i}.{j}.conv{k}.{param}"),
    ("layer{i}.{j}.bn{k}.{param}", "stage{i}.{j}.bn{k}.{param}"),
    ("layer{i}.{j}.downsample.{n}.{param}", "stage{i}.{j}.shortcut.{n}.{param}"),
)


def _prefixed(prefix_from: str, prefix_to: str, rules: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((prefix_from + source, prefix_to + target) for source, target in rules)


STAGE_ONE_RULES: tuple[tuple[str, str], ...] = (
    ("{branch}.encoder.layer0.conv1.{param}", "{branch}.encoder.stem.0.{param}"),
    ("{branch}.encoder.layer0.bn1.{param}", "{branch}.encoder.stem.1.{param}"),
    *_prefixed("{branch}.encoder.", "{branch}.encoder.", _BOTTLENECK_RULES),
    ("{branch}.encoder.layer{i}.{j}.se_module.fc{n1}.{param}", "{branch}.encoder.stage{i}.{j}.se.fc{n1}.{param}"),
    *_prefixed("{branch}.decoder.", "{branch}.decoder.", _DECODER_RULES),
    ("{branch}.segmentation_head.0.{param}", "{branch}.head.{param}"),
)

STAGE_TWO_RULES: tuple[tuple[str, str], ...] = (
    ("encoder.conv1.{param}", "encoder.stem.0.{param}"),
    ("encoder.bn1.{param}", "encoder.stem.1.{param}"),
    *_prefixed("encoder.", "encoder.", _BOTTLENECK_RULES),
    ("encoder.layer{i}.{j}.selayer.conv{n1}.{param}", "encoder.stage{i}.{j}.se.fc{n1}.{param}"),
    *_prefixed("assp.", "decoder.", _DECODER_RULES),
    ("conv1.{param}", "stage_one_projection.0.{param}"),
    ("bn1.{param}", "stage_one_projection.1.{param}"),
    ("dual_att_module_feature.sam.SpatialGate.query_conv.{param}", "attention.in_plane.query.{param}"),
    ("dual_att_module_feature.sam.SpatialGate.key_conv.{param}", "attention.in_plane.key.{param}"),
    ("dual_att_module_feature.sam.SpatialGate.value_conv.{param}", "attention.in_plane.value.{param}"),
    ("dual_att_module_feature.sam.SpatialGate.gamma", "attention.in_plane.gamma"),
    ("dual_att_module_feature.za.gamma", "attention.slice.gamma"),
    ("dual_att_module_feature.chan.gamma", "attention.channel.gamma"),
    ("conv2.{param}", "fusion.0.{param}"),
    ("bn2.{param}", "fusion.1.{param}"),
    ("segmentation.{param}", "head.{param}"),
)


def _compile(template: str) -> re.Pattern[str]:
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>{_PLACEHOLDERS[name]})"
    return re.compile(pattern + r"\Z")


@dataclass(frozen=True)
class Layout:
    """One foreign checkpoint layout: how its keys rename onto a spine-rt network's and back.

    Attributes:
        name: the source format recorded in the package manifest.
        description: what saved such files, for messages and the manifest.
        network: the spine-rt registry name it maps onto (``stage1_pair``, ``stage2``).
        signature: keys (without ``module.``) whose presence identifies the layout.
        rules: ``(foreign template, spine-rt template)`` pairs.
        config: configuration fields the spine-rt network must have to compute
            the same function (for example stage one's ``stem_pool="ceil"``).
        preprocessing: manifest ``preprocessing`` entries a package exported
            from such checkpoints records: the authors' own inference choices
            that the reference schedule follows.
    """

    name: str
    description: str
    network: str
    signature: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        compiled = tuple((_compile(source), source, _compile(target), target) for source, target in self.rules)
        object.__setattr__(self, "_compiled", compiled)

    def matches(self, names: Iterable[str]) -> bool:
        """Whether ``names`` (without ``module.``) hold every signature key."""
        present = set(names)
        return all(key in present for key in self.signature)

    def to_spine_rt(self, name: str) -> str | None:
        """The spine-rt name of the foreign key ``name``; ``None`` when no rule covers it."""
        for source, _, _, target in self._compiled:  # type: ignore[attr-defined]
            found = source.match(name)
            if found:
                return target.format(**found.groupdict())
        return None

    def to_foreign(self, name: str) -> str | None:
        """The foreign key of the spine-rt name ``name``; ``None`` when no rule covers it."""
        for _, source, target, _ in self._compiled:  # type: ignore[attr-defined]
            found = target.match(name)
            if found:
                return source.format(**found.groupdict())
        return None

    def rename(self, state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``(renamed state, keys no rule covers)``: ``state`` with spine-rt names."""
        renamed: dict[str, Any] = {}
        uncovered: list[str] = []
        for name, value in state.items():
            target = self.to_spine_rt(name)
            if target is None:
                uncovered.append(name)
            else:
                renamed[target] = value
        return renamed, uncovered


    def rename_to_foreign(self, state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``(state with the foreign names, spine-rt names no rule covers)``: the inverse of :meth:`rename`."""
        renamed: dict[str, Any] = {}
        uncovered: list[str] = []
        for name, value in state.items():
            target = self.to_foreign(name)
            if target is None:
                uncovered.append(name)
            else:
                renamed[target] = value
        return renamed, uncovered


SSHSNET_AUTHORS_STAGE_ONE = Layout(
    name="sshsnet-authors-stage1",
    description="SSHSNet authors' stage one: DualNetwork of two segmentation_models_pytorch DeepLabV3Plus "
                "(se_resnext50_32x4d) branches, nn.DataParallel state dict",
    network="stage1_pair",
    signature=("branch1.encoder.layer0.conv1.weight", "branch2.encoder.layer0.conv1.weight",
               "branch1.segmentation_head.0.weight", "branch2.segmentation_head.0.weight"),
    rules=STAGE_ONE_RULES,
    config={"stem_pool": "ceil"},
    preprocessing={
        "stage_one_upsampling": "authors",
        "stage2_input": "image = MR (1 channel) + mean stage-one softmax upsampled x2 nearest; "
                        "stage_one_features = each branch's decoder map upsampled x2 bilinear "
                        "(align_corners=True) over the stage-one window, cropped to the patch "
                        "(the SSHSNet authors' inference; schedule 'reference' follows it)",
    },
)

SSHSNET_AUTHORS_STAGE_TWO = Layout(
    name="sshsnet-authors-stage2",
    description="SSHSNet authors' stage two: DeeplabV3Plus3D (3D SE-ResNeXt-50, 3D DeepLabv3+, cross "
                "tri-attention, mode 'cat'), nn.DataParallel state dict",
    network="stage2",
    signature=("encoder.conv1.weight", "assp.block2.0.0.weight", "segmentation.weight",
               "dual_att_module_feature.sam.SpatialGate.query_conv.weight"),
    rules=STAGE_TWO_RULES,
)

#: every foreign layout spine-rt recognises
LAYOUTS: tuple[Layout, ...] = (SSHSNET_AUTHORS_STAGE_ONE, SSHSNET_AUTHORS_STAGE_TWO)
#: the source format of checkpoints saved from spine-rt's own networks
SPINE_RT_FORMAT = "spine-rt"


def find_layout(names: Iterable[str]) -> Layout | None:
    """The foreign layout whose signature keys are all in ``names`` (without ``module.``), or ``None``."""
    present = set(names)
    for layout in LAYOUTS:
        if layout.matches(present):
            return layout
    return None
