"""Tiny model packages for the engine tests: small conv graphs built with ``onnx.helper``.

``write_tiny_package(root)`` writes a package with two stages, each with an
FP32 graph and a strongly typed FP16 graph (float32 input and output, the
convolution in float16), a dynamic batch axis and fixed spatial sizes::

    stage1  image (N, 2, 16, 16)     -> logits (N, 4, 16, 16)       2-D conv 3x3 + relu
    stage2  volume (N, 1, 8, 8, 4)   -> logits (N, 3, 8, 8, 4)      3-D conv 3x3x3 + relu

The manifest is written by hand (no dependency on the export code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from spine_rt.model_package import GraphFile, Manifest, Stage, TensorEntry, sha256_file

OPSET = 17
IR_VERSION = 8

#: stage name -> (input name, input shape without batch, output name, output channels)
STAGES = {
    "stage1": ("image", (2, 16, 16), "logits", 4),
    "stage2": ("volume", (1, 8, 8, 4), "logits", 3),
}


def conv_graph(stage: str, precision: str, seed: int = 0) -> onnx.ModelProto:
    """``relu(conv(x))`` of ``stage`` at ``precision``; ``seed`` changes the weights (and so the sha256)."""
    input_name, sizes, output_name, channels = STAGES[stage]
    rng = np.random.default_rng(seed + (0 if stage == "stage1" else 100))
    kernel = (3,) * (len(sizes) - 1)
    weight = (rng.standard_normal((channels, sizes[0], *kernel)) * 0.2).astype(np.float32)
    bias = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    pads = [1] * (2 * len(kernel))
    nodes = []
    conv_input, conv_output = input_name, "relu_in"
    weight_dtype = np.float16 if precision == "fp16" else np.float32
    initializers = [
        numpy_helper.from_array(weight.astype(weight_dtype), "weight"),
        numpy_helper.from_array(bias.astype(weight_dtype), "bias"),
    ]
    if precision == "fp16":
        nodes.append(helper.make_node("Cast", [input_name], ["x16"], to=TensorProto.FLOAT16))
        conv_input = "x16"
    nodes.append(helper.make_node("Conv", [conv_input, "weight", "bias"], [conv_output], pads=pads))
    if precision == "fp16":
        nodes.append(helper.make_node("Relu", [conv_output], ["y16"]))
        nodes.append(helper.make_node("Cast", ["y16"], [output_name], to=TensorProto.FLOAT))
    else:
        nodes.append(helper.make_node("Relu", [conv_output], [output_name]))
    graph = helper.make_graph(
        nodes,
        f"{stage}_{precision}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", *sizes])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", channels, *sizes[1:]])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def write_tiny_package(
    root: Path,
    precisions: tuple[str, ...] = ("fp32", "fp16"),
    stages: tuple[str, ...] = ("stage1", "stage2"),
    seed: int = 0,
) -> Path:
    """Write a package with ``stages`` x ``precisions`` graphs (fold 0) to ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_stages = {}
    files = {}
    for stage in stages:
        input_name, sizes, output_name, channels = STAGES[stage]
        (root / stage).mkdir(exist_ok=True)
        graphs = []
        for precision in precisions:
            relative = f"{stage}/fold0.{precision}.onnx"
            onnx.save(conv_graph(stage, precision, seed), str(root / relative))
            files[relative] = sha256_file(root / relative)
            graphs.append(GraphFile(relative, precision, 0))
        manifest_stages[stage] = Stage(
            network=f"tiny_{stage}",
            preset="tiny",
            config={},
            patch_size=tuple(sizes[1:]),
            inputs=(TensorEntry(input_name, (None, *sizes)),),
            outputs=(TensorEntry(output_name, (None, channels, *sizes[1:])),),
            graphs=tuple(graphs),
        )
    manifest = Manifest(
        task="spine_mr",
        model="sshsnet",
        labels={0: "background", 1: "L5"},
        preprocessing={},
        stages=manifest_stages,
        files=files,
    )
    (root / "manifest.json").write_text(manifest.to_json())
    return root
