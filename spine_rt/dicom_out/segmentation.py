"""A DICOM Segmentation (SEG, highdicom) of a label map, on the DICOM series or X-ray it was computed from.

The SEG references every source instance (and frame, for an enhanced
multi-frame source), shares the source's frame of reference and study,
holds one BINARY segment per structure found (label, coded anatomy from
:mod:`~spine_rt.dicom_out.structure_codes`, algorithm identification:
spine-rt version, model name and the package's sha256), and says in its
content description and algorithm parameters when the source's UIDs were
empty and spine-rt generated them.

Frames: slice ``k`` of a volume label map ``(I, J, K)`` = (column, row,
slice) becomes the SEG frame of source slice ``k`` as ``labels[:, :, k].T``
(rows, columns); an X-ray label map ``(H, W)`` is one frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.dicom_out.structure_codes import StructureCode, structure_code
from spine_rt.errors import InputError

MANUFACTURER = "spine-rt"
SEG_SERIES_NUMBER = 901
#: AlgorithmName, ManufacturerModelName are LO: at most 64 characters
_LO = 64


@dataclass(frozen=True)
class AlgorithmFacts:
    """What made the segmentation: spine-rt's version, the model's name, the package's sha256 and path."""

    version: str
    model: str
    sha256: str
    package: str = ""

    @classmethod
    def of_package(cls, package: Any) -> "AlgorithmFacts":
        """From an open :class:`~spine_rt.model_package.ModelPackage`: sha256 of its manifest (which holds the
        sha256 of every file, so it identifies the whole package)."""
        from spine_rt import __version__

        manifest = Path(package.root) / "manifest.json"
        digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
        model = f"{package.manifest.model} {package.manifest.task} ({Path(package.root).name})"
        return cls(__version__, model[:_LO], digest, str(package.root))


@dataclass(frozen=True)
class SourceImages:
    """The source instances of a label map and which SEG frame each label-map slice becomes.

    Attributes:
        datasets: source headers (UIDs present), in the order highdicom gets them.
        frames: for each label-map slice ``k``: ``(index into datasets, frame index or None)``.
        uids_repaired: UID keywords spine-rt had to generate for the source.
    """

    datasets: tuple[Any, ...]
    frames: tuple[tuple[int, int | None], ...]
    uids_repaired: tuple[str, ...] = ()

    @classmethod
    def of_image(cls, image: Any) -> "SourceImages":
        """From an :class:`~spine_rt.io.Image` read from DICOM (its ``meta["dicom_source"]``).

        Raises:
            InputError: the image was not read from DICOM.
        """
        source = (image.meta or {}).get("dicom_source")
        if source is None:
            raise InputError(f"{image.source or 'the input'}: a DICOM SEG needs a DICOM input (a series folder, "
                             "zip, DICOMDIR or multi-frame file); this one is "
                             f"{(image.meta or {}).get('format', 'an array')}")
        return cls(tuple(_fit_decimal_strings(d) for d in source.datasets), tuple(source.slices),
                   tuple(source.uids_repaired))

    @classmethod
    def of_file(cls, path: str | Path) -> "SourceImages":
        """One single-frame DICOM image (an X-ray), its empty UIDs repaired in memory.

        Raises:
            InputError: an unreadable file, a multi-frame file, a file without any SOP class UID.
        """
        import pydicom

        from spine_rt.io.dicom_uids import repair_uids

        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types for a damaged file
            reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise InputError(f"{path}: not a readable DICOM file ({reason})") from None
        if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
            raise InputError(f"{path}: a multi-frame DICOM; an X-ray SEG needs a single-frame image")
        repaired = repair_uids([dataset], [str(path)], frame_of_reference="ImagePositionPatient" in dataset)
        return cls((_fit_decimal_strings(dataset),), ((0, None),), tuple(repaired))


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A built SEG and how its segments map to the label map's ids.

    Attributes:
        dataset: the ``highdicom.seg.Segmentation``.
        segments: label id -> segment number (1, 2, ... in label order).
        codes: label id -> the structure's codes.
    """

    dataset: Any
    segments: dict[int, int]
    codes: dict[int, StructureCode] = field(repr=False)


def build_segmentation(labels: np.ndarray, source: SourceImages, names: Mapping[int, str],
                       algorithm: AlgorithmFacts) -> Segmentation:
    """A BINARY DICOM SEG of ``labels`` on ``source`` (one segment per label present).

    Args:
        labels: ``(I, J, K)`` = (column, row, slice) on the source series' grid,
            or ``(H, W)`` for a single-frame source (an X-ray).
        source: the source instances and the slice -> frame mapping.
        names: label id -> structure name.
        algorithm: what made the labels.

    Raises:
        InputError: no structure found (a SEG needs a segment), labels that do not fit the source.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    volume = labels[:, :, None].transpose(1, 0, 2) if labels.ndim == 2 else labels  # (H, W) -> (W, H, 1)
    present = [int(v) for v in np.unique(volume) if v != 0]
    if not present:
        raise InputError("no structure was found, so there is nothing to put in a DICOM SEG (it needs a segment)")
    if volume.shape[2] != len(source.frames):
        raise InputError(f"labels with {volume.shape[2]} slices do not fit a source of {len(source.frames)} frames")
    first = source.datasets[source.frames[0][0]]
    if (int(first.Columns), int(first.Rows)) != volume.shape[:2]:
        raise InputError(f"labels of {volume.shape[:2]} (columns, rows) do not fit the source's "
                         f"{int(first.Columns)} x {int(first.Rows)} pixels")
    segments = {label: number for number, label in enumerate(present, start=1)}
    lookup = np.zeros(int(volume.max()) + 1, np.uint16)
    for label, number in segments.items():
        lookup[label] = number
    source_images, pixel_array = _frames(lookup[volume], source)
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.model, family=codes.cid7162.ArtificialIntelligence, version=algorithm.version,
        source=MANUFACTURER, parameters=_parameters(algorithm, source),
    )
    coded = {label: structure_code(names.get(label, f"label {label}")) for label in present}
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=segments[label], segment_label=coded[label].label[:_LO],
            segmented_property_category=coded[label].category, segmented_property_type=coded[label].type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=identification,
            tracking_uid=generate_uid(), tracking_id=f"spine-rt label {label}: {coded[label].label}"[:_LO],
        )
        for label in present
    ]
    repaired = " (source UIDs generated)" if source.uids_repaired else ""
    dataset = hd.seg.Segmentation(
        source_images=source_images, pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=generate_uid(), series_number=SEG_SERIES_NUMBER, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name=algorithm.model,
        software_versions=f"spine-rt {algorithm.version}", device_serial_number=algorithm.sha256[:_LO],
        content_description=f"spine-rt segmentation{repaired}"[:_LO], content_label="SPINE",
        series_description=f"spine-rt {algorithm.model}"[:_LO], omit_empty_frames=True,
    )
    if "FrameOfReferenceUID" not in dataset and "PatientOrientation" not in dataset:
        # a projection image (X-ray) without patient orientation: the SEG must still carry the (type 2C) element
        dataset.PatientOrientation = first.get("PatientOrientation", "") or ""
    return Segmentation(dataset, segments, coded)


def _fit_decimal_strings(dataset: Any) -> Any:
    """A copy of ``dataset`` whose decimal strings (DS) fit their 16 characters.

    Sources written with full float precision (``-0.6427876096865394``) are
    read fine but their values would be copied into the SEG and SR as invalid
    DS; they are re-formatted (pydicom's ``format_number_as_ds``, about 1e-14
    relative change). Sequences are visited.
    """
    import copy

    from pydicom.valuerep import format_number_as_ds

    fixed = copy.deepcopy(dataset)

    def visit(item: Any) -> None:
        for element in item:
            if element.VR == "SQ":
                for child in element.value:
                    visit(child)
            elif element.VR == "DS" and element.value is not None and element.value != "":
                values = element.value if element.VM > 1 else [element.value]
                if any(len(str(getattr(v, "original_string", None) or v)) > 16 for v in values):
                    new = [format_number_as_ds(float(v)) for v in values]
                    element.value = new if element.VM > 1 else new[0]

    visit(fixed)
    return fixed


def _parameters(algorithm: AlgorithmFacts, source: SourceImages) -> dict[str, str]:
    parameters = {"model_sha256": algorithm.sha256, "spine_rt_version": algorithm.version}
    if source.uids_repaired:
        parameters["source_uids_generated"] = (" ".join(source.uids_repaired) + ": empty or missing in the source "
                                               "files; generated by spine-rt, not present in the PACS")
    return parameters


def _frames(numbers: np.ndarray, source: SourceImages) -> tuple[list[Any], np.ndarray]:
    """highdicom's source images and ``(frames, rows, columns)`` segment numbers in the same order.

    Single-frame sources: one frame per source instance, in slice order.
    A multi-frame source: one frame per source frame, in the source's frame order.
    """
    multi = [frame for _, frame in source.frames if frame is not None]
    if multi:
        dataset_index = source.frames[0][0]
        array = np.zeros((len(source.frames),) + numbers.shape[1::-1], np.uint16)
        for k, (_, frame) in enumerate(source.frames):
            array[frame] = numbers[:, :, k].T
        return [source.datasets[dataset_index]], array
    images = [source.datasets[index] for index, _ in source.frames]
    return images, np.ascontiguousarray(numbers.transpose(2, 1, 0))


def labels_from_segmentation(seg: Any, source: SourceImages, names: Mapping[int, str]) -> np.ndarray:
    """Read a SEG back to a label map on the source grid (``(I, J, K)``, or ``(H, W)`` for one frame).

    Segments are matched to label ids by their segment label (the structure name).

    Raises:
        InputError: a segment whose label is not one of ``names``.
    """
    import highdicom as hd

    seg = hd.seg.Segmentation.from_dataset(seg) if not isinstance(seg, hd.seg.Segmentation) else seg
    by_name = {name: label for label, name in names.items()}
    label_of = {}
    for item in seg.SegmentSequence:
        if item.SegmentLabel not in by_name:
            raise InputError(f"segment {item.SegmentNumber} {item.SegmentLabel!r} is not a structure of the model")
        label_of[int(item.SegmentNumber)] = by_name[item.SegmentLabel]
    lookup = np.zeros(max(label_of) + 1, np.uint16)
    for number, label in label_of.items():
        lookup[number] = label
    first = source.datasets[source.frames[0][0]]
    out = np.zeros((int(first.Columns), int(first.Rows), len(source.frames)), np.uint16)
    for k, (index, frame) in enumerate(source.frames):
        uid = str(source.datasets[index].SOPInstanceUID)
        if frame is None:
            plane = seg.get_pixels_by_source_instance([uid], combine_segments=True, relabel=False,
                                                      skip_overlap_checks=True)[0]
        else:
            plane = seg.get_pixels_by_source_frame(uid, [frame + 1], combine_segments=True, relabel=False,
                                                   skip_overlap_checks=True)[0]
        out[:, :, k] = lookup[plane].T
    return out[:, :, 0].T if len(source.frames) == 1 and source.frames[0][1] is None and _two_d(first) else out


def _two_d(dataset: Any) -> bool:
    """True for a projection image (an X-ray), which has no slice position."""
    return "ImagePositionPatient" not in dataset
