"""``spine-rt triton-repo``: write a Triton model repository from a model package.

::

    spine-rt triton-repo PKG --out REPO                           # onnxruntime flavour, fp32
    spine-rt triton-repo PKG --out REPO --flavour tensorrt --gpu h100
    spine-rt triton-repo PKG --out REPO --flavour python --instances 2   # runs on spine-rt triton-serve

The work is :func:`spine_rt.serving.triton_repository.write_triton_repository`.
"""

from __future__ import annotations

import argparse

from spine_rt.runtime.backends import GRAPH_PRECISIONS
from spine_rt.serving.triton_model_config import FLAVOURS, INSTANCE_KINDS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "triton-repo",
        help="write a Triton Inference Server model repository from a model package",
        description="Write a standard Triton model repository: one model per stage and fold (named "
        "<prefix><stage>_fold<k>), each with config.pbtxt (the package's input/output names, dtypes and shapes, "
        "batch axis dynamic, dynamic batching with preferred sizes from the batch the pipelines send, instance "
        "groups) and its model file. Flavours: onnxruntime (platform onnxruntime_onnx), tensorrt (the engines of "
        "the package's engine store for one GPU; platform tensorrt_plan) and python (model.py hosting "
        "onnxruntime; the one spine-rt triton-serve can run). Written atomically.",
    )
    parser.add_argument("package", metavar="PKG", help="model package folder")
    parser.add_argument("--out", required=True, metavar="REPO", help="the repository folder to write")
    parser.add_argument("--flavour", default=None, choices=FLAVOURS,
                        help="how Triton runs the models (default: onnxruntime)")
    parser.add_argument("--precision", default=None, choices=GRAPH_PRECISIONS,
                        help="which graph: fp32 (default) or the package's FP16 graph (tensorrt default: fp16)")
    parser.add_argument("--max-batch", type=int, default=None, metavar="N",
                        help="max_batch_size of every model (default: twice the batch the pipeline sends; "
                        "tensorrt: the engine's max)")
    parser.add_argument("--instances", type=int, default=None, metavar="N", help="model instances per device (default 1)")
    parser.add_argument("--instance-kind", default=None, choices=INSTANCE_KINDS,
                        help="auto (GPU for tensorrt/onnxruntime, CPU for python), cpu or gpu")
    parser.add_argument("--dynamic-batching", default=None, metavar="auto|off|SIZES",
                        help="auto (default: preferred sizes = multiples of the pipeline batch up to the max), off, "
                        "or preferred sizes such as 4,8")
    parser.add_argument("--queue-delay-us", type=int, default=None, metavar="US",
                        help="the dynamic batcher's max queue delay in microseconds (default 2000)")
    parser.add_argument("--gpu", default=None, metavar="NAME|CC",
                        help="tensorrt: the GPU whose engines to take, by name (e.g. h100) or compute capability "
                        "(e.g. 9.0); default: the only one the engine store has")
    parser.add_argument("--model-name-prefix", default=None, metavar="TEXT",
                        help="put before every model name (several packages on one server)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="python flavour: onnxruntime intra-op threads per instance")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing REPO")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spine_rt.serving.triton_repository import RepositoryOptions, write_triton_repository

    options = RepositoryOptions(flavour=args.flavour, precision=args.precision, max_batch=args.max_batch,
                                instances=args.instances, instance_kind=args.instance_kind,
                                dynamic_batching=args.dynamic_batching, queue_delay_us=args.queue_delay_us,
                                gpu=args.gpu, model_name_prefix=args.model_name_prefix, threads=args.threads,
                                overwrite=args.overwrite)
    models = write_triton_repository(args.package, args.out, options)
    print(f"wrote {args.out}: {len(models)} model(s), flavour {models[0].config.flavour}")
    for model in models:
        sizes = model.config.preferred_batch_sizes
        batching = f"dynamic batching {list(sizes)}" if sizes else "no dynamic batching"
        print(f"  {model.name}: {model.source}, max batch {model.config.max_batch_size}, {batching}, "
              f"{model.config.instances} x {model.config.kind}")
    return 0
