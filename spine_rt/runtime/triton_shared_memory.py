"""System shared memory for the tensors of a :class:`~spine_rt.runtime.TritonRunner` and a server on this machine.

A request to a local server (``127.0.0.1``, ``localhost``) need not carry its
tensors over the socket: the runner writes the inputs into a POSIX
shared-memory region (``/dev/shm``), registers the region with the server
once, and asks the server to read the inputs from it and write the outputs
into it (Triton's system shared-memory extension, through
``tritonclient.utils.shared_memory``). Only names and offsets travel over
gRPC/HTTP.

Each request in flight holds one region (:class:`SharedMemoryRegions` keeps a
free list, so K threads use K regions); a region is registered with each
server the first time a request on it goes there, and unregistered and
removed on :meth:`SharedMemoryRegions.close`. Outputs are copied out of the
region before it is handed to the next request.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Region:
    """One shared-memory region: its registration name, its ``/dev/shm`` key, size and where it is registered."""

    name: str
    key: str
    byte_size: int
    handle: Any
    registered: dict[str, Any] = field(default_factory=dict)  # url -> the client it was registered with


class SharedMemoryRegions:
    """A free list of shared-memory regions of one runner (thread-safe)."""

    def __init__(self, label: str) -> None:
        import tritonclient.utils.shared_memory as shm

        self._shm = shm
        self._label = "".join(c if c.isalnum() else "_" for c in label)
        self._free: list[Region] = []
        self._all: list[Region] = []
        self._lock = threading.Lock()

    def take(self, byte_size: int) -> Region:
        """A region of at least ``byte_size`` bytes, for one request."""
        with self._lock:
            fitting = [r for r in self._free if r.byte_size >= byte_size]
            if fitting:
                region = min(fitting, key=lambda r: r.byte_size)
                self._free.remove(region)
                return region
        name = f"spine_rt_{os.getpid()}_{self._label}_{uuid.uuid4().hex[:8]}"
        handle = self._shm.create_shared_memory_region(name, f"/{name}", byte_size)
        region = Region(name, f"/{name}", byte_size, handle)
        with self._lock:
            self._all.append(region)
        return region

    def give_back(self, region: Region) -> None:
        """Return a region after its request finished (outputs copied out)."""
        with self._lock:
            self._free.append(region)

    def request(self, module: Any, client: Any, url: str, region: Region, arrays: Mapping[str, np.ndarray],
                outputs: Sequence[tuple[str, np.dtype, tuple[int, ...]]], triton_dtypes: Mapping[str, str]):
        """The ``(inputs, requested outputs, read)`` of one request through ``region``.

        ``read(result)`` returns the outputs as arrays of their own.
        """
        if url not in region.registered:
            client.register_system_shared_memory(region.name, region.key, region.byte_size)
            region.registered[url] = client
        self._shm.set_shared_memory_region(region.handle, list(arrays.values()))
        inputs, offset = [], 0
        for name, value in arrays.items():
            item = module.InferInput(name, list(value.shape), triton_dtypes[value.dtype.name])
            item.set_shared_memory(region.name, value.nbytes, offset)
            inputs.append(item)
            offset += value.nbytes
        requested, places = [], []
        for name, dtype, shape in outputs:
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            item = module.InferRequestedOutput(name)
            item.set_shared_memory(region.name, size, offset)
            requested.append(item)
            places.append((name, dtype, shape, offset))
            offset += size

        def read(result: Any) -> dict[str, np.ndarray]:
            answer = {}
            for name, dtype, shape, start in places:
                answered = result.get_output(name)
                if answered is None:
                    raise RuntimeError(f"the server answered no output {name!r}")
                answer[name] = np.array(self._shm.get_contents_as_numpy(region.handle, dtype, shape, start))
            return answer

        return inputs, requested, read

    @staticmethod
    def bytes_needed(arrays: Mapping[str, np.ndarray], outputs: Sequence[tuple[str, np.dtype, tuple[int, ...]]]) -> int:
        """Input bytes plus output bytes of one request."""
        return sum(a.nbytes for a in arrays.values()) + sum(int(np.prod(s)) * np.dtype(d).itemsize
                                                            for _, d, s in outputs)

    def close(self) -> None:
        """Unregister every region from the servers that know it and remove it from ``/dev/shm``."""
        with self._lock:
            regions, self._all, self._free = self._all, [], []
        for region in regions:
            for client in region.registered.values():
                try:
                    client.unregister_system_shared_memory(region.name)
                except Exception:  # a dead server forgot it already
                    pass
            try:
                self._shm.destroy_shared_memory_region(region.handle)
            except Exception:  # already removed
                pass
