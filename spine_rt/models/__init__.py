"""PyTorch definitions of the SSHSNet and MBNet/BiLuNet networks.

Importing :mod:`spine_rt.models` does not import torch; :func:`build` does,
and so does the first use of :func:`load_checkpoint` /
:func:`load_checkpoint_format` (which also take the SSHSNet authors'
checkpoints, see :mod:`spine_rt.models.authors_checkpoints`).
"""

from spine_rt.lazy_exports import lazy_exports
from spine_rt.models.factory import MODEL_NAMES, PRESETS, build

_EXPORTS = {
    "load_checkpoint": "spine_rt.models.checkpoint",
    "load_checkpoint_format": "spine_rt.models.checkpoint",
}

__all__ = ["build", "MODEL_NAMES", "PRESETS", "load_checkpoint", "load_checkpoint_format"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
