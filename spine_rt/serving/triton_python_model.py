"""The ``model.py`` of the ``python`` flavour: Triton's Python backend hosting onnxruntime.

:func:`spine_rt.serving.triton_repository.write_triton_repository` copies
this file as ``<model>/1/model.py`` beside ``<model>/1/model.onnx``. It is
run by Triton's Python backend stub, never imported by spine-rt itself
(``triton_python_backend_utils`` exists only inside the stub), and it needs
only numpy and onnxruntime, no spine-rt.

One ``execute`` call receives every request Triton's dynamic batcher
gathered: their inputs are joined along the batch axis (axis 0), run in one
onnxruntime call, and split back, one response per request.

Tensors cross the stub boundary through DLPack, never through
``as_numpy()`` / ``pb_utils.Tensor(name, ndarray)``: the Python backend stub
of tritonserver 2.51 (nvidia-pytriton 0.7) is built against numpy 1's C
API, and under numpy 2 it reads an array's item size wrongly, so
``as_numpy()`` returned arrays with zero strides (every element equal to the
first) and ``Tensor(name, ndarray)`` sent zero bytes (empty responses),
measured here with numpy 2.3. Each output slice is copied into an array of
its own before it is handed over. The stub prints "ValueError:
PyCapsule_GetPointer called with incorrect name" to the server log for each
DLPack output (when it releases the capsule); the data arrive intact.

Instance settings come from ``config.pbtxt`` parameters: ``intra_op_threads``
(onnxruntime intra-op threads; 0 = onnxruntime's default).
"""

import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """One onnxruntime session per model instance."""

    def initialize(self, args):
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        options = onnxruntime.SessionOptions()
        threads = int(parameters.get("intra_op_threads", "0") or 0)
        if threads > 0:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(os.path.join(folder, "model.onnx"), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        self.input_names = [entry["name"] for entry in config["input"]]
        self.output_names = [entry["name"] for entry in config["output"]]

    def execute(self, requests):
        feeds = [[np.from_dlpack(pb_utils.get_input_tensor_by_name(request, name)) for name in self.input_names]
                 for request in requests]
        sizes = [len(arrays[0]) for arrays in feeds]
        joined = {name: np.concatenate([arrays[k] for arrays in feeds]) for k, name in enumerate(self.input_names)}
        outputs = self.session.run(self.output_names, joined)
        responses = []
        start = 0
        for size in sizes:
            tensors = [pb_utils.Tensor.from_dlpack(name, np.array(output[start:start + size], order="C").__dlpack__())
                       for name, output in zip(self.output_names, outputs)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses

    def finalize(self):
        self.session = None
