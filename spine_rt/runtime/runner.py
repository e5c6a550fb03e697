"""``Runner``: the public API every inference backend shares.

As in Polygraphy, the base class owns the public methods and each backend
fills in three hooks::

    _activate_impl()            load the model, allocate what inference needs
    _infer_impl(feed, stream)   run one batch (on ``stream`` where given); the feed is validated
    _close_impl()               release what _activate_impl allocated

plus :meth:`_input_specs_impl` / :meth:`_output_specs_impl`. Usage::

    with OnnxRuntimeRunner("stage2.onnx") as runner:
        probs = runner.infer({"image": patches})["probabilities"]

Lifecycle: a runner is *created* (cheap, no model loaded), *active* after
:meth:`activate` (or after the first :meth:`infer` / :attr:`input_specs`,
which activate it), and *closed* after :meth:`close`. ``activate`` and
``close`` are idempotent; a closed runner cannot be used again (an
:class:`InputError` says so).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

from spine_rt.errors import InputError
from spine_rt.runtime.devices import normalize_device
from spine_rt.runtime.feed_validation import validate_feed
from spine_rt.runtime.tensor_spec import TensorSpec


class Runner(abc.ABC):
    """Base class of the inference backends (onnxruntime, torch, TensorRT).

    Args:
        name: how reports and messages name this runner; defaults to the class name.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see :mod:`spine_rt.runtime.devices`).

    Raises:
        InputError: invalid device string.
    """

    #: backend name used by :func:`~spine_rt.runtime.backends.select_backend` and reports.
    backend: ClassVar[str] = ""
    #: whether :meth:`infer` accepts torch tensors in the feed (zero-copy backends).
    accepts_torch_tensors: ClassVar[bool] = False
    #: whether :meth:`infer` runs on a caller's CUDA stream (``stream=``): device runners; host runners
    #: finish their work before they return and take ``stream=None`` only.
    accepts_streams: ClassVar[bool] = False

    def __init__(self, *, name: str | None = None, device: str = "cpu") -> None:
        self.name: str = name if name is not None else type(self).__name__
        self.device: str = normalize_device(device)
        self._active = False
        self._closed = False

    # ----------------------------------------------------------------- lifecycle
    @property
    def is_active(self) -> bool:
        """True between a successful :meth:`activate` and :meth:`close`."""
        return self._active

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def activate(self) -> "Runner":
        """Load the model and prepare inference; does nothing when already active.

        Returns:
            ``self``, so that ``runner = OnnxRuntimeRunner(p).activate()`` works.

        Raises:
            InputError: the runner is closed, or the model is missing or corrupt.
            EnvironmentProblem: the backend or device is not available.
        """
        self._check_not_closed()
        if not self._active:
            self._activate_impl()
            self._active = True
        return self

    def close(self) -> None:
        """Release the model and device memory; calling it again does nothing."""
        if self._closed:
            return
        try:
            if self._active:
                self._close_impl()
        finally:
            self._active = False
            self._closed = True

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- metadata
    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """Names, shapes (``None`` = dynamic) and dtypes of the inputs, in model order.

        Activates the runner when needed (the metadata come from the loaded model).
        """
        self.activate()
        return self._input_specs_impl()

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """Names, shapes and dtypes of the outputs, in model order (activates the runner)."""
        self.activate()
        return self._output_specs_impl()

    def describe(self) -> dict[str, str]:
        """``{"name", "backend", "device"}`` for reports and logs."""
        return {"name": self.name, "backend": self.backend, "device": self.device}

    # ----------------------------------------------------------------- inference
    def infer(self, feed: Mapping[str, Any], *, stream: Any = None, check_inputs: bool = True) -> dict[str, Any]:
        """Run one batch.

        Args:
            feed: input name -> numpy array (or torch tensor where the backend
                takes them), matching :attr:`input_specs` in dtype and static sizes.
            stream: the CUDA stream to queue the work on (a torch stream or an int
                ``cudaStream_t``), for runners with :attr:`accepts_streams`; ``None``:
                the runner's own stream (device runners) or none (host runners).
            check_inputs: validate the feed first (default). Pass ``False`` only
                in a loop whose feed was checked once.

        Returns:
            output name -> array, in the order of :attr:`output_specs`.

        Raises:
            InputError: the runner is closed, a stream given to a runner without
                :attr:`accepts_streams`, or an input is missing, unexpected, or has
                the wrong dtype, rank or size (one line naming the expected spec).
        """
        self.activate()
        if stream is not None and not self.accepts_streams:
            raise InputError(f"{self._label()} runs on the host and takes no CUDA stream; pass stream=None")
        if check_inputs:
            validate_feed(
                feed,
                self._input_specs_impl(),
                runner_label=self._label(),
                accepts_torch_tensors=self.accepts_torch_tensors,
            )
        return self._infer_impl(feed, stream)

    # ----------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _activate_impl(self) -> None:
        """Load the model; raise InputError/EnvironmentProblem for bad files/missing backends."""

    @abc.abstractmethod
    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        """Input specs of the active model."""

    @abc.abstractmethod
    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        """Output specs of the active model."""

    @abc.abstractmethod
    def _infer_impl(self, feed: Mapping[str, Any], stream: Any) -> dict[str, Any]:
        """Run one batch on a validated feed (on ``stream`` when not ``None``); return output name -> array."""

    @abc.abstractmethod
    def _close_impl(self) -> None:
        """Release what :meth:`_activate_impl` allocated."""

    # ----------------------------------------------------------------- helpers
    def _label(self) -> str:
        cls = type(self).__name__
        return cls if self.name == cls else f"{cls} {self.name!r}"

    def _check_not_closed(self) -> None:
        if self._closed:
            raise InputError(f"{self._label()} is closed; create a new runner to run inference again")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "active" if self._active else "inactive"
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r}, {state})"

