"""Between stage one (per slice) and stage two (per volume): stacking slices along ``Z``.

Stage one runs the slices of a volume as a batch, ``(N * Z, C, X, Y)`` with
the slices of each volume consecutive; stage two takes ``(N, C, X, Y, Z)``.
"""

from __future__ import annotations

import torch

from spine_rt.errors import InputError


def slices_to_volume(per_slice: torch.Tensor, num_slices: int) -> torch.Tensor:
    """``(N * Z, C, X, Y) -> (N, C, X, Y, Z)`` with ``Z = num_slices``.

    Raises:
        InputError: not rank 4, or the batch is not a multiple of ``num_slices``.
    """
    if per_slice.dim() != 4 or per_slice.shape[0] % num_slices:
        raise InputError(
            f"slices_to_volume: expected (N * {num_slices}, C, X, Y), got {tuple(per_slice.shape)}"
        )
    batch = per_slice.shape[0] // num_slices
    volume = per_slice.reshape(batch, num_slices, *per_slice.shape[1:])
    return volume.permute(0, 2, 3, 4, 1).contiguous()


def volume_to_slices(volume: torch.Tensor) -> torch.Tensor:
    """``(N, C, X, Y, Z) -> (N * Z, C, X, Y)``, the inverse of :func:`slices_to_volume`.

    Raises:
        InputError: not rank 5.
    """
    if volume.dim() != 5:
        raise InputError(f"volume_to_slices: expected (N, C, X, Y, Z), got {tuple(volume.shape)}")
    batch, channels, size_x, size_y, size_z = volume.shape
    return volume.permute(0, 4, 1, 2, 3).reshape(batch * size_z, channels, size_x, size_y)
