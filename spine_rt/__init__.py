"""spine-rt: spine segmentation networks from PyTorch to fast, exact inference.

Importing this package needs only the light base dependencies (numpy,
nibabel, pydicom, onnxruntime, scipy, pillow, tqdm); torch, TensorRT,
cuda-python and MONAI are imported lazily by the code that needs them.
"""

from __future__ import annotations

from spine_rt.errors import EnvironmentProblem, InputError, SpineRTError

__version__ = "0.1.0"

__all__ = ["__version__", "SpineRTError", "InputError", "EnvironmentProblem"]
