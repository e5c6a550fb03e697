"""``spine_rt.load_pipeline`` on a real exported package (tiny, random weights, seeded).

The package (fixture ``tiny_package`` in conftest) has stage one at 64 x 128
(half resolution) and stage two at 64 x 64 x 12, so the tests stay small on
2 CPU cores.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pipeline_fakes import ipr_affine, model_grid_volume, reoriented

import spine_rt
from spine_rt.errors import InputError
from spine_rt.io import Image

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def package(tiny_package):
    return tiny_package


@pytest.fixture(scope="module")
def scan() -> Image:
    """96 x 160 x 12 on the model grid, as RAS."""
    return reoriented(Image(model_grid_volume((96, 160, 12), seed=5), ipr_affine()), "RAS")


@pytest.fixture(scope="module")
def onnxruntime_pipeline(package):
    with spine_rt.load_pipeline(package.root, backend="onnxruntime", device="cpu") as pipe:
        yield pipe


@pytest.fixture(scope="module")
def torch_pipeline(package):
    with spine_rt.load_pipeline(package.root, backend="torch", device="cpu") as pipe:
        yield pipe


def test_torch_and_onnxruntime_agree(scan, torch_pipeline, onnxruntime_pipeline):
    from_torch = torch_pipeline(scan)
    from_onnxruntime = onnxruntime_pipeline(scan)
    agreement = float((from_torch.labels == from_onnxruntime.labels).mean())
    print(f"torch vs onnxruntime label agreement: {agreement:.6f}")
    assert agreement >= 0.999
    assert from_torch.report["backend"] == "torch" and from_onnxruntime.report["backend"] == "onnxruntime"
    assert from_torch.report["stages"]["stage2"]["sources"] == ["stage2/fold0.weights.pt"]
    assert from_onnxruntime.report["stages"]["stage2"]["sources"] == ["stage2/fold0.fp32.onnx"]
    assert len(np.unique(from_onnxruntime.labels)) > 1  # random weights, but not a constant answer


def test_labels_in_the_input_geometry_for_each_orientation(onnxruntime_pipeline, scan):
    for codes in ("RAS", "PSR", "IPR"):
        image = reoriented(scan, codes)
        result = onnxruntime_pipeline(image)
        assert result.labels.shape == image.shape
        np.testing.assert_array_equal(result.affine, image.affine)


def test_auto_backend_on_the_cpu_reports_its_choice(package, scan):
    with spine_rt.load_pipeline(package.root, device="cpu") as pipe:
        report = pipe(scan).report
    from spine_rt.dependencies import is_available

    expected = "openvino" if is_available("openvino") else "onnxruntime"  # the fastest CPU engine installed
    assert report["backend"] == expected and report["device"] == "cpu" and report["precision"] == "fp32"
    assert f"{expected} CPU" in report["backend_reason"]
    assert report["stage_two_patches"]["total"] >= report["stage_two_patches"]["run"] > 0
    names = {s["name"] for s in report["structures"]}
    assert names and names <= set(package.manifest.labels.values())


def test_reference_schedule_with_the_package(package, scan):
    with spine_rt.load_pipeline(package.root, backend="onnxruntime", device="cpu", schedule="reference") as pipe:
        result = pipe(scan)
    assert result.labels.shape == scan.shape and np.array_equal(result.affine, scan.affine)
    counts = result.report["counts"]
    assert counts["outer_windows"] == 1 and counts["stage_two_patches_run"] == counts["stage_two_patches_total"] == 36


def test_threads_sharing_a_pipeline_get_the_sequential_results(onnxruntime_pipeline):
    images = [Image(model_grid_volume((96, 128, 12), seed=s), ipr_affine()) for s in (7, 8)]
    sequential = [onnxruntime_pipeline(image).labels for image in images]
    results = [None, None]

    def work(index):
        results[index] = onnxruntime_pipeline(images[index]).labels

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, expected in zip(results, sequential):
        np.testing.assert_array_equal(got, expected)


def test_fp16_without_an_fp16_graph_is_an_input_error(package):
    with pytest.raises(InputError, match="no fp16 graph"):
        spine_rt.load_pipeline(package.root, backend="onnxruntime", device="cpu", precision="fp16")


def test_folds_are_checked(package):
    with spine_rt.load_pipeline(package.root, backend="onnxruntime", device="cpu", folds=[0]) as pipe:
        assert pipe.settings()["stages"]["stage2"]["folds"] == [0]
    with pytest.raises(InputError, match="cannot use folds"):
        spine_rt.load_pipeline(package.root, backend="onnxruntime", device="cpu", folds=[3])


def test_not_a_package_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a model package"):
        spine_rt.load_pipeline(tmp_path)


def test_pipeline_from_modules_matches_the_torch_backend_of_the_package(package, torch_pipeline):
    import torch

    from spine_rt.models import build
    from spine_rt.pipelines import pipeline_from_modules

    networks = []
    for name in ("stage1", "stage2"):
        stage = package.manifest.stages[name]
        network = build(stage.network, stage.preset, **stage.config)
        network.load_state_dict(torch.load(package.root / stage.weights[0].path, weights_only=True))
        networks.append(network)
    small = Image(model_grid_volume((64, 128, 12), seed=9), ipr_affine())
    with pipeline_from_modules(*networks, stage_one_patch=package.manifest.stages["stage1"].patch_size) as direct:
        from_modules = direct(small)
    from_package = torch_pipeline(small)
    np.testing.assert_array_equal(from_modules.labels, from_package.labels)
    assert from_modules.report["backend_reason"] == "torch modules given directly"


def test_auto_falls_back_from_tensorrt_without_an_engine_and_says_so(package, scan, monkeypatch):
    import spine_rt.runtime.backends as backends
    from spine_rt.runtime import BackendChoice

    monkeypatch.setattr(backends, "select_backend",
                        lambda name, device, facts=None: BackendChoice("tensorrt", "cuda:0", "tensorrt is the first choice"))
    monkeypatch.setattr(backends, "available_backends",
                        lambda device, facts=None: (BackendChoice("tensorrt", "cuda:0", "available"),
                                                    BackendChoice("onnxruntime", "cpu", "available")))
    with spine_rt.load_pipeline(package.root) as pipe:
        report = pipe.settings()
    assert report["backend"] == "onnxruntime" and report["device"] == "cpu"
    assert report["backend_reason"].startswith("tensorrt is the first choice; tensorrt: ")
    assert report["backend_reason"].endswith("→ onnxruntime on cpu")


def test_host_threads_on_or_off_give_the_same_labels_and_are_reported(tiny_package, ipr_image):
    results = {}
    for threads in (True, False):
        with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", host_threads=threads) as pipe:
            results[threads] = pipe(ipr_image)
            assert results[threads].report["host_threads"] is threads
    np.testing.assert_array_equal(results[True].labels, results[False].labels)


def test_host_threads_default_follows_the_usable_cores(monkeypatch):
    from spine_rt.pipelines.schedules import host_threads

    monkeypatch.setattr(host_threads, "usable_cores", lambda: 1)
    assert host_threads.choose_host_threads(None) is False
    monkeypatch.setattr(host_threads, "usable_cores", lambda: 8)
    assert host_threads.choose_host_threads(None) is True
    assert host_threads.choose_host_threads(False) is False


def test_host_threads_must_be_a_bool_or_none(tiny_package):
    with pytest.raises(InputError, match="host_threads must be True, False or None"):
        spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", host_threads="yes")
