"""Every sub-command against a table of hostile inputs: a clean failure every time.

Each row runs ``spine-rt <command> ...`` in this process (``cli.main``) and
asserts :func:`conftest.assert_clean_failure`: exit 2 (bad input or usage)
or 3 (missing backend or device), exactly one line on stderr and no
traceback, no temporary or partial file anywhere under the test's folders,
and not one byte of any input (scans, packages, pre-existing outputs)
changed. The kinds of hostility: missing, empty, truncated, wrong type,
wrong rank, NaN, huge, implausible, read-only target, existing target,
folder instead of file, file instead of folder, full disk; interrupted runs
are in ``test_interrupts.py`` (they need a subprocess).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from reliability_helpers import assert_clean_failure, fill_up, tree_digest

from spine_rt.cli import main
from spine_rt.pipelines.schedules import batch_memory


@dataclass
class Context:
    """Paths a row builds its arguments from."""

    inputs: dict[str, Path]
    mr_package: str
    xray_package: str
    out: Path  # an empty folder for outputs
    existing: Path  # out/existing_seg.nii.gz, a file that must not change
    mount: Callable[..., Path]


@dataclass(frozen=True)
class Row:
    name: str
    argv: Callable[[Context], list[str]]
    exits: tuple[int, ...] = (2,)
    mounts: bool = False  # needs a tmpfs (skipped where mounting is not allowed)
    low_memory: bool = False  # pretend only 1 MiB is available


def _ro(ctx: Context) -> Path:
    return ctx.mount(1 << 20, read_only=True)


def _full(ctx: Context) -> Path:
    folder = ctx.mount(256 << 10)
    fill_up(folder)
    return folder


def _infer(ctx: Context, source: str | Path, *more: str, model: str | None = None) -> list[str]:
    return ["infer", str(source), "--model", model or ctx.mr_package, "--backend", "onnxruntime",
            "--device", "cpu", *more]


ROWS = [
    # ---- infer, spine MR model: the input
    Row("infer/missing input", lambda c: _infer(c, c.out / "nothing.nii.gz")),
    Row("infer/empty file", lambda c: _infer(c, c.inputs["empty"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/truncated NIfTI", lambda c: _infer(c, c.inputs["truncated"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/text named .nii.gz", lambda c: _infer(c, c.inputs["text"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/X-ray picture to an MR model", lambda c: _infer(c, c.inputs["xray"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/garbage DICOM file", lambda c: _infer(c, c.inputs["dicom_garbage"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/rank 2", lambda c: _infer(c, c.inputs["rank2"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/rank 4, three volumes", lambda c: _infer(c, c.inputs["rank4"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/NaN voxel", lambda c: _infer(c, c.inputs["nan"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/huge field of view", lambda c: _infer(c, c.inputs["huge_fov"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/3x3x3 volume", lambda c: _infer(c, c.inputs["tiny"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/zero voxel size", lambda c: _infer(c, c.inputs["zero_voxel"], "-o", str(c.out / "s.nii.gz"))),
    Row("infer/empty folder (no series)", lambda c: _infer(c, c.inputs["empty_folder"], "-o", str(c.out / "s.nii.gz"))),
    # ---- infer: the outputs
    Row("infer/read-only target folder", lambda c: _infer(c, c.inputs["mr"], "-o", str(_ro(c) / "s.nii.gz")),
        mounts=True),
    Row("infer/full disk", lambda c: _infer(c, c.inputs["mr"], "-o", str(_full(c) / "s.nii.gz")), mounts=True),
    Row("infer/full disk, cohort", lambda c: _infer(c, c.inputs["cohort"], "-o", str(_full(c) / "seg")),
        mounts=True),
    Row("infer/existing target", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.existing))),
    Row("infer/--report is a folder, --overwrite",
        lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"), "--report", str(c.out), "--overwrite")),
    Row("infer/--qc is a folder.png", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"), "--qc",
                                                      str(c.out / "folder.png"))),
    Row("infer/-o out.txt", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "out.txt"))),
    Row("infer/--qc q.nii.gz", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"), "--qc",
                                                str(c.out / "q.nii.gz"))),
    Row("infer/--report r.txt", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"), "--report",
                                                 str(c.out / "r.txt"))),
    Row("infer/-o and --report the same file", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"),
                                                                "--qc", str(c.out / "s.nii.gz"))),
    Row("infer/-o in a missing folder", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "no" / "s.nii.gz"))),
    Row("infer/-o is the input", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.inputs["mr"]), "--overwrite")),
    Row("infer/cohort -o is a file", lambda c: _infer(c, c.inputs["cohort"], "-o", str(c.existing))),
    Row("infer/cohort --report given", lambda c: _infer(c, c.inputs["cohort"], "-o", str(c.out / "seg"),
                                                        "--report", str(c.out / "r.json"))),
    # ---- infer: the model and options
    Row("infer/--model missing", lambda c: _infer(c, c.inputs["mr"], model=str(c.out / "nothing"))),
    Row("infer/--model is a file", lambda c: _infer(c, c.inputs["mr"], model=str(c.inputs["mr"]))),
    Row("infer/--model truncated manifest", lambda c: _infer(c, c.inputs["mr"], model=str(c.inputs["bad_package"]))),
    Row("infer/--model empty folder", lambda c: _infer(c, c.inputs["mr"], model=str(c.inputs["empty_package"]))),
    Row("infer/--batch 0", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"), "--batch", "0")),
    Row("infer/--batch beyond memory", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "s.nii.gz"),
                                                        "--batch", "10000"), low_memory=True),
    Row("infer/--backend tensorrt without TensorRT",
        lambda c: ["infer", str(c.inputs["mr"]), "--model", c.mr_package, "--backend", "tensorrt", "-o",
                   str(c.out / "s.nii.gz")], exits=(3,)),
    Row("infer/--device cuda:7", lambda c: ["infer", str(c.inputs["mr"]), "--model", c.mr_package, "--device",
                                            "cuda:7", "-o", str(c.out / "s.nii.gz")], exits=(3,)),
    # ---- infer, X-ray model
    Row("infer/X-ray 1x1 picture", lambda c: _infer(c, c.inputs["xray_1px"], "-o", str(c.out / "x.png"),
                                                    model=c.xray_package)),
    Row("infer/X-ray truncated PNG", lambda c: _infer(c, c.inputs["xray_truncated"], "-o", str(c.out / "x.png"),
                                                      model=c.xray_package)),
    Row("infer/NIfTI to an X-ray model", lambda c: _infer(c, c.inputs["mr"], "-o", str(c.out / "x.png"),
                                                          model=c.xray_package)),
    Row("infer/X-ray -o x.nii.gz", lambda c: _infer(c, c.inputs["xray"], "-o", str(c.out / "x.nii.gz"),
                                                    model=c.xray_package)),
    Row("infer/X-ray MR option", lambda c: _infer(c, c.inputs["xray"], "-o", str(c.out / "x.png"), "--batch", "2",
                                                  model=c.xray_package)),
    # ---- demo
    Row("demo/--out is a file", lambda c: ["demo", "--out", str(c.existing)]),
    Row("demo/--out read-only", lambda c: ["demo", "--out", str(_ro(c) / "demo")], mounts=True),
    Row("demo/--model missing", lambda c: ["demo", "--out", str(c.out / "d"), "--model", str(c.out / "nothing")]),
    Row("demo/--model truncated manifest", lambda c: ["demo", "--out", str(c.out / "d"), "--model",
                                                      str(c.inputs["bad_package"])]),
    Row("demo/--model X-ray package", lambda c: ["demo", "--out", str(c.out / "d"), "--model", c.xray_package,
                                                 "--backend", "onnxruntime"]),
    Row("demo/--seed -1", lambda c: ["demo", "--out", str(c.out / "d"), "--seed", "-1"]),
    # ---- export
    Row("export/--out exists", lambda c: ["export", "sshsnet", "--random-init", "--preset", "tiny", "--out",
                                          str(c.out)]),
    Row("export/--out is a file", lambda c: ["export", "sshsnet", "--random-init", "--preset", "tiny", "--out",
                                             str(c.existing), "--overwrite"]),
    Row("export/--out read-only", lambda c: ["export", "sshsnet", "--random-init", "--preset", "tiny", "--out",
                                             str(_ro(c) / "pkg")], mounts=True),
    Row("export/--checkpoint missing", lambda c: ["export", "mbnet", "--checkpoint", str(c.out / "none.pt"),
                                                  "--out", str(c.out / "pkg")]),
    Row("export/--checkpoint empty", lambda c: ["export", "mbnet", "--checkpoint", str(c.inputs["checkpoint_empty"]),
                                                "--out", str(c.out / "pkg")]),
    Row("export/--checkpoint text", lambda c: ["export", "mbnet", "--checkpoint", str(c.inputs["checkpoint_text"]),
                                               "--out", str(c.out / "pkg")]),
    Row("export/unknown model", lambda c: ["export", "unet", "--random-init", "--out", str(c.out / "pkg")]),
    # ---- verify
    Row("verify/package missing", lambda c: ["verify", str(c.out / "nothing")]),
    Row("verify/package is a file", lambda c: ["verify", str(c.inputs["mr"])]),
    Row("verify/truncated manifest", lambda c: ["verify", str(c.inputs["bad_package"])]),
    Row("verify/--json is a folder", lambda c: ["verify", c.mr_package, "--checkpoint-free", "--json", str(c.out)]),
    Row("verify/--json read-only", lambda c: ["verify", c.mr_package, "--checkpoint-free", "--json",
                                              str(_ro(c) / "v.json")], mounts=True),
    Row("verify/--input truncated", lambda c: ["verify", c.mr_package, "--checkpoint-free", "--input",
                                               str(c.inputs["truncated"])]),
    # ---- build-engine
    Row("build-engine/package missing", lambda c: ["build-engine", str(c.out / "nothing"), "--dry-run"]),
    Row("build-engine/package is a file", lambda c: ["build-engine", str(c.inputs["mr"]), "--dry-run"]),
    Row("build-engine/truncated manifest", lambda c: ["build-engine", str(c.inputs["bad_package"]), "--dry-run"]),
    Row("build-engine/no TensorRT", lambda c: ["build-engine", c.mr_package], exits=(2, 3)),
    # ---- train
    Row("train/--out is a file", lambda c: ["train", "mbnet", "--phantoms", "2", "--out", str(c.existing)]),
    Row("train/--data missing", lambda c: ["train", "stage1", "--data", str(c.out / "nothing"), "--out",
                                           str(c.out / "run")]),
    Row("train/--resume text", lambda c: ["train", "mbnet", "--resume", str(c.inputs["checkpoint_text"]),
                                          "--out", str(c.out / "run")]),
    Row("train/--resume missing", lambda c: ["train", "mbnet", "--resume", str(c.out / "none.pt"), "--out",
                                             str(c.out / "run")]),
    Row("train/--out read-only", lambda c: ["train", "mbnet", "--phantoms", "2", "--out", str(_ro(c) / "run")],
        mounts=True),
    # ---- bench
    Row("bench/--model missing", lambda c: ["bench", "--model", str(c.out / "nothing")]),
    Row("bench/--shape rank 2", lambda c: ["bench", "--model", c.mr_package, "--shape", "12,512"]),
    Row("bench/--shape huge", lambda c: ["bench", "--model", c.mr_package, "--shape", "100000,100000,100000"]),
    Row("bench/--json is a folder", lambda c: ["bench", "--model", c.mr_package, "--json", str(c.out)]),
    Row("bench/--repeat 0", lambda c: ["bench", "--model", c.mr_package, "--repeat", "0"]),
]


@pytest.fixture(scope="module")
def packages(tiny_sshsnet_package, xray_package) -> tuple[str, str]:
    return str(tiny_sshsnet_package.root), str(xray_package)


@pytest.mark.torch
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_hostile_input_fails_cleanly(row, hostile, packages, tmp_path, monkeypatch, capsys, mounted_tmpfs):
    out = tmp_path / "out"
    out.mkdir()
    (out / "folder.png").mkdir()
    existing = out / "existing_seg.nii.gz"
    existing.write_bytes(b"an earlier result")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    if row.low_memory:
        monkeypatch.setattr(batch_memory, "available_memory_bytes", lambda: 1 << 20)
    ctx = Context(hostile, packages[0], packages[1], out, existing, mounted_tmpfs)
    argv = row.argv(ctx)
    watched = [hostile["mr"].parent, Path(packages[0]), Path(packages[1]), out, cwd]
    before = tree_digest(*watched)
    capsys.readouterr()
    code = main.main(argv)
    captured = capsys.readouterr()
    after = tree_digest(*watched)
    if row.name.startswith("infer/full disk"):
        folder = Path(argv[argv.index("-o") + 1]).parent
        assert sorted(p.name for p in folder.iterdir()) in (["filler", "filler-tail"], ["filler", "filler-tail",
                                                                                          "seg"])
    if row.name == "infer/full disk, cohort":  # every case failed, each reported on its own line + the total
        assert code == 2 and "Traceback" not in captured.err
        return
    assert_clean_failure(code, row.exits, captured.err, before, after, watched + [tmp_path])
