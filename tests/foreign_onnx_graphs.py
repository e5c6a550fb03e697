"""ONNX graphs "trained elsewhere" for the ``spine-rt package`` tests.

* built with ``onnx.helper`` (milliseconds, no torch): a per-pixel classifier
  (X-ray contract), both SSHSNet stages as small convolution graphs; options
  break one part of the contract at a time;
* exported by torch's TorchScript exporter (not spine-rt's) from spine-rt's
  tiny networks under other names, one wrapped channels-last as a Keras model
  converted with tf2onnx would be.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def _save(nodes, inputs, outputs, initializers, path: Path, opset: int = 13) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "foreign", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnx.helper")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def pixel_classifier(path: Path, *, input_name: str = "input_1", output_name: str = "probs", classes: int = 5,
                     size: tuple[int, int] = (64, 64), input_dims=None, channels_last: bool = False,
                     weight_scale: float = 1.0, score_offset: float = 0.0, extra_output: str | None = None) -> Path:
    """3x3 conv (3 -> ``classes``) + softmax over the channels: ``(N, 3, H, W) -> (N, C, H, W)``.

    ``channels_last``: takes ``(N, H, W, 3)`` and returns ``(N, H, W, C)``; ``score_offset``: added to every
    score (the softmax is unchanged in FP32; near 2000, FP16's spacing of 1 changes it); ``extra_output``
    adds the raw scores as a second output.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.normal(0, 1, (classes, 3, 3, 3))
    weights = weight_scale * weights
    initializers = [numpy_helper.from_array(weights.astype(np.float32), "w"),
                    numpy_helper.from_array((score_offset + rng.normal(0, 0.1, classes)).astype(np.float32), "b")]
    nodes, source = [], input_name
    if channels_last:
        nodes.append(helper.make_node("Transpose", [input_name], ["nchw"], perm=[0, 3, 1, 2]))
        source = "nchw"
    nodes.append(helper.make_node("Conv", [source, "w", "b"], ["scores"], pads=[1, 1, 1, 1]))
    scores = "scores"
    softmax_out = "softmax_nchw" if channels_last else output_name
    nodes.append(helper.make_node("Softmax", [scores], [softmax_out], axis=1))
    if channels_last:
        nodes.append(helper.make_node("Transpose", [softmax_out], [output_name], perm=[0, 2, 3, 1]))
    in_dims = input_dims or (["N", *size, 3] if channels_last else ["N", 3, *size])
    out_dims = ["N", *size, classes] if channels_last else ["N", classes, *size]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_dims)]
    if extra_output:
        nodes.append(helper.make_node("Identity", ["scores"], [extra_output]))
        outputs.append(helper.make_tensor_value_info(extra_output, TensorProto.FLOAT, ["N", classes, *size]))
    return _save(nodes, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_dims)], outputs,
                 initializers, path)


def sshsnet_graphs(folder: Path, *, classes: int = 20, features: int = 8, stage_two_features: int | None = None,
                   stage_one_size: tuple[int, int] = (64, 64), patch: tuple[int, int, int] = (32, 32, 4),
                   seed: int = 0) -> tuple[Path, Path]:
    """Small stage-one and stage-two graphs under foreign names.

    Stage one ``x (N, 3, X, Y)`` -> ``prob`` (softmax of a 3x3 conv) and ``feat`` (4x4 average pool +
    ReLU conv, ``(N, F, X/4, Y/4)``). Stage two ``volume (N, 1 + C, X, Y, Z)``, ``s1_features (N, F2, X/4,
    Y/4, Z)`` -> ``out``: a 3x3x1 conv of the volume plus the features' 1x1x1 conv upsampled x(4, 4, 1).
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    f2 = stage_two_features or features
    folder.mkdir(parents=True, exist_ok=True)

    def tensor(name, shape, scale=0.3):
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    one = _save(
        [helper.make_node("Conv", ["x", "w1", "b1"], ["scores"], pads=[1, 1, 1, 1]),
         helper.make_node("Softmax", ["scores"], ["prob"], axis=1),
         helper.make_node("AveragePool", ["x"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
         helper.make_node("Conv", ["pooled", "wf", "bf"], ["pre"]),
         helper.make_node("Relu", ["pre"], ["feat"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, *stage_one_size])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", classes, *stage_one_size]),
         helper.make_tensor_value_info("feat", TensorProto.FLOAT,
                                       ["N", features, stage_one_size[0] // 4, stage_one_size[1] // 4])],
        [tensor("w1", (classes, 3, 3, 3)), tensor("b1", (classes,)), tensor("wf", (features, 3, 1, 1)),
         tensor("bf", (features,))],
        folder / "stage1_foreign.onnx")
    quarter = (patch[0] // 4, patch[1] // 4, patch[2])
    scales = numpy_helper.from_array(np.array([1, 1, 4, 4, 1], np.float32), "scales")
    two = _save(
        [helper.make_node("Conv", ["volume", "w2", "b2"], ["direct"], pads=[1, 1, 0, 1, 1, 0]),
         helper.make_node("Conv", ["s1_features", "wg"], ["coarse"]),
         helper.make_node("Resize", ["coarse", "", "scales"], ["fine"], mode="nearest"),
         helper.make_node("Add", ["direct", "fine"], ["out"])],
        [helper.make_tensor_value_info("volume", TensorProto.FLOAT, ["N", 1 + classes, *patch]),
         helper.make_tensor_value_info("s1_features", TensorProto.FLOAT, ["N", f2, *quarter])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", classes, *patch])],
        [tensor("w2", (classes, 1 + classes, 3, 3, 1)), tensor("b2", (classes,)), tensor("wg", (classes, f2, 1, 1, 1)),
         scales],
        folder / f"stage2_foreign_{seed}.onnx")
    return one, two


def torch_sshsnet_graphs(folder: Path, stage_one_size=(64, 128), patch=(64, 64, 12)) -> tuple[Path, Path]:
    """spine-rt's tiny SSHSNet stages (seeded random weights) exported by torch's TorchScript exporter
    (opset 17) as ``x -> prob, feat`` and ``mr_and_prob, s1feat -> out``."""
    import torch

    from spine_rt.models import build

    torch.manual_seed(0)
    stage_one = build("stage1_pair", "tiny").eval()
    stage_two = build("stage2", "tiny", patch_size=tuple(patch)).eval()
    features = stage_one.feature_channels
    quarter = (patch[0] // 4, patch[1] // 4, patch[2])
    one, two = folder / "s1.onnx", folder / "s2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(stage_one, (torch.rand(2, 3, *stage_one_size),), str(one), input_names=["x"],
                          output_names=["prob", "feat"], dynamic_axes={n: {0: "n"} for n in ("x", "prob", "feat")},
                          opset_version=17, dynamo=False)
        torch.onnx.export(stage_two, (torch.rand(2, 21, *patch), torch.rand(2, features, *quarter)), str(two),
                          input_names=["mr_and_prob", "s1feat"], output_names=["out"],
                          dynamic_axes={n: {0: "n"} for n in ("mr_and_prob", "s1feat", "out")},
                          opset_version=17, dynamo=False)
    return one, two


def torch_channels_last_mbnet(path: Path, size=(64, 64)) -> Path:
    """spine-rt's tiny MBNet wrapped to take ``(N, H, W, 3)`` and return ``(N, H, W, 5)`` + ``(N, 18)``,
    as a Keras model converted by tf2onnx would; names ``input_1 -> seg_softmax, dense_3``."""
    import torch

    from spine_rt.models import build

    torch.manual_seed(0)
    network = build("mbnet", "tiny", image_size=tuple(size)).eval()

    class ChannelsLast(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            segmentation, values = self.inner(x.permute(0, 3, 1, 2))
            return segmentation.permute(0, 2, 3, 1), values

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ChannelsLast(network), (torch.rand(2, *size, 3),), str(path), input_names=["input_1"],
                          output_names=["seg_softmax", "dense_3"],
                          dynamic_axes={n: {0: "N"} for n in ("input_1", "seg_softmax", "dense_3")},
                          opset_version=13, dynamo=False)
    return path
