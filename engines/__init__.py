"""spine_rt.engines: ONNX -> TensorRT engines and the engine store (installed from engines/)."""
