"""SNOMED CT codes for the structures spine-rt segments, from pydicom's SCT code table.

Each structure name of a model's labels (``L4``, ``L4/L5``, ``S``,
``vertebra``, ``femoral head 1``) becomes a :class:`StructureCode`: the
segmented property category (SCT 91723000 "Anatomical structure", CID 7150)
and type (CID 7151 / 7602 where a code exists). Levels with their own SCT
concept get it (``L1 vertebra``, ``Intervertebral disc structure of fourth
lumbar vertebra`` for L4/L5, the disc below the named vertebra as SNOMED
defines it); other levels fall back to the generic concept (Vertebra,
Intervertebral disc) and the level stays as free text in the segment label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
VERTEBRA = codes.SCT.Vertebra
SACRUM = codes.SCT.Sacrum
FEMORAL_HEAD = codes.SCT.FemoralHead
#: not in pydicom's table; SNOMED CT 360499006 "Intervertebral disc structure"
INTERVERTEBRAL_DISC = Code("360499006", "SCT", "Intervertebral disc")
SPINE = codes.SCT.Spine

_REGIONS = {"C": "Cervical", "T": "Thoracic", "L": "Lumbar"}
_ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth",
             "Eleventh", "Twelfth")
_LEVEL = re.compile(r"^([CTL])(\d{1,2})$")


@dataclass(frozen=True)
class StructureCode:
    """How one structure is coded in a SEG segment and an SR measurement group.

    Attributes:
        label: the segment label (the structure's name, e.g. ``L4/L5``: the level as free text).
        category: segmented property category.
        type: segmented property type (a level's own concept where SNOMED has one).
        level_coded: True when ``type`` names the level itself, False for a generic fallback.
    """

    label: str
    category: Code
    type: Code
    level_coded: bool


def structure_code(name: str) -> StructureCode:
    """The codes of one structure name (see the module docstring); unknown names are coded as Anatomical structure."""
    text = name.strip()
    key = text.upper().replace(" ", "")
    if key in ("S", "SACRUM", "S1"):
        return StructureCode(text, ANATOMICAL_STRUCTURE, SACRUM, True)
    if key in ("VERTEBRA", "VERTEBRAE"):
        return StructureCode(text, ANATOMICAL_STRUCTURE, VERTEBRA, False)
    if key.startswith("FEMORALHEAD"):
        return StructureCode(text, ANATOMICAL_STRUCTURE, FEMORAL_HEAD, False)
    level = _LEVEL.match(key)
    if level:
        code = getattr(codes.SCT, f"{level.group(1)}{int(level.group(2))}Vertebra", None)
        return StructureCode(text, ANATOMICAL_STRUCTURE, code or VERTEBRA, code is not None)
    if "/" in key:
        upper = _LEVEL.match(key.split("/")[0])
        code = None
        if upper:
            region, number = _REGIONS[upper.group(1)], int(upper.group(2))
            if 1 <= number <= len(_ORDINALS):
                keyword = f"IntervertebralDiscStructureOf{_ORDINALS[number - 1]}{region}Vertebra"
                code = _short(getattr(codes.SCT, keyword, None))
        return StructureCode(text, ANATOMICAL_STRUCTURE, code or INTERVERTEBRAL_DISC, code is not None)
    return StructureCode(text, ANATOMICAL_STRUCTURE, ANATOMICAL_STRUCTURE, False)


def _short(code: Code | None) -> Code | None:
    """The code with SNOMED's " (body structure)" tag dropped: CodeMeaning is an LO of at most 64 characters."""
    if code is None:
        return None
    return Code(code.value, code.scheme_designator, code.meaning.replace(" (body structure)", "").strip())
