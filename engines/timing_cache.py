"""TensorRT timing caches kept in a file: loaded before a build, merged and saved after it.

The timing cache records how fast each kernel tactic ran on this GPU, so a
second build of the same layers skips the measurements. ``TimingCacheFile``
loads the file when it exists (a missing file starts an empty cache), and
after the build merges what the file holds *now* (another build may have
saved meanwhile) into the builder's cache and writes the result atomically.

A cache is specific to a TensorRT version and GPU; the default file name
says both: ``PKG/engines/timing-caches/10.16.1.11-sm90.cache``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from spine_rt.atomic_write import write_bytes_atomic

LOG = logging.getLogger(__name__)

#: folder of the default timing caches inside a package's engine store.
TIMING_CACHE_FOLDER = "timing-caches"


def default_timing_cache_path(engines_root: Path, tensorrt_version: str, compute_capability: str) -> Path:
    """``engines_root/timing-caches/<TensorRT version>-sm<major><minor>.cache``."""
    architecture = compute_capability.replace(".", "")
    return Path(engines_root) / TIMING_CACHE_FOLDER / f"{tensorrt_version}-sm{architecture}.cache"


class TimingCacheFile:
    """A timing cache on disk, attached to one TensorRT builder configuration at a time.

    Args:
        path: the cache file; it need not exist yet.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._loaded = b""

    @property
    def loaded_bytes(self) -> int:
        """Size of the cache read from the file by the last :meth:`attach` (0: started empty)."""
        return len(self._loaded)

    def read(self) -> bytes:
        """The file's bytes, or ``b""`` when it does not exist yet."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def write(self, data: bytes) -> None:
        """Replace the file with ``data`` atomically."""
        write_bytes_atomic(self.path, data)

    def attach(self, config: Any) -> Any:
        """Create a timing cache from the file and set it on ``config`` (a ``tensorrt.IBuilderConfig``).

        A cache TensorRT rejects (another GPU or TensorRT version, a damaged
        file) is replaced by an empty one, with a warning; the file is then
        overwritten after the build.

        Returns:
            The ``tensorrt.ITimingCache`` now attached to ``config``.
        """
        self._loaded = self.read()
        cache = config.create_timing_cache(self._loaded)
        if cache is None or not config.set_timing_cache(cache, False):
            LOG.warning("TensorRT rejected the timing cache %s; starting an empty one", self.path)
            self._loaded = b""
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, False)
        return cache

    def save(self, config: Any) -> int:
        """Merge the file's current content into ``config``'s timing cache and write the result.

        Returns:
            The number of bytes written.
        """
        cache = config.get_timing_cache()
        if cache is None:
            return 0
        on_disk = self.read()
        if on_disk and on_disk != self._loaded:
            other = config.create_timing_cache(on_disk)
            if other is None or not cache.combine(other, False):
                LOG.warning("could not merge the timing cache %s written by another build; it is replaced", self.path)
        data = bytes(memoryview(cache.serialize()))
        self.write(data)
        self._loaded = data
        return len(data)
