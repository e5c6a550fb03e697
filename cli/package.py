"""``spine-rt package``: ONNX graphs trained elsewhere -> one verified model package (no torch needed).

::

    spine-rt package mbnet --graph mbnet.onnx --layout channels_last --input image=input_1 \\
        --output segmentation=seg --output inspection_values=values --out PKG
    spine-rt package sshsnet --graph stage1=s1.onnx --graph stage2=s2_f0.onnx --graph stage2=s2_f1.onnx --out PKG
    spine-rt package sshsnet --spec spec.json --out PKG          # docs/package_onnx.md

Each graph is checked against its stage's inputs and outputs (one line
naming every mismatch, exit 2), cleaned, converted to strongly typed FP16,
and run with onnxruntime against the given graph before the package is
published; a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse

from spine_rt.errors import InputError
from spine_rt.export.model_families import EXPORTABLE_MODELS, ModelFamily, model_family


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package",
        help="package ONNX graphs trained elsewhere as a verified model package (ONNX FP32 + FP16)",
        description="Build a model package from ONNX graphs trained outside spine-rt (PyTorch, Keras via "
        "tf2onnx, ...). Each graph is checked against its stage's inputs and outputs (names, ranks, channel "
        "counts, patch size, static spatial sizes), renamed to spine-rt's names, cleaned, converted to a "
        "strongly typed FP16 graph, and run with onnxruntime against the given FP32 graph; the package is "
        "published only when everything passes. Spec format: docs/package_onnx.md.",
    )
    parser.add_argument("model", metavar="MODEL", help=f"model the graphs implement: {', '.join(EXPORTABLE_MODELS)}")
    parser.add_argument("--graph", action="append", default=[], metavar="[STAGE=]FILE",
                        help="ONNX graph of a stage (sshsnet: stage1=S1.onnx, stage2=S2.onnx; one-stage models: "
                        "FILE); repeat a stage for folds")
    parser.add_argument("--spec", default=None, metavar="JSON",
                        help="spec file: graphs, names, layout, labels, preprocessing (flags win over it)")
    parser.add_argument("--out", required=True, metavar="PKG", help="package folder to create")
    parser.add_argument("--labels", default=None, metavar="JSON",
                        help="labels.json ({id: name} or [names]); default: the model's labels")
    parser.add_argument("--layout", action="append", default=[], metavar="[STAGE=]LAYOUT",
                        help="channels_first (default, PyTorch) or channels_last (Keras/tf2onnx (N, H, W, C))")
    parser.add_argument("--input", action="append", default=[], metavar="[STAGE:]NAME=GRAPH_NAME",
                        help="the graph's name for spine-rt's input NAME, e.g. image=input_1")
    parser.add_argument("--output", action="append", default=[], metavar="[STAGE:]NAME=GRAPH_NAME",
                        help="the graph's name for spine-rt's output NAME, e.g. logits=output_0")
    parser.add_argument("--precision", default=None, metavar="LIST",
                        help="precisions to write, comma separated: fp32, fp16 (default: fp32,fp16)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the parity inputs (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing package at --out (atomically)")
    parser.set_defaults(run=run)


def _stage_of(family: ModelFamily, stage: str, spec: str, option: str) -> str:
    if stage:
        family.stage(stage)
        return stage
    if len(family.stages) != 1:
        raise InputError(f"{option} {spec!r}: {family.name} has several stages; prefix the stage "
                         f"({', '.join(family.stage_names)})")
    return family.stage_names[0]


def parse_names(family: ModelFamily, inputs: list[str], outputs: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """``--input stage2:image=x`` ... -> ``{stage: {"inputs": {name: graph name}, "outputs": {...}}}``.

    Raises:
        InputError: a malformed item or an unknown stage.
    """
    names: dict[str, dict[str, dict[str, str]]] = {}
    for option, side, items in (("--input", "inputs", inputs), ("--output", "outputs", outputs)):
        for item in items:
            head, separator, theirs = item.partition("=")
            stage, _, ours = head.rpartition(":")
            if not separator or not ours or not theirs:
                raise InputError(f"{option} {item!r}: write [STAGE:]NAME=GRAPH_NAME, e.g. image=input_1")
            chosen = _stage_of(family, stage, item, option)
            names.setdefault(chosen, {}).setdefault(side, {})[ours] = theirs
    return names


def parse_stage_values(family: ModelFamily, items: list[str], option: str) -> dict[str, list[str]]:
    """``["stage2=a.onnx", "b.onnx"]`` -> ``{stage: [values]}`` (a bare value means the only stage).

    Raises:
        InputError: a bare value for a multi-stage model, an unknown stage, or an empty value.
    """
    result: dict[str, list[str]] = {}
    for item in items:
        stage, separator, value = item.partition("=")
        if not separator or stage not in family.stage_names:
            stage, value = _stage_of(family, "", item, option), item
        if not value:
            raise InputError(f"{option} {item!r}: nothing after {stage}=")
        result.setdefault(stage, []).append(value)
    return result


def run(args: argparse.Namespace) -> int:
    from spine_rt.dependencies import require

    family = model_family(args.model)
    for module in ("onnx", "onnxscript"):
        require(module, "spine-rt package")
    from spine_rt.export.onnx_package import package_onnx

    layouts = {stage: values[-1] for stage, values in parse_stage_values(family, args.layout, "--layout").items()}
    package = package_onnx(
        family.name,
        out=args.out,
        graphs=parse_stage_values(family, args.graph, "--graph") or None,
        spec=args.spec,
        labels=args.labels,
        names=parse_names(family, args.input, args.output) or None,
        layout=layouts or None,
        precisions=args.precision,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"wrote {package.root} ({package.manifest.model} from ONNX, {len(package.manifest.labels)} classes, "
          f"{len(package.manifest.files)} files)")
    for stage, records in package.manifest.provenance["source_graphs"].items():
        for record in records:
            mapping = ", ".join(f"{ours}<-{theirs}" for side in ("inputs", "outputs")
                                for ours, theirs in record[side].items() if ours != theirs)
            print(f"  {stage} fold{record['fold']}: {record['file']} ({record['producer']}, opset {record['opset']}, "
                  f"{record['layout']}{'; ' + mapping if mapping else ''})")
    worst: dict[tuple[str, int, str], tuple[float, float | None]] = {}
    for record in package.manifest.provenance["parity"]:
        key = (record["stage"], record["fold"], record["precision"])
        error, agreement = worst.get(key, (0.0, None))
        if record["argmax_agreement"] is not None:
            agreement = min(agreement if agreement is not None else 1.0, record["argmax_agreement"])
        worst[key] = (max(error, record["relative_error"]), agreement)
    for (stage, fold, precision), (error, agreement) in worst.items():
        print(f"  {stage} fold{fold} {precision}: onnxruntime vs the given graph relative error {error:.2e}"
              + (f", argmax agreement {100 * agreement:.2f} %" if agreement is not None else ""))
    return 0
