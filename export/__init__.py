"""spine_rt.export: PyTorch model -> ONNX model package (installed from export/)."""
