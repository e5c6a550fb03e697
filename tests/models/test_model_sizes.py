"""Parameter and FLOP counts of the full networks against the reference figures (meta device: no compute)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.models import build  # noqa: E402
from spine_rt.models.complexity import forward_flops, parameter_count  # noqa: E402

pytestmark = pytest.mark.torch

#: ref. figures from instantiating the authors' definitions (SEEDS.md).
STAGE_ONE_PARAMETERS = 28_685_332
STAGE_TWO_PARAMETERS = 33_069_015
STAGE_TWO_GFLOP = 343.7


def build_on_meta(name: str, preset: str = "full", **overrides):
    with torch.device("meta"):
        return build(name, preset, **overrides)


def test_stage_one_branch_has_the_reference_parameter_count():
    assert parameter_count(build_on_meta("stage1")) == STAGE_ONE_PARAMETERS


def test_stage_one_pair_has_two_branches_of_the_reference_count():
    assert parameter_count(build_on_meta("stage1_pair")) == 2 * STAGE_ONE_PARAMETERS


def test_stage_two_has_the_reference_parameter_count():
    assert parameter_count(build_on_meta("stage2")) == STAGE_TWO_PARAMETERS


def test_stage_two_flops_per_patch_match_the_reference():
    model = build_on_meta("stage2")
    flops = forward_flops(model, (1, 21, 192, 192, 12), (1, 512, 48, 48, 12))
    assert flops / 1e9 == pytest.approx(STAGE_TWO_GFLOP, rel=0.05)
    # the convention: 2 FLOPs per multiply-accumulate (FlopCounterMode); the MAC count is half
    assert flops / 2e9 == pytest.approx(171.85, rel=0.001)


def test_flops_scale_with_the_batch():
    model = build_on_meta("stage1")
    one = forward_flops(model, (1, 3, 256, 512))
    assert forward_flops(model, (2, 3, 256, 512)) == 2 * one


@pytest.mark.parametrize("name", ["stage1", "stage1_pair", "stage2", "bilunet", "mbnet"])
def test_tiny_presets_are_much_smaller_than_full(name):
    assert parameter_count(build_on_meta(name, "tiny")) * 20 < parameter_count(build_on_meta(name))


def test_full_bilunet_and_mbnet_sizes():
    bilunet = parameter_count(build_on_meta("bilunet"))
    mbnet = parameter_count(build_on_meta("mbnet"))
    # the regression branch: convs 5->32->128, dense 128*32*32 -> 1024 -> 1024 -> 18
    regression = (5 * 9 * 32 + 32) + (32 * 9 * 128 + 128) + (131072 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 18 + 18)
    assert mbnet - bilunet == regression
