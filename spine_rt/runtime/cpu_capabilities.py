"""What this CPU offers the CPU engines: model name, AVX-512, AVX512_BF16, AMX.

Read from ``/proc/cpuinfo`` (Linux); elsewhere the flags are unknown
(``None``) and only the model name from :mod:`platform` is given. BF16
inference (``precision="bf16"``) needs native BF16 arithmetic: the
``avx512_bf16`` instructions or AMX tiles (``amx_bf16``). Without them
OpenVINO would emulate it, slower than FP32, so spine-rt refuses it.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU as far as the CPU engines care.

    Attributes:
        model: e.g. ``"Intel(R) Xeon(R) Platinum 8480+"`` (``""`` when unknown).
        avx2 / avx512 / avx512_bf16 / amx: the instruction sets (``amx``: AMX
            tiles with BF16, flags ``amx_tile`` + ``amx_bf16``); ``None`` when
            the flags cannot be read on this system.
        logical_cores: ``os.cpu_count()``.
    """

    model: str
    avx2: bool | None
    avx512: bool | None
    avx512_bf16: bool | None
    amx: bool | None
    logical_cores: int | None

    @property
    def native_bf16(self) -> bool | None:
        """True with AVX512_BF16 or AMX-BF16; ``None`` when the flags are unknown."""
        if self.avx512_bf16 is None and self.amx is None:
            return None
        return bool(self.avx512_bf16) or bool(self.amx)

    def key_text(self) -> str:
        """The capabilities as they enter cache keys: model and the flags, e.g. ``"Xeon|avx512,avx512_bf16,amx"``."""
        flags = [name for name in ("avx2", "avx512", "avx512_bf16", "amx") if getattr(self, name)]
        return f"{self.model}|{','.join(flags) or 'unknown-flags'}"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``spine-rt doctor``, bench reports)."""
        return {**asdict(self), "native_bf16": self.native_bf16}


def parse_cpuinfo(text: str) -> CpuCapabilities:
    """The capabilities described by the text of ``/proc/cpuinfo`` (its first processor)."""
    import os

    model, flags = "", None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
    if flags is None:
        return CpuCapabilities(model, None, None, None, None, os.cpu_count())
    return CpuCapabilities(
        model=model,
        avx2="avx2" in flags,
        avx512="avx512f" in flags,
        avx512_bf16="avx512_bf16" in flags,
        amx={"amx_tile", "amx_bf16"} <= flags,
        logical_cores=os.cpu_count(),
    )


def cpu_capabilities() -> CpuCapabilities:
    """This machine's CPU (flags ``None`` where ``/proc/cpuinfo`` cannot be read)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        text = ""
    capabilities = parse_cpuinfo(text)
    if not capabilities.model:
        capabilities = CpuCapabilities(platform.processor() or platform.machine(), capabilities.avx2,
                                       capabilities.avx512, capabilities.avx512_bf16, capabilities.amx,
                                       capabilities.logical_cores)
    return capabilities
