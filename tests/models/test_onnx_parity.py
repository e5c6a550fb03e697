"""Every tiny network exports to ONNX (dynamo exporter, opset 18, dynamic batch) and matches torch in onnxruntime."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from spine_rt.models import build  # noqa: E402

pytestmark = [
    pytest.mark.torch,
    # torch's own exporter internals; nothing spine-rt can change
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)`:FutureWarning"),
    pytest.mark.filterwarnings("ignore:# The axis name:UserWarning"),
]

OPSET = 18
RELATIVE_TOLERANCE = 1e-4


def export_and_compare(model, export_inputs, run_inputs, path) -> None:
    """Export with a dynamic batch on ``export_inputs``; compare ORT and torch on ``run_inputs``."""
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    dynamic_shapes = tuple({0: batch} for _ in model.input_names)
    torch.onnx.export(model, tuple(export_inputs), str(path), dynamo=True, opset_version=OPSET,
                      input_names=list(model.input_names), output_names=list(model.output_names),
                      dynamic_shapes=dynamic_shapes, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [node.name for node in session.get_inputs()] == list(model.input_names)
    assert session.get_inputs()[0].shape[0] == "batch"
    feeds = {name: tensor.numpy() for name, tensor in zip(model.input_names, run_inputs)}
    onnx_outputs = session.run(list(model.output_names), feeds)
    with torch.no_grad():
        torch_outputs = model(*run_inputs)
    if isinstance(torch_outputs, torch.Tensor):
        torch_outputs = (torch_outputs,)
    assert len(onnx_outputs) == len(torch_outputs)
    for name, onnx_output, torch_output in zip(model.output_names, onnx_outputs, torch_outputs):
        assert onnx_output.shape == tuple(torch_output.shape), name
        error = (torch.from_numpy(onnx_output) - torch_output).abs().max() / torch_output.abs().max()
        assert error < RELATIVE_TOLERANCE, f"{name}: relative error {error:.2e}"


def _nonzero_gates(model) -> None:
    """Give the attention gates non-zero values so the exported attention is exercised."""
    with torch.no_grad():
        for gate in (model.attention.in_plane.gamma, model.attention.slice.gamma, model.attention.channel.gamma):
            gate.fill_(0.3)


def test_stage_one_pair_exports(tmp_path):
    torch.manual_seed(0)
    model = build("stage1_pair", "tiny")
    export_and_compare(model, model.example_inputs(2, (64, 128)), model.example_inputs(3, (64, 128)),
                       tmp_path / "stage1_pair.onnx")


def test_stage_one_branch_exports(tmp_path):
    torch.manual_seed(1)
    model = build("stage1", "tiny")
    export_and_compare(model, model.example_inputs(2, (64, 64)), model.example_inputs(1, (64, 64)),
                       tmp_path / "stage1.onnx")


def test_stage_two_exports(tmp_path):
    torch.manual_seed(2)
    model = build("stage2", "tiny")
    _nonzero_gates(model)
    export_and_compare(model, model.example_inputs(2), model.example_inputs(1), tmp_path / "stage2.onnx")


def test_bilunet_exports(tmp_path):
    torch.manual_seed(3)
    model = build("bilunet", "tiny")
    export_and_compare(model, model.example_inputs(2, (128, 128)), model.example_inputs(1, (128, 128)),
                       tmp_path / "bilunet.onnx")


def test_mbnet_exports(tmp_path):
    torch.manual_seed(4)
    model = build("mbnet", "tiny")
    export_and_compare(model, model.example_inputs(2), model.example_inputs(1), tmp_path / "mbnet.onnx")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stage_two_exports_with_the_legacy_exporter(tmp_path):
    """``dynamo=False`` (TorchScript tracing) still works in torch 2.x; the input checks stay silent."""
    torch.manual_seed(5)
    model = build("stage2", "tiny").eval()
    _nonzero_gates(model)
    path = tmp_path / "stage2_legacy.onnx"
    dynamic_axes = {name: {0: "batch"} for name in (*model.input_names, *model.output_names)}
    torch.onnx.export(model, model.example_inputs(2), str(path), dynamo=False, opset_version=17,
                      input_names=list(model.input_names), output_names=list(model.output_names),
                      dynamic_axes=dynamic_axes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = model.example_inputs(1)
    (onnx_logits,) = session.run(None, {name: tensor.numpy() for name, tensor in zip(model.input_names, inputs)})
    with torch.no_grad():
        torch_logits = model(*inputs)
    error = (torch.from_numpy(onnx_logits) - torch_logits).abs().max() / torch_logits.abs().max()
    assert error < RELATIVE_TOLERANCE
