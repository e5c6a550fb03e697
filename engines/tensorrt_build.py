"""TensorRT's side of a build: one ONNX graph to a serialized plan, with a timing cache file.

TensorRT timing caches kept in a file: loaded before a build, merged and saved after it.

The timing cache records how fast each kernel tactic ran on this GPU, so a
second build of the same layers skips the measurements. ``TimingCacheFile``
loads the file when it exists (a missing file starts an empty cache), and
after the build merges what the file holds *now* (another build may have
saved meanwhile) into the builder's cache and writes the result atomically.

A cache is specific to a TensorRT version and GPU; the default file name
says both: ``PKG/engines/timing-caches/10.16.1.11-sm90.cache``.

Compile one ONNX graph into a serialized TensorRT engine (a plan).

::

    plan = build_serialized_engine(onnx_path, profile, settings=EngineBuildSettings(workspace_mb=4096),
                                   timing_cache=TimingCacheFile(path))

The graph is built as a **strongly typed** network: TensorRT keeps every
tensor in the type the graph gives it (the FP16 graph computes in FP16 where
the export put FP16, FP32 where it kept FP32). TensorRT 10 needs the
``STRONGLY_TYPED`` network creation flag for that; TensorRT 11 builds every
network strongly typed (it removed ``BuilderFlag.FP16`` and ignores the
flag), so the flag is passed only where it is needed. TF32 is switched off
(TensorRT enables it by default): what the graph keeps in FP32 is computed in
FP32. One optimization profile per engine: batch min/opt/max, spatial sizes
fixed.

``tensorrt`` is imported inside the functions; importing this module needs
nothing beyond the base install.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.atomic_write import write_bytes_atomic
from spine_rt.dependencies import require
from spine_rt.engines.key import version_tuple
from spine_rt.engines.options import ShapeRange
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.tensorrt_logger import format_errors, make_tensorrt_logger


LOG = logging.getLogger(__name__)

#: folder of the default timing caches inside a package's engine store.
TIMING_CACHE_FOLDER = "timing-caches"


def default_timing_cache_path(engines_root: Path, tensorrt_version: str, compute_capability: str) -> Path:
    """``engines_root/timing-caches/<TensorRT version>-sm<major><minor>.cache``."""
    architecture = compute_capability.replace(".", "")
    return Path(engines_root) / TIMING_CACHE_FOLDER / f"{tensorrt_version}-sm{architecture}.cache"


class TimingCacheFile:
    """A timing cache on disk, attached to one TensorRT builder configuration at a time.

    Args:
        path: the cache file; it need not exist yet.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._loaded = b""

    @property
    def loaded_bytes(self) -> int:
        """Size of the cache read from the file by the last :meth:`attach` (0: started empty)."""
        return len(self._loaded)

    def read(self) -> bytes:
        """The file's bytes, or ``b""`` when it does not exist yet."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def write(self, data: bytes) -> None:
        """Replace the file with ``data`` atomically."""
        write_bytes_atomic(self.path, data)

    def attach(self, config: Any) -> Any:
        """Create a timing cache from the file and set it on ``config`` (a ``tensorrt.IBuilderConfig``).

        A cache TensorRT rejects (another GPU or TensorRT version, a damaged
        file) is replaced by an empty one, with a warning; the file is then
        overwritten after the build.

        Returns:
            The ``tensorrt.ITimingCache`` now attached to ``config``.
        """
        self._loaded = self.read()
        cache = config.create_timing_cache(self._loaded)
        if cache is None or not config.set_timing_cache(cache, False):
            LOG.warning("TensorRT rejected the timing cache %s; starting an empty one", self.path)
            self._loaded = b""
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, False)
        return cache

    def save(self, config: Any) -> int:
        """Merge the file's current content into ``config``'s timing cache and write the result.

        Returns:
            The number of bytes written.
        """
        cache = config.get_timing_cache()
        if cache is None:
            return 0
        on_disk = self.read()
        if on_disk and on_disk != self._loaded:
            other = config.create_timing_cache(on_disk)
            if other is None or not cache.combine(other, False):
                LOG.warning("could not merge the timing cache %s written by another build; it is replaced", self.path)
        data = bytes(memoryview(cache.serialize()))
        self.write(data)
        self._loaded = data
        return len(data)


#: bytes per MiB (``--workspace`` is in MiB).
MIB = 1 << 20


@dataclass(frozen=True)
class EngineBuildSettings:
    """Builder settings that change build time and speed but not what the engine computes.

    Attributes:
        workspace_mb: limit of TensorRT's workspace memory pool in MiB (``None``: TensorRT's default).
        opt_level: builder optimization level 0-5 (``None``: TensorRT's default, 3).
        version_compatible: set ``BuilderFlag.VERSION_COMPATIBLE`` (the plan then runs on later
            TensorRT versions of the same major; it is part of the engine key).
    """

    workspace_mb: int | None = None
    opt_level: int | None = None
    version_compatible: bool = False


def import_tensorrt(purpose: str = "building TensorRT engines") -> Any:
    """The ``tensorrt`` module, or :class:`EnvironmentProblem` with the install hint."""
    return require("tensorrt", purpose)


def network_creation_flags(trt: Any) -> int:
    """The ``create_network`` flags for a strongly typed network on this TensorRT.

    TensorRT 10: ``1 << STRONGLY_TYPED``. TensorRT 11 and later: ``0`` (every
    network is strongly typed; the flag is deprecated there and ignored).

    Raises:
        EnvironmentProblem: a TensorRT older than 10 that lacks strongly typed networks.
    """
    major = version_tuple(str(trt.__version__))[0]
    if major >= 11:
        return 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if major < 10 or strongly_typed is None:
        raise EnvironmentProblem(
            f"TensorRT {trt.__version__} cannot build strongly typed networks; spine-rt needs TensorRT 10 or later: "
            "pip install --extra-index-url https://pypi.nvidia.com 'tensorrt>=10'"
        )
    return 1 << int(strongly_typed)


def create_network(trt: Any, builder: Any) -> Any:
    """The empty network :func:`build_serialized_engine` parses a graph into: strongly typed
    (``builder.create_network`` with :func:`network_creation_flags`)."""
    return builder.create_network(network_creation_flags(trt))


def build_serialized_engine(
    onnx_path: str | Path,
    profile: Sequence[ShapeRange],
    settings: EngineBuildSettings | None = None,
    timing_cache: TimingCacheFile | None = None,
) -> bytes:
    """Parse ``onnx_path`` and build a strongly typed engine with one optimization profile.

    Builds on the current CUDA device (the caller selects it). External
    weight files beside the graph are found by the parser.

    Args:
        onnx_path: the ONNX graph.
        profile: one min/opt/max range per network input (names must match the graph's inputs).
        settings: builder settings (defaults: TensorRT's).
        timing_cache: loaded before the build, merged and saved after it.

    Returns:
        The serialized engine (plan bytes).

    Raises:
        EnvironmentProblem: TensorRT is not installed (install hint), or the
            build failed (TensorRT's error messages: out of memory, no tactic...).
        InputError: the graph cannot be parsed, or its inputs differ from the profile's.
    """
    trt = import_tensorrt()
    settings = settings or EngineBuildSettings()
    logger = make_tensorrt_logger(trt)
    try:
        builder = trt.Builder(logger)
    except (RuntimeError, TypeError) as exc:  # pybind11 reports a null builder (no usable GPU) as TypeError
        raise EnvironmentProblem(
            f"TensorRT {trt.__version__} cannot start a builder on this GPU "
            f"({format_errors(logger.take_errors()) if logger.errors else exc})"
        ) from None
    network = create_network(trt, builder)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        messages = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise InputError(f"TensorRT could not parse {onnx_path}: {format_errors(messages + logger.take_errors())}")
    _check_profile_matches_network(network, profile, onnx_path)

    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 tensors of the typed graph compute in FP32, not TF32
    if settings.workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_mb) * MIB)
    if settings.opt_level is not None:
        config.builder_optimization_level = int(settings.opt_level)
    if settings.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    optimization_profile = builder.create_optimization_profile()
    for shape_range in profile:
        optimization_profile.set_shape(shape_range.name, shape_range.min, shape_range.opt, shape_range.max)
    config.add_optimization_profile(optimization_profile)
    if timing_cache is not None:
        timing_cache.attach(config)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EnvironmentProblem(
            f"TensorRT {trt.__version__} could not build an engine from {onnx_path}: {format_errors(logger.take_errors())}"
        )
    if timing_cache is not None:
        timing_cache.save(config)
    return bytes(memoryview(serialized))


def _check_profile_matches_network(network: Any, profile: Sequence[ShapeRange], onnx_path: str | Path) -> None:
    """InputError when the graph's input names differ from the profile's (the manifest's)."""
    graph_inputs = [network.get_input(index).name for index in range(network.num_inputs)]
    profile_inputs = [shape_range.name for shape_range in profile]
    if sorted(graph_inputs) != sorted(profile_inputs):
        raise InputError(
            f"{onnx_path}: the graph's inputs are {graph_inputs} but the manifest lists {profile_inputs}; "
            "the package is inconsistent, re-export it"
        )
