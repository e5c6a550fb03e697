"""spine_rt.models."""
