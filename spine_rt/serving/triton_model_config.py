"""``config.pbtxt`` of one Triton model: inputs, outputs, batching, instances, platform.

::

    config = TritonModelConfig(name="stage2_fold0", flavour="onnxruntime", inputs=stage.inputs,
                               outputs=stage.outputs, max_batch_size=8, preferred_batch_sizes=(4, 8),
                               instances=1)
    text = config.to_pbtxt()          # protobuf text format of Triton's ModelConfig
    parse_model_config(text)          # the ModelConfig message (needs tritonclient), or InputError

Shapes: the package's tensors have a dynamic batch axis (``None``) and fixed
spatial sizes; Triton's ``dims`` leave the batch axis out (it is implied by
``max_batch_size > 0``), so ``image (None, 21, 64, 64, 12)`` becomes
``dims: [ 21, 64, 64, 12 ]``.

Flavours: ``tensorrt`` (``platform: "tensorrt_plan"``, GPU instances),
``onnxruntime`` (``platform: "onnxruntime_onnx"``, GPU instances) and
``python`` (``backend: "python"``, CPU instances, ``model.py`` hosting onnxruntime).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spine_rt.errors import InputError
from spine_rt.model_package import TensorEntry

FLAVOURS = ("tensorrt", "onnxruntime", "python")
#: flavour -> (config line naming how Triton runs it, model file name in the version folder, instance kind)
FLAVOUR_FACTS: dict[str, tuple[str, str, str]] = {
    "tensorrt": ('platform: "tensorrt_plan"', "model.plan", "KIND_GPU"),
    "onnxruntime": ('platform: "onnxruntime_onnx"', "model.onnx", "KIND_GPU"),
    "python": ('backend: "python"', "model.py", "KIND_CPU"),
}
#: numpy dtype name -> Triton's TYPE_* name
TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "int32": "TYPE_INT32",
                "int64": "TYPE_INT64", "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL"}
INSTANCE_KINDS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class TritonModelConfig:
    """What one ``config.pbtxt`` says.

    Attributes:
        name: the model's name (and folder name) in the repository.
        flavour: one of :data:`FLAVOURS`.
        inputs / outputs: the package stage's tensors (batch axis ``None`` first, spatial sizes fixed).
        max_batch_size: the largest batch one execution may take (>= 1).
        preferred_batch_sizes: sizes the dynamic batcher aims for; ``None`` = no dynamic batching.
        queue_delay_us: how long the dynamic batcher may hold a request to fill a batch (microseconds).
        instances: model instances (copies running in parallel) per device.
        instance_kind: ``"auto"`` (GPU for tensorrt/onnxruntime, CPU for python), ``"cpu"`` or ``"gpu"``.
        parameters: string parameters (``precision``, ``source``, ``intra_op_threads``...).

    Raises:
        InputError: an unknown flavour or kind, a batch size or instance count below 1,
            a preferred size above ``max_batch_size``, a tensor whose first axis is not
            the dynamic batch axis or whose dtype Triton lacks.
    """

    name: str
    flavour: str
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[TensorEntry, ...]
    max_batch_size: int
    preferred_batch_sizes: tuple[int, ...] | None = None
    queue_delay_us: int = 0
    instances: int = 1
    instance_kind: str = "auto"
    parameters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise InputError(f"unknown Triton flavour {self.flavour!r}; valid: {', '.join(FLAVOURS)}")
        if self.instance_kind not in INSTANCE_KINDS:
            raise InputError(f"unknown instance kind {self.instance_kind!r}; valid: {', '.join(INSTANCE_KINDS)}")
        for what, value in (("max batch", self.max_batch_size), ("instance count", self.instances)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"the {what} must be a positive integer, got {value!r}")
        if isinstance(self.queue_delay_us, bool) or not isinstance(self.queue_delay_us, int) or self.queue_delay_us < 0:
            raise InputError(f"the queue delay must be a non-negative number of microseconds, got {self.queue_delay_us!r}")
        if self.preferred_batch_sizes is not None:
            sizes = tuple(self.preferred_batch_sizes)
            if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= self.max_batch_size
                                for s in sizes):
                raise InputError(f"preferred batch sizes must be integers from 1 to the max batch "
                                 f"{self.max_batch_size}, got {list(sizes)}")
            object.__setattr__(self, "preferred_batch_sizes", tuple(sorted(set(sizes))))
        for tensor in (*self.inputs, *self.outputs):
            _dims(tensor)

    @property
    def model_file(self) -> str:
        """The file name Triton expects in the version folder (``model.plan``, ``model.onnx``, ``model.py``)."""
        return FLAVOUR_FACTS[self.flavour][1]

    @property
    def kind(self) -> str:
        """Triton's instance kind (``KIND_CPU`` / ``KIND_GPU``)."""
        if self.instance_kind == "auto":
            return FLAVOUR_FACTS[self.flavour][2]
        return f"KIND_{self.instance_kind.upper()}"

    def to_pbtxt(self) -> str:
        """The ``config.pbtxt`` text (protobuf text format of ``inference.ModelConfig``)."""
        lines = [f'name: "{self.name}"', FLAVOUR_FACTS[self.flavour][0], f"max_batch_size: {self.max_batch_size}"]
        lines += _tensors("input", self.inputs) + _tensors("output", self.outputs)
        if self.preferred_batch_sizes is not None:
            sizes = ", ".join(str(s) for s in self.preferred_batch_sizes)
            lines += ["dynamic_batching {", f"  preferred_batch_size: [ {sizes} ]",
                      f"  max_queue_delay_microseconds: {self.queue_delay_us}", "}"]
        lines += ["instance_group [", f"  {{ count: {self.instances} kind: {self.kind} }}", "]"]
        for key, value in sorted(self.parameters.items()):
            lines += [f'parameters {{ key: "{key}" value: {{ string_value: "{_escape(value)}" }} }}']
        return "\n".join(lines) + "\n"


def parse_model_config(text: str, source: str = "config.pbtxt") -> Any:
    """Parse ``text`` with tritonclient's protobuf definition of Triton's ``ModelConfig``.

    Returns:
        The ``tritonclient.grpc.model_config_pb2.ModelConfig`` message.

    Raises:
        InputError: the text is not a valid ModelConfig (the parser's message).
        EnvironmentProblem: tritonclient is not installed.
    """
    from spine_rt.dependencies import require

    require("tritonclient.grpc", "checking a Triton model configuration")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise InputError(f"{source}: not a valid Triton model configuration: {exc}") from None


def _dims(tensor: TensorEntry) -> tuple[int, ...]:
    shape = tuple(tensor.shape)
    if not shape or shape[0] is not None or any(not isinstance(s, int) or s < 1 for s in shape[1:]):
        raise InputError(f"tensor {tensor.name!r} has shape {shape}; Triton configs need a dynamic batch axis first "
                         "and fixed sizes after it")
    if tensor.dtype not in TRITON_TYPES:
        raise InputError(f"tensor {tensor.name!r} has dtype {tensor.dtype}, which Triton configs here do not map")
    return shape[1:]


def _tensors(section: str, tensors: Sequence[TensorEntry]) -> list[str]:
    lines = [f"{section} ["]
    for k, tensor in enumerate(tensors):
        dims = ", ".join(str(d) for d in _dims(tensor))
        comma = "," if k < len(tensors) - 1 else ""
        lines.append(f'  {{ name: "{tensor.name}" data_type: {TRITON_TYPES[tensor.dtype]} dims: [ {dims} ] }}{comma}')
    return lines + ["]"]


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')
