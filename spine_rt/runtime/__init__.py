"""spine_rt.runtime."""
