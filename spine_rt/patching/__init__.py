"""Sliding-window inference: patch grid, importance weights, static-shape batches, bounded-memory stitching.

``import spine_rt.patching`` needs only numpy; torch is imported when a torch
tensor is passed.
"""

from __future__ import annotations

from spine_rt.patching.consumers import ArgmaxWriter, ArrayWriter
from spine_rt.patching.grid import PatchGrid, axis_starts, windows_touching
from spine_rt.patching.importance import ImportanceMode, importance_map, importance_profiles
from spine_rt.patching.merger import RowMerger
from spine_rt.patching.outputs import OutputLayout, OutputSpec
from spine_rt.patching.sliding_window import SlidingWindowResult, run_sliding_window, sliding_window_inference
from spine_rt.patching.stitcher import SlabConsumer, Stitcher

__all__ = [
    "ArgmaxWriter",
    "ArrayWriter",
    "ImportanceMode",
    "OutputLayout",
    "OutputSpec",
    "PatchGrid",
    "RowMerger",
    "SlabConsumer",
    "SlidingWindowResult",
    "Stitcher",
    "axis_starts",
    "importance_map",
    "importance_profiles",
    "run_sliding_window",
    "sliding_window_inference",
    "windows_touching",
]
