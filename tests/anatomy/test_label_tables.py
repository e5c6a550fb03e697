"""The label tables agree with each other and with the level names (spine_rt.anatomy)."""

from __future__ import annotations

from spine_rt.anatomy.label_tables import DISC_LABEL, MR_SPINE_LABELS, VERTEBRA_LABEL, XRAY_LABELS, label_of
from spine_rt.anatomy.levels import SACRAL_SEGMENTS, canonical_level_name, level_rank


def test_mrspineseg_ids_follow_the_levels_caudal_to_cranial():
    assert sorted(MR_SPINE_LABELS) == list(range(20)) and MR_SPINE_LABELS[0] == "background"
    vertebrae = [MR_SPINE_LABELS[i] for i in range(1, 11)]
    discs = [MR_SPINE_LABELS[i] for i in range(11, 20)]
    assert [level_rank(name) for name in vertebrae] == [float(rank) for rank in range(10)]
    assert [level_rank(name) for name in discs] == [rank + 0.5 for rank in range(9)]


def test_the_level_tables_name_the_structures_of_the_label_table():
    for name, label in VERTEBRA_LABEL.items():  # every sacral segment is the sacrum
        assert MR_SPINE_LABELS[label] == ("S" if name in SACRAL_SEGMENTS else canonical_level_name(name))
        assert label_of("sacrum" if label == 1 else "body", name) == label
    for name, label in DISC_LABEL.items():
        assert canonical_level_name(MR_SPINE_LABELS[label]) == canonical_level_name(name)
        assert label_of("disc", name) == label
    assert set(VERTEBRA_LABEL.values()) == set(range(1, 11)) and set(DISC_LABEL.values()) == set(range(11, 20))
    assert label_of("canal", "L3") == 0 and label_of("disc", "L5/L4") == 0


def test_xray_classes():
    assert XRAY_LABELS == {0: "background", 1: "vertebra", 2: "sacrum", 3: "femoral head 1", 4: "femoral head 2"}
