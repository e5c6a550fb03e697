"""Model packages: a folder with ``manifest.json``, ONNX graphs and weights.

Read with :meth:`ModelPackage.open` (no torch needed); written by
``spine_rt.export``; engines are added under ``engines/`` by
``spine_rt.engines``.
"""

from spine_rt.model_package.file_hash import sha256_file
from spine_rt.model_package.manifest import (
    FORMAT_VERSION,
    PRECISIONS,
    GraphFile,
    Manifest,
    Stage,
    TensorEntry,
    WeightFile,
)
from spine_rt.model_package.model_package import MANIFEST_NAME, ModelPackage

__all__ = [
    "FORMAT_VERSION",
    "PRECISIONS",
    "MANIFEST_NAME",
    "GraphFile",
    "Manifest",
    "ModelPackage",
    "Stage",
    "TensorEntry",
    "WeightFile",
    "sha256_file",
]
