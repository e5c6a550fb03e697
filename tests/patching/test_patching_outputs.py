"""OutputLayout (structure and scale of predictor outputs) and the slab consumers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.patching import ArgmaxWriter, ArrayWriter, OutputLayout


def test_single_array_layout():
    layout = OutputLayout.inspect(np.zeros((4, 3, 16, 16)), 4, (16, 16))
    (spec,) = layout.specs
    assert spec.key is None and spec.channels == 3 and spec.scale == (1, 1)
    assert layout.pack(["volume"]) == "volume"


def test_tuple_layout_with_quarter_resolution_features():
    returned = (np.zeros((2, 64, 4, 8, 8)), np.zeros((2, 20, 16, 32, 32)))
    layout = OutputLayout.inspect(returned, 2, (16, 32, 32))
    features, logits = layout.specs
    assert features.scale == (Fraction(1, 4),) * 3 and features.channels == 64
    assert logits.scale == (1, 1, 1) and logits.window_shape == (16, 32, 32)
    assert layout.pack(["f", "l"]) == ("f", "l")
    assert len(layout.flatten(returned, call=2)) == 2


def test_dict_layout_and_per_output_options():
    returned = {"features": np.zeros((1, 8, 2, 2)), "logits": np.zeros((1, 3, 8, 8))}
    layout = OutputLayout.inspect(returned, 1, (8, 8))
    assert layout.pack([1, 2]) == {"features": 1, "logits": 2}
    is_number = lambda v: v is None or isinstance(v, float)  # noqa: E731
    assert layout.per_output(0.5, "fill", is_number) == [0.5, 0.5]
    assert layout.per_output({"logits": 1.0}, "fill", is_number) == [None, 1.0]
    with pytest.raises(InputError, match="unknown outputs"):
        layout.per_output({"probabilities": 1.0}, "fill", is_number)


def test_later_call_with_another_structure_is_refused():
    layout = OutputLayout.inspect((np.zeros((1, 1, 4)), np.zeros((1, 1, 4))), 1, (4,))
    with pytest.raises(InputError, match="different structure"):
        layout.flatten(np.zeros((1, 1, 4)), call=2)


def test_array_writer_casts_into_the_given_array():
    out = np.zeros((1, 2, 6, 3), np.float16)
    writer = ArrayWriter(out)
    writer(slice(0, 4), np.ones((1, 2, 4, 3), np.float32))
    writer(slice(4, 6), np.full((1, 2, 2, 3), 2.0, np.float32))
    assert out.dtype == np.float16 and np.all(out[:, :, :4] == 1) and np.all(out[:, :, 4:] == 2)


def test_argmax_writer_writes_labels():
    labels = np.zeros((1, 5, 2), np.uint8)
    block = np.zeros((1, 3, 5, 2), np.float32)
    block[0, 2, :3] = 1.0
    block[0, 1, 3:] = 1.0
    ArgmaxWriter(labels)(slice(0, 5), block)
    np.testing.assert_array_equal(labels[0, :, 0], [2, 2, 2, 1, 1])
