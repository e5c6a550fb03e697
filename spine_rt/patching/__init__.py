"""spine_rt.patching."""
