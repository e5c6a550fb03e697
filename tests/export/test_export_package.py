"""export_package: checkpoints and folds, labels, atomic writes, failures that leave nothing behind."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.export import export_package  # noqa: E402
import spine_rt.export.package_export as package_export  # noqa: E402
from spine_rt.export.parity import ParityError  # noqa: E402
from spine_rt.model_package import ModelPackage, sha256_file  # noqa: E402
from spine_rt.models import build  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = {"xray": (64, 64)}


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_two_checkpoints_are_two_folds(tmp_path, bilunet_checkpoints):
    package = export_package("bilunet", out=tmp_path / "pkg", checkpoints=bilunet_checkpoints, preset="tiny",
                             precisions="fp32", patch_sizes=SMALL)
    stage = package.manifest.stages["xray"]
    assert [(g.path, g.precision, g.fold) for g in stage.graphs] == [
        ("xray/fold0.fp32.onnx", "fp32", 0), ("xray/fold1.fp32.onnx", "fp32", 1)]
    assert stage.folds == (0, 1)
    assert [w.checkpoint_sha256 for w in stage.weights] == [sha256_file(p) for p in bilunet_checkpoints]
    assert [c["sha256"] for c in package.manifest.provenance["checkpoints"]["xray"]] == [
        sha256_file(p) for p in bilunet_checkpoints]
    assert package.manifest.provenance["weights"] == "checkpoints"
    assert package.manifest.preprocessing["image_size"] == [64, 64]
    assert sha256_file(package.path("xray/fold0.fp32.onnx")) != sha256_file(package.path("xray/fold1.fp32.onnx"))
    ModelPackage.open(package.root, verify=True)


def test_labels_override_sets_num_classes(tmp_path):
    labels = {0: "background", 1: "vertebra", 2: "sacrum"}
    package = export_package("mbnet", out=tmp_path / "pkg", preset="tiny", random_init=True, labels=labels,
                             patch_sizes=SMALL, precisions=["fp32"])
    stage = package.manifest.stages["xray"]
    assert package.manifest.labels == labels and stage.config["num_classes"] == 3
    assert dict((t.name, t.shape) for t in stage.outputs) == {"segmentation": (None, 3, 64, 64),
                                                                "inspection_values": (None, 18)}
    assert package.manifest.task == "xray" and package.manifest.preprocessing["scale"] == pytest.approx(1 / 255)


def test_failure_mid_export_leaves_nothing(tmp_path, bilunet_checkpoints, monkeypatch):
    calls = []
    real = package_export.export_stage_fold

    def fail_on_second_fold(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash while exporting fold 1")
        return real(*args, **kwargs)

    monkeypatch.setattr(package_export, "export_stage_fold", fail_on_second_fold)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_package("bilunet", out=tmp_path / "pkg", checkpoints=bilunet_checkpoints, preset="tiny",
                       precisions="fp32", patch_sizes=SMALL)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []  # no package, no staging folder


def test_parity_failure_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    import spine_rt.export.stage_export as stage_export

    monkeypatch.setattr(stage_export, "parity_failures", lambda results, precision: ["logits: simulated"])
    with pytest.raises(ParityError, match="beyond tolerance.*simulated"):
        export_package("bilunet", out=tmp_path / "pkg", preset="tiny", random_init=True, patch_sizes=SMALL,
                       precisions="fp32")
    assert list(tmp_path.iterdir()) == []


def test_existing_out_needs_overwrite_which_replaces_it(tmp_path):
    out = tmp_path / "pkg"
    first = export_package("bilunet", out=out, preset="tiny", random_init=True, seed=1, patch_sizes=SMALL,
                           precisions="fp32")
    old_digest = first.manifest.files["xray/fold0.fp32.onnx"]
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        export_package("bilunet", out=out, preset="tiny", random_init=True, seed=2, patch_sizes=SMALL)
    second = export_package("bilunet", out=out, preset="tiny", random_init=True, seed=2, patch_sizes=SMALL,
                            precisions="fp32", overwrite=True)
    assert second.manifest.files["xray/fold0.fp32.onnx"] != old_digest
    assert second.manifest.provenance["random_init_seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # old package and staging removed
    ModelPackage.open(out, verify=True)


def test_overwrite_never_replaces_a_folder_that_is_not_a_package(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "scan.nii.gz").write_bytes(b"precious")
    with pytest.raises(InputError, match="not a model package"):
        export_package("bilunet", out=out, preset="tiny", random_init=True, overwrite=True)
    assert (out / "scan.nii.gz").read_bytes() == b"precious"


def test_bad_inputs_are_one_line_input_errors(tmp_path, bilunet_checkpoints):
    out = tmp_path / "pkg"
    stage2_checkpoint = tmp_path / "stage2.pt"
    torch.save(build("stage2", "tiny", patch_size=(32, 32, 4)).state_dict(), stage2_checkpoint)
    cases = [
        (dict(model="unet", random_init=True), "valid models: sshsnet, mbnet, bilunet"),
        (dict(model="bilunet", checkpoints={"xray": tmp_path / "missing.pt"}), "checkpoint not found"),
        (dict(model="bilunet", checkpoints=stage2_checkpoint), "does not fit BiLuNet.*missing"),
        (dict(model="sshsnet", checkpoints={"stage1": bilunet_checkpoints[0], "stage3": stage2_checkpoint}),
         "no stage 'stage3'"),
        (dict(model="sshsnet", checkpoints=bilunet_checkpoints[0]), "several stages"),
        (dict(model="bilunet"), "no checkpoints given"),
        (dict(model="bilunet", random_init=True, checkpoints=bilunet_checkpoints), "not both"),
        (dict(model="bilunet", random_init=True, precisions="fp8"), "valid precisions: fp32, fp16"),
        (dict(model="bilunet", random_init=True, preset="huge"), "valid presets"),
        (dict(model="bilunet", random_init=True, patch_sizes={"xray": (60, 64)}), "multiples of 32"),
        (dict(model="bilunet", random_init=True, labels=["background"]), "at least 2 classes"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message) as caught:
            export_package(out=out, preset=kwargs.pop("preset", "tiny"), **kwargs)
        assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [stage2_checkpoint]
