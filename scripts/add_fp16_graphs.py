"""Add the strongly typed FP16 graphs to an FP32-only package, verified as ``spine-rt export`` verifies them.

::

    python scripts/add_fp16_graphs.py spine_rt/demo_model

For every stage and fold: the package's FP32 graph is converted by the
exporter's own pass (:func:`spine_rt.export.fp16_graph.convert_to_fp16`),
checked (:func:`spine_rt.export.graph_checks.check_graph`), run on
onnxruntime CPU on the exporter's parity inputs and compared with torch FP32
on the package's own weights (:func:`spine_rt.export.parity.compare_outputs`
with the FP16 tolerances, :func:`parity_failures`). The FP32 graphs and
weights stay byte for byte as they are. The new package (FP16 graphs added
to the manifest, every file hashed, the parity records appended to the
provenance) is assembled in an owned temporary folder, opened with sha256
verification and then moved into place; a failed check changes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path


def add_fp16(package_folder: Path, seed: int = 0) -> list[dict]:
    """Add FP16 graphs to ``package_folder``; returns the parity records (raises ParityError on a failure)."""
    import onnx

    from spine_rt.atomic_write import move_folder_into_place, new_temporary_folder
    from spine_rt.export.fp16_graph import convert_to_fp16
    from spine_rt.export.graph_checks import check_graph
    from spine_rt.export.parity import ParityError, compare_outputs, parity_failures
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.export.stage_export import torch_outputs
    from spine_rt.model_package import MANIFEST_NAME, GraphFile, ModelPackage, sha256_file
    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint
    from spine_rt.runtime import OnnxRuntimeRunner

    package = ModelPackage.open(package_folder, verify=True)
    manifest = package.manifest
    staging = new_temporary_folder(package_folder.parent, package_folder.name)
    try:
        shutil.rmtree(staging)
        shutil.copytree(package_folder, staging, ignore=shutil.ignore_patterns("__pycache__"))
        stages, records = {}, []
        for name, stage in manifest.stages.items():
            graphs = [g for g in stage.graphs if g.precision != "fp16"]
            for fp32 in [g for g in graphs if g.precision == "fp32"]:
                weights = next(w for w in stage.weights if w.fold == fp32.fold)
                network = build(stage.network, stage.preset, **stage.config).eval()
                load_checkpoint(network, package.path(weights.path))
                inputs = parity_inputs(stage.network, stage.config, stage.patch_size, batch=2, seed=seed)
                reference = torch_outputs(network, inputs, list(network.input_names), list(network.output_names))
                fp16_graph = convert_to_fp16(onnx.load(str(package.path(fp32.path))))
                label = f"{name} fold{fp32.fold} fp16"
                check_graph(fp16_graph, label)
                entry = GraphFile(path=fp32.path.replace(".fp32.onnx", ".fp16.onnx"), precision="fp16",
                                  fold=fp32.fold)
                onnx.save_model(fp16_graph, str(staging / entry.path))
                with OnnxRuntimeRunner(staging / entry.path, device="cpu", name=label) as runner:
                    candidate = runner.infer(inputs)
                class_output = stage.outputs[0].name
                results = compare_outputs(candidate, reference, class_outputs=(class_output,))
                problems = parity_failures(results, "fp16")
                if problems:
                    raise ParityError(f"{label}: onnxruntime differs from torch beyond tolerance: "
                                      f"{'; '.join(problems)}; the package was not changed")
                records += [{"stage": name, "fold": fp32.fold, "precision": "fp16", **r.as_dict()} for r in results]
                graphs.append(entry)
            stages[name] = dataclasses.replace(stage, graphs=tuple(graphs))
        files = {p.relative_to(staging).as_posix(): sha256_file(p) for p in sorted(staging.rglob("*"))
                 if p.is_file() and p.name != MANIFEST_NAME and p.suffix in (".onnx", ".pt")}
        provenance = dict(manifest.provenance)
        provenance["parity"] = [r for r in provenance.get("parity", []) if r.get("precision") != "fp16"] + records
        final = dataclasses.replace(manifest, stages=stages, files=files, provenance=provenance)
        (staging / MANIFEST_NAME).write_text(final.to_json())
        ModelPackage.open(staging, verify=True)
        move_folder_into_place(staging, package_folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the package folder (changed in place)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the parity inputs (default 0)")
    args = parser.parse_args(argv)
    for record in add_fp16(args.package, args.seed):
        print(f"{record['stage']} fold{record['fold']} fp16 {record['output']}: relative error "
              f"{record['relative_error']:.2e}, argmax agreement {record['argmax_agreement']}")
    print(f"added FP16 graphs to {args.package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
