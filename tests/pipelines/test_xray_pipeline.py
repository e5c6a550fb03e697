"""The X-ray pipeline: preprocessing, nearest resize back, measurements, report, MBNet values, packages.

Fake runners (numpy) check the plumbing with outputs of known meaning: an
*oracle* that returns the phantom's true mask at the network's size (so the
measured angles must match the phantom's within the half-resolution limits
of ``tests/measure``), and a per-pixel intensity threshold (mirror
equivariant, so TTA must not change its labels). Tiny random-init BiLuNet
and MBNet packages (exported once per module, torch) run end to end.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image as PillowImage

import spine_rt
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES, MinMaxScaling
from spine_rt.errors import InputError
from spine_rt.io import XrayImage
from spine_rt.phantoms import lumbar_xray
from spine_rt.pipelines import PipelineOptions, StageRunners
from spine_rt.pipelines.xray.pipeline import XrayPipeline
from spine_rt.pipelines.xray.preprocessing import XrayPreprocessing, nearest_resize, to_8bit
from spine_rt.pipelines.xray.values import RAW_NOTE, value_scaling_from_manifest
from spine_rt.pipelines.xray.result import XrayResult

CLASSES = 5
NETWORK_SIZE = (512, 512)
LABEL_NAMES = {0: "background", 1: "vertebra", 2: "sacrum", 3: "femoral head 1", 4: "femoral head 2"}


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return (labels[None] == np.arange(CLASSES)[:, None, None]).astype(np.float32)


class OracleRunner:
    """Returns a fixed mask (resized to the network's size, nearest) as probabilities, whatever the input."""

    def __init__(self, mask: np.ndarray, values: np.ndarray | None = None) -> None:
        self.probabilities = _one_hot(nearest_resize(mask, NETWORK_SIZE))[None]
        self.values = values

    def infer(self, feed):
        outputs = {"probabilities": self.probabilities}
        if self.values is not None:
            outputs = {"segmentation": self.probabilities, "inspection_values": self.values[None]}
        return outputs

    def close(self) -> None:
        pass


class ThresholdRunner:
    """Class 1 where the input's first channel is brighter than 0.5, else background (per pixel)."""

    def infer(self, feed):
        bright = feed["image"][:, 0] > 0.5
        probabilities = np.stack([~bright, bright] + [np.zeros_like(bright)] * 3, axis=1).astype(np.float32)
        return {"probabilities": probabilities}

    def close(self) -> None:
        pass


def _runners(runner, outputs=("probabilities",)) -> StageRunners:
    return StageRunners(name="xray", runners=(runner,), folds=(0,), input_names=("image",), output_names=outputs,
                        patch_size=NETWORK_SIZE, backend="fake", device="cpu")


@pytest.fixture(scope="module")
def phantom():
    return lumbar_xray(4, size=(1024, 900), mirror=True)


def test_an_oracle_network_gives_the_phantom_angles_at_the_input_size(phantom, tmp_path):
    path = tmp_path / "lateral.png"
    PillowImage.fromarray(phantom.image).save(path)
    pipe = XrayPipeline(_runners(OracleRunner(phantom.mask)), labels=LABEL_NAMES)
    spacing = (phantom.pixel_spacing_mm, phantom.pixel_spacing_mm)
    result = pipe(path, pixel_spacing_mm=spacing)
    assert isinstance(result, XrayResult) and result.labels.shape == (1024, 900) and result.labels.dtype == np.uint8
    assert set(np.unique(result.labels)) <= set(np.unique(phantom.mask))
    assert np.mean(result.labels == phantom.mask) > 0.99
    truth = phantom.parameters.as_dict()
    values = result.report["measurements"]["values"]
    for name in ("SS", "PT", "PI", "LL"):
        assert abs(values[name]["value"] - truth[name]) <= 1.5, (name, values[name], truth[name])
    assert result.report["measurements"]["facing"] == "right"
    assert result.report["measurements"]["angles_in"].startswith("mm")
    assert values["PI"]["normal_range"] == [34.0, 84.0] and values["PI"]["flag"] in ("low", "normal", "high")
    vertebra = next(s for s in result.report["structures"] if s["name"] == "vertebra")
    assert vertebra["area_mm2"] == pytest.approx(vertebra["pixels"] * spacing[0] * spacing[1], rel=1e-3)
    assert result.report["input"] == {"shape": [1024, 900], "pixel_spacing_mm": list(spacing),
                                      "source": str(path), "format": "picture", "warnings": []}
    assert result.report["regressed_values"] is None
    assert set(result.report["seconds"]) == {"read", "preprocessing", "network", "postprocessing", "measurement",
                                             "total"}
    assert result.report["backend"] == "fake" and result.report["task"] == "xray"
    json.dumps(result.report)  # plain JSON


def test_a_monochrome1_dicom_with_pixel_spacing_is_measured_in_mm(phantom, tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PhotometricInterpretation = "DX", "MONOCHROME1"
    ds.Rows, ds.Columns = phantom.image.shape
    ds.ImagerPixelSpacing = [phantom.pixel_spacing_mm, phantom.pixel_spacing_mm]
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PixelData = ((255 - phantom.image.astype(np.uint16)) * 16).astype("<u2").tobytes()  # dark bone, 12 bits
    path = tmp_path / "lateral.dcm"
    ds.save_as(path, enforce_file_format=True)

    captured = []

    class CapturingOracle(OracleRunner):
        def infer(self, feed):
            captured.append(feed["image"])
            return super().infer(feed)

    result = XrayPipeline(_runners(CapturingOracle(phantom.mask)))(path)
    assert result.report["input"]["pixel_spacing_mm"] == [phantom.pixel_spacing_mm] * 2
    assert result.report["input"]["format"] == "dicom"
    assert result.report["measurements"]["angles_in"].startswith("mm")
    expected = XrayPreprocessing().network_input(phantom.image)  # inverted back: bone bright again
    np.testing.assert_allclose(captured[0], expected, atol=1.5 / 255)
    truth = phantom.parameters.as_dict()
    assert abs(result.report["measurements"]["values"]["PI"]["value"] - truth["PI"]) <= 1.5


def test_nearest_resize_keeps_only_present_labels_and_matches_integer_upsampling():
    rng = np.random.default_rng(0)
    small = rng.choice([0, 2, 4], size=(16, 12)).astype(np.uint8)
    big = nearest_resize(small, (37, 29))
    assert big.shape == (37, 29) and set(np.unique(big)) <= {0, 2, 4}
    np.testing.assert_array_equal(nearest_resize(small, (48, 24)), np.repeat(np.repeat(small, 3, 0), 2, 1))
    np.testing.assert_array_equal(nearest_resize(big, big.shape), big)


def test_preprocessing_is_the_training_resize_and_scale():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, size=(70, 50)).astype(np.uint8)
    feed = XrayPreprocessing((64, 32)).network_input(grey)
    expected = np.asarray(PillowImage.fromarray(grey).convert("RGB").resize((32, 64), PillowImage.BILINEAR),
                          np.float32) / 255.0
    assert feed.shape == (1, 3, 64, 32) and feed.dtype == np.float32
    np.testing.assert_allclose(np.moveaxis(feed[0], 0, -1), expected, atol=1e-6)
    np.testing.assert_array_equal(to_8bit(np.array([[100.0, 300.0], [150.0, 100.0]])), [[0, 255], [64, 0]])
    assert XrayPreprocessing.from_manifest({"image_size": [256, 128], "scale": 0.5}).image_size == (256, 128)
    with pytest.raises(InputError, match="bilinear"):
        XrayPreprocessing.from_manifest({"resize": "bicubic"})


def test_tta_mirrors_left_right_and_inputs_of_every_kind(phantom):
    plain = XrayPipeline(_runners(ThresholdRunner()))
    mirrored = XrayPipeline(_runners(ThresholdRunner()), PipelineOptions(tta=True))
    image = phantom.image[::2, ::2]
    first, second = plain(image, measure=False), mirrored(image, measure=False)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert second.report["tta"] and second.report["tta_mirror_axes"] == ["left-right"]
    assert first.report["measurements"] is None
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(plain(rgb, measure=False).labels, first.labels)
    wrapped = plain(XrayImage(image.astype(np.uint16) * 100, pixel_spacing_mm=(0.2, 0.2)), measure=False)
    np.testing.assert_array_equal(wrapped.labels, first.labels)
    assert wrapped.report["preprocessing"]["to_8bit"].startswith("min..max")
    probabilities = plain(image, return_probabilities=True, measure=False).probabilities
    assert probabilities.shape == (CLASSES, *NETWORK_SIZE)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        plain(np.zeros((4, 4, 4, 4)))
    with pytest.raises(InputError, match="cannot segment"):
        plain(42)
    plain.close()
    with pytest.raises(InputError, match="closed"):
        plain(image)


def test_mbnet_values_raw_without_scaling_and_in_degrees_with_it(phantom):
    raw = np.linspace(0.1, 0.9, len(INSPECTION_VALUE_NAMES))
    outputs = ("segmentation", "inspection_values")
    unscaled = XrayPipeline(_runners(OracleRunner(phantom.mask, raw), outputs))(phantom.image, measure=False)
    entry = unscaled.report["regressed_values"]
    assert entry["scaling"] is None and entry["note"] == RAW_NOTE
    assert list(entry["values"]) == list(INSPECTION_VALUE_NAMES)
    assert entry["values"]["PI"] == {"raw": 0.1, "unit": "sigmoid output", "flag": "no range"}
    minimum, maximum = np.arange(18.0), np.arange(18.0) + 100.0
    scaling = MinMaxScaling(INSPECTION_VALUE_NAMES, tuple(minimum), tuple(maximum))
    scaled = XrayPipeline(_runners(OracleRunner(phantom.mask, raw), outputs), value_scaling=scaling)
    values = scaled(phantom.image, measure=False).report["regressed_values"]["values"]
    assert values["PI"]["value"] == pytest.approx(10.0) and values["PI"]["flag"] == "low"
    assert values["L5S1"]["value"] == pytest.approx(17 + 90.0) and values["LDI"]["unit"] == "%"


def test_value_scaling_from_the_manifest_is_put_in_the_network_order():
    assert value_scaling_from_manifest({}) is None
    names = list(reversed(INSPECTION_VALUE_NAMES))
    stored = {"method": "min-max", "names": names, "minimum": list(range(18)), "maximum": [100.0] * 18}
    scaling = value_scaling_from_manifest({"value_scaling": stored})
    assert scaling.names == INSPECTION_VALUE_NAMES and scaling.minimum[0] == 17.0
    with pytest.raises(InputError, match="lacks"):
        value_scaling_from_manifest({"value_scaling": {**stored, "names": ["PI"] * 18}})


def test_result_saves_a_png_label_map_atomically_and_never_over_the_input(phantom, tmp_path):
    source = tmp_path / "in.png"
    PillowImage.fromarray(phantom.image).save(source)
    result = XrayPipeline(_runners(OracleRunner(phantom.mask)))(source, measure=False)
    written = result.save(tmp_path / "labels.png")
    np.testing.assert_array_equal(np.asarray(PillowImage.open(written)), result.labels)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(InputError, match="refusing to overwrite"):
        result.save(source)
    with pytest.raises(InputError, match=".png"):
        result.save(tmp_path / "labels.nii.gz")
    with pytest.raises(InputError, match="does not exist"):
        result.save(tmp_path / "missing" / "labels.png")


# ---------------------------------------------------------------- tiny exported packages (torch)
TINY_SIZE = {"xray": (64, 64)}


@pytest.fixture(scope="module")
def xray_packages(tmp_path_factory):
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    root = tmp_path_factory.mktemp("xray_packages")
    return {model: export_package(model, out=root / model, preset="tiny", random_init=True, seed=5,
                                  patch_sizes=TINY_SIZE, precisions=["fp32"]).root
            for model in ("bilunet", "mbnet")}


@pytest.mark.torch
def test_bilunet_package_end_to_end(xray_packages, phantom, tmp_path):
    path = tmp_path / "x.png"
    PillowImage.fromarray(phantom.image[:300, :260]).save(path)
    pipe = spine_rt.load_pipeline(xray_packages["bilunet"], backend="onnxruntime", device="cpu")
    assert isinstance(pipe, XrayPipeline)
    result = pipe(path)
    assert result.labels.shape == (300, 260)
    assert set(np.unique(result.labels)) <= set(range(CLASSES))
    report = result.report
    assert report["model"] == "bilunet" and report["backend"] == "onnxruntime" and report["device"] == "cpu"
    assert report["preprocessing"]["image_size"] == [64, 64] and report["regressed_values"] is None
    assert set(report["measurements"]["values"]) == set(INSPECTION_VALUE_NAMES)
    torch_pipe = spine_rt.load_pipeline(xray_packages["bilunet"], backend="torch", device="cpu")
    again = torch_pipe(path, return_probabilities=True)
    reference = pipe(path, return_probabilities=True)
    np.testing.assert_allclose(again.probabilities, reference.probabilities, atol=1e-4)
    with pytest.raises(InputError, match="spine MR packages only"):
        spine_rt.load_pipeline(xray_packages["bilunet"], schedule="reference")


@pytest.mark.torch
def test_mbnet_package_reports_its_values_raw_then_scaled(xray_packages, phantom, tmp_path):
    pipe = spine_rt.load_pipeline(xray_packages["mbnet"], backend="onnxruntime", device="cpu")
    raw = pipe(phantom.image).report["regressed_values"]
    assert raw["scaling"] is None and all(0.0 <= v["raw"] <= 1.0 for v in raw["values"].values())

    scaled_package = tmp_path / "mbnet_scaled"
    shutil.copytree(xray_packages["mbnet"], scaled_package)
    manifest_path = scaled_package / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["preprocessing"]["value_scaling"] = {"method": "min-max", "names": list(INSPECTION_VALUE_NAMES),
                                                  "minimum": [10.0] * 18, "maximum": [30.0] * 18}
    manifest_path.write_text(json.dumps(manifest))
    scaled = spine_rt.load_pipeline(scaled_package, backend="onnxruntime", device="cpu")(phantom.image)
    entry = scaled.report["regressed_values"]
    assert entry["scaling"].startswith("min-max")
    for name in INSPECTION_VALUE_NAMES:
        assert entry["values"][name]["value"] == pytest.approx(10.0 + 20.0 * raw["values"][name]["raw"], abs=0.01)


@pytest.mark.torch
def test_value_order_is_the_networks():
    from spine_rt.models.mbnet import MBNetConfig

    assert MBNetConfig().num_values == len(INSPECTION_VALUE_NAMES) == 18


@pytest.mark.torch
@pytest.mark.openvino
def test_bilunet_package_on_openvino_equals_onnxruntime(xray_packages, phantom, tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    on_openvino = spine_rt.load_pipeline(xray_packages["bilunet"], backend="openvino", device="cpu")
    result = on_openvino(phantom.image, return_probabilities=True)
    reference = spine_rt.load_pipeline(xray_packages["bilunet"], backend="onnxruntime", device="cpu")(
        phantom.image, return_probabilities=True)
    assert result.report["backend"] == "openvino" and result.report["precision"] == "fp32"
    np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-4)
    assert float((result.labels == reference.labels).mean()) >= 0.999
