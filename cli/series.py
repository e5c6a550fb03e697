"""``spine-rt series INPUT``: list the DICOM series of a folder, ``.zip``, DICOMDIR or multi-frame file.

::

    spine-rt series study/            # number, description, modality, orientation, slices, spacing, UID
    spine-rt series study.zip --json series.json

Which one ``spine-rt infer`` would segment by rule is marked with ``*``
(for the bundled model, or ``--model PKG``); ``infer --series`` picks
another. Files that look like DICOM but cannot be read are listed with the
reason. Exit codes: 0 listed, 2 no DICOM images or an unreadable input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spine_rt.errors import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "series", help="list the DICOM series of a folder, zip, DICOMDIR or multi-frame file",
        description="List the DICOM series of INPUT (a folder, searched recursively; a .zip; a DICOMDIR; an enhanced "
        "multi-frame file) with number, description, modality, orientation, slice count and spacing; '*' marks "
        "the series `spine-rt infer` chooses by rule for the model.",
    )
    parser.add_argument("input", metavar="INPUT", help="DICOM folder, .zip, DICOMDIR or multi-frame file")
    parser.add_argument("--model", metavar="PKG", default=None,
                        help="model package whose modality and contrast the rule follows (default: the bundled one)")
    parser.add_argument("--json", metavar="FILE.json", default=None, help="also write the list as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spine_rt.errors import InputError
    from spine_rt.model_package import ModelPackage
    from spine_rt.pipelines.default_model import default_package_path

    if args.json is not None and Path(args.json).suffix.lower() != ".json":
        raise InputError(f"{args.json}: the list is JSON; the name must end in .json")
    package = ModelPackage.open(Path(args.model) if args.model else default_package_path(), verify=False)
    return list_series(Path(args.input), package, args.json)


def list_series(source: Path, package, json_path: str | None = None) -> int:
    """Print the series table of ``source`` with the rule's choice for ``package`` marked (also ``infer
    --list-series``); with ``json_path`` also write it as JSON. Returns the exit code (0)."""
    from spine_rt.atomic_write import write_bytes_atomic
    from spine_rt.errors import InputError
    from spine_rt.io.dicom_series import index_dicom, series_table
    from spine_rt.io.series_choice import choose_series

    study = index_dicom(source)
    try:
        choice = choose_series(study, task=package.manifest.task,
                               contrast=package.manifest.preprocessing.get("contrast"))
        chosen, reason = choice.series, choice.reason
    except InputError as problem:
        chosen, reason = None, str(problem)
    for row, line in enumerate(series_table(study).splitlines()):
        marked = 1 <= row <= len(study.series) and study.series[row - 1] is chosen
        print(("* " if marked else "  ") + line)
    print(f"{len(study.series)} series in {study.source}; infer would take: "
          f"{chosen.label() + ' (' + reason + ')' if chosen is not None else reason}")
    if json_path is not None:
        entries = [{**s.summary(), "chosen": s is chosen, "problem": s.problem} for s in study.series]
        data = {"input": str(study.source), "series": entries, "choice": reason,
                "unreadable": [{"file": u.name, "reason": u.reason} for u in study.unreadable]}
        write_bytes_atomic(json_path, (json.dumps(data, indent=2) + "\n").encode())
    return EXIT_OK
