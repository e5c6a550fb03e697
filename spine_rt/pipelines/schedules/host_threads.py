"""Whether the fast schedule's host work runs on worker threads beside the backend.

With ``host_threads`` on, :class:`~spine_rt.pipelines.schedules.stage_two.StageTwo`
builds the next batch's inputs and blends the previous batch's outputs on two
worker threads while the backend runs the current batch, and
:class:`~spine_rt.pipelines.schedules.stage_one.StageOne` stitches each batch's
windows on a worker while the next batch runs (same result). That
pays where a core is free for them, and costs one more batch of inputs and
outputs in memory (about 290 MB for 4 x 21 x 192 x 192 x 12 patches). The
default (``None``) turns it on when the process may use more than one CPU
core.
"""

from __future__ import annotations

from spine_rt.errors import InputError
from spine_rt.runtime.machine import usable_cores


def choose_host_threads(value: bool | None) -> bool:
    """``value`` itself, or for ``None`` whether more than one core is usable.

    Raises:
        InputError: anything but ``None``, ``True`` or ``False``.
    """
    if value is None:
        return usable_cores() > 1
    if not isinstance(value, bool):
        raise InputError(f"host_threads must be True, False or None (automatic), got {value!r}")
    return value
