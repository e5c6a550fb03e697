"""``package_onnx``: foreign ONNX graphs checked against their stage's contract, renamed, FP16, verified, atomic.

The graphs are built with ``onnx.helper`` (no torch); the torch-exported
ones and the command line are in ``tests/cli/test_package_cli.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

import onnx  # noqa: E402

from foreign_onnx_graphs import pixel_classifier, sshsnet_graphs  # noqa: E402
from spine_rt.errors import InputError  # noqa: E402
from spine_rt.export import ParityError, package_onnx, verify_package  # noqa: E402
from spine_rt.model_package import ModelPackage, sha256_file  # noqa: E402


def _nothing_left(folder, name="pkg"):
    """No package and no staging folder (``.pkg.partial-*``) in ``folder``."""
    return not (folder / name).exists() and not [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_a_pixel_classifier_becomes_a_package_under_spine_rt_names(tmp_path):
    graph = pixel_classifier(tmp_path / "foreign.onnx")
    before = sha256_file(graph)
    package = package_onnx("bilunet", out=tmp_path / "pkg", graphs=graph)
    manifest = package.manifest
    stage = manifest.stages["xray"]
    assert [(t.name, t.shape) for t in stage.inputs] == [("image", (None, 3, 64, 64))]
    assert [(t.name, t.shape) for t in stage.outputs] == [("probabilities", (None, 5, 64, 64))]
    assert stage.patch_size == (64, 64) and stage.weights == () and stage.preset == "external"
    assert manifest.preprocessing["image_size"] == [64, 64]
    assert sha256_file(graph) == before  # the given file is never changed
    source = manifest.provenance["source_graphs"]["xray"][0]
    assert source["sha256"] == before and source["inputs"] == {"image": "input_1"}
    assert source["outputs"] == {"probabilities": "probs"} and manifest.provenance["weights"] == "onnx"
    fp16 = onnx.load(str(package.graph_path("xray", "fp16")))
    assert [i.name for i in fp16.graph.input] == ["image"] and [o.name for o in fp16.graph.output] == ["probabilities"]
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)
    parity = {r["precision"]: r for r in manifest.provenance["parity"]}
    assert parity["fp32"]["relative_error"] < 1e-4
    assert parity["fp16"]["relative_error"] < 1e-2 and parity["fp16"]["argmax_agreement"] >= 0.995
    # verify needs neither torch nor weights: onnxruntime FP32 is the reference
    report = verify_package(package.root, backends="onnxruntime")
    assert report.passed and "no torch weights" in report.reference

    import spine_rt
    from spine_rt.phantoms import lumbar_xray

    picture = lumbar_xray(2, size=(120, 90)).image
    result = spine_rt.load_pipeline(package.root, device="cpu")(picture)
    assert result.labels.shape == picture.shape[:2] and result.report["backend"] in ("openvino", "onnxruntime")


def test_a_channels_last_graph_with_a_spec_mapping(tmp_path):
    pixel_classifier(tmp_path / "keras.onnx", input_name="image", output_name="dense_out", channels_last=True,
                     extra_output="aux_scores")
    spec = {"model": "bilunet", "labels": ["background", "a", "b", "c", "d"],
            "preprocessing": {"scale": 0.5 / 255},
            "stages": {"xray": {"graphs": ["keras.onnx"], "layout": "channels_last",
                                "outputs": {"probabilities": "dense_out"}}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    package = package_onnx("bilunet", out=tmp_path / "pkg", spec=tmp_path / "spec.json")
    stage = package.manifest.stages["xray"]
    assert stage.inputs[0].shape == (None, 3, 64, 64) and stage.outputs[0].shape == (None, 5, 64, 64)
    assert len(stage.outputs) == 1  # the unused output is dropped
    assert package.manifest.labels[1] == "a" and package.manifest.preprocessing["scale"] == pytest.approx(0.5 / 255)
    record = package.manifest.provenance["source_graphs"]["xray"][0]
    assert record["layout"] == "channels_last" and record["dropped_outputs"] == ["aux_scores"]
    # the packaged graph is channels first: feed (N, 3, H, W), get (N, C, H, W) = the given graph transposed
    import onnxruntime

    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    ours = onnxruntime.InferenceSession(str(package.graph_path("xray", "fp32"))).run(None, {"image": x})[0]
    theirs = onnxruntime.InferenceSession(str(tmp_path / "keras.onnx")).run(
        ["dense_out"], {"image": np.ascontiguousarray(x.transpose(0, 2, 3, 1))})[0]
    np.testing.assert_allclose(ours, theirs.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


def test_an_sshsnet_pair_with_two_stage_two_folds(tmp_path):
    one, two = sshsnet_graphs(tmp_path, seed=0)
    _, other = sshsnet_graphs(tmp_path, seed=1)
    names = {"stage1": {"inputs": {"slices": "x"}, "outputs": {"probabilities": "prob", "features": "feat"}},
             "stage2": {"inputs": {"image": "volume", "stage_one_features": "s1_features"},
                        "outputs": {"logits": "out"}}}
    package = package_onnx("sshsnet", out=tmp_path / "pkg", graphs={"stage1": one, "stage2": [two, other]},
                           names=names, preprocessing={"intensity": {"clip_percentiles": [1.0, 99.0]}})
    manifest = package.manifest
    assert manifest.stages["stage2"].folds == (0, 1) and manifest.stages["stage1"].folds == (0,)
    assert [t.name for t in manifest.stages["stage2"].inputs] == ["image", "stage_one_features"]
    assert manifest.stages["stage2"].config["stage_one_feature_channels"] == 8
    assert manifest.preprocessing["intensity"]["clip_percentiles"] == [1.0, 99.0]
    assert manifest.preprocessing["intensity"]["normalization"] == "zscore"  # merged, not replaced
    assert len(manifest.provenance["parity"]) == 2 * 2 + 2 * 2 * 1  # stage1: 2 outputs x 2 precisions
    assert verify_package(package.root, backends="onnxruntime").passed
    assert ModelPackage.open(package.root, verify=True).manifest.model == "sshsnet"


@pytest.mark.parametrize("case, expected", [
    ("channels", "has 4 channels on axis 1, expected 5 (one per label, 5 labels)"),
    ("missing", "output 'inspection_values' (N, 18)"),
    ("dynamic", "input 'image' has a dynamic size on axis 2, 3"),
    ("corrupt", "is not a readable ONNX model"),
    ("fixed batch", "has a fixed batch size 1 on axis 0"),
    ("unknown mapping", "the spec maps input 'picture', which the stage does not have"),
    ("mapped to nothing", "the spec maps input 'image' to 'nope', which the graph does not have"),
    ("patch", "must be multiples of 32"),
])
def test_a_graph_that_misses_the_contract_is_one_line_and_nothing_is_written(tmp_path, case, expected):
    model, names = "bilunet", None
    path = tmp_path / "foreign.onnx"
    if case == "channels":
        pixel_classifier(path, classes=4)
    elif case == "missing":
        model, names = "mbnet", {"outputs": {"segmentation": "probs"}}
        pixel_classifier(path)
    elif case == "dynamic":
        pixel_classifier(path, input_dims=["N", 3, "H", "W"])
    elif case == "corrupt":
        path.write_bytes(pixel_classifier(tmp_path / "good.onnx").read_bytes()[:200])
    elif case == "fixed batch":
        pixel_classifier(path, input_dims=[1, 3, 64, 64])
    elif case == "unknown mapping":
        pixel_classifier(path)
        names = {"inputs": {"picture": "input_1"}}
    elif case == "mapped to nothing":
        pixel_classifier(path)
        names = {"inputs": {"image": "nope"}}
    elif case == "patch":
        pixel_classifier(path, size=(48, 64))
    with pytest.raises(InputError) as error:
        package_onnx(model, out=tmp_path / "pkg", graphs=path, names=names)
    message = str(error.value)
    assert expected in message and "\n" not in message and message.startswith("xray fold0:")
    assert _nothing_left(tmp_path)


def test_stage_two_features_must_match_stage_one(tmp_path):
    one, two = sshsnet_graphs(tmp_path, features=8, stage_two_features=6)
    names = {"stage1": {"inputs": {"slices": "x"}, "outputs": {"probabilities": "prob", "features": "feat"}},
             "stage2": {"inputs": {"image": "volume", "stage_one_features": "s1_features"},
                        "outputs": {"logits": "out"}}}
    with pytest.raises(InputError, match=r"stage2 fold0: .*'stage_one_features' has 6 channels on axis 1, expected 8"):
        package_onnx("sshsnet", out=tmp_path / "pkg", graphs={"stage1": one, "stage2": two}, names=names)
    assert _nothing_left(tmp_path)


def test_labels_must_match_the_class_channels(tmp_path):
    path = pixel_classifier(tmp_path / "foreign.onnx")
    with pytest.raises(InputError, match="has 5 channels on axis 1, expected 3"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=path, labels=["background", "a", "b"])
    assert _nothing_left(tmp_path)


def test_failures_after_staging_leave_no_temp_folder(tmp_path):
    # a weight beyond FP16's range: refused while the package is being staged
    big = pixel_classifier(tmp_path / "big.onnx", weight_scale=1e5)
    with pytest.raises(InputError, match="beyond FP16's range.*--precision fp32"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=big)
    assert _nothing_left(tmp_path)
    # FP32 alone is fine
    assert package_onnx("bilunet", out=tmp_path / "pkg", graphs=big, precisions="fp32").manifest.stages["xray"]
    # scores that FP16 cannot resolve: the FP16 graph fails parity, nothing is written
    hot = pixel_classifier(tmp_path / "hot.onnx", score_offset=2000.0)
    with pytest.raises(ParityError, match="xray fold0 fp16: .*no package was written"):
        package_onnx("bilunet", out=tmp_path / "pkg2", graphs=hot)
    assert _nothing_left(tmp_path, "pkg2")


def test_spec_and_argument_errors(tmp_path):
    path = pixel_classifier(tmp_path / "foreign.onnx")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        package_onnx("bilunet", out=tmp_path / "pkg", spec=tmp_path / "bad.json")
    with pytest.raises(InputError, match="unknown key"):
        package_onnx("bilunet", out=tmp_path / "pkg", spec={"stagez": {}})
    with pytest.raises(InputError, match="spec is for model 'mbnet'"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=path, spec={"model": "mbnet"})
    with pytest.raises(InputError, match="no ONNX graph for stage stage2"):
        package_onnx("sshsnet", out=tmp_path / "pkg", graphs={"stage1": path})
    with pytest.raises(InputError, match="unknown layout"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=path, layout="nhwc")
    with pytest.raises(InputError, match="ONNX file not found"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=tmp_path / "absent.onnx")
    with pytest.raises(InputError, match="image_size"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=path, preprocessing={"image_size": [32, 32]})
    package_onnx("bilunet", out=tmp_path / "pkg", graphs=path)
    with pytest.raises(InputError, match="already exists"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=path)
    assert package_onnx("bilunet", out=tmp_path / "pkg", graphs=path, overwrite=True).root.is_dir()


def test_an_automatic_torch_choice_passes_over_a_package_without_weights(tmp_path, monkeypatch):
    import spine_rt.runtime.backends as backends
    from spine_rt.pipelines.runner_factory import missing_torch_weights
    from spine_rt.runtime.backends import BackendChoice, build_on_backend

    package = package_onnx("bilunet", out=tmp_path / "pkg", graphs=pixel_classifier(tmp_path / "foreign.onnx"))
    monkeypatch.setattr(backends, "select_backend", lambda name, device, facts=None: BackendChoice("torch", "cpu", "picked"))

    def unusable(choice):
        return missing_torch_weights(package, ("xray",)) if choice.name == "torch" else None

    built, choice = build_on_backend("auto", "cpu", lambda c: c.name, unusable=unusable)
    assert built == choice.name and choice.name in ("openvino", "onnxruntime") and choice.device == "cpu"
    reason = choice.reason
    assert reason == f"picked; torch: the package has no torch weights (built from ONNX graphs) → {choice.name} on cpu"
    monkeypatch.setattr(backends, "select_backend",
                        lambda name, device, facts=None: BackendChoice("onnxruntime", "cpu", "picked"))
    other = BackendChoice("onnxruntime", "cpu", "picked")
    assert build_on_backend("auto", "cpu", lambda c: c.name, unusable=unusable) == ("onnxruntime", other)


def test_a_graph_input_the_stage_cannot_feed_is_named(tmp_path):
    from onnx import TensorProto, helper

    shape = ["N", 5, 64, 64]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["scores"]), helper.make_node("Add", ["scores", "mask"], ["sum"]),
         helper.make_node("Softmax", ["sum"], ["probabilities"], axis=1)], "two_inputs",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, shape)],
        [onnx.numpy_helper.from_array(np.ones((5, 3, 1, 1), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "two.onnx"))
    with pytest.raises(InputError, match="graph input\\(s\\) 'mask' have no place in the xray stage"):
        package_onnx("bilunet", out=tmp_path / "pkg", graphs=tmp_path / "two.onnx")
    assert _nothing_left(tmp_path)
