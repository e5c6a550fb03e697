"""MBNet's 18 regressed inspection values: from the network's sigmoid outputs to degrees (LDI %).

MBNet was trained on min-max scaled targets (SEEDS.md); the scaling belongs
to the trained model. A package records it in its manifest as
``preprocessing["value_scaling"]`` (the checkpoint's ``value_scaling``:
``{"method": "min-max", "names": [...], "minimum": [...], "maximum": [...]}``,
see :class:`spine_rt.anatomy.xray_values.MinMaxScaling`). Without it the
values are reported as the raw sigmoid outputs in [0, 1], flagged against
no range, and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES, MinMaxScaling
from spine_rt.errors import InputError
from spine_rt.measure.normal_ranges import flagged_values

MANIFEST_KEY = "value_scaling"
RAW_NOTE = ("no value scaling recorded in the package (manifest preprocessing.value_scaling): "
            "these are MBNet's raw sigmoid outputs in [0, 1], not degrees")


def value_scaling_from_manifest(preprocessing: Mapping[str, Any]) -> MinMaxScaling | None:
    """The package's min-max scaling in :data:`INSPECTION_VALUE_NAMES`, or None when it records none.

    Raises:
        InputError: a malformed entry, or one that lacks some of the 18 names.
    """
    stored = preprocessing.get(MANIFEST_KEY)
    if stored is None:
        return None
    scaling = MinMaxScaling.from_dict(stored)
    missing = [name for name in INSPECTION_VALUE_NAMES if name not in scaling.names]
    if missing:
        raise InputError(f"the package's value scaling lacks {', '.join(missing)}")
    index = [scaling.names.index(name) for name in INSPECTION_VALUE_NAMES]
    return MinMaxScaling(INSPECTION_VALUE_NAMES, tuple(scaling.minimum[i] for i in index),
                         tuple(scaling.maximum[i] for i in index))


def regressed_values_report(raw: np.ndarray, scaling: MinMaxScaling | None) -> dict[str, Any]:
    """Report entry for MBNet's ``(18,)`` outputs: values in degrees (LDI %) flagged against the
    normal ranges when ``scaling`` is known, else the raw outputs with a note.

    Raises:
        InputError: not 18 values.
    """
    outputs = np.asarray(raw, np.float64).reshape(-1)
    if outputs.size != len(INSPECTION_VALUE_NAMES):
        raise InputError(f"MBNet gave {outputs.size} inspection values; expected {len(INSPECTION_VALUE_NAMES)}")
    if scaling is None:
        return {
            "scaling": None,
            "note": RAW_NOTE,
            "values": {name: {"raw": round(float(v), 6), "unit": "sigmoid output", "flag": "no range"}
                       for name, v in zip(INSPECTION_VALUE_NAMES, outputs)},
        }
    values = scaling.unscale(outputs)
    return {
        "scaling": "min-max from the package (unscaled to degrees, LDI %)",
        "values": flagged_values(dict(zip(INSPECTION_VALUE_NAMES, (float(v) for v in values)))),
    }
