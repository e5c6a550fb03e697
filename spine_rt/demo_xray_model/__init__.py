"""The bundled X-ray demo model: a tiny MBNet package trained on synthetic lateral lumbar X-rays only.

This folder is a model package (``manifest.json`` + ONNX graphs + weights),
written by ``scripts/train_demo_xray_model.py`` and used by ``spine-rt infer``
on an X-ray picture without ``--model`` and by ``spine_rt.load_pipeline("demo-xray")``
(:func:`spine_rt.pipelines.default_model.default_xray_package_path`). It knows
phantoms only and is not for clinical use; see ``docs/demo_model.md``.
"""
