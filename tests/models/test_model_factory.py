"""build(): presets, overrides, and errors for unknown names and fields."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import MODEL_NAMES, build  # noqa: E402
from spine_rt.models.stage_one import STAGE_ONE_PRESETS, StageOnePair  # noqa: E402
from spine_rt.models.stage_two import STAGE_TWO_PRESETS  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_builds_tiny(name):
    model = build(name, "tiny")
    assert isinstance(model, torch.nn.Module)
    assert model.input_names and model.output_names


def test_overrides_replace_fields():
    model = build("stage2", "tiny", num_classes=4, patch_size=[64, 64, 6])
    assert model.config.num_classes == 4
    assert model.config.patch_size == (64, 64, 6)
    assert model.head.out_channels == 4


def test_unknown_override_lists_the_valid_fields():
    with pytest.raises(InputError, match=r"unknown StageTwoConfig field\(s\) classes; valid fields: in_channels, num_classes"):
        build("stage2", "tiny", classes=4)


def test_unknown_name_and_preset():
    with pytest.raises(InputError, match="unknown model"):
        build("stage3")
    with pytest.raises(InputError, match="unknown preset"):
        build("stage1", "huge")


def test_tiny_stage_two_takes_the_tiny_pair_feature_width():
    pair = build("stage1_pair", "tiny")
    assert isinstance(pair, StageOnePair)
    assert STAGE_TWO_PRESETS["tiny"].stage_one_feature_channels == pair.feature_channels
    assert STAGE_TWO_PRESETS["full"].stage_one_feature_channels == 2 * STAGE_ONE_PRESETS["full"].decoder_channels
