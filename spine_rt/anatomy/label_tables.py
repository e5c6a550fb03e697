"""The label tables of the served tasks (SEEDS.md), and which level carries which MR label.

* :data:`MR_SPINE_LABELS`: MRSpineSeg, 0 background, 10 vertebrae then 9
  discs, caudal to cranial (SSHSNet's 20 classes);
* :data:`XRAY_LABELS`: the 5 classes of BiLuNet/MBNet;
* :data:`VERTEBRA_LABEL` / :data:`DISC_LABEL` / :func:`label_of`: the
  MRSpineSeg id of a vertebra (every sacral segment ``S1``..``S5`` is the
  sacrum, 1) or a disc named by its two vertebrae (``L5/S1`` is ``L5/S``).
"""

from __future__ import annotations

#: MRSpineSeg: label id -> structure name.
MR_SPINE_LABELS: dict[int, str] = {
    0: "background",
    1: "S", 2: "L5", 3: "L4", 4: "L3", 5: "L2", 6: "L1", 7: "T12", 8: "T11", 9: "T10", 10: "T9",
    11: "L5/S", 12: "L4/L5", 13: "L3/L4", 14: "L2/L3", 15: "L1/L2",
    16: "T12/L1", 17: "T11/T12", 18: "T10/T11", 19: "T9/T10",
}  # fmt: skip

#: Lumbar X-ray classes of MBNet/BiLuNet: label id -> structure name.
XRAY_LABELS: dict[int, str] = {
    0: "background",
    1: "vertebra",
    2: "sacrum",
    3: "femoral head 1",
    4: "femoral head 2",
}

#: Vertebra level -> MRSpineSeg label id; every sacral segment is 1.
VERTEBRA_LABEL: dict[str, int] = {
    "S1": 1, "S2": 1, "S3": 1, "S4": 1, "S5": 1,
    "L5": 2, "L4": 3, "L3": 4, "L2": 5, "L1": 6, "T12": 7, "T11": 8, "T10": 9, "T9": 10,
}  # fmt: skip

#: Disc (named by its two vertebrae) -> MRSpineSeg label id.
DISC_LABEL: dict[str, int] = {
    "L5/S1": 11, "L4/L5": 12, "L3/L4": 13, "L2/L3": 14, "L1/L2": 15,
    "T12/L1": 16, "T11/T12": 17, "T10/T11": 18, "T9/T10": 19,
}  # fmt: skip


def label_of(kind: str, name: str) -> int:
    """The MRSpineSeg id of a structure (``kind`` ``"body"``, ``"sacrum"`` or ``"disc"``), 0 for anything else."""
    if kind in ("body", "sacrum"):
        return VERTEBRA_LABEL.get(name, 0)
    if kind == "disc":
        return DISC_LABEL.get(name, 0)
    return 0
