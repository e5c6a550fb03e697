"""spine-rt: spine segmentation networks from PyTorch to fast, exact inference.

Importing this package needs only the light base dependencies (numpy,
nibabel, pydicom, onnxruntime, scipy, cc3d, pillow, tqdm); torch, TensorRT,
cuda-python and MONAI are imported lazily by the code that needs them.
``import spine_rt`` imports neither torch nor onnxruntime.

::

    import spine_rt
    pipe = spine_rt.load_pipeline("pkg/", backend="auto", device="cuda:0")
    result = pipe("scan.nii.gz")
    result.labels, result.affine, result.report; result.save("seg.nii.gz")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spine_rt.errors import EnvironmentProblem, InputError, SpineRTError

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from spine_rt.pipelines.spine_mr.pipeline import SpineMrPipeline

__version__ = "0.1.0"

__all__ = ["__version__", "SpineRTError", "InputError", "EnvironmentProblem", "load_pipeline"]


def load_pipeline(package: Any = None, **options: Any) -> SpineMrPipeline:
    """Open a model package and make a pipeline of it; see :func:`spine_rt.pipelines.load.load_pipeline`.

    ``spine_rt.load_pipeline()`` (no package, or ``"demo"``) opens the bundled
    demo model, which knows synthetic phantoms only; ``"demo-xray"`` the
    bundled X-ray demo model (a tiny MBNet, phantoms only too).

    ``spine_rt.load_pipeline(package, backend=None, device=None, schedule=None, ...)``:
    an option left out or ``None`` takes its default (backend ``auto``, schedule
    ``fast``, ...), filled in once by :class:`~spine_rt.pipelines.options.PipelineOptions`.
    The pipeline modules (and with the runners, onnxruntime or torch) are
    imported only when this is called.
    """
    from spine_rt.pipelines.load import load_pipeline as _load_pipeline

    return _load_pipeline(package, **options)
