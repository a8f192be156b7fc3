"""The phantom of the example dataset: per sample and modality, its grid, voxels, label map and DICOM files.

A body ellipse, a spherical tumour ``GTV_Mass`` and a small box ``GTV_2``, whose positions depend on
the sample; each modality has its own grid and stored type (see :func:`imgindex.examples.write_example_dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RTStructureSetStorage,
)

from ._dicom import _DATE, _TIME, _dataset, _item, _Subject, _uid
from .seg import segmentation

#: DICOM Modality values of the image series.
MODALITIES = ("CT", "PT", "MR")
#: ROI / segment names; label-map value ``i + 1`` is ``ROI_NAMES[i]``.
ROI_NAMES = ("GTV_Mass", "GTV_2")
_ORIENTATION = [1, 0, 0, 0, 1, 0]


@dataclass(frozen=True)
class _Spec:
    """How one modality is acquired and stored."""

    modality: str
    folder: str
    sop_class: str
    spacing: tuple[float, float, float]  # x, y, z in mm
    dtype: type[np.integer[Any]]
    slope: float
    intercept: float
    values: tuple[float, float, float, float, float]  # air, body, GTV_Mass, GTV_2, noise sd
    description: str
    series_number: int
    tags: tuple[tuple[str, Any], ...]


_SPECS = {
    "CT": _Spec(
        "CT",
        "CT",
        CTImageStorage,
        (0.9, 0.9, 3.0),
        np.int16,
        1.0,
        -1024.0,
        (-1000, 40, 60, 100, 5),
        "CT image",
        1,
        (("RescaleType", "HU"), ("KVP", 120), ("ConvolutionKernel", "STANDARD")),
    ),
    "PT": _Spec(
        "PT",
        "PET",
        PositronEmissionTomographyImageStorage,
        (2.0, 2.0, 3.0),
        np.uint16,
        0.0025,
        0.0,
        (0, 1.0, 8.0, 3.0, 0.1),
        "PET image",
        2,
        (
            ("Units", "GML"),
            ("CountsSource", "EMISSION"),
            ("SeriesType", ["STATIC", "IMAGE"]),
            ("CorrectedImage", ["ATTN", "DECY"]),
            ("DecayCorrection", "START"),
            ("RandomsCorrectionMethod", "NONE"),
            ("FrameReferenceTime", 0),
        ),
    ),
    "MR": _Spec(
        "MR",
        "MR_T1",
        MRImageStorage,
        (0.8, 0.8, 4.0),
        np.uint16,
        1.0,
        0.0,
        (0, 400, 900, 650, 10),
        "MR T1 image",
        3,
        (
            ("ScanningSequence", "SE"),
            ("SequenceVariant", "NONE"),
            ("ScanOptions", ""),
            ("MRAcquisitionType", "2D"),
            ("RepetitionTime", 500),
            ("EchoTime", 15),
            ("EchoTrainLength", 1),
            ("MagneticFieldStrength", 1.5),
            ("SpacingBetweenSlices", 4.0),
        ),
    ),
}


@dataclass(frozen=True)
class _Volume:
    """One modality of one sample: geometry, stored/real-world voxels and the label map."""

    spec: _Spec
    origin: tuple[float, float, float]
    zs: NDArray[np.float64]  # slice positions (mm), exactly as written to DICOM
    stored: NDArray[np.integer[Any]]  # (z, y, x) as stored in DICOM
    real: NDArray[np.number[Any]]  # (z, y, x) real-world values (int16 HU for CT, float32 otherwise)
    label: NDArray[np.uint8]  # (z, y, x) uint8: 0 background, 1 GTV_Mass, 2 GTV_2

    @property
    def size(self) -> tuple[int, int, int]:
        """The grid's size (x, y, z)."""
        nz, ny, nx = self.real.shape
        return (nx, ny, nz)

    def geometry(self, k: int | None = None) -> dict[str, tuple[float, ...]]:
        """The manifest's ``size``, ``spacing`` and ``origin`` of the volume, or of its slice ``k``."""
        origin = self.origin if k is None else (*self.origin[:2], float(self.zs[k]))
        return {"size": self.size, "spacing": self.spec.spacing, "origin": origin}


@dataclass(frozen=True)
class _Params:
    """The per-sample phantom: body ellipse, spherical tumour and a small box ROI (mm)."""

    body: tuple[float, float]
    centre: NDArray[np.float64]
    radius: float
    box_centre: NDArray[np.float64]
    box_half: NDArray[np.float64]


def _params(seed: int, index: int, n_slices: int, size: tuple[int, int]) -> _Params:
    """Sample-specific phantom parameters, inside the field of view of every modality."""
    half = np.array(
        [
            [(size[1] - 1) / 2 * s.spacing[0], (size[0] - 1) / 2 * s.spacing[1], (n_slices - 1) / 2 * s.spacing[2]]
            for s in _SPECS.values()
        ]
    ).min(axis=0)
    h, hz = float(min(half[0], half[1])), float(max(half[2], 1.5))
    rng = np.random.default_rng([seed, index])
    radius = max(rng.uniform(0.4, 0.5) * min(h, hz), 3.0)  # >= 3 mm: always on a slice
    centre = np.array([-rng.uniform(0.3, 0.45) * h, rng.uniform(-0.2, 0.2) * h, rng.uniform(-0.2, 0.2) * hz])
    box_centre = np.array([rng.uniform(0.45, 0.55) * h, rng.uniform(-0.2, 0.2) * h, rng.uniform(-0.1, 0.1) * hz])
    return _Params(
        (0.95 * h, 0.8 * h), centre, radius, box_centre, np.maximum([0.18 * h, 0.15 * h, 0.3 * hz], [1.2, 1.2, 2.5])
    )


def _volume(mod: str, p: _Params, seed: int, index: int, n_slices: int, size: tuple[int, int]) -> _Volume:
    """Rasterise the phantom on the modality's own grid (vectorised)."""
    spec = _SPECS[mod]
    shape = (n_slices, size[0], size[1])
    # three values: one per axis of the (three-dimensional) shape
    origin = cast(
        "tuple[float, float, float]",
        tuple(round(-(n - 1) / 2 * s, 4) for n, s in zip(shape[::-1], spec.spacing, strict=True)),
    )
    x, y, zs = (np.round(o + np.arange(n) * s, 4) for o, n, s in zip(origin, shape[::-1], spec.spacing, strict=True))
    z, y, x = zs[:, None, None], y[None, :, None], x[None, None, :]
    sphere = (x - p.centre[0]) ** 2 + (y - p.centre[1]) ** 2 + (z - p.centre[2]) ** 2
    box = (
        (np.abs(x - p.box_centre[0]) <= p.box_half[0])
        & (np.abs(y - p.box_centre[1]) <= p.box_half[1])
        & (np.abs(z - p.box_centre[2]) <= p.box_half[2])
    )
    label = np.zeros(shape, np.uint8)
    label[sphere <= p.radius**2] = 1
    label[box] = 2
    air, body, gtv, roi2, sd = spec.values
    inside = np.broadcast_to((x / p.body[0]) ** 2 + (y / p.body[1]) ** 2 <= 1.0, shape)
    values = np.where(inside, body, air) + np.choose(label, [0.0, gtv - body, roi2 - body])
    values = values + np.random.default_rng([seed, index, MODALITIES.index(mod)]).normal(0, sd, shape)
    info = np.iinfo(spec.dtype)
    stored = np.clip(np.rint((values - spec.intercept) / spec.slope), max(info.min, 0), info.max)
    stored = stored.astype(spec.dtype)
    real = stored * spec.slope + spec.intercept
    real = real.astype(np.int16 if mod == "CT" else np.float32)
    return _Volume(spec, origin, zs, stored, real, label)


def _image_slice(
    subject: _Subject, vol: _Volume, series_uid: str, sop_uid: str, k: int, series_number: int | None = None
) -> Dataset:
    """One slice of an image series."""
    spec = vol.spec
    ds = _dataset(
        subject,
        spec.sop_class,
        sop_uid,
        series_uid,
        spec.modality,
        series_number or spec.series_number,
        spec.description,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.FrameOfReferenceUID = subject.for_uids[spec.modality]
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber, ds.AcquisitionNumber = k + 1, 1
    ds.ImagePositionPatient = list(vol.geometry(k)["origin"])
    ds.ImageOrientationPatient = _ORIENTATION
    ds.SliceLocation, ds.SliceThickness = float(vol.zs[k]), spec.spacing[2]
    ds.PixelSpacing = [spec.spacing[1], spec.spacing[0]]
    ds.Rows, ds.Columns = vol.stored.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = int(vol.stored.dtype.kind == "i")
    if spec.modality != "MR":
        ds.RescaleIntercept, ds.RescaleSlope = spec.intercept, spec.slope
    for keyword, value in spec.tags:
        setattr(ds, keyword, value)
    ds.PixelData = vol.stored[k].tobytes()
    return ds


def _contours(vol: _Volume, p: _Params, roi: int) -> list[tuple[int, NDArray[np.float64]]]:
    """Closed planar polygons (n x 3, patient mm) on each slice where label ``roi`` is present."""
    out: list[tuple[int, NDArray[np.float64]]] = []
    for k in np.flatnonzero((vol.label == roi).any(axis=(1, 2))):
        z = float(vol.zs[k])
        if roi == 1:
            r = max(np.sqrt(max(p.radius**2 - (z - p.centre[2]) ** 2, 0.0)), 0.25)
            theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
            xy = p.centre[:2] + r * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        else:
            xy = p.box_centre[:2] + p.box_half[:2] * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
        out.append((int(k), np.column_stack([np.round(xy, 3), np.full(len(xy), z)])))
    return out


def _rtstruct(subject: _Subject, vol: _Volume, p: _Params, series_uid: str, sops: list[str], uid: str) -> Dataset:
    """An RT Structure Set with both ROIs, referencing every slice of the image series."""
    spec, for_uid = vol.spec, subject.for_uids[vol.spec.modality]
    ds = _dataset(
        subject,
        RTStructureSetStorage,
        _uid(uid, "sop"),
        uid,
        "RTSTRUCT",
        100 + spec.series_number,
        f"RTSTRUCT {spec.description}",
    )
    ds.StructureSetLabel, ds.StructureSetName = "GTV", "GTV"
    ds.StructureSetDate, ds.StructureSetTime = _DATE, _TIME
    ref = [_item(ReferencedSOPClassUID=spec.sop_class, ReferencedSOPInstanceUID=s) for s in sops]
    series = _item(SeriesInstanceUID=series_uid, ContourImageSequence=ref)
    study = _item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
        ReferencedSOPInstanceUID=subject.study_uid,
        RTReferencedSeriesSequence=[series],
    )
    ds.ReferencedFrameOfReferenceSequence = [_item(FrameOfReferenceUID=for_uid, RTReferencedStudySequence=[study])]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, name in enumerate(ROI_NAMES, 1):
        ds.StructureSetROISequence.append(
            _item(
                ROINumber=number,
                ReferencedFrameOfReferenceUID=for_uid,
                ROIName=name,
                ROIGenerationAlgorithm="AUTOMATIC",
            )
        )
        roi = _item(ROIDisplayColor=[255, 0, 0] if number == 1 else [0, 0, 255], ReferencedROINumber=number)
        contours = [
            _item(
                ContourImageSequence=[ref[k]],
                ContourGeometricType="CLOSED_PLANAR",
                NumberOfContourPoints=len(pts),
                ContourNumber=i + 1,
                ContourData=pts.ravel().tolist(),
            )
            for i, (k, pts) in enumerate(_contours(vol, p, number))
        ]
        if contours:
            roi.ContourSequence = contours
        ds.ROIContourSequence.append(roi)
        ds.RTROIObservationsSequence.append(
            _item(ObservationNumber=number, ReferencedROINumber=number, RTROIInterpretedType="GTV", ROIInterpreter="")
        )
    return ds


def _seg(subject: _Subject, vol: _Volume, series_uid: str, sops: list[str], uid: str) -> Dataset | None:
    """A sparse binary DICOM SEG with the two ROIs of a series."""
    spec = vol.spec
    return segmentation(
        subject,
        uid=uid,
        series_number=200 + spec.series_number,
        description=f"SEG {spec.description}",
        label="GTV",
        source_series=series_uid,
        source_class=spec.sop_class,
        sops=sops,
        masks={name: vol.label == n for n, name in enumerate(ROI_NAMES, 1)},
        positions=[vol.geometry(k)["origin"] for k in range(len(vol.zs))],
        orientation=_ORIENTATION,
        spacing=spec.spacing,
        frame_of_reference=subject.for_uids[spec.modality],
    )
