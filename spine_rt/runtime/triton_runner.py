"""``TritonRunner``: a model on Triton Inference Server, behind the same API as the in-process runners.

::

    pool = TritonServerPool("127.0.0.1:8001,127.0.0.1:9001")
    with TritonRunner("stage2_fold0", pool) as runner:
        logits = runner.infer({"image": x, "stage_one_features": f})["logits"]

Only the network call leaves the process: the pipelines keep ROI, stitching
and fusion, so a pipeline over Triton gives the result it gives in process
with the same graph. Several runners (the stages and folds of a package)
share one :class:`~spine_rt.runtime.triton_servers.TritonServerPool`, which
spreads their requests over the servers and moves them to another server
when one fails.

Input and output specs come from the server's model metadata (``-1`` -> a
dynamic axis), so the base class validates a feed exactly as it does for
onnxruntime. A feed larger than the model's ``max_batch_size`` is sent in
several requests and the outputs joined. Tensors travel through system
shared memory when the server is on this machine
(:mod:`spine_rt.runtime.triton_shared_memory`; ``shared_memory=False``
turns it off), otherwise as binary data (gRPC raw contents, HTTP's binary
tensor extension).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec
from spine_rt.runtime.triton_servers import TritonServerPool, is_local

#: Triton's datatype names -> numpy dtypes (those spine-rt graphs may use)
TRITON_DTYPES: dict[str, np.dtype] = {
    "FP32": np.dtype("float32"), "FP16": np.dtype("float16"), "FP64": np.dtype("float64"),
    "INT8": np.dtype("int8"), "INT16": np.dtype("int16"), "INT32": np.dtype("int32"), "INT64": np.dtype("int64"),
    "UINT8": np.dtype("uint8"), "BOOL": np.dtype("bool"),
}
NUMPY_TO_TRITON: dict[str, str] = {dtype.name: name for name, dtype in TRITON_DTYPES.items()}


class TritonRunner(Runner):
    """Run one model of a Triton model repository on one or several servers.

    Args:
        model_name: the model's name in the repository (``spine-rt triton-repo``
            names them ``<prefix><stage>_fold<k>``).
        servers: a :class:`TritonServerPool` (shared by the runners of a
            pipeline) or ``"HOST:PORT[,HOST:PORT...]"`` for a pool of its own.
        protocol / timeout_s: for a pool of its own (see :class:`TritonServerPool`).
        shared_memory: pass tensors to servers on this machine through system shared
            memory (default: the pool's setting, on; servers elsewhere always get binary data).
        name: name in reports (default: the model name).

    Raises:
        InputError: an empty model name, a malformed server list.
        EnvironmentProblem (on activation): tritonclient missing; a server not
            reachable or not ready, or not serving the model.
    """

    backend = "triton"
    accepts_torch_tensors = False

    def __init__(self, model_name: str, servers: TritonServerPool | str | Sequence[str], *,
                 protocol: str | None = None, timeout_s: float | None = None, shared_memory: bool | None = None,
                 name: str | None = None) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise InputError(f"a Triton model name must be a non-empty string, got {model_name!r}")
        if isinstance(servers, TritonServerPool):
            if protocol is not None or timeout_s is not None:
                raise InputError("protocol and timeout_s belong to the TritonServerPool when a pool is given")
            self.pool, self._own_pool = servers, False
        else:
            self.pool, self._own_pool = TritonServerPool(servers, protocol, timeout_s), True
        super().__init__(name=name or model_name, device="cpu")
        self.model_name = model_name
        self.shared_memory = self.pool.shared_memory if shared_memory is None else bool(shared_memory)
        self._regions: Any = None
        self.max_batch_size = 0
        self.parameters: dict[str, str] = {}
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The base description plus the model name and the pool's servers, calls and dead servers."""
        return {**super().describe(), "model": self.model_name, "shared_memory": self._regions is not None,
                **self.pool.describe()}

    # ----------------------------------------------------------------- hooks
    def _activate_impl(self) -> None:
        self.pool.check_ready([self.model_name])
        url, client = self.pool.first_client()
        try:
            metadata = _as_dict(client.get_model_metadata(self.model_name))
            config = _as_dict(client.get_model_config(self.model_name))
        except Exception as exc:
            raise EnvironmentProblem(f"Triton server {url}: cannot read model {self.model_name!r}: {exc}") from None
        config = config.get("config", config)
        self.max_batch_size = int(config.get("max_batch_size", 0) or 0)
        self.parameters = {key: str(value.get("string_value", "")) for key, value in
                           (config.get("parameters") or {}).items()}
        self._inputs = tuple(_spec(entry, self.model_name) for entry in metadata.get("inputs", ()))
        self._outputs = tuple(_spec(entry, self.model_name) for entry in metadata.get("outputs", ()))
        fixed = all(spec.shape is not None and None not in spec.shape[1:] for spec in self._outputs)
        if self.shared_memory and fixed and any(is_local(url) for url in self.pool.urls):
            from spine_rt.runtime.triton_shared_memory import SharedMemoryRegions

            self._regions = SharedMemoryRegions(self.model_name)

    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _infer_impl(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, np.ndarray]:
        arrays = {spec.name: np.ascontiguousarray(feed[spec.name]) for spec in self._inputs}
        batch = len(next(iter(arrays.values()))) if arrays else 0
        step = self.max_batch_size if self.max_batch_size > 0 and batch > self.max_batch_size else batch
        if step == batch:
            return self._request(arrays)
        parts = [self._request({name: value[start:start + step] for name, value in arrays.items()})
                 for start in range(0, batch, step)]
        return {spec.name: np.concatenate([part[spec.name] for part in parts]) for spec in self._outputs}

    def _close_impl(self) -> None:
        if self._regions is not None:
            self._regions.close()
            self._regions = None
        if self._own_pool:
            self.pool.close()

    # ----------------------------------------------------------------- helpers
    def _request(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        module = self.pool.module
        batch = len(next(iter(arrays.values())))
        binary = {} if self.pool.protocol == "grpc" else {"binary_data": True}
        timeout = {"client_timeout": self.pool.timeout_s} if self.pool.protocol == "grpc" else {}
        shapes = [(spec.name, spec.dtype, (batch, *spec.shape[1:])) for spec in self._outputs]

        def send(client: Any, url: str) -> dict[str, np.ndarray]:
            if self._regions is not None and is_local(url):
                region = self._regions.take(self._regions.bytes_needed(arrays, shapes))
                try:
                    inputs, outputs, read = self._regions.request(module, client, url, region, arrays, shapes,
                                                                  NUMPY_TO_TRITON)
                    answer = read(client.infer(self.model_name, inputs, outputs=outputs, **timeout))
                finally:
                    self._regions.give_back(region)
            else:
                inputs = []
                for name, value in arrays.items():
                    item = module.InferInput(name, list(value.shape), NUMPY_TO_TRITON[value.dtype.name])
                    item.set_data_from_numpy(value, **binary)
                    inputs.append(item)
                outputs = [module.InferRequestedOutput(spec.name, **binary) for spec in self._outputs]
                result = client.infer(self.model_name, inputs, outputs=outputs, **timeout)
                answer = {spec.name: result.as_numpy(spec.name) for spec in self._outputs}
            return {spec.name: _checked_output(answer[spec.name], spec, batch, self.model_name)
                    for spec in self._outputs}

        return self.pool.call(send, self.model_name)


def _as_dict(message: Any) -> dict[str, Any]:
    """A gRPC protobuf message or an HTTP JSON answer as a plain dict."""
    if isinstance(message, dict):
        return message
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


def _spec(entry: Mapping[str, Any], model: str) -> TensorSpec:
    datatype = str(entry.get("datatype", ""))
    if datatype not in TRITON_DTYPES:
        raise EnvironmentProblem(f"Triton model {model!r}: tensor {entry.get('name')!r} has datatype {datatype!r}, "
                                 f"which spine-rt does not send (valid: {', '.join(TRITON_DTYPES)})")
    shape = tuple(None if int(size) < 0 else int(size) for size in entry.get("shape", ()))
    return TensorSpec(str(entry["name"]), shape, TRITON_DTYPES[datatype])


def _checked_output(array: np.ndarray | None, spec: TensorSpec, batch: int, model: str) -> np.ndarray:
    """An output of an answer; an empty or mis-shaped answer is a server failure."""
    if array is None or spec.mismatch(array.dtype.name, tuple(array.shape)) is not None or len(array) != batch:
        got = "nothing" if array is None else f"{array.dtype.name} {tuple(array.shape)}"
        raise RuntimeError(f"model {model!r} answered {got} for output {spec.name!r} "
                           f"(expected {spec.describe()} with batch {batch})")
    return array if array.flags.writeable else array.copy()
