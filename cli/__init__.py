"""spine_rt.cli: the ``spine-rt`` command (installed from cli/)."""
