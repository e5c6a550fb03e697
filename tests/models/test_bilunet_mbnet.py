"""BiLuNet and MBNet (tiny preset): shapes, softmax output, the regression branch and its value order."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES  # noqa: E402
from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import build  # noqa: E402
from spine_rt.models.bilunet import FeatureFusionModule  # noqa: E402
from spine_rt.models.mbnet import OUTPUT_NAMES  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def mbnet():
    torch.manual_seed(0)
    return build("mbnet", "tiny").eval()


def test_bilunet_returns_five_class_probabilities_at_input_resolution():
    torch.manual_seed(0)
    model = build("bilunet", "tiny").eval()
    with torch.no_grad():
        probabilities = model(torch.rand(2, 3, 256, 256))
        logits = model.logits(torch.rand(1, 3, 128, 96))
    assert probabilities.shape == (2, 5, 256, 256)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, 256, 256))
    assert logits.shape == (1, 5, 128, 96)


def test_full_bilunet_shapes_on_meta():
    with torch.device("meta"):
        model = build("bilunet", "full").eval()
        assert model(torch.empty(1, 3, 512, 512)).shape == (1, 5, 512, 512)
    assert model.fusion.fuse[0].in_channels == 256 + 128


def test_feature_fusion_uses_a_real_global_pool():
    """The gate w depends on the whole map: changing a far corner changes the output everywhere."""
    torch.manual_seed(1)
    module = FeatureFusionModule(4, 2, 4).eval()
    unet, spatial = torch.randn(1, 4, 16, 16), torch.randn(1, 2, 16, 16)
    with torch.no_grad():
        before = module(unet, spatial)
        unet[..., 15, 15] += 50.0
        after = module(unet, spatial)
    assert not torch.allclose(before[..., 0, 0], after[..., 0, 0])


def test_mbnet_outputs_segmentation_and_18_values_in_order(mbnet):
    assert OUTPUT_NAMES == ("segmentation", "inspection_values") == mbnet.output_names
    assert INSPECTION_VALUE_NAMES[:8] == ("PI", "LL", "PI-LL", "L4S1", "LDI", "RLL", "SS", "PT")
    assert INSPECTION_VALUE_NAMES[-5:] == ("L1L2", "L2L3", "L3L4", "L4L5", "L5S1")
    assert len(INSPECTION_VALUE_NAMES) == len(set(INSPECTION_VALUE_NAMES)) == 18
    x = torch.rand(2, 3, 512, 512)
    with torch.no_grad():
        segmentation, values = mbnet(x)
        logits, values_from_logits = mbnet.logits_and_values(x)
    assert segmentation.shape == (2, 5, 512, 512)
    assert values.shape == (2, len(INSPECTION_VALUE_NAMES))
    assert ((values > 0) & (values < 1)).all()
    torch.testing.assert_close(torch.softmax(logits, 1), segmentation)
    torch.testing.assert_close(values_from_logits, values)


def test_mbnet_regression_reads_the_segmentation(mbnet):
    """The values are a function of the softmax only: same softmax, same values."""
    probabilities = torch.rand(1, 5, 512, 512).softmax(1)
    with torch.no_grad():
        assert mbnet.regression(probabilities).shape == (1, 18)


def test_full_mbnet_dense_layer_matches_the_flatten():
    with torch.device("meta"):
        model = build("mbnet", "full").eval()
        _, values = model(torch.empty(1, 3, 512, 512))
    assert values.shape == (1, 18)
    assert model.regression.dense[0].in_features == 128 * 32 * 32


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        ("bilunet", (1, 1, 64, 64), r"\(N, 3, \*, \*\)"),
        ("bilunet", (1, 3, 64, 80), "multiples of 32"),
        ("bilunet", (3, 64, 64), "rank 4"),
        ("mbnet", (1, 3, 256, 256), r"\(N, 3, 512, 512\)"),
        ("mbnet", (1, 4, 512, 512), r"\(N, 3, 512, 512\)"),
    ],
)
def test_wrong_input_raises_input_error(name, shape, message):
    model = build(name, "tiny").eval()
    with pytest.raises(InputError, match=message):
        model(torch.zeros(shape))


def test_mbnet_image_size_must_suit_the_network():
    with pytest.raises(InputError, match="multiples of 32"):
        build("mbnet", "tiny", image_size=(500, 512))
    model = build("mbnet", "tiny", image_size=(256, 384)).eval()
    with torch.no_grad():
        segmentation, values = model(torch.rand(1, 3, 256, 384))
    assert segmentation.shape == (1, 5, 256, 384) and values.shape == (1, 18)
