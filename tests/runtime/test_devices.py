from __future__ import annotations

import pytest

from spine_rt.errors import InputError
from spine_rt.runtime.devices import cuda_index, normalize_device


@pytest.mark.parametrize(
    ("text", "canonical"), [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0"), ("cuda:3", "cuda:3"), (" cpu ", "cpu")]
)
def test_valid_devices_are_normalised(text, canonical):
    assert normalize_device(text) == canonical


@pytest.mark.parametrize("text", ["gpu0", "GPU:0", "cuda:", "cuda:-1", "cuda:x", "CUDA:0", "cuda0", ""])
def test_invalid_devices_list_the_valid_spellings(text):
    with pytest.raises(InputError, match=r"valid devices: cpu, cuda, cuda:N"):
        normalize_device(text)


def test_non_string_device_is_an_input_error():
    with pytest.raises(InputError, match="must be a string"):
        normalize_device(0)


def test_cuda_index():
    assert cuda_index("cpu") is None
    assert cuda_index("cuda") == 0
    assert cuda_index("cuda:2") == 2
