from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.runtime.tensor_spec import TensorSpec


def test_spec_normalises_dtype_and_shape():
    spec = TensorSpec("image", [None, 21, np.int64(192)], "float32")
    assert spec.shape == (None, 21, 192)
    assert spec.dtype == np.dtype(np.float32)
    assert spec.rank == 3
    assert not spec.is_static
    assert TensorSpec("x", (1, 2), np.float32).is_static


def test_describe_names_dynamic_dims():
    spec = TensorSpec("image", (None, 21, 192, 192, 12), np.float32)
    assert spec.describe() == "float32 (N, 21, 192, 192, 12) [N dynamic]"
    assert TensorSpec("x", (None, 4, None), np.float16).describe() == "float16 (N, 4, d2) [N, d2 dynamic]"
    assert TensorSpec("x", (3,), np.int64).describe() == "int64 (3,)"
    assert TensorSpec("x", (), np.bool_).describe() == "bool ()"
    assert TensorSpec("x", None, None).describe() == "any dtype (any shape)"


def test_describe_uses_symbolic_names():
    spec = TensorSpec("x", (None, 3, None), np.float32, dim_names=("batch", None, "batch"))
    assert spec.describe() == "float32 (batch, 3, batch) [batch dynamic]"
    assert spec == TensorSpec("x", (None, 3, None), np.float32)  # labels are not part of equality


def test_mismatch_reasons():
    spec = TensorSpec("x", (None, 3), np.float32)
    assert spec.mismatch("float32", (5, 3)) is None
    assert spec.mismatch("float64", (5, 3)) == "dtype float64 is not float32"
    assert spec.mismatch("float32", (5, 3, 1)) == "rank 3 is not 2"
    assert spec.mismatch("float32", (5, 4)) == "axis 1 has size 4, expected 3"
    assert TensorSpec("y", None, None).mismatch("int8", (1, 2, 3)) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="", shape=(1,), dtype=np.float32), "non-empty string"),
        (dict(name="x", shape=(-1, 3), dtype=np.float32), "non-negative integers or None"),
        (dict(name="x", shape=(1.5,), dtype=np.float32), "non-negative integers or None"),
        (dict(name="x", shape=3, dtype=np.float32), "sequence of sizes"),
        (dict(name="x", shape=(1,), dtype="no-such-dtype"), "not a numpy dtype"),
        (dict(name="x", shape=(1,), dtype=np.float32, dim_names=("a", "b")), "do not match"),
    ],
)
def test_invalid_specs_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        TensorSpec(**kwargs)
