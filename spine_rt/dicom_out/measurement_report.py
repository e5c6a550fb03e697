"""A TID 1500 measurement report (Comprehensive 3D SR, highdicom) whose measurements reference SEG segments.

One measurement group per structure (TID 1411, for an X-ray's segments
too), each referencing its segment of the SEG written beside it, tracked by the structure's name and coded with the
segment's anatomy as finding site. Image-level values (the X-ray's lumbar
and pelvic angles) go into one TID 1501 group on the source image.

What is measured comes from :data:`STRUCTURE_MEASUREMENTS`: functions that
read a pipeline report and return, per label id, a list of
:class:`MeasurementValue`. Volumes (and X-ray areas) are there now; another
kind of measurement per structure (vertebral and disc heights) is added by
appending its function, with no change to the report writer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.sr.coding import Code

from spine_rt.dicom_out.segmentation import MANUFACTURER, AlgorithmFacts, Segmentation, SourceImages

SR_SERIES_NUMBER = 902
#: local coding scheme for values without a standard code (DICOM PS3.16 8.2: "99" prefix = private)
LOCAL_SCHEME = "99SPINERT"
VOLUME = Code("118565006", "SCT", "Volume")
AREA = Code("42798000", "SCT", "Area")
CUBIC_MILLIMETER = Code("mm3", "UCUM", "cubic millimeter")
SQUARE_MILLIMETER = Code("mm2", "UCUM", "square millimeter")
DEGREE = Code("deg", "UCUM", "degree")
PERCENT = Code("%", "UCUM", "percent")
#: code meanings of the X-ray values (names of spine_rt.measure), local codes
XRAY_VALUE_MEANINGS = {
    "PI": "Pelvic incidence", "PT": "Pelvic tilt", "SS": "Sacral slope", "LL": "Lumbar lordosis L1-S1",
    "PI-LL": "Pelvic incidence minus lumbar lordosis", "L4S1": "Lordosis L4-S1",
    "LDI": "Lordosis distribution index", "RLL": "Relative lumbar lordosis",
}


@dataclass(frozen=True)
class MeasurementValue:
    """One number for the SR: its concept, value and UCUM unit."""

    name: Code
    value: float
    unit: Code


#: ``report -> {label id: [MeasurementValue, ...]}``; the SR writes every list these return
StructureMeasurements = Callable[[Mapping[str, Any]], dict[int, list[MeasurementValue]]]


def structure_sizes(report: Mapping[str, Any]) -> dict[int, list[MeasurementValue]]:
    """Volume (mm3) of each structure of a volume, area (mm2) of each of an X-ray (when its spacing is known)."""
    values: dict[int, list[MeasurementValue]] = {}
    for entry in report.get("structures", []):
        if entry.get("volume_mm3") is not None:
            values.setdefault(int(entry["label"]), []).append(
                MeasurementValue(VOLUME, float(entry["volume_mm3"]), CUBIC_MILLIMETER))
        elif entry.get("area_mm2") is not None:
            values.setdefault(int(entry["label"]), []).append(
                MeasurementValue(AREA, float(entry["area_mm2"]), SQUARE_MILLIMETER))
    return values


#: the per-structure measurements the SR holds; append a function to add a kind (e.g. heights)
STRUCTURE_MEASUREMENTS: list[StructureMeasurements] = [structure_sizes]


def image_values(report: Mapping[str, Any]) -> list[MeasurementValue]:
    """The X-ray's measured lumbar/pelvic values (degrees, LDI in %); values not measured are left out."""
    measured = ((report.get("measurements") or {}).get("values") or {})
    values = []
    for name, entry in measured.items():
        if entry.get("value") is None:
            continue
        meaning = XRAY_VALUE_MEANINGS.get(name, f"Lumbar angle {name}")
        unit = PERCENT if entry.get("unit") == "%" else DEGREE
        values.append(MeasurementValue(Code(name, LOCAL_SCHEME, meaning), float(entry["value"]), unit))
    return values


def collect_structure_values(report: Mapping[str, Any], sources: Sequence[StructureMeasurements] | None = None
                             ) -> dict[int, list[MeasurementValue]]:
    """Every per-structure measurement of ``report`` from each of ``sources``
    (default :data:`STRUCTURE_MEASUREMENTS`)."""
    merged: dict[int, list[MeasurementValue]] = {}
    for source in (STRUCTURE_MEASUREMENTS if sources is None else sources):
        for label, values in source(report).items():
            merged.setdefault(label, []).extend(values)
    return merged


def build_measurement_report(segmentation: Segmentation, source: SourceImages,
                             structure_values: Mapping[int, Sequence[MeasurementValue]],
                             algorithm: AlgorithmFacts,
                             image_level: Sequence[MeasurementValue] = ()) -> Any:
    """A ``highdicom.sr.Comprehensive3DSR`` holding a TID 1500 measurement report.

    Args:
        segmentation: the SEG the measurements refer to (its segments by label id).
        source: the images the SEG was made on (evidence; image-level values refer to the first).
        structure_values: label id -> measurements; labels without a segment are left out.
        algorithm: what measured (spine-rt version, model, sha256).
        image_level: values of the whole image (the X-ray's angles).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    seg = segmentation.dataset
    algorithm_id = hd.sr.AlgorithmIdentification(name=algorithm.model, version=algorithm.version,
                                                 parameters=[f"model_sha256={algorithm.sha256}"])
    first = source.datasets[source.frames[0][0]]
    planar = "ImagePositionPatient" not in first and len(source.frames) == 1 and source.frames[0][1] is None
    groups: list[Any] = []
    for label, number in segmentation.segments.items():
        values = list(structure_values.get(label, ()))
        if not values:
            continue
        coded = segmentation.codes[label]
        tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=coded.label)
        measurements = [hd.sr.Measurement(name=v.name, value=v.value, unit=v.unit, algorithm_id=algorithm_id)
                        for v in values]
        sites = [hd.sr.FindingSite(anatomic_location=coded.type)]
        # TID 1411 with a Referenced Segment for both volumes and X-rays: TID 1410's Referenced Segmentation
        # Frame carries a frame and a segment number together, which dciodvfy rejects
        if planar:
            sources = {"source_images": [hd.sr.SourceImageForSegmentation.from_source_image(first)]}
        else:
            sources = {"source_series": hd.sr.SourceSeriesForSegmentation(str(first.SeriesInstanceUID))}
        reference = hd.sr.ReferencedSegment(sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
                                            segment_number=number, **sources)
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_segment=reference, finding_type=coded.type,
            finding_category=coded.category, finding_sites=sites, algorithm_id=algorithm_id,
            measurements=measurements))
    if image_level:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="lumbar and pelvic values"),
            algorithm_id=algorithm_id,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(first)],
            measurements=[hd.sr.Measurement(name=v.name, value=v.value, unit=v.unit, algorithm_id=algorithm_id)
                          for v in image_level]))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=algorithm.model))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.SCT.ImagingProcedure, imaging_measurements=groups)
    evidence = [seg] + [source.datasets[i] for i in sorted({index for index, _ in source.frames})]
    return hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_instance_uid=generate_uid(), series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER, is_complete=True,
        series_description=f"spine-rt measurements {algorithm.model}"[:64],
    )

