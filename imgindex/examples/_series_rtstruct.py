"""The RTSTRUCT of :func:`imgindex.examples.write_series_dataset`'s sphere (a module of its own for length)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, MRImageStorage, RTStructureSetStorage

from ._dicom import _DATE, _TIME, _dataset, _item, _Subject, _uid
from ._series_data import SeriesDataset


def structure_set(data: SeriesDataset, subject: _Subject, kept: Sequence[int], volume: int | str) -> Dataset:
    """An RTSTRUCT of the sphere: a circle on every kept slice plane it cuts, referring to ``volume``'s slices."""
    uid = _uid(data.series_uid, "rtstruct", volume)
    ds = _dataset(subject, RTStructureSetStorage, _uid(uid, "sop"), uid, "RTSTRUCT", 100, "RTSTRUCT sphere")
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "sphere", _DATE, _TIME
    sop_class = CTImageStorage if data.modality == "CT" else MRImageStorage
    by_position = {k: data.sop_uids[volume][k] for k in kept} if isinstance(volume, int) else {}
    refs = {k: _item(ReferencedSOPClassUID=sop_class, ReferencedSOPInstanceUID=s) for k, s in by_position.items()}
    series = _item(SeriesInstanceUID=data.series_uid)
    if refs:
        series.ContourImageSequence = list(refs.values())
    study = _item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
        ReferencedSOPInstanceUID=subject.study_uid,
        RTReferencedSeriesSequence=[series],
    )
    for_uid = _uid("for", data.series_uid)
    ds.ReferencedFrameOfReferenceSequence = [_item(FrameOfReferenceUID=for_uid, RTReferencedStudySequence=[study])]
    ds.StructureSetROISequence = [
        _item(ROINumber=1, ReferencedFrameOfReferenceUID=for_uid, ROIName="sphere", ROIGenerationAlgorithm="MANUAL")
    ]
    centre, normal = np.asarray(data.centre), np.asarray(data.normal)
    angles = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    contours: list[Dataset] = []
    for k in kept:
        distance = float(np.dot(centre - data.all_positions[k], normal))
        if abs(distance) >= data.radius - 0.5:
            continue
        radius = float(np.sqrt(data.radius**2 - distance**2))
        points = (centre - distance * normal) + radius * (
            np.cos(angles)[:, None] * np.asarray(data.row) + np.sin(angles)[:, None] * np.asarray(data.column)
        )
        contour = _item(
            ContourGeometricType="CLOSED_PLANAR",
            NumberOfContourPoints=len(points),
            ContourNumber=len(contours) + 1,
            ContourData=[f"{v:.4f}" for v in points.ravel()],
        )
        if k in refs:
            contour.ContourImageSequence = [refs[k]]
        contours.append(contour)
    ds.ROIContourSequence = [_item(ROIDisplayColor=[255, 0, 0], ReferencedROINumber=1, ContourSequence=contours)]
    ds.RTROIObservationsSequence = [
        _item(ObservationNumber=1, ReferencedROINumber=1, RTROIInterpretedType="ORGAN", ROIInterpreter="")
    ]
    return ds
