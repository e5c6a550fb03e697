"""The timing cache file: missing means empty, writes are atomic, default names say TensorRT and GPU."""

from __future__ import annotations

from pathlib import Path

from spine_rt.engines.tensorrt_build import TimingCacheFile, default_timing_cache_path


def test_missing_file_reads_empty(tmp_path):
    cache = TimingCacheFile(tmp_path / "none.cache")
    assert cache.read() == b"" and cache.loaded_bytes == 0


def test_write_then_read(tmp_path):
    cache = TimingCacheFile(tmp_path / "deep" / "trt.cache")
    cache.write(b"tactics")
    assert cache.read() == b"tactics"
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["trt.cache"]


def test_default_path_names_tensorrt_and_architecture():
    path = default_timing_cache_path(Path("pkg/engines"), "10.16.1.11", "9.0")
    assert path == Path("pkg/engines/timing-caches/10.16.1.11-sm90.cache")
