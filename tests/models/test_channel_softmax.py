"""``channel_softmax``: torch.softmax in eager mode, exported without an ONNX ``Softmax`` over a non-last axis."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spine_rt.models.channel_softmax import channel_softmax  # noqa: E402

pytestmark = pytest.mark.torch


def test_eager_mode_is_torch_softmax():
    logits = torch.randn(2, 20, 9, 7) * 30.0
    assert torch.equal(channel_softmax(logits), torch.softmax(logits, dim=1))
    assert torch.equal(channel_softmax(logits, dim=2), torch.softmax(logits, dim=2))


def test_exported_form_equals_torch_softmax_also_for_large_logits(monkeypatch):
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)  # the branch taken while exporting
    torch.manual_seed(0)
    logits = torch.randn(2, 20, 9, 7) * 30.0
    logits[0, :, 0, 0] = 1e4  # all classes tied at a large value: no overflow, uniform
    result = channel_softmax(logits)
    assert not torch.equal(result, torch.softmax(logits, dim=1))  # really the written-out form
    torch.testing.assert_close(result, torch.softmax(logits, dim=1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result.sum(dim=1), torch.ones(2, 9, 7))
    assert torch.allclose(result[0, :, 0, 0], torch.full((20,), 0.05))


def test_exported_graph_has_no_softmax_node_and_runs_in_onnxruntime(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Head(torch.nn.Module):
        def forward(self, x):
            return channel_softmax(x)

    example = torch.randn(2, 20, 16, 8)
    path = tmp_path / "head.onnx"
    torch.onnx.export(Head(), (example,), str(path), dynamo=True, opset_version=18)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Softmax" not in ops and {"ReduceMax", "Exp", "ReduceSum"} <= ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    np.testing.assert_allclose(result, torch.softmax(example, dim=1).numpy(), rtol=1e-5, atol=1e-6)
