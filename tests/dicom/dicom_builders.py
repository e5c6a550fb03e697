"""DICOM series built with pydicom for the tests (imported by the test modules as ``dicom_builders``).

Geometry is written from an explicit RAS+ affine (the NIfTI convention) with
the standard's definitions, computed here independently of spine-rt:
slice ``k`` of a volume ``(I, J, K)`` becomes an image whose pixel
``[row j, column i]`` is ``volume[i, j, k]``; ``ImagePositionPatient`` is the
LPS position of voxel ``(0, 0, k)``, ``ImageOrientationPatient`` the LPS
directions of the ``i`` and ``j`` axes, ``PixelSpacing`` = (|j step|, |i step|).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def lps_geometry(affine: np.ndarray, k: int) -> tuple[list[float], list[float], list[float]]:
    """(ImagePositionPatient of slice k, ImageOrientationPatient, PixelSpacing) from a RAS+ affine."""
    lps = LPS @ affine
    i_step, j_step = lps[:3, 0], lps[:3, 1]
    position = (lps @ [0, 0, k, 1])[:3]
    orientation = np.concatenate([i_step / np.linalg.norm(i_step), j_step / np.linalg.norm(j_step)])
    return [float(v) for v in position], [float(v) for v in orientation], [float(np.linalg.norm(j_step)),
                                                                            float(np.linalg.norm(i_step))]


def _base(sop_class: str, modality: str, study_uid: str, series_uid: str, number: int, description: str,
          frame_of_reference: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Phantom^Spine"
    ds.PatientID = "PHANTOM1"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "pydicom test"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def write_volume_series(folder: Path, volume: np.ndarray, affine: np.ndarray, *, description: str = "T2 SAG",
                        number: int = 3, modality: str = "MR", study_uid: str | None = None,
                        series_uid: str | None = None, frame_of_reference: str | None = None,
                        prefix: str = "IM", seed: int = 0) -> list[Path]:
    """One single-frame file per slice ``k`` (int16 values, no rescale), file names in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid if series_uid is not None else generate_uid()
    frame_of_reference = frame_of_reference or generate_uid()
    sop_class = CT_IMAGE if modality == "CT" else MR_IMAGE
    order = np.random.default_rng(seed).permutation(volume.shape[2])
    paths = []
    for name_index, k in enumerate(order):
        ds = _base(sop_class, modality, study_uid, series_uid, number, description, frame_of_reference)
        position, orientation, spacing = lps_geometry(affine, int(k))
        ds.InstanceNumber = int(k) + 1
        ds.ImagePositionPatient = position
        ds.ImageOrientationPatient = orientation
        ds.PixelSpacing = spacing
        ds.SliceThickness = float(np.linalg.norm(affine[:3, 2]))
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        if modality == "CT":
            ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T.astype("<i2")).tobytes()
        path = folder / f"{prefix}{name_index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_enhanced_mr(path: Path, volume: np.ndarray, affine: np.ndarray, *, description: str = "T2 SAG 3D",
                      number: int = 7, frame_order: list[int] | None = None) -> Path:
    """An Enhanced MR Image object: one frame per slice (in ``frame_order``), geometry in functional groups."""
    ds = _base(ENHANCED_MR_IMAGE, "MR", generate_uid(), generate_uid(), number, description, generate_uid())
    order = list(range(volume.shape[2])) if frame_order is None else list(frame_order)
    _, orientation, spacing = lps_geometry(affine, 0)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = spacing
    measures.SliceThickness = float(np.linalg.norm(affine[:3, 2]))
    shared.PixelMeasuresSequence = [measures]
    plane = Dataset()
    plane.ImageOrientationPatient = orientation
    shared.PlaneOrientationSequence = [plane]
    ds.SharedFunctionalGroupsSequence = [shared]
    groups = []
    for k in order:
        group = Dataset()
        position = Dataset()
        position.ImagePositionPatient = lps_geometry(affine, k)[0]
        group.PlanePositionSequence = [position]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    ds.NumberOfFrames = len(order)
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
    frames = np.stack([volume[:, :, k].T for k in order]).astype("<i2")
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def oriented_volume(orientation: str, shape=(10, 12, 6), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random int16 volume and a RAS+ affine whose slices (K) are sagittal, coronal, axial or oblique."""
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 1000, size=shape).astype(np.int16)
    spacing = np.diag([0.7, 0.9, 3.0])
    axes = {
        "sagittal": [[0, 0, 1], [0, -1, 0], [-1, 0, 0]],   # i: superior, j: posterior, k: left
        "coronal": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],     # i: right->left (R+), j: inferior, k: anterior
        "axial": [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],      # LPS-like: i: left, j: posterior, k: superior
    }
    if orientation == "oblique":
        angle = np.deg2rad(40)  # beyond 30 degrees: "oblique"
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        directions = rotation @ np.array(axes["sagittal"], float).T
    else:
        directions = np.array(axes[orientation], float).T
    affine = np.eye(4)
    affine[:3, :3] = directions @ spacing
    affine[:3, 3] = [12.5, -30.0, 41.0]
    return volume, affine


def phantom_series_volume(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A spine MR phantom as sagittal slices: ``(S-I, A-P, L-R)`` int16 volume and its RAS+ affine.

    Drawn at 4.4 x 2 x 2 mm and declared at 0.3448 mm in-plane (as the CLI tests do) so that the
    tests' tiny model sees a small grid.
    """
    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(seed, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= 0.3448 / 2.0
    volume = np.round(phantom.image * 1000.0 / max(float(phantom.image.max()), 1e-6)).astype(np.int16)
    # put the sagittal axis (I, left-right) last: slices are sagittal
    return np.ascontiguousarray(volume.transpose(1, 2, 0)), affine[:, [1, 2, 0, 3]]


def save_nifti(path: Path, volume: np.ndarray, affine: np.ndarray) -> Path:
    """The same voxels and affine as a NIfTI file (the NIfTI route of a comparison)."""
    nib.save(nib.Nifti1Image(volume, affine), path)
    return path


def mixed_study(folder: Path, seed: int = 0) -> dict[str, object]:
    """A PACS-like folder, all files flat: an axial localiser (3 slices), a T1 sagittal with fewer slices, the
    T2 sagittal phantom (the one to choose) and an axial CT. Returns the T2 volume, affine and series UID."""
    volume, affine = phantom_series_volume(seed)
    study = generate_uid()
    local, local_affine = oriented_volume("axial", shape=(16, 16, 3), seed=1)
    write_volume_series(folder, local, local_affine, description="localizer", number=1, study_uid=study, prefix="LOC")
    t1_volume = volume[:, :, 2:-2]
    t1_affine = affine.copy()
    t1_affine[:3, 3] = (affine @ [0, 0, 2, 1])[:3]
    write_volume_series(folder, t1_volume, t1_affine, description="T1 SAG", number=2, study_uid=study, prefix="TA")
    t2_uid = generate_uid()
    write_volume_series(folder, volume, affine, description="T2 SAG", number=3, study_uid=study,
                        series_uid=t2_uid, prefix="TB")
    ct, ct_affine = oriented_volume("axial", shape=(16, 16, 40), seed=2)
    write_volume_series(folder, ct, ct_affine, description="CT abdomen", number=4, modality="CT",
                        study_uid=generate_uid(), prefix="CT")
    return {"volume": volume, "affine": affine, "series_uid": t2_uid}


def read_header(path: Path) -> Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)
