"""Moved to :mod:`spine_rt.measure.structure_sizes`; this name stays for existing imports."""

from __future__ import annotations

from spine_rt.measure.structure_sizes import structures_found

__all__ = ["structures_found"]
