"""The whole pipeline with fake runners of known output (numpy only): geometry, ROI, schedules, report, errors."""

from __future__ import annotations

import json
import math
import threading

import nibabel as nib
import numpy as np
import pytest
from pipeline_fakes import (
    FOREGROUND_CLASS,
    ConstantStageTwo,
    EchoStageTwo,
    RecordingRunner,
    ThresholdStageOne,
    fake_pipeline,
    ipr_affine,
    labels_in_orientation,
    model_grid_volume,
    reoriented,
)

from spine_rt.errors import InputError
from spine_rt.io import Image, read_image
from spine_rt.patching import PatchGrid
from spine_rt.pipelines.schedules.reference import ReferenceWindows


@pytest.mark.parametrize("codes", ["IPR", "RAS", "PSR", "LPI"])
def test_labels_lie_on_the_input_grid_in_any_orientation(ipr_image, codes):
    pipe = fake_pipeline()
    reference = pipe(ipr_image)
    image = reoriented(ipr_image, codes)
    result = pipe(image)
    assert result.labels.shape == image.shape
    np.testing.assert_array_equal(result.affine, image.affine)
    assert result.labels.dtype == np.uint8
    # at the model spacing reorientation is exact: the same voxels get the same labels
    np.testing.assert_array_equal(result.labels, labels_in_orientation(reference.labels, ipr_image.affine, codes))
    assert FOREGROUND_CLASS in np.unique(result.labels)


def test_input_at_another_spacing_comes_back_on_its_own_grid():
    # 1 mm in-plane, 3 mm slices, RAS: resampled to 0.3448/4.4 mm for the networks and back
    volume = model_grid_volume((48, 96, 14))
    affine = np.diag([3.0, 1.0, 1.0, 1.0])
    image = Image(np.ascontiguousarray(np.transpose(volume, (2, 1, 0))), affine)  # (R, A, S) = (14, 96, 48)
    result = fake_pipeline()(image)
    assert result.labels.shape == image.shape
    np.testing.assert_array_equal(result.affine, image.affine)
    bright = image.array > 100
    assert (result.labels[bright] == FOREGROUND_CLASS).mean() > 0.9
    assert (result.labels[image.array == 0] == 0).all()


def test_stage_one_runs_once_per_slice_through_the_pipeline(ipr_image):
    stage_one = RecordingRunner(ThresholdStageOne())
    stage_two = RecordingRunner(EchoStageTwo())
    pipe = fake_pipeline(stage_one, stage_two, stage_one_batch_size=5, batch_size=3)
    result = pipe(ipr_image)
    counts = result.report["counts"]
    assert counts["stage_one_slices"] == 12 and counts["stage_one_windows_per_slice"] == 1
    assert len(stage_one.calls) == math.ceil(12 / 5) == counts["stage_one_calls"]
    assert {c["slices"] for c in stage_one.calls} == {(5, 3, 64, 128)}
    assert {c["image"] for c in stage_two.calls} == {(3, 21, 64, 64, 12)}
    assert len(stage_two.calls) == math.ceil(counts["stage_two_patches_run"] / 3)


def test_roi_skips_patches_and_changes_few_voxels_when_stage_two_agrees_with_stage_one_outside_the_spine(ipr_image):
    # With random weights "the spine" is arbitrary; here stage one marks the bright column and stage
    # two returns stage one's answer with window-dependent noise, as a trained pair would agree far
    # from the spine. What the ROI may change is then only the blending near its border.
    with_roi = fake_pipeline(stage_two=EchoStageTwo(noise=0.5), roi_margin_mm=5.0)(ipr_image)
    without = fake_pipeline(stage_two=EchoStageTwo(noise=0.5), roi=False)(ipr_image)
    run, total = with_roi.report["stage_two_patches"]["run"], with_roi.report["stage_two_patches"]["total"]
    assert without.report["stage_two_patches"] == {"run": total, "total": total}
    assert run < total
    differing = float((with_roi.labels != without.labels).mean())
    assert differing <= 0.001, differing


def test_stage_two_only_changes_voxels_inside_the_windows_it_ran(ipr_image):
    result = fake_pipeline(stage_two=ConstantStageTwo(11), roi_margin_mm=0.0)(ipr_image)
    labels = result.labels
    covered = result.report["counts"]["stage_two_voxels_covered"]
    assert 0 < covered < labels.size
    assert (labels == 11).sum() == covered  # inside: stage two's constant; the volume is on the model grid
    assert set(np.unique(labels[labels != 11])) <= {0, FOREGROUND_CLASS}


def test_mirroring_tta_runs_twice_and_keeps_the_geometry(ipr_image):
    stage_one = RecordingRunner(ThresholdStageOne())
    result = fake_pipeline(stage_one, tta=True)(ipr_image)
    plain = fake_pipeline()(ipr_image)
    assert result.report["counts"]["tta_passes"] == 2
    assert result.report["tta_mirror_axes"] == ["anterior-posterior"]
    assert result.report["counts"]["stage_one_slices"] == 24 and len(stage_one.calls) == 4
    assert result.labels.shape == ipr_image.shape
    # the fakes are mirror-symmetric, so mirroring changes nothing
    np.testing.assert_array_equal(result.labels, plain.labels)


def test_reference_windows_for_the_paper_patches_are_seeds_numbers():
    # stage one's paper patch as (S->I, A->P) = (512, 256): SEEDS' 512 x 1024 window, long side along the spine
    windows = ReferenceWindows.for_patches((512, 256), (192, 192, 12), 2)
    assert windows == ReferenceWindows((1024, 512, 12), (100, 100, 6), (81, 81, 1), 20)
    assert len(PatchGrid.plan(windows.outer_window, (192, 192, 12), stride=windows.inner_stride)) == 60


def test_reference_schedule_runs_every_patch_of_every_window_and_returns_labels_on_the_input_grid(ipr_image):
    stage_one = RecordingRunner(ThresholdStageOne())
    stage_two = RecordingRunner(EchoStageTwo())
    pipe = fake_pipeline(stage_one, stage_two, schedule="reference")
    windows = pipe.schedule.windows
    # scaled to the small fake patches: outer = 2 x stage-one patch, strides in SEEDS' proportions per axis
    # (the paper's outer window is 1024 x 512 along S->I x A->P)
    assert windows.outer_window == (128, 256, 12)
    assert windows.outer_stride == (12, 50, 6) and windows.inner_stride == (27, 27, 1) and windows.batch_size == 20
    per_window = len(PatchGrid.plan(windows.outer_window, (64, 64, 12), stride=windows.inner_stride))
    assert per_window == 4 * 9
    image = reoriented(ipr_image, "RAS")
    result = pipe(image)
    assert result.labels.shape == image.shape and np.array_equal(result.affine, image.affine)
    counts = result.report["counts"]
    assert counts["outer_windows"] == 1
    assert counts["stage_two_patches_run"] == counts["stage_two_patches_total"] == per_window
    assert {c["image"][0] for c in stage_two.calls} == {20}
    assert len(stage_one.calls) == 1 and stage_one.calls[0]["slices"] == (12, 3, 64, 128)
    assert result.report["schedule"] == "reference" and result.report["roi"] is False
    fast = fake_pipeline()(image)
    assert (result.labels == fast.labels).mean() > 0.99


def test_reference_schedule_reruns_stage_one_for_every_outer_window():
    stage_one = RecordingRunner(ThresholdStageOne())
    volume = model_grid_volume((200, 300, 12))
    result = fake_pipeline(stage_one, schedule="reference")(Image(volume, ipr_affine()))
    counts = result.report["counts"]
    assert counts["outer_windows"] > 1
    assert len(stage_one.calls) == counts["outer_windows"] == counts["stage_one_calls"]
    assert counts["stage_two_patches_run"] == counts["outer_windows"] * 36 == counts["stage_two_patches_total"]


def test_report_contents(ipr_image):
    result = fake_pipeline()(ipr_image)
    report = result.report
    for key in ["backend", "backend_reason", "device", "precision", "schedule", "roi", "roi_margin_mm", "tta",
                "stage_two_patches", "counts", "seconds", "structures", "input", "preprocessing", "stages"]:
        assert key in report, key
    assert report["schedule"] == "fast" and report["roi"] is True and report["roi_margin_mm"] == 20.0
    steps = {"read", "preprocessing", "stage_one", "stage_two", "fusion", "postprocessing", "total"}
    assert set(report["seconds"]) >= steps
    found = {s["name"]: s for s in report["structures"]}
    assert set(found) == {f"structure {FOREGROUND_CLASS}"}
    entry = found[f"structure {FOREGROUND_CLASS}"]
    assert entry["voxels"] == int((result.labels == FOREGROUND_CLASS).sum())
    assert entry["volume_mm3"] == pytest.approx(entry["voxels"] * 0.3448 * 0.3448 * 4.4, rel=1e-4)
    assert report["input"]["orientation"] == "IPR" and report["input"]["shape"] == [128, 256, 12]
    assert "structure" in repr(result)
    json.dumps(report)  # plain data only


@pytest.mark.parametrize("roi", [True, False])
def test_probabilities_on_request_and_the_same_labels_from_the_bounded_memory_path(ipr_image, roi):
    pipe = fake_pipeline(stage_two=EchoStageTwo(noise=2.0), roi=roi, roi_margin_mm=3.0)
    labels_only = pipe(ipr_image)  # fused and reduced to labels slab by slab
    assert labels_only.probabilities is None
    result = pipe(ipr_image, return_probabilities=True)  # the whole probability volume
    assert result.probabilities.shape == (20, *ipr_image.shape)
    np.testing.assert_array_equal(result.probabilities.argmax(0), result.labels)
    np.testing.assert_array_equal(labels_only.labels, result.labels)


def test_few_slices_are_padded_to_the_patch_depth():
    volume = model_grid_volume((128, 256, 5))
    image = Image(volume, ipr_affine())
    result = fake_pipeline()(image)
    assert result.labels.shape == (128, 256, 5)
    assert result.report["preprocessing"]["padding"][2] == [3, 4]


def test_save_writes_nifti_in_the_input_geometry_and_never_overwrites_the_input(ipr_image, tmp_path):
    source = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(ipr_image.array, ipr_image.affine), source)
    result = fake_pipeline()(str(source))
    written = result.save(tmp_path / "seg.nii.gz")
    saved = read_image(written)
    np.testing.assert_array_equal(saved.array, result.labels)
    np.testing.assert_allclose(saved.affine, ipr_image.affine, atol=1e-5)
    with pytest.raises(InputError, match="overwrite the input"):
        result.save(source)


@pytest.mark.parametrize("scan, affine, message", [
    (np.zeros((10, 10)), np.eye(4), "2D"),
    (np.full((8, 8, 8), np.nan), np.eye(4), "NaN"),
    ("/no/such/scan.nii.gz", None, "no such file"),
    (np.ones((8, 8, 8)), None, "needs its affine"),
    (np.zeros((40, 40, 12)), np.eye(4), "no non-zero voxel"),
    (np.ones((8, 8, 8)), np.eye(4), "field of view 8 x 8 x 8 mm"),
    ([1, 2, 3], None, "cannot segment a list"),
])
def test_bad_inputs_are_one_line_input_errors(scan, affine, message):
    with pytest.raises(InputError, match=message) as error:
        fake_pipeline()(scan, affine=affine)
    assert "\n" not in str(error.value)


def test_image_with_affine_twice_is_refused(ipr_image):
    with pytest.raises(InputError, match="own affine"):
        fake_pipeline()(ipr_image, affine=np.eye(4))


@pytest.mark.parametrize("options, message", [
    ({"schedule": "slow"}, "valid schedules: fast, reference"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"roi_margin_mm": -1}, "roi_margin_mm"),
    ({"overlap": 1.0}, "overlap"),
    ({"schedule": "reference", "tta": True}, "no TTA"),
])
def test_bad_options_are_input_errors(options, message):
    with pytest.raises(InputError, match=message):
        fake_pipeline(**options)


def test_closed_pipeline_refuses_and_closes_its_runners(ipr_image):
    stage_one, stage_two = RecordingRunner(ThresholdStageOne()), RecordingRunner(EchoStageTwo())
    with fake_pipeline(stage_one, stage_two) as pipe:
        pipe(ipr_image)
    assert stage_one.closed and stage_two.closed
    with pytest.raises(InputError, match="closed"):
        pipe(ipr_image)


def test_two_threads_get_the_results_of_sequential_calls():
    images = [Image(model_grid_volume(seed=s), ipr_affine()) for s in (1, 2, 3, 4)]
    pipe = fake_pipeline(stage_two=EchoStageTwo(noise=0.5))
    sequential = [pipe(image).labels for image in images]
    results: dict[int, np.ndarray] = {}

    def work(indices):
        for i in indices:
            results[i] = pipe(images[i]).labels

    threads = [threading.Thread(target=work, args=([0, 2],)), threading.Thread(target=work, args=([1, 3],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, expected in enumerate(sequential):
        np.testing.assert_array_equal(results[i], expected)
