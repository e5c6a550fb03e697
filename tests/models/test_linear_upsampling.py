"""``upsample_linear``: F.interpolate in eager mode, constant-matrix Einsums (no ``Resize``) when exported."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402

from spine_rt.models.linear_upsampling import interpolation_matrix, upsample_linear  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("shape, scale", [((2, 3, 5, 7), (4.0, 4.0)), ((2, 3, 6, 4, 5), (4.0, 4.0, 1.0)),
                                          ((1, 2, 3, 3, 2), (2.0, 1.0, 3.0))])
def test_eager_mode_is_f_interpolate(shape, scale):
    x = torch.randn(*shape)
    mode = "bilinear" if len(scale) == 2 else "trilinear"
    assert torch.equal(upsample_linear(x, scale), F.interpolate(x, scale_factor=scale, mode=mode, align_corners=True))


@pytest.mark.parametrize("shape, scale", [((2, 3, 5, 7), (4.0, 4.0)), ((2, 3, 6, 4, 5), (4.0, 4.0, 1.0)),
                                          ((1, 2, 3, 3, 2), (2.0, 1.0, 3.0)), ((1, 1, 1, 4), (4.0, 2.0))])
def test_exported_form_equals_f_interpolate(monkeypatch, shape, scale):
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)  # the branch taken while exporting
    x = torch.randn(*shape)
    mode = "bilinear" if len(scale) == 2 else "trilinear"
    expected = F.interpolate(x, scale_factor=scale, mode=mode, align_corners=True)
    result = upsample_linear(x, scale)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)


def test_interpolation_matrix_rows_are_linear_weights_summing_to_one():
    matrix = interpolation_matrix(3, 9).numpy()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(matrix[0], [1, 0, 0])
    np.testing.assert_allclose(matrix[-1], [0, 0, 1])
    np.testing.assert_allclose(matrix[2], [0.5, 0.5, 0], atol=1e-7)  # position 2 * 2/8 = 0.5
    np.testing.assert_allclose(interpolation_matrix(1, 4).numpy(), np.ones((4, 1)))


def test_exported_graph_has_einsums_and_no_resize(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Head(torch.nn.Module):
        def forward(self, x):
            return upsample_linear(x, (4.0, 4.0, 1.0))

    example = torch.randn(2, 3, 6, 5, 4)
    path = tmp_path / "head.onnx"
    torch.onnx.export(Head(), (example,), str(path), dynamo=True, opset_version=18)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "Resize" not in ops and ops.count("Einsum") == 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    expected = F.interpolate(example, scale_factor=(4.0, 4.0, 1.0), mode="trilinear", align_corners=True)
    np.testing.assert_allclose(result, expected.numpy(), rtol=1e-5, atol=1e-5)
