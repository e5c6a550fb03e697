"""``spine-rt demo`` end to end on the bundled model (onnxruntime, no torch needed)."""

from __future__ import annotations

import re

import pytest

from spine_rt.cli.main import main
from spine_rt.errors import EXIT_INPUT, InputError


def _bundled_package_or_skip() -> None:
    from spine_rt.pipelines.default_model import default_package_path

    try:
        default_package_path()
    except InputError:
        pytest.skip("no bundled demo model in this checkout (scripts/train_demo_model.py writes it)")


#: the target (see tests/test_demo.py; the shipped model measures 0.908 at seed 1000)
MINIMUM_MEAN_DICE = 0.85


def test_demo_writes_its_files_and_prints_dice(tmp_path, capsys):
    _bundled_package_or_skip()
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--backend", "onnxruntime", "--device", "cpu"]) == 0
    for name in ("scan.nii.gz", "labels.nii.gz", "report.json", "qc.png"):
        assert (out / name).is_file(), name
    printed = capsys.readouterr().out
    assert re.search(r"L3/L4\s+\d\.\d{3}", printed)
    mean = re.search(r"mean\s+(\d\.\d{3})", printed)
    assert mean is not None and float(mean.group(1)) >= MINIMUM_MEAN_DICE, printed
    assert re.search(r"elapsed \d+\.\d s", printed)


def test_demo_refuses_a_negative_seed(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "-1"]) == EXIT_INPUT
    assert "seed" in capsys.readouterr().err


def test_demo_help_names_the_outputs(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "labels.nii.gz" in capsys.readouterr().out
