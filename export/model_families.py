"""What goes into a package for each exportable model: stages, networks, labels, preprocessing.

Three model families can be exported (``spine-rt export MODEL``):

* ``sshsnet`` (task ``spine_mr``): stage ``stage1`` = the CPS pair network
  ``stage1_pair`` on 2D slices at half in-plane resolution, stage ``stage2``
  = the 3D network ``stage2`` on full-resolution patches.
* ``mbnet`` and ``bilunet`` (task ``xray``): one stage ``xray``.

Patch sizes are the spatial input sizes the graphs are exported for (batch
dynamic, spatial static): ``(X, Y)`` for stage one (slice axes, at 0.6897 mm),
``(X, Y, Z)`` for stage two (``Z`` = slices), ``(H, W)`` for the X-ray
networks. Every default can be overridden per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from spine_rt.anatomy.label_tables import MR_SPINE_LABELS, XRAY_LABELS
from spine_rt.errors import InputError

#: In-plane spacing of stage two (mm, SEEDS.md) and the slice spacing.
STAGE_TWO_IN_PLANE_MM = 0.3448
SLICE_SPACING_MM = 4.4
#: Stage one works at half the in-plane resolution of stage two.
STAGE_ONE_IN_PLANE_MM = 0.6897
#: Intensity normalisation of the MR stages: clip to these percentiles of the non-zero voxels, then z-score.
MR_CLIP_PERCENTILES = (0.5, 99.5)
#: The X-ray networks read RGB scaled to [0, 1].
XRAY_SCALE = 1.0 / 255.0


@dataclass(frozen=True)
class StageRecipe:
    """How to export one stage.

    Attributes:
        name: the stage's name in the package (``stage1``, ``stage2``, ``xray``).
        network: the name for :func:`spine_rt.models.build`.
        default_patch_size: preset -> spatial input size.
        size_multiple: every in-plane patch size must be a multiple of this
            (the network's output stride).
        patch_rank: number of spatial axes (2 or 3).
        class_output: the output whose axis 1 holds the classes (argmax checks).
        config_overrides: ``(num_classes, patch_size) -> build() overrides``.
    """

    name: str
    network: str
    default_patch_size: Mapping[str, tuple[int, ...]]
    size_multiple: int
    patch_rank: int
    class_output: str
    config_overrides: Callable[[int, tuple[int, ...]], dict[str, Any]]

    def check_patch_size(self, patch_size: Sequence[int]) -> tuple[int, ...]:
        """Validate a patch size for this stage; returns it as a tuple of ints.

        Raises:
            InputError: wrong number of axes, a size < 1, or an in-plane size
                that is not a multiple of :attr:`size_multiple`.
        """
        sizes = tuple(int(size) for size in patch_size)
        if len(sizes) != self.patch_rank or any(size < 1 for size in sizes):
            raise InputError(f"stage {self.name}: patch size must be {self.patch_rank} positive sizes, got {sizes}")
        in_plane = sizes[:2]
        if any(size % self.size_multiple for size in in_plane):
            raise InputError(f"stage {self.name}: in-plane patch sizes {in_plane} must be multiples of "
                             f"{self.size_multiple} (the network's output stride)")
        return sizes


@dataclass(frozen=True)
class ModelFamily:
    """One exportable model: its task, stages, default labels and preprocessing.

    ``preprocessing(patch_sizes)`` builds the manifest's preprocessing entry
    from the chosen ``{stage: patch size}``.
    """

    name: str
    task: str
    stages: tuple[StageRecipe, ...]
    default_labels: Mapping[int, str]
    preprocessing: Callable[[Mapping[str, tuple[int, ...]]], dict[str, Any]] = field(repr=False)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in execution order."""
        return tuple(stage.name for stage in self.stages)

    def stage(self, name: str) -> StageRecipe:
        """The recipe of stage ``name``.

        Raises:
            InputError: unknown stage (lists the stages of this model).
        """
        for recipe in self.stages:
            if recipe.name == name:
                return recipe
        raise InputError(f"{self.name} has no stage {name!r}; its stages: {', '.join(self.stage_names)}")


def _mr_preprocessing(patch_sizes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    return {
        "axes": ["I", "P", "R"],
        "axes_meaning": "model array axes (X, Y, Z) = (superior->inferior, anterior->posterior, left->right); "
                        "Z indexes the sagittal slices",
        "spacing_mm": {
            "stage1": [STAGE_ONE_IN_PLANE_MM, STAGE_ONE_IN_PLANE_MM, SLICE_SPACING_MM],
            "stage2": [STAGE_TWO_IN_PLANE_MM, STAGE_TWO_IN_PLANE_MM, SLICE_SPACING_MM],
        },
        "intensity": {
            "clip_percentiles": list(MR_CLIP_PERCENTILES),
            "normalization": "zscore",
            "statistics_over": "nonzero",
            "background_value": 0.0,
        },
        "crop": "one in-plane axis to the non-zero extent",
        "stage1_input": "slices z-1, z, z+1 as 3 channels (edge slices repeated)",
        "stage2_input": "image = MR (1 channel) + mean stage-one softmax upsampled to full resolution; "
                        "stage_one_features = both branches' feature maps upsampled x2 in-plane, cropped to the patch",
    }


def _xray_preprocessing(patch_sizes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    return {
        "color": "RGB",
        "image_size": list(patch_sizes["xray"]),
        "resize": "bilinear",
        "scale": XRAY_SCALE,
        "offset": 0.0,
    }


def _stage_one_overrides(num_classes: int, patch_size: tuple[int, ...]) -> dict[str, Any]:
    return {"num_classes": num_classes}


def _stage_two_overrides(num_classes: int, patch_size: tuple[int, ...]) -> dict[str, Any]:
    return {"num_classes": num_classes, "in_channels": 1 + num_classes, "patch_size": tuple(patch_size)}


def _bilunet_overrides(num_classes: int, patch_size: tuple[int, ...]) -> dict[str, Any]:
    return {"num_classes": num_classes}


def _mbnet_overrides(num_classes: int, patch_size: tuple[int, ...]) -> dict[str, Any]:
    return {"num_classes": num_classes, "image_size": tuple(patch_size)}


STAGE_ONE = StageRecipe(
    name="stage1", network="stage1_pair",
    default_patch_size={"full": (512, 256), "tiny": (512, 256)},  # (S->I, A->P): long side along the spine
    size_multiple=16, patch_rank=2, class_output="probabilities", config_overrides=_stage_one_overrides,
)
STAGE_TWO = StageRecipe(
    name="stage2", network="stage2",
    default_patch_size={"full": (192, 192, 12), "tiny": (192, 192, 12)},
    size_multiple=16, patch_rank=3, class_output="logits", config_overrides=_stage_two_overrides,
)
XRAY_BILUNET = StageRecipe(
    name="xray", network="bilunet",
    default_patch_size={"full": (512, 512), "tiny": (512, 512)},
    size_multiple=32, patch_rank=2, class_output="probabilities", config_overrides=_bilunet_overrides,
)
XRAY_MBNET = StageRecipe(
    name="xray", network="mbnet",
    default_patch_size={"full": (512, 512), "tiny": (512, 512)},
    size_multiple=32, patch_rank=2, class_output="segmentation", config_overrides=_mbnet_overrides,
)

MODEL_FAMILIES: dict[str, ModelFamily] = {
    "sshsnet": ModelFamily("sshsnet", "spine_mr", (STAGE_ONE, STAGE_TWO), MR_SPINE_LABELS, _mr_preprocessing),
    "mbnet": ModelFamily("mbnet", "xray", (XRAY_MBNET,), XRAY_LABELS, _xray_preprocessing),
    "bilunet": ModelFamily("bilunet", "xray", (XRAY_BILUNET,), XRAY_LABELS, _xray_preprocessing),
}
#: names accepted by ``spine-rt export MODEL``
EXPORTABLE_MODELS: tuple[str, ...] = tuple(MODEL_FAMILIES)


def model_family(name: str) -> ModelFamily:
    """The family called ``name``.

    Raises:
        InputError: unknown model (lists the valid ones).
    """
    try:
        return MODEL_FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(EXPORTABLE_MODELS)}") from None


def network_config(network: Any) -> dict[str, Any]:
    """A built network's configuration dataclass (its ``config`` attribute) as ``{field: value}``."""
    return {item.name: getattr(network.config, item.name) for item in dataclasses.fields(network.config)}
