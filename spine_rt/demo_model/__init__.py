"""The bundled demo model: a tiny two-stage SSHSNet package trained on synthetic phantoms only.

This folder is a model package (``manifest.json`` + ONNX graphs + weights),
written by ``scripts/train_demo_model.py`` and used by ``spine-rt demo`` and
by ``spine-rt infer`` without ``--model``
(:func:`spine_rt.pipelines.default_model.default_package_path`). It knows
phantoms only and is not for clinical use; see ``docs/demo_model.md``.
"""
