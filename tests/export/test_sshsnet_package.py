"""The sshsnet package: manifest, files, graphs (BN folded, FP16 typed), parity, torch rebuild."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")

from spine_rt.anatomy.label_tables import MR_SPINE_LABELS  # noqa: E402
from spine_rt.export.model_families import STAGE_ONE_IN_PLANE_MM, STAGE_TWO_IN_PLANE_MM  # noqa: E402
from spine_rt.export.parity import TOLERANCES  # noqa: E402
from spine_rt.io import MR_MODEL_AXES  # noqa: E402
from spine_rt.model_package import FORMAT_VERSION, ModelPackage, sha256_file  # noqa: E402

pytestmark = pytest.mark.torch

#: the patches of the ``sshsnet_package`` fixture (tests/export/conftest.py)
SSHSNET_PATCHES = {"stage1": (64, 64), "stage2": (32, 32, 4)}

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def _graphs(package):
    for stage_name, stage in package.manifest.stages.items():
        for graph in stage.graphs:
            yield stage_name, graph, onnx.load(str(package.path(graph.path)))


def test_manifest_describes_both_stages(sshsnet_package):
    manifest = ModelPackage.open(sshsnet_package.root).manifest
    assert manifest.format_version == FORMAT_VERSION
    assert (manifest.task, manifest.model) == ("spine_mr", "sshsnet")
    assert manifest.labels == MR_SPINE_LABELS and len(manifest.labels) == 20
    assert list(manifest.stages) == ["stage1", "stage2"]
    stage1, stage2 = manifest.stages["stage1"], manifest.stages["stage2"]
    assert (stage1.network, stage2.network) == ("stage1_pair", "stage2")
    assert stage1.patch_size == SSHSNET_PATCHES["stage1"] and stage2.patch_size == SSHSNET_PATCHES["stage2"]
    assert [(t.name, t.shape) for t in stage1.inputs] == [("slices", (None, 3, 64, 64))]
    assert [(t.name, t.shape) for t in stage1.outputs] == [("probabilities", (None, 20, 64, 64)),
                                                           ("features", (None, 64, 16, 16))]
    assert [(t.name, t.shape) for t in stage2.inputs] == [("image", (None, 21, 32, 32, 4)),
                                                          ("stage_one_features", (None, 64, 8, 8, 4))]
    assert [(t.name, t.shape) for t in stage2.outputs] == [("logits", (None, 20, 32, 32, 4))]
    assert all(t.dtype == "float32" for s in (stage1, stage2) for t in (*s.inputs, *s.outputs))
    assert stage2.config["patch_size"] == [32, 32, 4] and stage2.config["in_channels"] == 21
    assert {(g.precision, g.fold) for g in stage1.graphs} == {("fp32", 0), ("fp16", 0)}
    assert stage1.graph("fp16").path == "stage1/fold0.fp16.onnx"
    assert [w.path for w in stage2.weights] == ["stage2/fold0.weights.pt"]


def test_manifest_preprocessing_and_provenance(sshsnet_package):
    manifest = sshsnet_package.manifest
    pre = manifest.preprocessing
    assert tuple(pre["axes"]) == MR_MODEL_AXES
    assert pre["spacing_mm"]["stage2"] == [STAGE_TWO_IN_PLANE_MM, STAGE_TWO_IN_PLANE_MM, 4.4]
    assert pre["spacing_mm"]["stage1"] == [STAGE_ONE_IN_PLANE_MM, STAGE_ONE_IN_PLANE_MM, 4.4]
    assert STAGE_ONE_IN_PLANE_MM == pytest.approx(2 * STAGE_TWO_IN_PLANE_MM, abs=1e-4)
    assert pre["intensity"]["clip_percentiles"] == [0.5, 99.5]
    assert pre["intensity"]["normalization"] == "zscore" and pre["intensity"]["statistics_over"] == "nonzero"
    provenance = manifest.provenance
    assert provenance["versions"]["torch"] and provenance["versions"]["onnx"] and provenance["versions"]["spine-rt"]
    assert provenance["created"].endswith("Z") and provenance["opset"] == 18
    assert provenance["weights"] == "random-init" and provenance["random_init_seed"] == 0


def test_every_file_is_hashed(sshsnet_package):
    root = sshsnet_package.root
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    manifest = sshsnet_package.manifest
    assert files == sorted([*manifest.files, "manifest.json"])
    for relative, digest in manifest.files.items():
        assert sha256_file(root / relative) == digest
    assert not list(root.parent.glob(".pkg.spine-rt-tmp-*"))


def test_graphs_pass_the_checker_and_have_no_batch_norm(sshsnet_package):
    from spine_rt.export.graph_checks import mixed_type_nodes

    for stage, graph, model in _graphs(sshsnet_package):
        onnx.checker.check_model(model, full_check=True)
        assert not [n for n in model.graph.node if n.op_type == "BatchNormalization"], (stage, graph.path)
        assert mixed_type_nodes(model) == [], (stage, graph.path)
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.elem_type == FLOAT
            assert value.type.tensor_type.shape.dim[0].dim_param  # dynamic batch


def test_fp16_graph_is_fp16_inside(sshsnet_package):
    for stage, graph, model in _graphs(sshsnet_package):
        if graph.precision != "fp16":
            continue
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.input]}
        initializers = {t.name: t.data_type for t in model.graph.initializer}
        types.update(initializers)
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        assert convs and all(types[n.input[0]] == FLOAT16 and initializers[n.input[1]] == FLOAT16 for n in convs)
        float_initializers = [t for t in model.graph.initializer if t.data_type in (FLOAT, FLOAT16)]
        fp16_elements = sum(int(np.prod(t.dims)) for t in float_initializers if t.data_type == FLOAT16)
        all_elements = sum(int(np.prod(t.dims)) for t in float_initializers)
        assert fp16_elements / all_elements > 0.99
        kept = [n for n in model.graph.node if n.op_type in ("Softmax", "ReduceMean", "ReduceMax")]
        assert kept and all(types[n.input[0]] == FLOAT for n in kept)
        casts = [n for n in model.graph.node if n.op_type == "Cast"]
        assert casts
        if stage == "stage2":  # the tri-attention's activation x activation products stay FP32
            matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
            assert len(matmuls) == 6 and all(types[i] == FLOAT for n in matmuls for i in n.input)


def test_parity_recorded_within_tolerance(sshsnet_package):
    records = sshsnet_package.manifest.provenance["parity"]
    seen = {(r["stage"], r["precision"], r["output"]) for r in records}
    assert seen == {(s, p, o) for p in ("fp32", "fp16")
                    for s, o in (("stage1", "probabilities"), ("stage1", "features"), ("stage2", "logits"))}
    for record in records:
        limits = TOLERANCES[record["precision"]]
        assert record["relative_error"] < limits.max_relative_error, record
        if record["output"] in ("probabilities", "logits"):
            assert record["argmax_agreement"] >= 0.995, record
    assert any(r["precision"] == "fp16" and r["relative_error"] > 1e-6 for r in records)  # FP16 really differs


def test_torch_backend_rebuilds_from_the_weights_and_matches_onnxruntime(sshsnet_package):
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.pipelines.runner_factory import stage_torch_runner
    from spine_rt.runtime import OnnxRuntimeRunner

    for stage_name, stage in sshsnet_package.manifest.stages.items():
        inputs = parity_inputs(stage.network, stage.config, stage.patch_size, batch=1, seed=7)
        with stage_torch_runner(sshsnet_package, stage_name) as runner:
            torch_out = runner.infer(inputs)
        with OnnxRuntimeRunner(sshsnet_package.graph_path(stage_name, "fp32")) as runner:
            onnx_out = runner.infer(inputs)
        for name, reference in torch_out.items():
            error = np.abs(onnx_out[name] - reference).max() / np.abs(reference).max()
            assert error < 1e-4, (stage_name, name, error)


def test_manifest_json_is_plain(sshsnet_package):
    data = json.loads((sshsnet_package.root / "manifest.json").read_text())
    assert data["labels"]["11"] == "L5/S"
    assert set(data["files"]) == {f"{s}/fold0.{kind}" for s in ("stage1", "stage2")
                                  for kind in ("fp32.onnx", "fp16.onnx", "weights.pt")}
