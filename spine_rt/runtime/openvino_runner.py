"""``OpenVINORunner``: runs a package's FP32 ONNX graph with OpenVINO on the CPU.

OpenVINO reads the ONNX graph itself and compiles it for this CPU. On the
paper-size stage two it runs the SE-ResNeXt encoder's grouped 3D
convolutions several times faster than onnxruntime (``benchmarks/RESULTS.md``).

* ``precision="fp32"`` (the default) is exact: OpenVINO's inference precision
  is set to f32 explicitly (on CPUs with AMX or AVX512_BF16 OpenVINO would
  otherwise default to bf16).
* ``precision="bf16"`` computes in bfloat16 (FP32 graph, inputs and outputs
  float32); only where the CPU has AVX512_BF16 or AMX
  (:mod:`spine_rt.runtime.machine`), else :class:`EnvironmentProblem`.
  The pipelines gate it like FP16 (:mod:`spine_rt.pipelines.bf16_gate`).
* The batch is static: each batch size the caller uses (the pipelines use a
  fixed one; ``batch=`` compiles it on activation) is compiled once, with the
  batch axis fixed, and kept.
* Streams: with ``streams`` > 1 a batch is cut into that many parts, run at
  once as asynchronous requests on OpenVINO streams (its throughput mode,
  the threads shared among the streams), and put back together in order.
  The default (``streams=None``) is one stream in fp32 and, in bf16, as
  many streams as threads (at most the batch): on the development CPU (2
  cores, AMX) one bf16 inference does not use the second core well (paper-
  size stage two, batch 4: 0.95 s per patch on one thread, 0.82 on two)
  while two streams of two patches take 0.47 s per patch; fp32 scales
  within one inference (1.10 s per patch either way), so it keeps one
  (``benchmarks/RESULTS.md``, "BF16 on OpenVINO streams").
* OpenVINO's model cache (``CACHE_DIR``) lives in a folder keyed by graph
  sha256 + OpenVINO version + CPU capabilities + precision
  (:mod:`spine_rt.runtime.openvino_cache`), so a second process loads the
  compiled network instead of compiling it.

Inputs and outputs are numpy arrays; the outputs are copies (the caller may
keep them while the next batch runs).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.dependencies import install_hint, is_available
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.devices import normalize_device
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec

#: precisions this runner computes in
OPENVINO_PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
#: spine-rt precision -> OpenVINO's INFERENCE_PRECISION_HINT
_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}
#: OpenVINO element type name -> numpy dtype
_OV_TYPE_TO_NUMPY = {"f32": "float32", "f16": "float16", "f64": "float64", "i64": "int64", "i32": "int32",
                     "u8": "uint8", "i8": "int8", "boolean": "bool"}


def require_openvino(purpose: str = "backend 'openvino'") -> None:
    """Raise :class:`EnvironmentProblem` with the install hint when ``openvino`` cannot be imported."""
    if not is_available("openvino"):
        raise EnvironmentProblem(f"{purpose} needs openvino, which is not installed; "
                                 f"install it with: {install_hint('openvino')}")


def require_native_bf16(purpose: str = "precision bf16") -> None:
    """Raise :class:`EnvironmentProblem` unless this CPU has AVX512_BF16 or AMX."""
    from spine_rt.runtime.machine import cpu_capabilities

    cpu = cpu_capabilities()
    if cpu.native_bf16:
        return
    known = "flags unknown on this system" if cpu.native_bf16 is None else "it has neither"
    raise EnvironmentProblem(
        f"{purpose} needs a CPU with AVX512_BF16 or AMX ({cpu.model or 'this CPU'}: {known}); "
        "use precision fp32 (exact, the default)")


class OpenVINORunner(Runner):
    """Run an ONNX model with OpenVINO on the CPU.

    Args:
        model: path of an ``.onnx`` file (external data beside it is found).
        precision: ``"fp32"`` (exact, default) or ``"bf16"`` (AVX512_BF16 / AMX CPUs).
        threads: OpenVINO inference threads (``None``: OpenVINO's default, the usable cores).
        streams: parallel parts of a batch (see the module docstring); ``None``: 1 in fp32, in bf16 the
            threads (or the usable cores), at most the batch.
        batch: a batch size to compile on activation (``None``: compiled on first use).
        cache_dir: root of the model cache (``None``: :func:`~spine_rt.runtime.openvino_cache.default_cache_root`;
            ``False``: no cache).
        graph_sha256: the graph's sha256 when known (the package manifest has it); computed otherwise.
        device: ``"cpu"`` only.
        name: name in reports; defaults to the file name.

    Inputs: float32 arrays of :attr:`input_specs` (batch axis any size, other
    axes as the graph's). Outputs: float32 arrays of :attr:`output_specs`.

    Raises:
        InputError: the file does not exist; an unknown precision; ``threads``,
            ``streams`` or ``batch`` < 1; a device other than ``cpu``; a graph OpenVINO cannot
            read (on activation).
        EnvironmentProblem: openvino is not installed (with the install hint);
            bf16 on a CPU without AVX512_BF16 or AMX.
    """

    backend = "openvino"
    accepts_torch_tensors = False

    def __init__(
        self,
        model: str | os.PathLike,
        precision: str = "fp32",
        threads: int | None = None,
        batch: int | None = None,
        cache_dir: str | os.PathLike | bool | None = None,
        graph_sha256: str | None = None,
        device: str = "cpu",
        *,
        name: str | None = None,
        streams: int | None = None,
    ) -> None:
        if precision not in OPENVINO_PRECISIONS:
            raise InputError(f"OpenVINORunner: unknown precision {precision!r}; valid: {', '.join(OPENVINO_PRECISIONS)}")
        for what, value in (("threads", threads), ("batch", batch), ("streams", streams)):
            _positive_or_none(value, what)
        if normalize_device(device) != "cpu":
            raise InputError(f"backend 'openvino' runs on the CPU; got device {device!r} (use device='cpu')")
        path = Path(model)
        if not path.is_file():
            raise InputError(f"ONNX model not found: {path}")
        super().__init__(name=path.name if name is None else name, device="cpu")
        require_openvino()
        if precision == "bf16":
            require_native_bf16(f"{self._label()}: precision bf16")
        self.source = str(path)
        self.precision = precision
        self._threads = threads
        self._streams = streams
        self.batch = batch
        #: the ``cache_dir`` given (``None``: the default root; ``False``: no cache)
        self.cache_root = cache_dir
        self._graph_sha256 = graph_sha256
        #: the model cache folder in use (``None``: no cache), and why there is none
        self.cache_folder: Path | None = None
        self.cache_problem: str | None = None
        self._core: Any = None
        self._model: Any = None
        #: batch -> (compiled model, its infer requests (one per part), the part's batch)
        self._compiled: dict[int, tuple[Any, list[Any], int]] = {}
        self._lock = threading.Lock()
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()

    @property
    def threads(self) -> int | None:
        """OpenVINO inference threads (``None``: its default); setting it recompiles on the next call."""
        return self._threads

    @threads.setter
    def threads(self, value: int | None) -> None:
        self._threads = self._recompile_on_change(self._threads, _positive_or_none(value, "threads"))

    @property
    def streams(self) -> int | None:
        """Parallel parts of a batch asked for (``None``: the default of the module docstring); setting it
        recompiles on the next call."""
        return self._streams

    @streams.setter
    def streams(self, value: int | None) -> None:
        self._streams = self._recompile_on_change(self._streams, _positive_or_none(value, "streams"))

    def _recompile_on_change(self, old: int | None, new: int | None) -> int | None:
        if new != old:
            self._compiled.clear()
        return new

    def streams_for(self, batch: int) -> int:
        """The streams a batch of ``batch`` runs on (the parts it is cut into)."""
        if self._streams is not None:
            wanted = self._streams
        elif self.precision == "bf16":
            from spine_rt.runtime.machine import usable_cores

            wanted = self._threads if self._threads is not None else usable_cores()
        else:
            wanted = 1
        return max(1, min(int(wanted), int(batch)))

    @property
    def openvino_version(self) -> str:
        """``openvino.get_version()``."""
        import openvino

        return str(openvino.get_version())

    def describe(self) -> dict[str, str]:
        """Name, backend, device, precision and threads."""
        return {**super().describe(), "precision": self.precision,
                "threads": "default" if self.threads is None else str(self.threads),
                "streams": "default" if self.streams is None else str(self.streams)}

    # ----------------------------------------------------------------- hooks
    def _activate_impl(self) -> None:
        import openvino

        core = openvino.Core()
        try:
            model = core.read_model(self.source)
        except Exception as exc:  # OpenVINO raises RuntimeError (or its own types) for an unreadable graph
            raise InputError(f"cannot load ONNX model {self.source} with OpenVINO: {_first_line(exc)}") from None
        self._core, self._model = core, model
        self._inputs = tuple(_spec(port) for port in model.inputs)
        self._outputs = tuple(_spec(port) for port in model.outputs)
        self._set_up_cache()
        if self.batch is not None:
            self._compiled_for(self.batch)

    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _infer_impl(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, np.ndarray]:
        arrays = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        batch = _batch_of(arrays)
        with self._lock:
            _, requests, part = self._compiled_for(batch)
            if len(requests) == 1:
                parts = [arrays]
            else:  # consecutive parts of `part` samples; the last one padded by repeating its final sample
                parts = [_padded({name: value[first: first + part] if value.ndim else value
                                  for name, value in arrays.items()}, part)
                         for first in range(0, batch, part)]
            try:
                if len(requests) == 1:
                    requests[0].infer(parts[0])
                else:
                    for request, inputs in zip(requests, parts):
                        request.start_async(inputs)
                    for request in requests:
                        request.wait()
            except Exception as exc:  # OpenVINO reports a bad feed as RuntimeError
                raise InputError(f"{self._label()}: OpenVINO rejected the feed: {_first_line(exc)}") from None
            if len(requests) == 1:
                return {spec.name: np.array(requests[0].get_tensor(spec.name).data, copy=True)
                        for spec in self._outputs}
            return {spec.name: np.concatenate([request.get_tensor(spec.name).data for request in requests])[:batch]
                    for spec in self._outputs}

    def _close_impl(self) -> None:
        self._compiled.clear()
        self._model = None
        self._core = None

    # ----------------------------------------------------------------- helpers
    def _set_up_cache(self) -> None:
        if self.cache_root is False:
            self.cache_problem = "model cache off"
            return
        from spine_rt.runtime.machine import cpu_capabilities
        from spine_rt.runtime.openvino_cache import cache_key, prepare_folder

        digest = self._graph_sha256 or _sha256(Path(self.source))
        key = cache_key(digest, self.openvino_version, cpu_capabilities(), self.precision)
        root = None if self.cache_root in (None, True) else self.cache_root
        self.cache_folder, self.cache_problem = prepare_folder(key, root)

    def _config(self, streams: int = 1) -> dict[str, Any]:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[self.precision],
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        }
        if streams > 1:
            config["NUM_STREAMS"] = streams
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.cache_folder is not None:
            config["CACHE_DIR"] = str(self.cache_folder)
        return config

    def _compiled_for(self, batch: int) -> tuple[Any, list[Any], int]:
        """The compiled model, its infer requests (one per part of the batch) and the part's batch, for a batch
        of ``batch`` (compiled on first use)."""
        if batch in self._compiled:
            return self._compiled[batch]
        streams = self.streams_for(batch)
        part = -(-batch // streams)  # ceil: `streams` parts at most, the last one padded
        streams = -(-batch // part)
        model = self._model.clone()
        shapes = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.rank.is_static and len(shape) > 0 and shape[0].is_dynamic:
                shape[0] = part
                shapes[port.get_any_name()] = shape
        if shapes:
            try:
                model.reshape(shapes)
            except Exception as exc:
                raise InputError(f"{self._label()}: cannot fix the batch at {part}: {_first_line(exc)}") from None
        try:
            compiled = self._core.compile_model(model, "CPU", self._config(streams))
        except Exception as exc:  # an operator or property this OpenVINO cannot handle
            raise EnvironmentProblem(
                f"OpenVINO {self.openvino_version} cannot compile {self.source}: {_first_line(exc)}; "
                "a newer openvino may: pip install -U openvino") from None
        entry = (compiled, [compiled.create_infer_request() for _ in range(streams)], part)
        self._compiled[batch] = entry
        return entry


def _spec(port: Any) -> TensorSpec:
    """A :class:`TensorSpec` from an OpenVINO port (dynamic dims -> ``None``)."""
    shape = port.get_partial_shape()
    dims = None
    if shape.rank.is_static:
        dims = tuple(d.get_length() if d.is_static else None for d in shape)
    dtype = _OV_TYPE_TO_NUMPY.get(port.get_element_type().get_type_name())
    return TensorSpec(port.get_any_name(), dims, dtype)


def _positive_or_none(value: Any, what: str) -> int | None:
    """``value`` when it is a positive integer or None, else an :class:`InputError` naming ``what``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InputError(f"{what} must be a positive integer or None, got {value!r}")
    return value


def _padded(arrays: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """``arrays`` with the batch axis filled up to ``size`` by repeating the last sample (a part of a batch;
    inputs without a batch axis pass as they are)."""
    return {name: np.ascontiguousarray(value if value.ndim == 0 or value.shape[0] == size else
                                       np.concatenate([value, np.repeat(value[-1:], size - value.shape[0], 0)]))
            for name, value in arrays.items()}


def _batch_of(arrays: Mapping[str, np.ndarray]) -> int:
    sizes = {int(a.shape[0]) for a in arrays.values() if a.ndim > 0}
    if len(sizes) != 1:
        raise InputError(f"every input needs the same batch size, got {sorted(sizes)}")
    batch = sizes.pop()
    if batch < 1:
        raise InputError("the batch is empty")
    return batch


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
