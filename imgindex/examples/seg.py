"""The one DICOM SEG writer of the example datasets: a sparse binary segmentation of a slice series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits
from pydicom.uid import SegmentationStorage

from ._dicom import _code, _dataset, _item, _Subject, _uid

#: Codes (value, scheme, meaning) of a segment's property category and type.
MASS = (("49755003", "SCT", "Morphologically Altered Structure"), ("4147007", "SCT", "Mass"))
TISSUE = (("91723000", "SCT", "Anatomical Structure"), ("85756007", "SCT", "Tissue"))


def segmentation(
    subject: _Subject,
    *,
    uid: str,
    series_number: int,
    description: str,
    label: str,
    source_series: str,
    source_class: str,
    sops: Sequence[str],
    masks: Mapping[str, NDArray[np.bool_]],
    positions: Sequence[Any],
    orientation: Sequence[Any],
    spacing: tuple[float, float, float],
    frame_of_reference: str,
    algorithm: str = "AUTOMATIC",
    codes: tuple[tuple[str, str, str], tuple[str, str, str]] = MASS,
    overlap: str = "NO",
) -> Dataset | None:
    """A sparse binary SEG: one segment per mask, frames only where a segment is present.

    ``masks`` maps segment labels to boolean arrays (z, y, x) on the source series' grid, whose
    slice ``k`` is the instance ``sops[k]`` at ``positions[k]`` (ImagePositionPatient values);
    ``spacing`` is (x, y, z) in mm. Every frame names its source image (per-frame
    DerivationImageSequence) and its position (PlanePositionSequence), and the SEG references the
    series (ReferencedSeriesSequence). ``None`` when no mask has a voxel.
    """
    ds = _dataset(subject, SegmentationStorage, _uid(uid, "sop"), uid, "SEG", series_number, description)
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_of_reference, ""
    ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = label, description, ""
    ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = "examples", "0", "1"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = next(iter(masks.values())).shape[1:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.LossyImageCompression, ds.SegmentationType, ds.SegmentsOverlap = "00", "BINARY", overlap
    dim_uid = _uid(uid, "dimensions")
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dim_uid)]
    ds.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x0062000B, FunctionalGroupPointer=0x0062000A),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00200032, FunctionalGroupPointer=0x00209113),
    ]
    category, kind = codes
    segments = []
    for n, name in enumerate(masks, 1):
        segment = _item(
            SegmentNumber=n,
            SegmentLabel=name,
            SegmentAlgorithmType=algorithm,
            SegmentedPropertyCategoryCodeSequence=_code(*category),
            SegmentedPropertyTypeCodeSequence=_code(*kind),
        )
        if algorithm != "MANUAL":
            segment.SegmentAlgorithmName = "imgindex phantom"
        segments.append(segment)
    ds.SegmentSequence = segments
    ref = [_item(ReferencedSOPClassUID=source_class, ReferencedSOPInstanceUID=s) for s in sops]
    ds.ReferencedSeriesSequence = [_item(SeriesInstanceUID=source_series, ReferencedInstanceSequence=ref)]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[
                _item(PixelSpacing=[spacing[1], spacing[0]], SliceThickness=spacing[2], SpacingBetweenSlices=spacing[2])
            ],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=list(orientation))],
        )
    ]
    frames, groups = [], []
    for n, mask in enumerate(masks.values(), 1):
        for k in np.flatnonzero(mask.any(axis=(1, 2))):
            frames.append(mask[k])
            source = _item(
                ReferencedSOPClassUID=source_class,
                ReferencedSOPInstanceUID=sops[int(k)],
                PurposeOfReferenceCodeSequence=_code("121322", "DCM", "Source image for image processing operation"),
            )
            groups.append(
                _item(
                    FrameContentSequence=[_item(DimensionIndexValues=[n, int(k) + 1])],
                    PlanePositionSequence=[_item(ImagePositionPatient=list(positions[int(k)]))],
                    SegmentIdentificationSequence=[_item(ReferencedSegmentNumber=n)],
                    DerivationImageSequence=[
                        _item(
                            SourceImageSequence=[source], DerivationCodeSequence=_code("113076", "DCM", "Segmentation")
                        )
                    ],
                )
            )
    if not frames:  # a grid too small to hold any segment: no valid SEG
        return None
    ds.NumberOfFrames, ds.PerFrameFunctionalGroupsSequence = len(frames), groups
    ds.add_new(0x7FE00010, "OB", pack_bits(np.stack(frames).astype(np.uint8).ravel()))
    return ds
