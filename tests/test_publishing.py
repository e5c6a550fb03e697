"""Publishing outputs (spine_rt.atomic_write): owned temporaries, umask permissions, all-or-nothing, no clobbering."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from spine_rt import atomic_write
from spine_rt.atomic_write import (
    OutputError,
    OutputExists,
    owner_pid,
    publishing,
    remove_stale_temporaries,
    rename_no_replace,
    write_bytes_atomic,
    write_file_atomic,
)
from spine_rt.errors import InputError
from spine_rt.output_paths import check_distinct, check_output_file, check_output_folder


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_files_get_the_permissions_of_the_umask(tmp_path, umask_022):
    target = write_bytes_atomic(tmp_path / "a.json", b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    with publishing():
        write_bytes_atomic(tmp_path / "b.json", b"{}")
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o644


def test_temporary_names_carry_the_pid_and_are_recognised(tmp_path):
    seen = []
    write_file_atomic(tmp_path / "scan_seg.nii.gz", lambda temporary: seen.append(temporary.name)
                      or temporary.write_bytes(b"x"), suffix=".nii.gz")
    assert seen[0].startswith(".scan_seg.nii.gz.spine-rt-tmp-") and seen[0].endswith(".nii.gz")
    assert owner_pid(seen[0]) == os.getpid()
    assert owner_pid("scan.nii.gz") is None and owner_pid(".scan.nii.gz.abc") is None


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.nii.gz.spine-rt-tmp-{dead_pid}-0123abcd.nii.gz"
    stale.write_bytes(b"half")
    stale_folder = tmp_path / f".pkg.spine-rt-tmp-{dead_pid}-0123abce"
    stale_folder.mkdir()
    (stale_folder / "graph.onnx").write_bytes(b"half")
    live = tmp_path / f".other.spine-rt-tmp-{os.getpid()}-0123abcf.tmp"
    live.write_bytes(b"mine")
    foreign = tmp_path / ".out.nii.gz.XYZ"
    foreign.write_bytes(b"not ours")
    removed = remove_stale_temporaries(tmp_path, force=True)
    assert sorted(p.name for p in removed) == sorted([stale.name, stale_folder.name])
    assert _names(tmp_path) == sorted([live.name, foreign.name])


def test_a_stale_aside_copy_is_put_back_when_its_target_is_missing(tmp_path):
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True).stdout)
    (tmp_path / f".r.json.spine-rt-old-{dead_pid}-0123abcd").write_bytes(b"old")
    remove_stale_temporaries(tmp_path, force=True)
    assert (tmp_path / "r.json").read_bytes() == b"old"


def test_outputs_are_published_together_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError, match="qc failed"):
        with publishing():
            write_bytes_atomic(tmp_path / "seg.nii.gz", b"labels")
            assert not (tmp_path / "seg.nii.gz").exists()  # staged only
            raise RuntimeError("qc failed")
    assert _names(tmp_path) == []
    with publishing():
        write_bytes_atomic(tmp_path / "seg.nii.gz", b"labels")
        write_bytes_atomic(tmp_path / "report.json", b"{}")
    assert _names(tmp_path) == ["report.json", "seg.nii.gz"]


def test_without_overwrite_an_output_that_appeared_meanwhile_fails_the_whole_set(tmp_path):
    with pytest.raises(OutputExists, match="report.json exists"):
        with publishing(overwrite=False):
            write_bytes_atomic(tmp_path / "seg.nii.gz", b"mine")
            write_bytes_atomic(tmp_path / "report.json", b"mine")
            (tmp_path / "report.json").write_bytes(b"theirs")  # another run published first
    assert (tmp_path / "report.json").read_bytes() == b"theirs"
    assert _names(tmp_path) == ["report.json"]  # our label map was undone


def test_with_overwrite_a_failed_publication_restores_the_replaced_files(tmp_path, monkeypatch):
    (tmp_path / "seg.nii.gz").write_bytes(b"old labels")
    (tmp_path / "report.json").write_bytes(b"old report")
    real_replace = os.replace
    calls = []

    def replace_fails_second(source, target):
        calls.append(target)
        if len(calls) == 2 and ".spine-rt-tmp-" in os.fspath(source):
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(atomic_write.os, "replace", replace_fails_second)
    with pytest.raises(OutputError, match="report.json: cannot write: No space left on device"):
        with publishing(overwrite=True):
            write_bytes_atomic(tmp_path / "seg.nii.gz", b"new labels")
            write_bytes_atomic(tmp_path / "report.json", b"new report")
    assert (tmp_path / "seg.nii.gz").read_bytes() == b"old labels"
    assert (tmp_path / "report.json").read_bytes() == b"old report"
    assert _names(tmp_path) == ["report.json", "seg.nii.gz"]


def test_rename_no_replace_refuses_an_existing_target(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        rename_no_replace(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"b" and (tmp_path / "a").exists()
    rename_no_replace(tmp_path / "a", tmp_path / "c")
    assert _names(tmp_path) == ["b", "c"]


def test_two_processes_publishing_one_name_one_wins_the_other_fails(tmp_path):
    """Both stage their file, wait at a barrier (a file), then publish without overwrite: exactly one succeeds."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from spine_rt.atomic_write import OutputExists, publishing, write_bytes_atomic
        folder = Path({str(tmp_path)!r})
        try:
            with publishing(overwrite=False):
                write_bytes_atomic(folder / "seg.nii.gz", sys.argv[1].encode())
                (folder / ("ready-" + sys.argv[1])).touch()
                while len(list(folder.glob("ready-*"))) < 2:
                    time.sleep(0.01)
        except OutputExists:
            sys.exit(2)
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("first", "second")]
    codes = sorted(run.wait(timeout=60) for run in runs)
    assert codes == [0, 2]
    assert (tmp_path / "seg.nii.gz").read_bytes() in (b"first", b"second")
    assert not list(tmp_path.glob(".*spine-rt-tmp*"))


def test_write_faults_are_one_line_naming_the_path(tmp_path):
    (tmp_path / "report.json").mkdir()
    with pytest.raises(OutputError, match=r"report.json: cannot write: Is a directory"):
        write_bytes_atomic(tmp_path / "report.json", b"{}")
    assert _names(tmp_path) == ["report.json"]


def test_output_paths_are_checked_before_any_work(tmp_path):
    scan = tmp_path / "scan.nii.gz"
    scan.write_bytes(b"scan")
    with pytest.raises(InputError, match="must end in .json"):
        check_output_file(tmp_path / "r.txt", "--report", (".json",), overwrite=False)
    with pytest.raises(InputError, match="is the input"):
        check_output_file(scan, "output", (".nii.gz",), overwrite=True, inputs=[scan])
    with pytest.raises(InputError, match="exists; pass --overwrite"):
        check_output_file(scan, "output", (".nii.gz",), overwrite=False)
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(InputError, match="names a folder"):
        check_output_file(tmp_path / "folder.json", "--report", (".json",), overwrite=True)
    with pytest.raises(InputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "r.json", "--report", (".json",), overwrite=False)
    with pytest.raises(InputError, match="this is a file"):
        check_output_folder(scan, "output folder")
    with pytest.raises(InputError, match="named as both"):
        check_distinct((("output", tmp_path / "a.png"), ("--qc", tmp_path / "a.png")))
