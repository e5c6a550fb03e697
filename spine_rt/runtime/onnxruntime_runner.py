"""``OnnxRuntimeRunner``: runs an ONNX graph with onnxruntime on the CPU or a CUDA GPU.

The CPU execution provider is always in the list (onnxruntime places the
nodes the CUDA provider lacks on it). A CUDA device needs the
``onnxruntime-gpu`` wheel; when it is missing, or when onnxruntime cannot
start its CUDA provider, the runner raises :class:`EnvironmentProblem`
instead of silently running on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.backends import CUDA_PROVIDER, ONNXRUNTIME_GPU_HINT
from spine_rt.runtime.devices import cuda_index, normalize_device
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec

#: onnxruntime session option: flush denormal floats to zero (FTZ/DAZ) on its intra-op threads
DENORMALS_AS_ZERO = "session.set_denormal_as_zero"

CPU_PROVIDER = "CPUExecutionProvider"

#: onnxruntime's element type -> numpy dtype (types numpy lacks map to "any dtype").
_ONNX_TYPE_TO_NUMPY: dict[str, np.dtype] = {
    f"tensor({onnx_name})": np.dtype(numpy_name)
    for onnx_name, numpy_name in {
        "float": "float32",
        "float16": "float16",
        "double": "float64",
        "int8": "int8",
        "int16": "int16",
        "int32": "int32",
        "int64": "int64",
        "uint8": "uint8",
        "uint16": "uint16",
        "uint32": "uint32",
        "uint64": "uint64",
        "bool": "bool",
    }.items()
}

PROVIDER_CHOICES = ("cpu", "cuda")


class OnnxRuntimeRunner(Runner):
    """Run an ONNX model with onnxruntime.

    Args:
        model: path of an ``.onnx`` file (external data beside it is found) or
            the serialized model as ``bytes``.
        providers: ``None`` (from ``device``), ``"cpu"`` or ``"cuda"``; ``"cuda"``
            means the CUDA provider first and the CPU provider for the rest.
        threads: onnxruntime intra-op threads (``None``: onnxruntime's default,
            one per physical core).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``None`` means ``"cuda:0"``
            when ``providers="cuda"`` and ``"cpu"`` otherwise.
        name: name in reports; defaults to the file name.

    Inputs and outputs are numpy arrays with the dtypes and shapes of
    :attr:`input_specs` / :attr:`output_specs`, read from the session
    (symbolic dimensions are ``None``).

    Raises:
        InputError: the file does not exist (here) or is not a valid ONNX model
            (on activation); an unknown ``providers`` value, a ``providers`` /
            ``device`` conflict, or ``threads`` < 1.
        EnvironmentProblem: a CUDA device without onnxruntime's CUDA provider
            (install hint ``pip install onnxruntime-gpu``), or an ONNX operator
            this onnxruntime does not implement.
    """

    backend = "onnxruntime"
    accepts_torch_tensors = False

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        providers: str | None = None,
        threads: int | None = None,
        device: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if providers is not None and providers not in PROVIDER_CHOICES:
            raise InputError(f"unknown providers {providers!r}; valid values: None, {', '.join(PROVIDER_CHOICES)}")
        if device is None:
            device = "cuda" if providers == "cuda" else "cpu"
        canonical = normalize_device(device)
        if providers == "cpu" and canonical != "cpu":
            raise InputError(f"providers='cpu' conflicts with device={device!r}; use providers='cuda' or device='cpu'")
        if providers == "cuda" and canonical == "cpu":
            raise InputError("providers='cuda' conflicts with device='cpu'; use device='cuda:N' or providers='cpu'")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer or None, got {threads!r}")

        if isinstance(model, (bytes, bytearray, memoryview)):
            self._model: str | bytes = bytes(model)
            self.source = "<bytes>"
        else:
            path = Path(model)
            if not path.is_file():
                raise InputError(f"ONNX model not found: {path}")
            self._model = str(path)
            self.source = str(path)
            if name is None:
                name = path.name
        super().__init__(name=name, device=canonical)
        self.threads = threads
        if canonical != "cpu":
            self._require_cuda_provider()
        self._session = None
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()

    @property
    def session(self):
        """The ``onnxruntime.InferenceSession`` (activates the runner)."""
        self.activate()
        return self._session

    @property
    def providers(self) -> list[str]:
        """Execution providers the session really uses, best first (activates the runner)."""
        return list(self.session.get_providers())

    # ----------------------------------------------------------------- hooks
    def _activate_impl(self) -> None:
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        options = onnxruntime.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        # flush denormals to zero (FTZ/DAZ): stage two's attention softmax underflows into denormal floats on
        # real inputs, and its batched matrix product then ran 5-7x slower (benchmarks/denormals.py,
        # RESULTS.md "Denormal floats in stage two"). The setting stays on the calling thread after the call.
        options.add_session_config_entry(DENORMALS_AS_ZERO, "1")
        index = cuda_index(self.device)
        providers: list[Any] = [CPU_PROVIDER]
        if index is not None:
            providers.insert(0, (CUDA_PROVIDER, {"device_id": index}))
        try:
            session = onnxruntime.InferenceSession(self._model, sess_options=options, providers=providers)
        except (
            ort_errors.InvalidProtobuf,
            ort_errors.InvalidGraph,
            ort_errors.InvalidArgument,
            ort_errors.NoSuchFile,
            ort_errors.Fail,
        ) as exc:
            raise InputError(f"cannot load ONNX model {self.source}: {_first_line(exc)}") from None
        except _execution_provider_errors(ort_errors) as exc:
            raise EnvironmentProblem(
                f"onnxruntime could not start its execution provider for {self.device}: {_first_line(exc)}"
            ) from None
        except ort_errors.NotImplemented as exc:
            raise EnvironmentProblem(
                f"onnxruntime {onnxruntime.__version__} cannot run ONNX model {self.source}: {_first_line(exc)}; "
                "a newer onnxruntime may: pip install -U onnxruntime"
            ) from None
        if index is not None and CUDA_PROVIDER not in session.get_providers():
            raise EnvironmentProblem(
                f"onnxruntime could not start its CUDA provider on {self.device} (missing CUDA or cuDNN "
                f"libraries? onnxruntime's log above says which); it would have run on the CPU. "
                f"Check the CUDA install, or use device='cpu'. onnxruntime-gpu: {ONNXRUNTIME_GPU_HINT}"
            )
        self._session = session
        self._inputs = tuple(_spec_from_node_arg(arg) for arg in session.get_inputs())
        self._outputs = tuple(_spec_from_node_arg(arg) for arg in session.get_outputs())

    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _infer_impl(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, np.ndarray]:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        arrays = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        names = [spec.name for spec in self._outputs]
        try:
            outputs = self._session.run(names, arrays)
        except ort_errors.InvalidArgument as exc:
            raise InputError(f"{self._label()}: onnxruntime rejected the feed: {_first_line(exc)}") from None
        return dict(zip(names, outputs))

    def _close_impl(self) -> None:
        self._session = None

    # ----------------------------------------------------------------- helpers
    def _require_cuda_provider(self) -> None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
        if CUDA_PROVIDER not in available:
            raise EnvironmentProblem(
                f"{self._label()}: device {self.device} needs onnxruntime's CUDA provider, which this "
                f"onnxruntime lacks (providers: {', '.join(available)}); install it with: {ONNXRUNTIME_GPU_HINT}"
            )


def _spec_from_node_arg(arg: Any) -> TensorSpec:
    """A :class:`TensorSpec` from an onnxruntime ``NodeArg`` (symbolic or unknown dims -> ``None``)."""
    dtype = _ONNX_TYPE_TO_NUMPY.get(arg.type)
    raw_shape = arg.shape if arg.type.startswith("tensor(") else None
    if raw_shape is None:
        return TensorSpec(arg.name, None, dtype)
    shape = tuple(size if isinstance(size, int) and size >= 0 else None for size in raw_shape)
    dim_names = tuple(size if isinstance(size, str) and size else None for size in raw_shape)
    return TensorSpec(arg.name, shape, dtype, dim_names=dim_names if any(dim_names) else None)


def _execution_provider_errors(ort_errors: Any) -> tuple[type[BaseException], ...]:
    """onnxruntime's "execution provider failed" exception (``EPFail``), where this version has it."""
    error = getattr(ort_errors, "EPFail", None)
    return (error,) if isinstance(error, type) else ()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
