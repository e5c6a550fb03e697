"""Stage two (tiny preset): wiring from the stage-one pair, the cross tri-attention, input errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import build  # noqa: E402
from spine_rt.models.cross_tri_attention import CrossTriAttention  # noqa: E402
from spine_rt.models.slice_stack import slices_to_volume, volume_to_slices  # noqa: E402

pytestmark = pytest.mark.torch

PATCH = (192, 192, 12)


@pytest.fixture(scope="module")
def stage_two():
    torch.manual_seed(0)
    return build("stage2", "tiny").eval()


def test_tiny_stage_two_consumes_tiny_stage_one_pair_outputs(stage_two):
    """Stage one on the 12 slices of a patch -> stacked along Z -> stage two."""
    torch.manual_seed(1)
    pair = build("stage1_pair", "tiny").eval()
    mr = torch.randn(1, 1, *PATCH)
    slices = volume_to_slices(mr).expand(-1, 3, -1, -1)  # (12, 3, 192, 192)
    with torch.no_grad():
        probabilities, features = pair(slices)
        image = torch.cat([mr, slices_to_volume(probabilities, PATCH[2])], dim=1)
        logits = stage_two(image, slices_to_volume(features, PATCH[2]))
    assert image.shape == (1, 21, *PATCH)
    assert features.shape == (12, stage_two.config.stage_one_feature_channels, 48, 48)
    assert logits.shape == (1, 20, *PATCH)
    assert torch.isfinite(logits).all()


def test_full_stage_two_shapes_on_meta():
    with torch.device("meta"):
        model = build("stage2", "full").eval()
        logits = model(torch.empty(2, 21, *PATCH), torch.empty(2, 512, 48, 48, 12))
    assert logits.shape == (2, 20, *PATCH)


def test_slice_stacking_round_trips():
    volume = torch.randn(2, 4, 8, 8, 3)
    slices = volume_to_slices(volume)
    assert slices.shape == (6, 4, 8, 8)
    torch.testing.assert_close(slices[1], volume[0, :, :, :, 1])
    torch.testing.assert_close(slices_to_volume(slices, 3), volume)
    with pytest.raises(InputError):
        slices_to_volume(slices, 4)


def test_attention_gates_start_at_zero(stage_two):
    attention = stage_two.attention
    gates = [attention.in_plane.gamma, attention.slice.gamma, attention.channel.gamma]
    assert all(gate.shape == (1,) and gate.item() == 0.0 for gate in gates)


def seeds_cross_tri_attention(module: CrossTriAttention, f2, f3):
    """The cross tri-attention written literally after SEEDS.md, for comparison."""
    batch, channels, size_x, size_y, size_z = f2.shape
    in_plane = module.in_plane

    def fold(x):  # (B, c, X, Y, Z) -> (B, c*Z, X*Y), slices folded into the features
        return x.permute(0, 1, 4, 2, 3).reshape(batch, -1, size_x * size_y)

    q, k, v = fold(in_plane.query(f2)), fold(in_plane.key(f2)), fold(in_plane.value(f2))
    a = torch.softmax(q.transpose(1, 2) @ k, dim=-1)
    v_at = (v @ a.transpose(1, 2)).reshape(batch, channels, size_z, size_x, size_y).permute(0, 1, 3, 4, 2)
    f3_new = in_plane.gamma * v_at + f3

    x = f3.permute(0, 4, 1, 2, 3).reshape(batch, size_z, -1)  # (B, 12, C*H*W)
    e = x @ x.transpose(1, 2)
    z = torch.softmax(e.max(dim=-1, keepdim=True).values - e, dim=-1)
    zx = (z @ x).reshape(batch, size_z, channels, size_x, size_y).permute(0, 2, 3, 4, 1)
    f2_new = module.slice.gamma * zx + f2

    x = torch.cat([f2_new, f3_new], 1).reshape(batch, 2 * channels, -1)
    e = x @ x.transpose(1, 2)
    a = torch.softmax(e.max(dim=-1, keepdim=True).values - e, dim=-1)
    out = module.channel.gamma * (a @ x) + x
    return out.reshape(batch, 2 * channels, size_x, size_y, size_z)


def test_cross_tri_attention_matches_the_seeds_formulas():
    torch.manual_seed(2)
    grid = (6, 5, 3)
    module = CrossTriAttention(channels=8, key_channels=2, grid=grid)
    with torch.no_grad():
        module.in_plane.gamma.fill_(0.7)
        module.slice.gamma.fill_(-0.4)
        module.channel.gamma.fill_(0.2)
        f2 = torch.randn(2, 8, *grid) * 0.1
        f3 = torch.randn(2, 8, *grid) * 0.1
        torch.testing.assert_close(module(f2, f3), seeds_cross_tri_attention(module, f2, f3))


def test_cross_tri_attention_with_zero_gates_concatenates():
    module = CrossTriAttention(channels=4, key_channels=2, grid=(4, 4, 2))
    f2, f3 = torch.randn(1, 4, 4, 4, 2), torch.randn(1, 4, 4, 4, 2)
    with torch.no_grad():
        torch.testing.assert_close(module(f2, f3), torch.cat([f2, f3], 1))


def test_other_patch_sizes_by_override():
    torch.manual_seed(3)
    model = build("stage2", "tiny", patch_size=(64, 32, 4), num_classes=7).eval()
    with torch.no_grad():
        logits = model(*model.example_inputs(2))
    assert logits.shape == (2, 7, 64, 32, 4)


def test_patch_size_not_divisible_by_the_output_stride_is_refused():
    with pytest.raises(InputError, match="multiples of 16"):
        build("stage2", "tiny", patch_size=(200, 192, 12))


@pytest.mark.parametrize(
    ("image_shape", "feature_shape", "message"),
    [
        ((1, 20, 192, 192, 12), (1, 64, 48, 48, 12), r"image must have shape \(N, 21, 192, 192, 12\)"),
        ((1, 21, 160, 192, 12), (1, 64, 40, 48, 12), r"image must have shape \(N, 21, 192, 192, 12\)"),
        ((1, 21, 192, 192), (1, 64, 48, 48, 12), "rank 5"),
        ((1, 21, 192, 192, 12), (1, 512, 48, 48, 12), r"stage_one_features must have shape \(N, 64, 48, 48, 12\)"),
        ((1, 21, 192, 192, 12), (1, 64, 192, 192, 12), r"\(N, 64, 48, 48, 12\)"),
    ],
)
def test_wrong_inputs_raise_input_error(stage_two, image_shape, feature_shape, message):
    with pytest.raises(InputError, match=message):
        stage_two(torch.zeros(image_shape), torch.zeros(feature_shape))


def test_trains_end_to_end_in_train_mode():
    """One backward pass reaches the encoder, the stage-one projection and all three gates."""
    torch.manual_seed(4)
    model = build("stage2", "tiny", patch_size=(64, 64, 4)).train()
    logits = model(*model.example_inputs(2))
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 20, (2, 64, 64, 4))).backward()
    attention = model.attention
    for parameter in (model.encoder.stem[0].weight, model.stage_one_projection[0].weight,
                      attention.in_plane.gamma, attention.slice.gamma, attention.channel.gamma):
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
    assert attention.channel.gamma.grad.abs() > 0
