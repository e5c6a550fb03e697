"""Crop box, padding, intensity normalisation and in-plane sampling (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.pipelines.spine_mr.body_crop import CropBox
from spine_rt.pipelines.schedules.sampling import downsample_in_plane, sample_in_plane
from spine_rt.pipelines.spine_mr.intensity_normalization import normalize_intensity, tail_percentiles
from spine_rt.pipelines.spine_mr.volume_padding import VolumePadding


def test_crop_box_is_the_nonzero_extent_and_uncrop_restores_the_volume():
    volume = np.zeros((20, 30, 4), np.float32)
    volume[3:9, 10:25, 1] = 5.0
    box = CropBox.nonzero_extent(volume, axes=(0, 1))
    assert box.start == (3, 10, 0) and box.stop == (9, 25, 4)
    cropped = box.crop(volume)
    assert cropped.shape == (6, 15, 4)
    np.testing.assert_array_equal(box.uncrop(cropped), volume)


def test_uncrop_fills_one_value_per_channel():
    box = CropBox((4, 4, 1), (1, 1, 0), (3, 3, 1))
    probabilities = np.full((3, 2, 2, 1), 0.5, np.float32)
    full = box.uncrop(probabilities, fill=[1.0, 0.0, 0.0])
    assert full.shape == (3, 4, 4, 1)
    assert full[0, 0, 0, 0] == 1.0 and full[1, 0, 0, 0] == 0.0 and full[1, 1, 1, 0] == 0.5


def test_all_zero_volume_keeps_its_extent():
    box = CropBox.nonzero_extent(np.zeros((5, 6, 2)))
    assert box.shape == (5, 6, 2)


def test_padding_reaches_multiples_and_minimum_and_unpads_exactly():
    padding = VolumePadding.to_fit((100, 37, 5), multiple=(8, 8, 1), minimum=(64, 64, 12))
    assert padding.shape == (104, 64, 12)
    assert padding.widths == ((2, 2), (13, 14), (3, 4))
    values = np.random.default_rng(0).random((2, 100, 37, 5))
    padded = padding.pad(values)
    assert padded.shape == (2, 104, 64, 12) and padded[0, 0, 0, 0] == 0
    np.testing.assert_array_equal(padding.unpad(padded), values)


def test_intensity_normalisation_keeps_background_zero_and_zscores_the_rest():
    rng = np.random.default_rng(1)
    volume = np.zeros((30, 30, 3), np.float32)
    volume[5:25, 5:25] = rng.normal(100, 20, (20, 20, 3))
    volume[6, 6, 1] = 1e6  # an outlier: clipped away
    normalized, stats = normalize_intensity(volume)
    assert (normalized[volume == 0] == 0).all()
    inside = normalized[volume != 0]
    assert abs(inside.mean()) < 1e-4 and abs(inside.std() - 1) < 1e-3
    assert stats.clip_high < 1e6 and stats.nonzero_voxels == 1200


@pytest.mark.parametrize("kind", ["normal", "ties", "sorted", "reversed", "int16", "skewed", "constant_tail"])
def test_tail_percentiles_are_numpys_bit_for_bit(kind):
    # large enough for the candidate path (the small-array path is np.percentile itself)
    rng = np.random.default_rng(len(kind))
    n = 300_001
    values = {
        "normal": lambda: rng.normal(100, 30, n).astype(np.float32),
        "ties": lambda: rng.integers(0, 40, n).astype(np.float32),
        "sorted": lambda: np.sort(rng.random(n)).astype(np.float32),  # the strided sample sits at one end
        "reversed": lambda: np.sort(rng.random(n))[::-1].astype(np.float32),
        "int16": lambda: rng.integers(-3000, 3000, n).astype(np.int16),
        "skewed": lambda: rng.exponential(5, n) ** 3,
        "constant_tail": lambda: np.concatenate([np.zeros(n // 2), rng.random(n - n // 2)]).astype(np.float32),
    }[kind]()
    for q in [(0.5, 99.5), (0.0, 100.0), (1.0, 99.0), (25.0, 75.0), (0.01, 99.99)]:
        expected = tuple(float(v) for v in np.percentile(values.astype(np.float64), q))
        assert tail_percentiles(values, q) == expected, q


def test_tail_percentiles_fall_back_on_nan():
    values = np.random.default_rng(0).random(300_000)
    values[5] = np.nan
    assert all(np.isnan(v) for v in tail_percentiles(values, (0.5, 99.5)))


def test_normalisation_of_a_volume_without_zeros_equals_the_masked_path():
    rng = np.random.default_rng(3)
    volume = rng.normal(500, 100, (6, 300, 200)).astype(np.float32) + 1000  # no zero voxel: the reshape path
    normalized, stats = normalize_intensity(volume)
    values = np.clip(volume.astype(np.float64), *np.percentile(volume.astype(np.float64), (0.5, 99.5)))
    expected = ((values - values.mean()) / values.std()).astype(np.float32)
    np.testing.assert_array_equal(normalized, expected)
    assert stats.nonzero_voxels == volume.size
    volume[0, 0, 0] = 0  # one zero voxel: the masked path, same numbers elsewhere up to the changed statistics
    assert normalize_intensity(volume)[0][0, 0, 0] == 0


def test_empty_image_is_an_input_error():
    with pytest.raises(InputError, match="no non-zero voxel"):
        normalize_intensity(np.zeros((4, 4, 4)))


def test_downsample_averages_blocks():
    volume = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    half = downsample_in_plane(volume, 2)
    np.testing.assert_allclose(half[..., 0], [[2.5, 4.5], [10.5, 12.5]])


def test_sampling_a_box_equals_sampling_everything_then_cropping():
    rng = np.random.default_rng(2)
    values = rng.random((3, 16, 24, 5)).astype(np.float32)
    whole = sample_in_plane(values, 2, (0, 0), (32, 48), 1)
    for start in [(0, 0), (8, 16), (5, 7), (14, 30)]:
        size = (18, 18)
        box = sample_in_plane(values, 2, start, size, 1, slice(1, 4))
        np.testing.assert_allclose(box, whole[:, start[0] : start[0] + 18, start[1] : start[1] + 18, 1:4], atol=1e-6)


def test_upsampling_keeps_constants_and_interpolates_linearly():
    values = np.zeros((1, 4, 1, 1), np.float32)
    values[0, :, 0, 0] = [0, 2, 4, 6]  # a ramp at stride 2: centres at 0.5, 2.5, 4.5, 6.5
    full = sample_in_plane(values, 2, (0, 0), (8, 1), 1)[0, :, 0, 0]
    # full voxel j sits at stage-one coordinate j/2 - 1/4: linear in between, clamped at the edges
    np.testing.assert_allclose(full, [0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6])
    constant = np.full((2, 3, 3, 2), 7.0, np.float32)
    assert np.allclose(sample_in_plane(constant, 8, (4, 12), (5, 5), 4), 7.0)


def test_same_stride_sampling_is_a_copy():
    values = np.random.default_rng(3).random((2, 6, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(sample_in_plane(values, 4, (8, 4), (3, 4), 4), values[:, 2:5, 1:5])


def test_doubling_fast_path_equals_the_general_interpolation(monkeypatch):
    """Stride ratio 2 (stage one's probabilities and features for stage two) takes a gather-free path;
    it must give the general path's values on boxes inside, at and one voxel beyond the map's edges."""
    import spine_rt.pipelines.schedules.sampling as sampling

    rng = np.random.default_rng(5)
    cases = []
    for target_stride in (1, 2, 4):
        for lengths in [(1, 1), (2, 5), (7, 4), (9, 11)]:
            values = rng.random((3, *lengths, 2)).astype(np.float32)
            for start in [(0, 0), (1, 3), (-1, 0), (2 * lengths[0] - 3, 1)]:
                for size in [(1, 1), (4, 3), (2 * lengths[0] + 1, 2 * lengths[1] + 1)]:
                    begin = tuple(target_stride * s for s in start)
                    cases.append((values, 2 * target_stride, begin, size, target_stride))
    fast = [sample_in_plane(*case) for case in cases]
    taken = sum(sampling._doubles(case[0].shape[1:3], *case[1:]) for case in cases)
    assert 0 < taken < len(cases)  # both paths ran: boxes far beyond the map take the general one
    monkeypatch.setattr(sampling, "_doubles", lambda *args: False)
    for case, result in zip(cases, fast):
        general = sample_in_plane(*case)
        assert result.shape == general.shape
        np.testing.assert_allclose(result, general, atol=1e-6)


def test_sampling_into_a_given_buffer_returns_that_buffer():
    values = np.random.default_rng(6).random((4, 10, 12, 3)).astype(np.float32)
    batch = np.zeros((2, 5, 8, 6, 3), np.float32)
    returned = sample_in_plane(values, 2, (4, 2), (8, 6), 1, out=batch[1, 1:])
    assert returned.base is batch or returned is batch[1, 1:] or np.shares_memory(returned, batch)
    np.testing.assert_allclose(batch[1, 1:], sample_in_plane(values, 2, (4, 2), (8, 6), 1))
    assert not batch[0].any() and not batch[1, 0].any()
