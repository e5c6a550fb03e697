"""Level names and their order (spine_rt.anatomy.levels), and the looser spellings of label maps."""

from __future__ import annotations

import pytest

from spine_rt.anatomy.levels import canonical_level_name, level_rank, structure_kind, vertebra_name


@pytest.mark.parametrize(("spelled", "canonical"), [
    ("L4/L5", "L4/L5"), ("l5 - s1", "L5/S"), ("T 12/L1", "T12/L1"), ("  t12 ", "T12"), ("sacrum", "S"),
    ("S1", "S"), ("s", "S"), ("C7", "C7"), ("L5-S", "L5/S"),
])
def test_loose_spellings_read_as_the_level_names(spelled, canonical):
    assert canonical_level_name(spelled) == canonical


@pytest.mark.parametrize("name", ["L6", "T13", "C0", "label 3", "L4/L5/S", "L4/disc", "", "background"])
def test_names_of_no_level(name):
    assert canonical_level_name(name) is None


def test_ranks_rise_from_the_sacrum_and_discs_lie_between_their_vertebrae():
    assert [level_rank(name) for name in ("S", "L5/S", "L5", "L1", "T12/L1", "T12", "C7")] == [
        0.0, 0.5, 1.0, 5.0, 5.5, 6.0, 18.0]
    assert [vertebra_name(rank) for rank in (0, 1, 5, 6, 17, 18)] == ["S", "L5", "L1", "T12", "T1", "C7"]
    assert [structure_kind(name) for name in ("L4/L5", "S1", "T3", "label 3")] == [
        "disc", "sacrum", "vertebra", "other"]
