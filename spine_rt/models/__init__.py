"""PyTorch definitions of the SSHSNet and MBNet/BiLuNet networks.

Importing :mod:`spine_rt.models` does not import torch; :func:`build` does.
"""

from spine_rt.models.factory import MODEL_NAMES, PRESETS, build

__all__ = ["build", "MODEL_NAMES", "PRESETS"]
