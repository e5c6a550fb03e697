"""Stage one (tiny preset): shapes, the CPS pair's outputs, input errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import build  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    return build("stage1_pair", "tiny").eval()


def test_branch_returns_features_at_stride_4_and_full_resolution_logits():
    torch.manual_seed(0)
    model = build("stage1", "tiny").eval()
    with torch.no_grad():
        features, logits = model(torch.randn(2, 3, 64, 96))
    assert features.shape == (2, 32, 16, 24)
    assert logits.shape == (2, 20, 64, 96)


def test_pair_returns_mean_softmax_and_concatenated_features(pair):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        probabilities, features = pair(x)
        (features1, logits1), (features2, logits2) = pair.branch_outputs(x)
    assert probabilities.shape == (2, 20, 64, 64)
    assert features.shape == (2, pair.feature_channels, 16, 16) == (2, 64, 16, 16)
    expected = (torch.softmax(logits1, 1) + torch.softmax(logits2, 1)) / 2
    torch.testing.assert_close(probabilities, expected)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, 64, 64))
    torch.testing.assert_close(features, torch.cat([features1, features2], 1))


def test_pair_branches_start_different_and_expose_logits(pair):
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        logits1, logits2 = pair.branch_logits(x)
    assert logits1.shape == logits2.shape == (1, 20, 32, 32)
    assert not torch.allclose(logits1, logits2)


def test_full_preset_slice_shapes_on_meta():
    with torch.device("meta"):
        model = build("stage1_pair", "full").eval()
        probabilities, features = model(torch.empty(1, 3, 256, 512))
    assert probabilities.shape == (1, 20, 256, 512)
    assert features.shape == (1, 512, 64, 128)


def test_overrides_change_classes_and_channels():
    model = build("stage1", "tiny", num_classes=6, in_channels=1).eval()
    with torch.no_grad():
        _, logits = model(torch.randn(1, 1, 32, 32))
    assert logits.shape == (1, 6, 32, 32)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 1, 64, 64), r"\(N, 3, \*, \*\)"),
        ((3, 64, 64), "rank 4"),
        ((1, 3, 64, 8, 8), "rank 4"),
        ((1, 3, 64, 72), "multiples of 16"),
    ],
)
def test_wrong_input_raises_input_error(pair, shape, message):
    with pytest.raises(InputError, match=message):
        pair(torch.randn(*shape))


def test_pair_trains_both_branches():
    torch.manual_seed(5)
    model = build("stage1_pair", "tiny").train()
    logits1, logits2 = model.branch_logits(torch.randn(2, 3, 32, 32))
    target = torch.randint(0, 20, (2, 32, 32))
    loss = torch.nn.functional.cross_entropy(logits1, target) + torch.nn.functional.cross_entropy(logits2, target)
    loss.backward()
    assert model.branch1.encoder.stem[0].weight.grad is not None
    assert model.branch2.head.weight.grad is not None
