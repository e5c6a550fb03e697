"""The slab plan of the device fast schedule (numpy only): what runs when, and that it may.

A stage-two window row may run only once every stage-one row it reads is
final. "Reads" is checked here with the host code itself: stage-one maps
whose not-yet-final rows are NaN are sampled for every window of the row
with :class:`~spine_rt.pipelines.schedules.maps.StageOneMaps`; a NaN in the
patch would mean the plan let stage two read an unfinished row. The ROI of
a band of rows (from the foreground of nearby rows only) must equal the
host's whole-volume ROI.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.pipelines.schedules.slabs import SlabPlan, roi_margin_rows
from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.pipelines.schedules.roi import stage_one_roi
from spine_rt.pipelines.schedules.roi import windows_in_roi
from spine_rt.patching import windows_touching

SPACING = (0.6896, 0.6896, 4.4)

#: (shape, stage-one patch, stage-two patch, batch sizes); the last is MRSpineSeg's geometry (1052 -> 1056 rows)
GEOMETRIES = [
    ((160, 128, 12), (64, 128), (64, 64, 12), (8, 4)),
    ((384, 128, 12), (64, 128), (64, 64, 12), (8, 4)),
    ((512, 256, 16), (64, 128), (64, 64, 12), (5, 3)),
    ((1056, 560, 12), (512, 256), (192, 192, 12), (8, 4)),
]


def _plan(geometry, margin_mm=20.0, roi=True, sliced=True):
    shape, one, two, (b1, b2) = geometry
    margin = roi_margin_rows(margin_mm, SPACING[0]) if roi else None
    return SlabPlan.build(shape, 2, one, two, b1, b2, 0.5, margin, sliced=sliced)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("roi", [True, False])
def test_stage_two_rows_read_only_final_stage_one_rows(geometry, roi):
    plan = _plan(geometry, roi=roi)
    half_x, half_y = plan.half_shape
    size_z = plan.slices
    grid = plan.stage_two_grid
    patch = grid.patch_size
    for slab, rows in enumerate(plan.stage_two_rows):
        final = plan.stage_one_final[slab]
        probabilities = np.zeros((1, half_x, half_y, size_z), np.float32)
        probabilities[:, final:] = np.nan
        features = np.zeros((1, half_x // 4, half_y // 4, size_z), np.float32)
        features[:, final // 4:] = np.nan  # stage-one starts and X/f are multiples of 4
        maps = StageOneMaps(probabilities, features, 2, 8)
        for row in rows:
            for window in plan.stage_two_row_windows(row):
                start = grid.window_starts()[window]
                assert np.isfinite(maps.patch_probabilities(start, patch)).all(), (slab, row)
                assert np.isfinite(maps.patch_features(start, patch)).all(), (slab, row)
                if roi:  # the foreground within the ROI margin of the patch is final too
                    stop = math.ceil((start[0] + patch[0]) / 2) + roi_margin_rows(20.0, SPACING[0])
                    assert min(stop, half_x) <= final
            # and not needlessly late: the previous slab could not have run this row
            if slab > 0:
                assert plan.stage_two_needs[row] > plan.stage_one_final[slab - 1]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_every_window_and_batch_runs_exactly_once_in_order(geometry):
    plan = _plan(geometry)
    rows = [r for slab_rows in plan.stage_two_rows for r in slab_rows]
    assert rows == list(range(plan.stage_two_grid.counts[0]))
    windows = np.concatenate([plan.stage_two_row_windows(r) for r in rows])
    np.testing.assert_array_equal(windows, np.arange(len(plan.stage_two_grid)))
    batches = [b for slab_batches in plan.stage_one_batches for b in slab_batches]
    assert batches == list(range(math.ceil(plan.stage_one_items / plan.stage_one_batch_size)))
    assert list(plan.stage_one_final) == sorted(plan.stage_one_final)
    assert plan.stage_one_final[-1] == plan.half_shape[0]
    # after slab k every item of stage-one window row k ran: its rows below the next row's start are final
    starts = plan.stage_one_grid.window_starts()
    done = 0
    for slab, slab_batches in enumerate(plan.stage_one_batches):
        for batch in slab_batches:
            done = max(done, plan.stage_one_batch_items(batch).stop)
        unfinished = [starts[plan.stage_one_item(i)[0]][0] for i in range(done, plan.stage_one_items)]
        assert all(start >= plan.stage_one_final[slab] for start in unfinished)
        # every volume row stage one and stage two read in this slab has been uploaded
        read = plan.stage_one_rows_read(slab) * plan.factor
        assert plan.volume_rows_needed(slab) >= min(read, plan.shape[0])


def test_unsliced_plan_is_one_slab_and_tall_volumes_get_several():
    assert _plan(GEOMETRIES[1], sliced=False).slabs == 1
    tall = _plan(GEOMETRIES[2]).describe()
    assert tall["slabs"] >= 3 and tall["slabs_with_stage_two"] >= 3


def test_mrspineseg_geometry_has_one_effective_slab():
    """Stage one's 512-row window covers 512 of the 528 half-resolution rows: nothing to overlap within a scan."""
    facts = _plan(GEOMETRIES[3]).describe()
    assert facts == {"slabs": 2, "slabs_with_stage_two": 1, "stage_one_window_rows": 2,
                     "stage_two_window_rows": facts["stage_two_window_rows"]}


@pytest.mark.parametrize("margin_mm", [0.0, 5.0, 20.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("geometry", [1, 2, 3])
def test_roi_by_bands_equals_the_whole_volume_roi(margin_mm, seed, geometry):
    """Windows chosen band by band on stage one's grid == the whole full-resolution ROI's windows."""
    plan = _plan(GEOMETRIES[geometry], margin_mm=margin_mm)
    half_x, half_y = plan.half_shape
    rng = np.random.default_rng(seed)
    probabilities = np.zeros((3, half_x, half_y, plan.slices), np.float32)
    probabilities[0] = 1.0
    for _ in range(seed + 1):  # a few foreground voxels: the ROI is some windows, not all
        x, y, z = (int(rng.integers(n)) for n in (half_x, half_y, plan.slices))
        probabilities[1 + seed % 2, x, y, z] = 2.0
    expected = windows_touching(plan.stage_two_grid, stage_one_roi(probabilities, SPACING, margin_mm, 2))
    foreground = probabilities.argmax(axis=0) != 0
    by_slab = [windows_in_roi(plan, rows, foreground, SPACING, margin_mm) for rows in plan.stage_two_rows]
    np.testing.assert_array_equal(np.concatenate(by_slab), expected)
    assert 0 < len(expected) and (geometry != 2 or len(expected) < len(plan.stage_two_grid))  # some, not all


def test_no_foreground_means_no_window():
    plan = _plan(GEOMETRIES[1])
    foreground = np.zeros((*plan.half_shape, plan.slices), bool)
    assert all(len(windows_in_roi(plan, rows, foreground, SPACING, 20.0)) == 0 for rows in plan.stage_two_rows)


@pytest.mark.parametrize("margin_mm", [0.0, 1.0, 2.9, 7.5, 20.0])
@pytest.mark.parametrize("density", [1e-4, 3e-3, 0.05])
def test_windows_near_foreground_equal_the_distance_transform_dilation(margin_mm, density):
    """Sparse to dense foreground, anisotropic spacing, a band that starts inside the image: the windows within
    the margin are exactly those touching the EDT dilation (whole image), and a band missing rows is refused."""
    from scipy import ndimage

    from spine_rt.patching import PatchGrid
    from spine_rt.pipelines.schedules.roi import windows_near_foreground

    rng = np.random.default_rng(int(margin_mm * 10 + density * 1e4))
    spacing = (0.6896, 0.6896, 4.4)
    image = (120, 90, 14)
    grid = PatchGrid.plan(image, (32, 32, 6), overlap=0.5, alignment=(4, 4, 1))
    for _ in range(4):
        foreground = rng.random(image) < density
        if margin_mm > 0 and foreground.any():
            distance = ndimage.distance_transform_edt(~foreground, sampling=spacing)
            roi = distance <= margin_mm
        else:
            roi = foreground
        expected = windows_touching(grid, roi)
        band = slice(24, 120)  # windows of rows >= 24 + reach: the band holds every row their margin reaches
        reach = int(np.floor(margin_mm / spacing[0])) if margin_mm > 0 else 0
        windows = np.array([w for w in range(len(grid)) if grid.window_starts()[w][0] >= band.start + reach])
        got = windows_near_foreground(grid, windows, foreground[band], band.start, spacing, margin_mm)
        np.testing.assert_array_equal(got, np.intersect1d(expected, windows))
        np.testing.assert_array_equal(windows_near_foreground(grid, np.arange(len(grid)), foreground, 0, spacing,
                                                              margin_mm), expected)
    with pytest.raises(ValueError, match="does not hold the windows' rows"):
        windows_near_foreground(grid, np.arange(len(grid)), np.ones((10, 90, 14), bool), 50, spacing, margin_mm)
