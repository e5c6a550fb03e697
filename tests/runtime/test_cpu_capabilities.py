"""CPU capabilities from /proc/cpuinfo text, and the OpenVINO model-cache key built from them."""

from __future__ import annotations

from spine_rt.runtime.cpu_capabilities import CpuCapabilities, cpu_capabilities, parse_cpuinfo
from spine_rt.runtime.openvino_cache import cache_key, default_cache_root

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: ignored (first processor counts)
"""
EPYC_ZEN4 = "model name : AMD EPYC 9654\nflags : fpu avx2 avx512f avx512_bf16\n"
SKYLAKE = "model name : Intel(R) Xeon(R) Gold 6148\nflags : fpu avx2 avx512f\n"


def test_parse_flags():
    spr = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert spr.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert (spr.avx2, spr.avx512, spr.avx512_bf16, spr.amx, spr.native_bf16) == (True, True, True, True, True)
    zen4 = parse_cpuinfo(EPYC_ZEN4)
    assert (zen4.avx512_bf16, zen4.amx, zen4.native_bf16) == (True, False, True)
    skylake = parse_cpuinfo(SKYLAKE)
    assert (skylake.avx512, skylake.native_bf16) == (True, False)


def test_amx_needs_both_tile_and_bf16_flags():
    assert parse_cpuinfo("flags : amx_tile amx_int8\n").amx is False


def test_unreadable_flags_are_unknown_not_false():
    unknown = parse_cpuinfo("")
    assert unknown.avx512 is None and unknown.native_bf16 is None
    assert unknown.key_text().endswith("|unknown-flags")


def test_this_machine_reports_something():
    here = cpu_capabilities()
    assert isinstance(here, CpuCapabilities) and here.model
    assert set(here.as_dict()) >= {"model", "avx512", "avx512_bf16", "amx", "native_bf16"}


def test_cache_key_changes_with_each_part():
    spr = parse_cpuinfo(SAPPHIRE_RAPIDS)
    base = cache_key("a" * 64, "2026.4.1", spr, "fp32")
    variants = [cache_key("b" * 64, "2026.4.1", spr, "fp32"), cache_key("a" * 64, "2026.5.0", spr, "fp32"),
                cache_key("a" * 64, "2026.4.1", parse_cpuinfo(SKYLAKE), "fp32"),
                cache_key("a" * 64, "2026.4.1", spr, "bf16")]
    keys = {base.key()} | {variant.key() for variant in variants}
    assert len(keys) == 5 and all(len(key) == 16 for key in keys)
    assert base.key() == cache_key("a" * 64, "2026.4.1", parse_cpuinfo(SAPPHIRE_RAPIDS), "fp32").key()


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("SPINE_RT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "spine-rt"
