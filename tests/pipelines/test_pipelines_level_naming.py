"""The bundled demo model through the pipeline: every report carries level naming and measurements.

Seed 1007 is the phantom on which the previous demo model named T9-T12 one
level low (mean Dice 0.57); the retrained model (docs/demo_model.md) names it
right, and the recount from the sacrum (on by default) must leave a right
naming alone. That the recount repairs an off-by-one is tested on label maps
in tests/measure/test_level_naming.py. The real scan vb3_01 (bodies 1..5 =
L1..L5) is named one or more levels off by the network (a phantom-only
model); whatever the recount makes of it, a naming that is not right must be
flagged, never silent.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spine_rt.demo import dice_per_structure, phantom_spacing_of_package
from spine_rt.io import Image, read_image
from spine_rt.measure import SpineMeasurements
from spine_rt.model_package import ModelPackage
from spine_rt.phantoms import spine_mr
from spine_rt.pipelines import load_pipeline
from spine_rt.pipelines.default_model import default_package_path


@pytest.fixture(scope="module")
def package():
    return ModelPackage.open(default_package_path())


@pytest.fixture(scope="module")
def pipeline(package):
    with load_pipeline(package, backend="onnxruntime", device="cpu") as pipe:
        yield pipe


def test_formerly_off_by_one_phantom_is_named_right_and_every_report_has_measurements(package, pipeline):
    names = {int(k): v for k, v in package.manifest.labels.items()}
    phantom = spine_mr(1007, spacing=phantom_spacing_of_package(package.manifest.preprocessing))
    result = pipeline(Image(phantom.image, phantom.affine))
    naming = result.report["level_naming"]
    # relabelling is off by default (it no longer wins with the retrained model): the network's own names
    assert result.report["relabel_levels"] is False and naming["relabel_levels"] is False
    assert naming["renamed"] == []
    assert naming["anchor"] == "S" and not naming["transitional_anatomy_possible"]
    assert naming["consistent"]  # the network's names agree with the count
    # the recount (relabel_levels=True) agrees: at most a stray fragment is renamed (14 voxels of 70 000 labelled)
    from spine_rt.measure import read_spine

    recounted = read_spine(result.labels, result.affine, names, relabel=True).level_naming
    assert sum(r["voxels"] for r in recounted["renamed"]) < 0.001 * np.count_nonzero(result.labels)
    # 0.899 with the retrained model (0.57 with the network's names of the previous one)
    assert np.mean(list(dice_per_structure(result.labels, phantom.labels, names).values())) > 0.85
    assert isinstance(result.measurements, SpineMeasurements)
    measured = result.report["measurements"]
    l3 = next(s for s in measured["structures"] if s["name"] == "L3")
    assert l3["values"]["posterior_height"]["unit"] == "mm" and 15 < l3["values"]["posterior_height"]["value"] < 40
    truth = phantom.true_geometry()
    lordosis = measured["spine"]["lordosis_l1_s1"]["value"]
    # the network's labels on a 1.2 mm grid: 15 degrees off on this phantom (3.6 median, 7.1 worst on 2000-2019);
    # a frame fitted across the spine once gave 85
    assert abs(lordosis - truth["lordosis_deg"]) < 20.0
    assert {"level_naming", "measurements"} <= set(result.report["seconds"])


def test_real_scan_mislabel_is_flagged_and_recounted(shared_data, package):
    stem = shared_data / "mr3d" / "vb3_01"
    truth = np.asarray(nib.load(f"{stem}_label.nii.gz").dataobj)
    names = {int(k): v for k, v in package.manifest.labels.items()}
    with load_pipeline(package, backend="onnxruntime", device="cpu", relabel_levels=False) as pipe:
        kept = pipe(read_image(f"{stem}_image.nii.gz"))
    from spine_rt.measure import read_spine

    recounted = read_spine(kept.labels, kept.affine, names, relabel=True)

    def name_of(labels, level):
        counts = np.bincount(labels[truth == level].astype(np.int64), minlength=20)
        counts[0] = 0
        return names[int(np.argmax(counts))]

    assert name_of(kept.labels, 1) != "L1"  # the network's names are off
    assert not kept.report["level_naming"]["consistent"]  # and the report says so
    # the retrained model fragments this scan's levels more than the previous one did, and the recount no
    # longer names every body right (docs/demo_model.md); a naming that is not right must still be flagged
    if [name_of(recounted.labels, level) for level in range(1, 6)] != ["L1", "L2", "L3", "L4", "L5"]:
        assert not recounted.level_naming["consistent"]
