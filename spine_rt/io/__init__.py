"""spine_rt.io."""
