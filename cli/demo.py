"""``spine-rt demo``: a synthetic spine MR through the bundled model, end to end.

::

    spine-rt demo                       # -> ./spine-rt-demo/{scan.nii.gz,labels.nii.gz,report.json,qc.png}
    spine-rt demo --out /tmp/d --seed 7 --backend onnxruntime

Prints the Dice of every structure against the phantom's exact truth, their
mean, and the wall time. The bundled model knows phantoms only; it is not for
clinical use (``docs/demo_model.md``).
"""

from __future__ import annotations

import argparse

from spine_rt.errors import EXIT_OK, InputError
from spine_rt.runtime.backends import BACKEND_NAMES, PRECISIONS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from spine_rt.demo import DEFAULT_OUT, DEFAULT_SEED

    parser = subparsers.add_parser(
        "demo",
        help="segment a synthetic spine MR with the bundled demo model",
        description="Draw a phantom spine MR, run the two-stage pipeline with the bundled demo model (trained on "
        "phantoms only, not for clinical use), write scan.nii.gz, labels.nii.gz, report.json and qc.png into "
        "--out, and print the Dice per structure against the phantom's truth.",
    )
    parser.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT),
                        help=f"output folder, created if missing (default ./{DEFAULT_OUT})")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=None, help="inference backend (default auto)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the best available)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="fp32 (exact; default on the CPU), fp16 (CUDA) or bf16 (openvino, AVX512_BF16/AMX CPUs)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the phantom's seed (default {DEFAULT_SEED})")
    parser.add_argument("--model", metavar="PKG", help="a spine MR package instead of the bundled demo model")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spine_rt.demo import run_demo

    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {args.seed}")
    result = run_demo(args.out, backend=args.backend, device=args.device, seed=args.seed, package=args.model,
                      precision=args.precision)
    from spine_rt.model_package.identity import identity_line

    print(identity_line(result.model))
    print(f"phantom seed {args.seed}: {'x'.join(str(s) for s in result.shape)} voxels of "
          f"{' x '.join(f'{s:g}' for s in result.spacing_mm)} mm; backend: {result.report.get('backend', '?')}")
    width = max(len(name) for name in result.dice)
    print("Dice against the phantom's truth:")
    for name, score in result.dice.items():
        print(f"  {name:<{width}}  {score:.3f}")
    print(f"  {'mean':<{width}}  {result.mean_dice:.3f}")
    from spine_rt.measure.measurement_summary import summary_lines

    for line in summary_lines(result.report):
        print(line)
    for what, path in result.files.items():
        print(f"wrote {path} ({what})")
    print(f"elapsed {result.seconds:.1f} s (wall time; depends on the machine and its load, see "
          "benchmarks/RESULTS.md)")
    return EXIT_OK
