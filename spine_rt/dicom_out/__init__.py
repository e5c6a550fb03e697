"""spine_rt.dicom_out: results as DICOM objects a PACS stores and shows (highdicom; the ``dicom`` extra).

* :mod:`~spine_rt.dicom_out.structure_codes` - SNOMED CT codes of each spine structure.
* :mod:`~spine_rt.dicom_out.segmentation` - a DICOM Segmentation (SEG) on the source series.
* :mod:`~spine_rt.dicom_out.measurement_report` - a TID 1500 measurement report (Comprehensive 3D SR)
  whose measurements reference the SEG's segments.
* :mod:`~spine_rt.dicom_out.dicom_outputs` - both for a pipeline result, written atomically.

highdicom is imported inside these modules only; ``import spine_rt`` never loads it.
"""
