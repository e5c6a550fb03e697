"""``StreamLanes``: where the device fast schedule queues its work: two CUDA streams, or in order.

Three lanes: ``copy`` (host-to-device uploads from pinned memory), ``one``
(stage one) and ``two`` (stage two). With ``two_streams`` on a CUDA device
each lane is its own ``torch.cuda.Stream`` and work is ordered between them
only by CUDA events (``record_event`` / ``wait_event``), so stage one of
slab ``k + 1`` and stage two of slab ``k`` run at the same time; nothing here
calls ``torch.cuda.synchronize``. In order mode on a CUDA device (one stream
asked for) all three lanes share one dedicated stream (not the legacy default
stream 0, on which TensorRT cannot capture CUDA graphs), and :meth:`record`
still records real events on it: the host waits for one before it reads the
stage-one foreground that a non-blocking copy is writing into pinned memory.
On CPU tensors there are no streams and the event methods do nothing: the
same calls in the same order run one after the other, which is how the slab
logic is tested without a GPU. :func:`lane_streams` decides which lane gets
which stream.

Memory across streams: a tensor made on one lane and read on another is
passed to :meth:`StreamLanes.share`, which ``record_stream``-s it so torch's
caching allocator does not hand its memory out again before the reading
lane is done with it.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from spine_rt.dependencies import require

torch = require("torch", "the device fast schedule")

LANES = ("copy", "one", "two")

#: the one stream every lane shares in order mode on a CUDA device
ORDER_STREAM = "order"


def lane_streams(device_type: str, two_streams: bool) -> dict[str, str]:
    """Lane name -> name of the CUDA stream it runs on (empty where there are no streams: CPU tensors).

    Two streams on CUDA: one stream per lane. Order mode on CUDA: every lane on
    :data:`ORDER_STREAM`, so events are still recorded (the host waits for the
    foreground copy) and runners are never given the legacy default stream.
    """
    if device_type != "cuda":
        return {}
    return {name: (name if two_streams else ORDER_STREAM) for name in LANES}


class StreamLanes:
    """The lanes of one prediction on ``device`` (see the module docstring).

    Args:
        device: a ``torch.device``.
        two_streams: separate CUDA streams per lane (CUDA devices only).
        cache: the streams are made once and kept here (keyed by device), so
            every prediction of one schedule uses the same streams: a TensorRT
            runner keeps one execution context per stream it is given.
    """

    def __init__(self, device: Any, two_streams: bool, cache: dict[Any, dict[str, Any]] | None = None) -> None:
        self.device = device
        self.two_streams = bool(two_streams) and device.type == "cuda"
        self._origin = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self._streams: dict[str, Any] = {}
        plan = lane_streams(device.type, self.two_streams)
        if plan:
            cache = {} if cache is None else cache
            made = cache.setdefault(str(device), {})
            for name in sorted(set(plan.values())):
                if name not in made:
                    made[name] = torch.cuda.Stream(device=device)
            self._streams = {lane: made[stream] for lane, stream in plan.items()}

    def _distinct(self) -> list[Any]:
        """Each stream once (order mode: the one shared stream)."""
        unique: dict[int, Any] = {}
        for stream in self._streams.values():
            unique.setdefault(id(stream), stream)
        return list(unique.values())

    def start(self) -> None:
        """Every lane waits for the work queued so far on the caller's stream (the buffers made before)."""
        for stream in self._distinct():
            stream.wait_stream(self._origin)

    def lane(self, name: str) -> Any:
        """Context manager that makes lane ``name`` torch's current stream (a null context on CPU tensors)."""
        stream = self._streams.get(name)
        return torch.cuda.stream(stream) if stream is not None else nullcontext()

    def stream(self, name: str) -> Any:
        """The CUDA stream of lane ``name`` (``None`` on CPU tensors)."""
        return self._streams.get(name)

    def record(self, name: str) -> Any:
        """An event recorded on lane ``name`` now (``None`` on CPU tensors, where work is already done)."""
        stream = self._streams.get(name)
        return stream.record_event() if stream is not None else None

    def wait(self, name: str, event: Any) -> None:
        """Lane ``name`` waits (on the device, not the host) for ``event``."""
        stream = self._streams.get(name)
        if stream is not None and event is not None and self.two_streams:  # one stream is in order already
            stream.wait_event(event)

    def share(self, tensor: Any, *names: str) -> None:
        """``tensor`` is also used on lanes ``names``: keep its memory until their queued work is done."""
        for name in names:
            stream = self._streams.get(name)
            if stream is not None and self.two_streams:  # order mode: made and read on the same stream
                tensor.record_stream(stream)

    def join(self) -> None:
        """The caller's stream waits for every lane (no host synchronisation)."""
        for stream in self._distinct():
            self._origin.wait_stream(stream)


def host_wait(event: Any) -> None:
    """Block the host until ``event`` has happened (an event wait, not a device synchronisation)."""
    if event is not None:
        event.synchronize()
