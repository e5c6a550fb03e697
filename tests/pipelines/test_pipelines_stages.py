"""Stage one over slices, the stage-two window, ROI and fusion, with fake runners of known output."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pipeline_fakes import (
    CLASSES,
    FEATURES,
    FOREGROUND_CLASS,
    ConstantStageTwo,
    EchoStageTwo,
    RecordingRunner,
    ThresholdStageOne,
    stage_one_runners,
    stage_two_runners,
)

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid
from spine_rt.patching.array_backend import NumpyBackend
from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.pipelines.schedules.roi import stage_one_roi
from spine_rt.pipelines.schedules.stage_one import run_stage_one, slice_triplets
from spine_rt.pipelines.stage_runners import pair_folds
from spine_rt.patching import windows_touching
from spine_rt.pipelines.schedules.stage_two import Fusion, labels_from_probabilities, run_stage_two


def test_slice_triplets_repeat_the_edge_slices():
    volume = np.stack([np.full((4, 4), z, np.float32) for z in range(5)], axis=-1)
    triplets = slice_triplets(volume)
    assert triplets.shape == (5, 3, 4, 4)
    assert [tuple(triplets[z, :, 0, 0]) for z in range(5)] == [(0, 0, 1), (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 4)]


@pytest.mark.parametrize("slices, batch", [(12, 8), (7, 4), (3, 8)])
def test_stage_one_runs_each_slice_once_in_fixed_batches(slices, batch):
    recorder = RecordingRunner(ThresholdStageOne())
    volume = np.random.default_rng(0).random((48, 100, slices)).astype(np.float32) * 2
    run = run_stage_one(volume, stage_one_runners([recorder], patch=(64, 128)), batch, resolution_factor=2)
    assert run.windows_per_slice == 1
    assert len(recorder.calls) == run.calls == math.ceil(slices / batch)
    assert all(call["slices"] == (batch, 3, 64, 128) for call in recorder.calls)
    maps = run.maps[0]
    assert maps.probabilities.shape == (CLASSES, 48, 100, slices)
    assert maps.features.shape == (FEATURES, 12, 25, slices)
    # the slice was centred in the patch and the padding cropped off: its answer comes back in place
    expected = (volume > 1.0).astype(np.float32)
    np.testing.assert_allclose(maps.probabilities[FOREGROUND_CLASS], expected, atol=1e-5)


def test_stage_one_tiles_slices_larger_than_its_patch_and_runs_every_fold():
    folds = [RecordingRunner(ThresholdStageOne(0.5)), RecordingRunner(ThresholdStageOne(1.5))]
    volume = np.random.default_rng(1).random((96, 160, 4)).astype(np.float32) * 2
    run = run_stage_one(volume, stage_one_runners(folds, patch=(64, 128)), 4, resolution_factor=2)
    assert run.windows_per_slice == 4  # 2 x 2 windows per slice
    assert len(folds[0].calls) == len(folds[1].calls) == run.calls == 4
    np.testing.assert_allclose(run.maps[0].probabilities[FOREGROUND_CLASS], volume > 0.5, atol=1e-5)
    np.testing.assert_allclose(run.maps[1].probabilities[FOREGROUND_CLASS], volume > 1.5, atol=1e-5)


def _maps(probabilities_half: np.ndarray, factor: int = 2) -> StageOneMaps:
    _, size_x, size_y, size_z = probabilities_half.shape
    features = np.zeros((FEATURES, size_x // 4, size_y // 4, size_z), np.float32)
    return StageOneMaps(probabilities_half, features, factor, 4 * factor)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.moveaxis(np.eye(CLASSES, dtype=np.float32)[labels], -1, 0)


def test_stage_two_gets_fixed_batches_with_both_inputs_at_their_resolutions():
    recorder = RecordingRunner(EchoStageTwo())
    labels = np.zeros((64, 96, 12), np.int64)
    labels[10:30, 20:60, 3:9] = 7
    volume = np.random.default_rng(2).random((128, 192, 12)).astype(np.float32)
    run = run_stage_two(volume, [_maps(_one_hot(labels))], stage_two_runners([recorder]), [0], batch_size=4,
                        alignment=(8, 8, 1))
    assert run.windows_total == run.windows_run == 3 * 5
    assert len(recorder.calls) == run.calls == 4  # 15 windows in batches of 4, the last one padded
    assert all(call == {"image": (4, 21, 64, 64, 12), "stage_one_features": (4, FEATURES, 16, 16, 12)}
               for call in recorder.calls)
    assert run.covered.all()
    # the echo gives stage one's labels back at full resolution
    full_labels = np.repeat(np.repeat(labels, 2, 0), 2, 1)
    assert (labels_from_probabilities(run.probabilities) == full_labels).mean() > 0.99


def test_windows_outside_the_roi_do_not_run():
    recorder = RecordingRunner(ConstantStageTwo(3))
    volume = np.zeros((128, 192, 12), np.float32)
    roi = np.zeros(volume.shape, bool)
    roi[0:10, 0:10, 0] = True  # touches only the first window
    maps = _maps(np.zeros((CLASSES, 64, 96, 12), np.float32))
    run = run_stage_two(volume, [maps], stage_two_runners([recorder]), [0], batch_size=2, roi=roi,
                        alignment=(8, 8, 1))
    assert run.windows_run == 1 and run.windows_total == 15
    assert len(recorder.calls) == 1 and recorder.calls[0]["image"][0] == 1  # batch 2 clamped to the 1 window
    assert run.covered[:64, :64].all() and not run.covered[64:].any() and not run.covered[:, 64:].any()


@pytest.mark.parametrize("roi_rows", [None, (0, 10), ()])
def test_rows_consumer_gets_every_row_once_in_order(roi_rows):
    volume = np.zeros((128, 64, 12), np.float32)
    roi = None
    if roi_rows is not None:
        roi = np.zeros(volume.shape, bool)
        if roi_rows:
            roi[slice(*roi_rows)] = True
    maps = _maps(np.zeros((CLASSES, 64, 32, 12), np.float32))
    seen = []

    def consume(rows, probabilities, covered):
        seen.append((rows.start, rows.stop))
        assert probabilities.shape == (CLASSES, rows.stop - rows.start, 64, 12) and covered.shape == probabilities.shape[1:]
        assert (probabilities[3][covered] > 0.99).all() and (probabilities[:, ~covered] == 0).all()

    run = run_stage_two(volume, [maps], stage_two_runners([ConstantStageTwo(3)]), [0], 2, roi=roi,
                        alignment=(8, 8, 1), rows_consumer=consume)
    assert run.probabilities is None
    assert seen[0][0] == 0 and seen[-1][1] == 128 and all(a[1] == b[0] for a, b in zip(seen, seen[1:]))


def test_no_roi_voxel_means_no_stage_two_call():
    recorder = RecordingRunner(ConstantStageTwo(3))
    maps = _maps(np.zeros((CLASSES, 32, 32, 12), np.float32))
    run = run_stage_two(np.zeros((64, 64, 12), np.float32), [maps], stage_two_runners([recorder]), [0], 4,
                        roi=np.zeros((64, 64, 12), bool))
    assert run.probabilities is None and run.windows_run == 0 and not recorder.calls


def test_windows_touching_matches_a_direct_check():
    rng = np.random.default_rng(4)
    roi = rng.random((40, 50, 7)) > 0.999
    grid = PatchGrid.plan(roi.shape, (16, 16, 4), overlap=0.5)
    _, lo, hi = grid.window_boxes()
    direct = [i for i in range(len(grid)) if roi[tuple(slice(a, b) for a, b in zip(lo[i], hi[i]))].any()]
    assert windows_touching(grid, roi).tolist() == direct


def test_stage_two_folds_are_averaged():
    volume = np.zeros((64, 64, 12), np.float32)
    maps = _maps(np.zeros((CLASSES, 32, 32, 12), np.float32))
    run = run_stage_two(volume, [maps], stage_two_runners([ConstantStageTwo(2), ConstantStageTwo(4)]), [0, 0], 1)
    probabilities = run.probabilities[:, 0, 0, 0]
    assert probabilities[2] == pytest.approx(probabilities[4]) and probabilities[2] == pytest.approx(0.5, abs=1e-3)


def test_roi_is_the_dilated_foreground_at_full_resolution():
    probabilities = np.zeros((CLASSES, 40, 40, 5), np.float32)
    probabilities[0] = 1.0
    probabilities[0, 20, 20, 2] = 0.0
    probabilities[9, 20, 20, 2] = 1.0
    roi = stage_one_roi(probabilities, (0.6896, 0.6896, 4.4), margin_mm=3.0, resolution_factor=2)
    assert roi.shape == (80, 80, 5)
    assert roi[40, 40, 2] and roi[41, 41, 2]
    assert roi[40 + 2 * 4, 40, 2] and not roi[40 + 2 * 5, 40, 2]  # 4 voxels = 2.76 mm inside, 5 = 3.45 mm outside
    assert not roi[40, 40, 1]  # the next slice is 4.4 mm away
    assert not stage_one_roi(np.eye(CLASSES)[[0]].reshape(CLASSES, 1, 1, 1) * np.ones((1, 4, 4, 2)),
                             (1, 1, 1), 5.0, 2).any()


def test_fusion_takes_stage_two_where_it_ran_and_stage_one_elsewhere():
    stage_two = np.zeros((3, 4, 2, 1), np.float32)
    stage_two[2] = 1.0  # stage two says class 2 everywhere it ran
    covered = np.zeros((4, 2, 1), bool)
    covered[:2] = True
    stage_one = np.zeros((3, 4, 2, 1), np.float32)
    stage_one[1] = 1.0  # stage one says class 1

    asked = []

    def rows(selection: slice) -> np.ndarray:
        asked.append((selection.start, selection.stop))
        return stage_one[:, selection]

    def fuse(stage_two, covered):  # two rows at a time, as the merger hands them over
        fusion = Fusion(NumpyBackend(), covered.shape, rows)
        for first in (0, 2):
            fusion(slice(first, first + 2), stage_two[:, first:first + 2], covered[first:first + 2])
        return fusion.labels

    assert fuse(stage_two.copy(), covered)[:, 0, 0].tolist() == [2, 2, 1, 1]
    assert asked == [(2, 4)]  # rows covered by stage two never ask for stage one
    only_stage_one = fuse(np.zeros_like(stage_two), np.zeros((4, 2, 1), bool))  # stage two did not run
    assert only_stage_one.max() == 1


def test_fold_pairing():
    one = stage_one_runners([ThresholdStageOne()])
    two = stage_two_runners([EchoStageTwo(), EchoStageTwo()])
    assert pair_folds(one, two) == (0, 0)
    assert pair_folds(stage_one_runners([ThresholdStageOne()] * 2), two) == (0, 1)
    with pytest.raises(InputError, match="cannot be paired"):
        pair_folds(stage_one_runners([ThresholdStageOne()] * 3),
                   stage_two_runners([EchoStageTwo()] * 4))


@pytest.mark.parametrize("folds", [1, 2])
def test_host_threads_give_the_sequential_result(folds):
    """Feeds built and outputs blended on worker threads: the same probabilities, coverage and rows, in order."""
    rng = np.random.default_rng(7)
    volume = rng.random((160, 96, 12)).astype(np.float32)
    half = rng.random((CLASSES, 80, 48, 12)).astype(np.float32)
    maps = _maps(half / half.sum(axis=0, keepdims=True))
    roi = np.zeros(volume.shape, bool)
    roi[20:130, 10:70] = True
    runs, rows = {}, {}
    for threads in (False, True):
        stage = stage_two_runners([EchoStageTwo(noise=0.3) for _ in range(folds)])
        runs[threads] = run_stage_two(volume, [maps], stage, [0] * folds, 3, roi=roi, alignment=(8, 8, 1),
                                      host_threads=threads)
        seen = []
        run_stage_two(volume, [maps], stage, [0] * folds, 3, roi=roi, alignment=(8, 8, 1), host_threads=threads,
                      rows_consumer=lambda r, p, c, seen=seen: seen.append((r.start, r.stop, p.sum(), c.sum())))
        rows[threads] = seen
    assert runs[True].calls == runs[False].calls > 2
    np.testing.assert_array_equal(runs[True].probabilities, runs[False].probabilities)
    np.testing.assert_array_equal(runs[True].covered, runs[False].covered)
    assert rows[True] == rows[False]


def test_stage_one_stitched_on_a_worker_thread_gives_the_sequential_maps():
    """Tiled slices (overlapping Gaussian windows), two folds, batches handed out in two steps as the slab loop
    does: stitching on a worker thread gives the same maps, fold mean and call count; every batch is stitched
    when the step's generator ends; a runner output of the wrong shape raises in the caller."""
    from spine_rt.pipelines.schedules.stage_one import StageOne

    rng = np.random.default_rng(5)
    volume = rng.random((96, 160, 5)).astype(np.float32) * 2
    grid = PatchGrid.plan((96, 160), (64, 128), overlap=0.25, alignment=4)
    runs = {}
    for threads in (False, True):
        one = StageOne(stage_one_runners([ThresholdStageOne(0.5), ThresholdStageOne(1.5)], patch=(64, 128)),
                       volume, 1, grid, 3, host_threads=threads)
        assert one.host_threads is threads
        split = one.batches() // 2
        one.run(range(split))
        assert one.calls == split  # the first step's batches are all stitched when it returns
        one.run(range(split, one.batches()))
        assert one._input is None  # the downsampled input is released after the last batch's feed (host)
        runs[threads] = one
    assert runs[True].calls == runs[False].calls == runs[True].batches() > 3
    for (p1, f1), (p0, f0) in zip(runs[True].outputs(), runs[False].outputs()):
        np.testing.assert_array_equal(p1, p0)
        np.testing.assert_array_equal(f1, f0)
    np.testing.assert_array_equal(runs[True].fold_mean(slice(0, 48)), runs[False].fold_mean(slice(0, 48)))

    class ShortStageOne(ThresholdStageOne):
        def infer(self, feed):
            outputs = super().infer(feed)
            return {"probabilities": outputs["probabilities"][..., :-4], "features": outputs["features"]}

    broken = StageOne(stage_one_runners([ShortStageOne()], patch=(64, 128)), volume, 1, grid, 3, host_threads=True)
    with pytest.raises(InputError, match="stage one returned"):
        broken.run(range(broken.batches()))


def test_an_error_in_a_host_thread_reaches_the_caller():
    class BrokenStageTwo(ConstantStageTwo):
        def infer(self, feed):
            logits = super().infer(feed)["logits"]
            return {"logits": logits[:, :, :-1]}  # one row short: the blending refuses it

    volume = np.zeros((64, 64, 12), np.float32)
    maps = _maps(np.zeros((CLASSES, 32, 32, 12), np.float32))
    with pytest.raises(InputError, match="stage two returned"):
        run_stage_two(volume, [maps], stage_two_runners([BrokenStageTwo(3)]), [0], 1, host_threads=True)


def test_roi_foreground_is_argmax_not_background_with_ties_to_background():
    rng = np.random.default_rng(9)
    probabilities = rng.random((CLASSES, 6, 5, 3)).astype(np.float32)
    probabilities[:, :2] = 0.5  # every class tied: argmax picks the background
    probabilities[0, 3] = 2.0
    roi = stage_one_roi(probabilities, (1.0, 1.0, 1.0), 0.0, 1)
    np.testing.assert_array_equal(roi, probabilities.argmax(axis=0) != 0)
    assert not roi[:2].any() and not roi[3].any() and roi.any()


def test_float16_maps_hold_stage_one_in_half_the_bytes_within_float16_rounding():
    """Tiled slices (overlapping windows, Gaussian blending) and two folds: the maps and the fold mean are
    float16, half the float32 bytes, and equal to the float32 ones within float16's rounding."""
    from spine_rt.pipelines.schedules.stage_one import StageOne

    rng = np.random.default_rng(3)
    volume = rng.random((96, 160, 5)).astype(np.float32) * 2
    grid = PatchGrid.plan((96, 160), (64, 128), overlap=0.25, alignment=4)
    runs = {}
    for dtype in ("float32", "float16"):
        one = StageOne(stage_one_runners([ThresholdStageOne(0.5), ThresholdStageOne(1.5)], patch=(64, 128)),
                       volume, 1, grid, 4, maps_dtype=dtype)
        one.run(range(one.batches()))
        runs[dtype] = one
    half, full = runs["float16"], runs["float32"]
    for (p16, f16), (p32, f32) in zip(half.outputs(), full.outputs()):
        assert p16.dtype == f16.dtype == np.float16 and p32.dtype == np.float32
        assert p16.nbytes * 2 == p32.nbytes
        np.testing.assert_allclose(p16.astype(np.float32), p32, atol=1e-3)
        np.testing.assert_allclose(f16.astype(np.float32), f32, rtol=2e-3, atol=1e-3)
    assert half.fold_mean(slice(0, 96)).dtype == np.float16
    np.testing.assert_allclose(half.fold_mean(slice(0, 96)).astype(np.float32), full.fold_mean(slice(0, 96)), atol=1e-3)
    np.testing.assert_array_equal(half.foreground(slice(0, 96)), full.foreground(slice(0, 96)))
    with pytest.raises(InputError, match="unknown stage-one maps dtype 'float64'"):
        StageOne(stage_one_runners([ThresholdStageOne()], patch=(64, 128)), volume, 1, grid, 4, maps_dtype="float64")


@pytest.mark.parametrize("threads", [False, True])
def test_a_batch_spanning_two_window_rows_keeps_the_bounded_merger_at_one_patch_height(threads, monkeypatch):
    """Rows above a window row are finalised before its first window lands, inside a batch too: the bounded
    merger never holds more than one patch height (it grew to patch + stride before), with the same rows."""
    from spine_rt.patching import RowMerger

    rng = np.random.default_rng(11)
    volume = rng.random((160, 96, 12)).astype(np.float32)
    half = rng.random((CLASSES, 80, 48, 12)).astype(np.float32)
    maps = _maps(half / half.sum(axis=0, keepdims=True))
    allocated: list[int] = []
    allocate = RowMerger._allocate

    def recorded(self, rows):
        if self._bounded:
            allocated.append(rows)
        return allocate(self, rows)

    monkeypatch.setattr(RowMerger, "_allocate", recorded)
    stage = stage_two_runners([EchoStageTwo(noise=0.3)])
    patch = tuple(stage.patch_size)
    full = run_stage_two(volume, [maps], stage, [0], 3, alignment=(8, 8, 1), host_threads=threads)
    blocks = np.zeros_like(full.probabilities)

    def keep(rows, probabilities, covered):
        blocks[:, rows] = probabilities

    bounded = run_stage_two(volume, [maps], stage, [0], 3, alignment=(8, 8, 1), host_threads=threads,
                            rows_consumer=keep)
    windows_per_row = len(PatchGrid.plan(volume.shape, patch, overlap=0.5, alignment=(8, 8, 1)).axis_starts[1])
    assert windows_per_row % 3 != 0 and bounded.calls > 2  # some batches hold windows of two window rows
    assert allocated and max(allocated) == patch[0]
    np.testing.assert_array_equal(blocks, full.probabilities)


def test_the_fold_mean_is_computed_on_request_and_its_full_resolution_rows_equal_the_whole_maps():
    """No ``(Z, C, X/f, Y/f)`` mean is held beside the folds' maps: the mean of any rows equals the mean of the
    whole maps cropped, and the fusion's full-resolution rows sampled from a band of it equal those sampled
    from the whole mean (blocks at the map's edges, inside, and of odd offsets)."""
    from spine_rt.pipelines.schedules.maps import full_resolution_rows
    from spine_rt.pipelines.schedules.sampling import sample_in_plane
    from spine_rt.pipelines.schedules.stage_one import StageOne

    rng = np.random.default_rng(4)
    volume = rng.random((96, 160, 5)).astype(np.float32) * 2
    grid = PatchGrid.plan((96, 160), (64, 128), overlap=0.25, alignment=4)
    one = StageOne(stage_one_runners([ThresholdStageOne(0.5), ThresholdStageOne(1.5), ThresholdStageOne(1.0)],
                                     patch=(64, 128)), volume, 1, grid, 4)
    one.run(range(one.batches()))
    maps = [probabilities for probabilities, _ in one.outputs()]
    whole = (maps[0] + maps[1] + maps[2]) / 3
    assert not any(np.shares_memory(one.fold_mean(slice(0, 96)), m) for m in maps)  # a new array, made on request
    np.testing.assert_array_equal(one.fold_mean(slice(10, 30)), whole[:, :, 10:30])
    single = StageOne(stage_one_runners([ThresholdStageOne(0.5)], patch=(64, 128)), volume, 1, grid, 4)
    single.run(range(single.batches()))
    assert np.shares_memory(single.fold_mean(slice(3, 9)), single.outputs()[0][0])  # one fold: its own rows

    mean_xyz = np.moveaxis(whole, 0, -1)  # (C, X/f, Y/f, Z)
    for rows in (slice(0, 16), slice(16, 32), slice(7, 61), slice(175, 192), slice(0, 192)):
        banded = full_resolution_rows(lambda band: np.moveaxis(one.fold_mean(band), 0, -1), 2, rows, 320, 96)
        from_whole = full_resolution_rows(lambda band: mean_xyz[:, band], 2, rows, 320, 96)
        direct = sample_in_plane(mean_xyz, 2, (rows.start, 0), (rows.stop - rows.start, 320), 1)
        np.testing.assert_array_equal(banded, direct)
        np.testing.assert_array_equal(from_whole, direct)
