"""Small, deterministic synthetic medical-imaging datasets for tests, docs and demos.

:func:`write_example_dataset` writes a dataset shaped like a real soft-tissue-sarcoma
collection (samples ``STS_001``, ``STS_002``, ... with CT, PET and MR T1 series, each as DICOM,
NIfTI, NRRD, 3D numpy and per-slice numpy, with RTSTRUCT / SEG / label-map masks) and returns a
manifest: the ground truth of every file written. :func:`example_arrays` gives in-memory
phantoms. Everything is derived from ``seed``, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RTStructureSetStorage,
    SegmentationStorage,
)

from ._lazy import SimpleITK as sitk

__all__ = [
    "EXTRAS",
    "FORMATS",
    "LAYOUTS",
    "MANIFEST_COLUMNS",
    "MODALITIES",
    "ROI_NAMES",
    "SHAPES",
    "ShapesDataset",
    "example_arrays",
    "write_example_dataset",
    "write_shapes_dataset",
]

#: Directory layouts :func:`write_example_dataset` can write.
LAYOUTS = ("nested", "nested_flat", "flat")
#: Format directories (``file_type`` is ``numpy`` for both numpy forms).
FORMATS = ("dicom", "nifti", "nrrd", "numpy", "numpy_slice")
#: DICOM Modality values of the image series.
MODALITIES = ("CT", "PT", "MR")
#: Names of the awkward extras (``extras=True`` writes all of them).
EXTRAS = ("no_suffix", "no_preamble", "junk", "empty_dir", "upper_suffix", "broken")
#: ROI / segment names; label-map value ``i + 1`` is ``ROI_NAMES[i]``.
ROI_NAMES = ("GTV_Mass", "GTV_2")
#: Columns of the manifest returned by :func:`write_example_dataset`, in order.
MANIFEST_COLUMNS = (
    "file_path",
    "sample_name",
    "modality",
    "role",
    "file_type",
    "format_dir",
    "object_key",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "frame_of_reference_uid",
    "slice_index",
    "roi_names",
    "extra",
    "expected",
    "size",
    "spacing",
    "origin",
)

_DATE, _TIME = "20200101", "120000"
_ORIENTATION = [1, 0, 0, 0, 1, 0]
_SITK_EXT = {"nifti": ".nii.gz", "nrrd": ".nrrd"}


def _uid(*parts: object) -> str:
    """A deterministic ``2.25.`` UID (128-bit integer from a hash of ``parts``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


_IMPLEMENTATION_UID = _uid("imgindex", "examples", "implementation")


@dataclass(frozen=True)
class _Spec:
    """How one modality is acquired and stored."""

    modality: str
    folder: str
    sop_class: str
    spacing: tuple[float, float, float]  # x, y, z in mm
    dtype: type
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
    zs: np.ndarray  # slice positions (mm), exactly as written to DICOM
    stored: np.ndarray  # (z, y, x) as stored in DICOM
    real: np.ndarray  # (z, y, x) real-world values (int16 HU for CT, float32 otherwise)
    label: np.ndarray  # (z, y, x) uint8: 0 background, 1 GTV_Mass, 2 GTV_2

    @property
    def size(self) -> tuple[int, int, int]:
        nz, ny, nx = self.real.shape
        return (nx, ny, nz)

    def geometry(self, k: int | None = None) -> dict[str, tuple]:
        origin = self.origin if k is None else (*self.origin[:2], float(self.zs[k]))
        return {"size": self.size, "spacing": self.spec.spacing, "origin": origin}


@dataclass(frozen=True)
class _Params:
    """The per-sample phantom: body ellipse, spherical tumour and a small box ROI (mm)."""

    body: tuple[float, float]
    centre: np.ndarray
    radius: float
    box_centre: np.ndarray
    box_half: np.ndarray


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
    origin = tuple(round(-(n - 1) / 2 * s, 4) for n, s in zip(shape[::-1], spec.spacing, strict=True))
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
    return _Volume(spec, origin, zs, stored, real, label)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Subject:
    """Patient / study identity of one sample."""

    name: str
    study_uid: str
    for_uids: dict[str, str]


def _dataset(
    subject: _Subject,
    sop_class: str,
    sop_uid: str,
    series_uid: str,
    modality: str,
    series_number: int,
    description: str,
) -> Dataset:
    """A dataset with file meta, patient, study, series and SOP common attributes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_UID
    meta.ImplementationVersionName = "IMGINDEX_EX"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = _DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = _TIME
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.Modality, ds.Manufacturer = modality, "imgindex"
    ds.StudyDescription, ds.SeriesDescription = "Synthetic sarcoma study", description
    ds.PatientName = ds.PatientID = ds.StudyID = subject.name
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = subject.study_uid, series_uid
    ds.SeriesNumber, ds.InstanceNumber = series_number, 1
    return ds


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


def _item(**attrs: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _code(value: str, scheme: str, meaning: str) -> list[Dataset]:
    return [_item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)]


def _contours(vol: _Volume, p: _Params, roi: int) -> list[tuple[int, np.ndarray]]:
    """Closed planar polygons (n x 3, patient mm) on each slice where label ``roi`` is present."""
    out = []
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
    """A sparse binary DICOM SEG with two segments (frames only where a segment is present)."""
    spec = vol.spec
    ds = _dataset(
        subject, SegmentationStorage, _uid(uid, "sop"), uid, "SEG", 200 + spec.series_number, f"SEG {spec.description}"
    )
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = subject.for_uids[spec.modality], ""
    ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = "GTV", "Phantom GTV", ""
    ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = "examples", "0", "1"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = vol.label.shape[1:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.LossyImageCompression, ds.SegmentationType, ds.SegmentsOverlap = "00", "BINARY", "NO"
    dim_uid = _uid(uid, "dimensions")
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dim_uid)]
    ds.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x0062000B, FunctionalGroupPointer=0x0062000A),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00200032, FunctionalGroupPointer=0x00209113),
    ]
    ds.SegmentSequence = [
        _item(
            SegmentNumber=n,
            SegmentLabel=name,
            SegmentAlgorithmType="AUTOMATIC",
            SegmentAlgorithmName="imgindex phantom",
            SegmentedPropertyCategoryCodeSequence=_code("49755003", "SCT", "Morphologically Altered Structure"),
            SegmentedPropertyTypeCodeSequence=_code("4147007", "SCT", "Mass"),
        )
        for n, name in enumerate(ROI_NAMES, 1)
    ]
    ref = [_item(ReferencedSOPClassUID=spec.sop_class, ReferencedSOPInstanceUID=s) for s in sops]
    ds.ReferencedSeriesSequence = [_item(SeriesInstanceUID=series_uid, ReferencedInstanceSequence=ref)]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[
                _item(
                    PixelSpacing=[spec.spacing[1], spec.spacing[0]],
                    SliceThickness=spec.spacing[2],
                    SpacingBetweenSlices=spec.spacing[2],
                )
            ],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=_ORIENTATION)],
        )
    ]
    frames, groups = [], []
    for n in range(1, len(ROI_NAMES) + 1):
        for k in np.flatnonzero((vol.label == n).any(axis=(1, 2))):
            frames.append(vol.label[k] == n)
            source = _item(
                ReferencedSOPClassUID=spec.sop_class,
                ReferencedSOPInstanceUID=sops[k],
                PurposeOfReferenceCodeSequence=_code("121322", "DCM", "Source image for image processing operation"),
            )
            groups.append(
                _item(
                    FrameContentSequence=[_item(DimensionIndexValues=[n, int(k) + 1])],
                    PlanePositionSequence=[_item(ImagePositionPatient=list(vol.geometry(k)["origin"]))],
                    SegmentIdentificationSequence=[_item(ReferencedSegmentNumber=n)],
                    DerivationImageSequence=[
                        _item(
                            SourceImageSequence=[source], DerivationCodeSequence=_code("113076", "DCM", "Segmentation")
                        )
                    ],
                )
            )
    if not frames:  # a grid too small to hold either ROI: no valid SEG
        return None
    ds.NumberOfFrames, ds.PerFrameFunctionalGroupsSequence = len(frames), groups
    ds.add_new(0x7FE00010, "OB", pack_bits(np.stack(frames).astype(np.uint8).ravel()))
    return ds


def _dicom_bytes(ds: Dataset, variant: str | None = None) -> bytes:
    """Encode ``ds``: a normal Part 10 file, or ``no_preamble`` / ``no_meta`` (implicit VR)."""
    buf = io.BytesIO()
    if variant == "no_meta":
        del ds.file_meta
        pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)
        return buf.getvalue()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()[132:] if variant == "no_preamble" else buf.getvalue()


def _write_sitk(path: Path, array: np.ndarray, vol: _Volume) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(vol.spec.spacing)
    image.SetOrigin(vol.origin)
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(path))


class _Writer:
    """Places files according to the layout and records manifest rows."""

    def __init__(self, root: Path, layout: str) -> None:
        self.root, self.layout, self.rows = root, layout, []

    def dest(self, sample: str, folder: str, fmt: str, sub: str, name: str, flat_name: str | None = None) -> Path:
        if self.layout == "flat":
            directory, name = self.root / fmt, f"{sample}_{folder}_{flat_name or name}"
        else:
            directory = self.root / sample / folder / fmt
            directory = directory / sub if self.layout == "nested" else directory
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def add(self, path: Path, **fields: Any) -> None:
        self.rows.append({**dict.fromkeys(MANIFEST_COLUMNS), "file_path": str(path), **fields})

    def put(self, path: Path, data: bytes, **fields: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.add(path, **fields)


def _write_sample(
    w: _Writer,
    subject: _Subject,
    p: _Params,
    vols: dict[str, _Volume],
    formats: Iterable[str],
    seg: bool,
    no_suffix: bool,
    seed: int,
) -> None:
    """Write every modality and format of one sample."""
    name = subject.name
    for mod, vol in vols.items():
        folder = vol.spec.folder
        for_uid = subject.for_uids[mod]
        base = {"sample_name": name, "study_instance_uid": subject.study_uid, "expected": "imaging"}
        for fmt in formats:
            key, ftype = f"{name}/{folder}/{fmt}", "numpy" if fmt == "numpy_slice" else fmt
            img = {
                **base,
                "modality": mod.lower(),
                "role": "image",
                "file_type": ftype,
                "format_dir": fmt,
                "object_key": f"{key}/image",
            }
            msk = {**img, "role": "mask", "object_key": f"{key}/mask", "roi_names": ROI_NAMES}
            if fmt == "dicom":
                series_uid = _uid(seed, name, mod, "image")
                sops = [_uid(seed, name, mod, "image", k) for k in range(len(vol.zs))]
                uids = {"series_instance_uid": series_uid, "frame_of_reference_uid": for_uid}
                extra = "no_suffix" if no_suffix and mod == "MR" else None
                for k, sop in enumerate(sops):
                    nested, flat = (f"IM{k + 1:04d}",) * 2 if extra else (f"{k:06d}.dcm", f"{k:03d}_image.dcm")
                    w.put(
                        w.dest(name, folder, fmt, "image", nested, flat),
                        _dicom_bytes(_image_slice(subject, vol, series_uid, sop, k)),
                        **img,
                        **uids,
                        sop_instance_uid=sop,
                        slice_index=k,
                        extra=extra,
                        **vol.geometry(k),
                    )
                masks = [
                    (
                        "rtstruct",
                        "RS.dcm",
                        _rtstruct(subject, vol, p, series_uid, sops, _uid(seed, name, mod, "rtstruct")),
                    )
                ]
                if seg and mod == "CT":
                    masks.append(("seg", "SEG.dcm", _seg(subject, vol, series_uid, sops, _uid(seed, name, mod, "seg"))))
                for kind, fname, ds in (m for m in masks if m[2] is not None):
                    w.put(
                        w.dest(name, folder, fmt, "mask", fname),
                        _dicom_bytes(ds),
                        **{**msk, "modality": kind, "object_key": f"{key}/{kind}"},
                        series_instance_uid=ds.SeriesInstanceUID,
                        sop_instance_uid=ds.SOPInstanceUID,
                        frame_of_reference_uid=for_uid,
                    )
            elif fmt in _SITK_EXT:
                for fields, array in ((img, vol.real), (msk, vol.label)):
                    path = w.dest(name, folder, fmt, fields["role"], fields["role"] + _SITK_EXT[fmt])
                    _write_sitk(path, array, vol)
                    w.add(path, **fields, **vol.geometry())
            elif fmt == "numpy":
                for fields, array in ((img, vol.real), (msk, vol.label)):
                    path = w.dest(name, folder, fmt, fields["role"], fields["role"] + ".npy")
                    np.save(path, array)
                    w.add(path, **fields, size=vol.size)
            else:
                for k in range(len(vol.zs)):
                    for fields, array in ((img, vol.real), (msk, vol.label)):
                        role = fields["role"]
                        path = w.dest(name, folder, fmt, role, f"{name}_{k:02d}_{role}.npy", f"{k:02d}_{role}.npy")
                        np.save(path, array[k])
                        w.add(path, **fields, slice_index=k, size=vol.size[:2])


def _write_extras(w: _Writer, extras: set[str], subject: _Subject, ct: _Volume, seed: int, first_format: str) -> None:
    """Write the awkward extras (see :func:`write_example_dataset`)."""
    root, rng = w.root, np.random.default_rng([seed, 999])
    person = {"sample_name": subject.name, "study_instance_uid": subject.study_uid}
    if "no_preamble" in extras:
        k = len(ct.zs) // 2
        for fname, variant in (("nopreamble.dcm", "no_preamble"), ("nometa", "no_meta")):
            series, sop = _uid(seed, subject.name, variant), _uid(seed, subject.name, variant, k)
            ds = _image_slice(subject, ct, series, sop, k, series_number=90)
            ds.InstanceNumber = 1
            w.put(
                root / "extras" / "no_preamble" / fname,
                _dicom_bytes(ds, variant),
                **person,
                modality="ct",
                role="image",
                file_type="dicom",
                object_key=f"extras/no_preamble/{fname}",
                series_instance_uid=series,
                sop_instance_uid=sop,
                frame_of_reference_uid=subject.for_uids["CT"],
                slice_index=0,
                extra="no_preamble",
                expected="imaging",
                **{**ct.geometry(k), "size": (*ct.size[:2], 1)},
            )
    if "junk" in extras:
        folder = root / (first_format if w.layout == "flat" else subject.name)
        store = b"\x00\x00\x00\x01Bud1" + rng.integers(0, 256, 256, np.uint8).tobytes()
        readme = b"Synthetic example dataset written by imgindex.examples.\n"
        notes = b"# Notes\n\nNothing to see here: this file is not imaging.\n"
        for path, data in (
            (root / "README.txt", readme),
            (root / ".DS_Store", store),
            (root / "notes.md", notes),
            (folder / ".DS_Store", store),
            (folder / "notes.md", notes),
        ):
            w.put(path, data, extra="junk", expected="not_imaging")
    if "empty_dir" in extras:
        (root / "extras" / "empty").mkdir(parents=True, exist_ok=True)
        w.add(root / "extras" / "empty", extra="empty_dir", expected="empty_dir")
    if "upper_suffix" in extras:
        tmp, path = root / "extras" / "upper" / "tmp.nii.gz", root / "extras" / "upper" / "IMAGE.NII.GZ"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _write_sitk(tmp, ct.real, ct)
        tmp.replace(path)
        w.add(
            path,
            **person,
            modality="ct",
            role="image",
            file_type="nifti",
            object_key="extras/upper/IMAGE",
            extra="upper_suffix",
            expected="imaging",
            **ct.geometry(),
        )
    if "broken" in extras:
        broken = root / "extras" / "broken"
        header = b"{'descr': '<f4', 'shape': (8, 32, 32), }".ljust(53) + b"\n"  # no fortran_order
        npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
        noise = rng.integers(0, 256, 2048, np.uint8).tobytes()
        for fname, ftype, data in (
            ("broken.dcm", "dicom", b"\xde\xad\xbe\xef" + noise[:1020]),  # no DICM, no element
            ("broken.nii.gz", "nifti", gzip.compress(noise[1024:], mtime=0)),
            ("broken.npy", "numpy", npy),
        ):
            w.put(broken / fname, data, file_type=ftype, extra="broken", expected="error")


def _options(value: Collection[str], allowed: tuple[str, ...], what: str, upper: bool = False) -> list[str]:
    chosen = [v.upper() if upper else v for v in ([value] if isinstance(value, str) else value)]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose from {list(allowed)}.")
    return [v for v in allowed if v in chosen]


def write_example_dataset(
    root: str | Path,
    *,
    layout: str = "nested",
    n_samples: int = 2,
    modalities: Collection[str] = MODALITIES,
    formats: Collection[str] = FORMATS,
    n_slices: int = 8,
    size: tuple[int, int] = (32, 32),
    seg: bool = True,
    extras: bool | Collection[str] = True,
    seed: int = 0,
    shared_frame_of_reference: bool = True,
) -> pd.DataFrame:
    """Write a small synthetic multi-modality, multi-format dataset and return its manifest.

    Each sample (``STS_001``, ``STS_002``, ...) is one patient with one study holding a CT, PET
    and MR T1 series (folders ``CT``, ``PET``, ``MR_T1``) of a phantom: a body ellipse, a
    spherical tumour ``GTV_Mass`` and a small box ``GTV_2`` whose positions depend on the sample.
    Each modality has its own grid (CT 0.9x0.9x3 mm, PET 2x2x3 mm, MR 0.8x0.8x4 mm; axial,
    centred on the origin) and is written in every requested format: DICOM slices plus an
    RTSTRUCT (and, for CT with ``seg=True``, a sparse two-segment SEG); NIfTI and NRRD image and
    label map (CT as int16 HU, PET/MR as float32; mask uint8 with 1 = GTV_Mass, 2 = GTV_2); a 3D
    ``.npy`` (z, y, x) and one 2D ``.npy`` per slice (slice numbers start at 0).

    Layouts (``MOD`` is the modality folder):

    - ``"nested"``: ``root/STS_001/MOD/{fmt}/image/...`` and ``.../{fmt}/mask/...``;
    - ``"nested_flat"``: ``root/STS_001/MOD/{fmt}/`` with images and masks side by side;
    - ``"flat"``: ``root/{fmt}/STS_001_MOD_image.nii.gz``, ``STS_001_MOD_007_image.dcm``, ...

    Extras: ``no_suffix`` (first sample's MR DICOM named ``IM0001``...), ``no_preamble``
    (``extras/no_preamble/nopreamble.dcm`` without preamble and ``nometa``, implicit VR without
    file meta), ``junk`` (``README.txt``, ``.DS_Store``, ``notes.md``), ``empty_dir``
    (``extras/empty/``), ``upper_suffix`` (``extras/upper/IMAGE.NII.GZ``) and ``broken``
    (unreadable ``extras/broken/broken.{dcm,nii.gz,npy}``). Existing files under ``root`` are
    left alone (files of the same name are overwritten).

    Parameters
    ----------
    root : str or Path
        Directory to write to; created if missing.
    layout : {"nested", "nested_flat", "flat"}
        Directory layout.
    n_samples : int
        Number of samples (patients).
    modalities : collection of {"CT", "PT", "MR"}
        Image modalities to write.
    formats : collection of {"dicom", "nifti", "nrrd", "numpy", "numpy_slice"}
        Formats to write.
    n_slices : int
        Slices per volume.
    size : tuple of int
        In-plane size ``(rows, columns)``.
    seg : bool
        Write a DICOM SEG for each CT series (needs ``"dicom"`` in ``formats``).
    extras : bool or collection of str
        ``True`` for all of :data:`EXTRAS`, ``False`` for none, or the names to write.
    seed : int
        Seed of phantom positions, noise and UIDs.
    shared_frame_of_reference : bool
        Whether the series of one sample share one FrameOfReferenceUID.

    Returns
    -------
    pandas.DataFrame
        The manifest, one row per file (or empty directory) written, columns
        :data:`MANIFEST_COLUMNS`: ``modality`` is ct/pt/mr (rtstruct/seg for DICOM masks, None
        for non-imaging), ``role`` image/mask, ``expected`` imaging/not_imaging/error/empty_dir,
        ``size``/``spacing``/``origin`` are ``(x, y, z)`` tuples (a DICOM slice has its own
        origin; numpy files have only a size).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = write_example_dataset(tmp, n_samples=1, extras=False)
    >>> sorted(manifest["modality"].unique())
    ['ct', 'mr', 'pt', 'rtstruct', 'seg']
    >>> manifest.query("role == 'mask' and format_dir == 'nifti'")["roi_names"].iloc[0]
    ('GTV_Mass', 'GTV_2')
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose from {list(LAYOUTS)}.")
    if n_samples < 1 or n_slices < 1 or min(size) < 1:
        raise ValueError("n_samples, n_slices and size must be positive.")
    mods = _options(modalities, MODALITIES, "modalities", upper=True)
    fmts = _options(formats, FORMATS, "formats")
    chosen = set(EXTRAS if extras is True else _options(extras or (), EXTRAS, "extras"))
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    size = (int(size[0]), int(size[1]))
    w = _Writer(root, layout)
    for index in range(n_samples):
        name = f"STS_{index + 1:03d}"
        shared = _uid(seed, name, "frame_of_reference")
        subject = _Subject(
            name,
            _uid(seed, name, "study"),
            {m: shared if shared_frame_of_reference else _uid(seed, name, m, "frame_of_reference") for m in MODALITIES},
        )
        p = _params(seed, index, n_slices, size)
        vols = {m: _volume(m, p, seed, index, n_slices, size) for m in mods}
        _write_sample(w, subject, p, vols, fmts, seg, index == 0 and "no_suffix" in chosen, seed)
        if index == 0 and chosen:
            ct = vols.get("CT") or _volume("CT", p, seed, index, n_slices, size)
            _write_extras(w, chosen, subject, ct, seed, fmts[0] if fmts else "dicom")
    return pd.DataFrame({c: pd.Series([r[c] for r in w.rows], dtype=object) for c in MANIFEST_COLUMNS})


def example_arrays(n: int = 2, *, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """In-memory CT phantoms and their label maps, as written by :func:`write_example_dataset`.

    Parameters
    ----------
    n : int
        Number of samples.
    seed : int
        Seed, as in :func:`write_example_dataset`.

    Returns
    -------
    images : list of numpy.ndarray
        ``(8, 32, 32)`` int16 CT volumes in HU, axes (z, y, x).
    masks : list of numpy.ndarray
        Matching uint8 label maps (0 background, 1 GTV_Mass, 2 GTV_2).

    Examples
    --------
    >>> images, masks = example_arrays(2)
    >>> images[0].shape, images[0].dtype.name, sorted(set(masks[0].ravel().tolist()))
    ((8, 32, 32), 'int16', [0, 1, 2])
    """
    vols = [_volume("CT", _params(seed, i, 8, (32, 32)), seed, i, 8, (32, 32)) for i in range(n)]
    return [v.real for v in vols], [v.label for v in vols]


# --- Known-answer shapes (opt-in): a CT series with an RTSTRUCT and a SEG whose masks are known ---

#: Shapes :func:`write_shapes_dataset` can draw; the first five are its default.
SHAPES = ("box", "cylinder", "ring", "overlap_a", "overlap_b", "lung_left", "lung_right")
_OBLIQUE = (25.0, 20.0)  # degrees about z, then about the rotated x


@dataclass(frozen=True)
class ShapesDataset:
    """What :func:`write_shapes_dataset` wrote, and the masks a reader must find.

    ``expected`` maps each ROI / segment name to a bool array (z, y, x) on the CT grid: the voxels
    whose centres lie inside the shape. On the default grid no centre lies within 0.01 mm of a box
    or circle boundary, so any reader that fills on voxel centres must find exactly these; on
    large grids, and for the lung-like outlines, the polygons of ``n_points`` vertices differ from
    the exact shapes in a few boundary voxels. ``size``, ``spacing``, ``origin`` are
    (x, y, z) and ``direction`` is SimpleITK's row-major matrix; ``values`` are the real-world CT
    values (z, y, x).
    """

    root: Path
    image_dir: Path
    rtstruct: Path
    seg: Path | None
    expected: dict[str, np.ndarray]
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    values: np.ndarray


def _rotation(oblique: bool) -> np.ndarray:
    """Columns: row direction, column direction, slice normal."""
    if not oblique:
        return np.eye(3)
    a, b = np.radians(_OBLIQUE)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def _clear_radius(r: float, centre: tuple[float, float], u: np.ndarray, v: np.ndarray, step: float) -> float:
    """A radius near ``r`` with no voxel centre within 0.01 mm of the circle (or the clearest one tried)."""
    d = np.hypot(u[None, :] - centre[0], v[:, None] - centre[1])
    tried = r + np.arange(400) * 0.0137 * step
    clearance = np.array([np.abs(d - rr).min() for rr in tried])
    good = np.flatnonzero(clearance > 0.01)
    return float(tried[good[0]] if good.size else tried[np.argmax(clearance)])


def _clear_edge(e: float, c: np.ndarray) -> float:
    """Move a box edge 0.3 voxel past the nearest voxel centre ``c`` so no centre lies on it."""
    step = float(c[1] - c[0])
    return float(c[np.argmin(np.abs(c - e))] + 0.3 * step)


@dataclass(frozen=True)
class _Shape:
    """One ROI: its slices, its polygons on slice k ((n, 2) in plane mm) and its inside test."""

    slices: range
    polygons: Any  # k -> list of (n, 2) arrays
    inside: Any  # (k, u, v) -> bool array


def _shape_specs(names: Collection[str], u: np.ndarray, v: np.ndarray, nz: int, n_points: int) -> dict[str, _Shape]:
    """The shapes, in plane coordinates (mm from the slice centre along the row and column directions)."""
    hu, hv = float(u[-1]), float(v[-1])
    m, step = min(hu, hv), float(min(u[1] - u[0], v[1] - v[0]))
    theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False)

    def circle(c, r):
        return np.column_stack([c[0] + r * np.cos(theta), c[1] + r * np.sin(theta)])

    def in_circle(c, r, uu, vv):
        return np.hypot(uu - c[0], vv - c[1]) < r

    def box(slices, u0, u1, v0, v1):
        u0, u1, v0, v1 = _clear_edge(u0, u), _clear_edge(u1, u), _clear_edge(v0, v), _clear_edge(v1, v)
        corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
        return _Shape(slices, lambda k: [corners], lambda k, uu, vv: (uu >= u0) & (uu <= u1) & (vv >= v0) & (vv <= v1))

    def cylinder(slices, c, r):
        r = _clear_radius(r, c, u, v, step)
        return _Shape(slices, lambda k: [circle(c, r)], lambda k, uu, vv: in_circle(c, r, uu, vv))

    def ring(slices, c, r_out, r_in):
        r_out, r_in = _clear_radius(r_out, c, u, v, step), _clear_radius(r_in, c, u, v, step)
        return _Shape(
            slices,
            lambda k: [circle(c, r_out), circle(c, r_in)],
            lambda k, uu, vv: in_circle(c, r_out, uu, vv) & ~in_circle(c, r_in, uu, vv),
        )

    def lung(sign):
        c, ex, ey = (sign * 0.42 * hu, -0.05 * hv), 0.3 * hu, 0.62 * hv

        def radius(k, t):  # lobed outline, shrinking towards the first and last slices
            size = np.sqrt(max(1.0 - ((k - (nz - 1) / 2) / (0.55 * nz)) ** 2, 0.05))
            return size * (1 + 0.12 * np.cos(2 * t) + 0.06 * sign * np.sin(3 * t) + 0.03 * np.cos(7 * t))

        def polygons(k):
            r = radius(k, theta)
            return [np.column_stack([c[0] + ex * r * np.cos(theta), c[1] + ey * r * np.sin(theta)])]

        def inside(k, uu, vv):
            x, y = (uu - c[0]) / ex, (vv - c[1]) / ey
            return np.hypot(x, y) < radius(k, np.arctan2(y, x))

        return _Shape(range(1, nz - 1), polygons, inside)

    makers = {
        "box": lambda: box(range(2, nz - 2), -0.7 * hu, -0.25 * hu, -0.6 * hv, 0.0),
        "cylinder": lambda: cylinder(range(1, nz - 1), (0.35 * hu, -0.4 * hv), 0.3 * m),
        "ring": lambda: ring(range(3, nz - 3), (0.45 * hu, 0.45 * hv), 0.35 * m, 0.15 * m),
        "overlap_a": lambda: cylinder(range(1, nz - 3), (-0.45 * hu, 0.5 * hv), 0.28 * m),
        "overlap_b": lambda: box(range(3, nz - 1), -0.35 * hu, 0.05 * hu, 0.3 * hv, 0.75 * hv),
        "lung_left": lambda: lung(1.0),
        "lung_right": lambda: lung(-1.0),
    }
    return {name: makers[name]() for name in names}


def _ds_text(values: np.ndarray) -> list[str]:
    return [format(float(x), ".10g") for x in values]


def _shape_seg(
    subject: _Subject,
    series_uid: str,
    sops: list[str],
    masks: dict[str, np.ndarray],
    positions: np.ndarray,
    iop: list[float],
    spacing: tuple[float, float, float],
    uid: str,
) -> Dataset:
    """A sparse binary SEG, one segment per mask, frames placed by PlanePositionSequence."""
    ds = _dataset(subject, SegmentationStorage, _uid(uid, "sop"), uid, "SEG", 300, "SEG shapes")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = subject.for_uids["CT"], ""
    ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = "SHAPES", "Known-answer shapes", ""
    ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = "examples", "0", "1"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = next(iter(masks.values())).shape[1:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.LossyImageCompression, ds.SegmentationType, ds.SegmentsOverlap = "00", "BINARY", "UNDEFINED"
    ds.SegmentSequence = [
        _item(
            SegmentNumber=n,
            SegmentLabel=name,
            SegmentAlgorithmType="MANUAL",
            SegmentedPropertyCategoryCodeSequence=_code("91723000", "SCT", "Anatomical Structure"),
            SegmentedPropertyTypeCodeSequence=_code("85756007", "SCT", "Tissue"),
        )
        for n, name in enumerate(masks, 1)
    ]
    ds.ReferencedSeriesSequence = [
        _item(
            SeriesInstanceUID=series_uid,
            ReferencedInstanceSequence=[
                _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=s) for s in sops
            ],
        )
    ]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[
                _item(PixelSpacing=[spacing[1], spacing[0]], SliceThickness=spacing[2], SpacingBetweenSlices=spacing[2])
            ],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=iop)],
        )
    ]
    frames, groups = [], []
    for n, mask in enumerate(masks.values(), 1):
        for k in np.flatnonzero(mask.any(axis=(1, 2))):
            frames.append(mask[k])
            groups.append(
                _item(
                    FrameContentSequence=[_item(DimensionIndexValues=[n, int(k) + 1])],
                    PlanePositionSequence=[_item(ImagePositionPatient=_ds_text(positions[k]))],
                    SegmentIdentificationSequence=[_item(ReferencedSegmentNumber=n)],
                    DerivationImageSequence=[
                        _item(
                            SourceImageSequence=[
                                _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=sops[k])
                            ]
                        )
                    ],
                )
            )
    ds.NumberOfFrames, ds.PerFrameFunctionalGroupsSequence = len(frames), groups
    ds.add_new(0x7FE00010, "OB", pack_bits(np.stack(frames).astype(np.uint8).ravel()))
    return ds


def write_shapes_dataset(
    root: str | Path,
    *,
    size: tuple[int, int] = (48, 56),
    n_slices: int = 12,
    spacing: tuple[float, float, float] = (0.9, 0.8, 2.5),
    oblique: bool = False,
    shapes: Collection[str] = SHAPES[:5],
    n_points: int = 256,
    slope: float = 1.0,
    seg: bool = True,
    seed: int = 0,
) -> ShapesDataset:
    """Write a CT series, an RTSTRUCT and a SEG of shapes whose voxel masks are known exactly.

    The shapes lie in the slice planes: ``box`` (a rectangular prism), ``cylinder`` (a circle of
    ``n_points`` vertices on consecutive slices), ``ring`` (an outer and an inner circle in the
    same ROI: a hole), ``overlap_a`` / ``overlap_b`` (a cylinder and a box that overlap) and the
    opt-in ``lung_left`` / ``lung_right`` (large lobed outlines of ``n_points`` vertices that
    shrink towards the ends, for benchmarks). Writes ``root/image/*.dcm`` (int16 stored values,
    RescaleIntercept -1024, RescaleSlope ``slope``), ``root/mask/RS.dcm`` and, with ``seg``,
    ``root/mask/SEG.dcm`` (binary, sparse, one segment per shape).

    Parameters
    ----------
    root : str or Path
        Directory to write to (created).
    size : tuple of int
        (rows, columns).
    n_slices : int
        Number of slices (at least 8).
    spacing : tuple of float
        (x, y, z) spacing in mm.
    oblique : bool
        Tilt the series: rotated 25 degrees about z, then 20 degrees about the new x axis.
    shapes : collection of str
        Names from :data:`SHAPES`.
    n_points : int
        Vertices of each round outline.
    slope : float
        RescaleSlope of the CT (not 1: real-world values are not integral).
    seg : bool
        Also write the SEG.
    seed : int
        Seed of the noise and the UIDs.

    Returns
    -------
    ShapesDataset

    Examples
    --------
    >>> import tempfile
    >>> data = write_shapes_dataset(tempfile.mkdtemp(), oblique=True)
    >>> sorted(data.expected), int(data.expected["box"].sum())
    (['box', 'cylinder', 'overlap_a', 'overlap_b', 'ring'], 1456)
    """
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown or n_slices < 8:
        raise ValueError(f"Unknown shapes {unknown} (choose from {list(SHAPES)}) or fewer than 8 slices.")
    root = Path(root).absolute()
    ny, nx = int(size[0]), int(size[1])
    rot = _rotation(oblique)
    half = (np.array([nx, ny, n_slices]) - 1) / 2 * np.asarray(spacing)
    origin = np.round(np.array([12.5, -31.25, 47.0]) - rot @ half, 4)
    u = (np.arange(nx) - (nx - 1) / 2) * spacing[0]
    v = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
    specs = _shape_specs([s for s in SHAPES if s in set(shapes)], u, v, n_slices, n_points)
    uu, vv = np.meshgrid(u, v)
    expected = {}
    for name, spec in specs.items():
        mask = np.zeros((n_slices, ny, nx), bool)
        for k in spec.slices:
            mask[k] = spec.inside(k, uu, vv)
        expected[name] = mask
    any_shape = np.any(list(expected.values()), axis=0) if expected else np.zeros((n_slices, ny, nx), bool)
    noise = np.random.default_rng([seed, 7]).integers(-20, 21, any_shape.shape)
    stored = np.rint((np.where(any_shape, 40, -1000) + noise + 1024) / slope).astype(np.int16)
    values = (stored * slope - 1024).astype(np.int16 if float(slope).is_integer() else np.float32)
    positions = origin + np.arange(n_slices)[:, None] * spacing[2] * rot[:, 2]
    iop = [float(x) for x in np.round(np.r_[rot[:, 0], rot[:, 1]], 10)]
    subject = _Subject("SHAPES", _uid(seed, "shapes", "study"), {m: _uid(seed, "shapes", "for") for m in MODALITIES})
    series_uid = _uid(seed, "shapes", oblique, "series")
    sops = [_uid(seed, "shapes", oblique, k) for k in range(n_slices)]
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "mask").mkdir(parents=True, exist_ok=True)
    for k, sop in enumerate(sops):
        ds = _dataset(subject, CTImageStorage, sop, series_uid, "CT", 1, "CT shapes")
        ds.ImageType, ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = (
            ["ORIGINAL", "PRIMARY", "AXIAL"],
            subject.for_uids["CT"],
            "",
        )
        ds.InstanceNumber, ds.ImagePositionPatient, ds.ImageOrientationPatient = k + 1, _ds_text(positions[k]), iop
        ds.SliceThickness, ds.PixelSpacing = spacing[2], [spacing[1], spacing[0]]
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = ny, nx, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, format(slope, ".10g"), "HU"
        ds.PixelData = stored[k].tobytes()
        (root / "image" / f"{k:04d}.dcm").write_bytes(_dicom_bytes(ds))
    rs_uid = _uid(seed, "shapes", oblique, "rtstruct")
    rs = _dataset(subject, RTStructureSetStorage, _uid(rs_uid, "sop"), rs_uid, "RTSTRUCT", 200, "RTSTRUCT shapes")
    rs.StructureSetLabel, rs.StructureSetDate, rs.StructureSetTime = "SHAPES", _DATE, _TIME
    ref = [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=s) for s in sops]
    rs.ReferencedFrameOfReferenceSequence = [
        _item(
            FrameOfReferenceUID=subject.for_uids["CT"],
            RTReferencedStudySequence=[
                _item(
                    ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
                    ReferencedSOPInstanceUID=subject.study_uid,
                    RTReferencedSeriesSequence=[_item(SeriesInstanceUID=series_uid, ContourImageSequence=ref)],
                )
            ],
        )
    ]
    rs.StructureSetROISequence, rs.ROIContourSequence, rs.RTROIObservationsSequence = [], [], []
    for number, (name, spec) in enumerate(specs.items(), 1):
        rs.StructureSetROISequence.append(
            _item(
                ROINumber=number,
                ReferencedFrameOfReferenceUID=subject.for_uids["CT"],
                ROIName=name,
                ROIGenerationAlgorithm="MANUAL",
            )
        )
        contours = []
        for k in spec.slices:
            for polygon in spec.polygons(k):
                in_plane = polygon + np.array([(nx - 1) / 2 * spacing[0], (ny - 1) / 2 * spacing[1]])
                world = positions[k] + in_plane[:, :1] * rot[:, 0] + in_plane[:, 1:] * rot[:, 1]
                contours.append(
                    _item(
                        ContourImageSequence=[ref[k]],
                        ContourGeometricType="CLOSED_PLANAR",
                        NumberOfContourPoints=len(world),
                        ContourNumber=len(contours) + 1,
                        ContourData=_ds_text(world.ravel()),
                    )
                )
        rs.ROIContourSequence.append(
            _item(ROIDisplayColor=[255, 0, 0], ReferencedROINumber=number, ContourSequence=contours)
        )
        rs.RTROIObservationsSequence.append(
            _item(ObservationNumber=number, ReferencedROINumber=number, RTROIInterpretedType="ORGAN", ROIInterpreter="")
        )
    (root / "mask" / "RS.dcm").write_bytes(_dicom_bytes(rs))
    seg_path = None
    if seg and expected:
        seg_path = root / "mask" / "SEG.dcm"
        seg_path.write_bytes(
            _dicom_bytes(
                _shape_seg(
                    subject, series_uid, sops, expected, positions, iop, spacing, _uid(seed, "shapes", oblique, "seg")
                )
            )
        )
    return ShapesDataset(
        root,
        root / "image",
        root / "mask" / "RS.dcm",
        seg_path,
        expected,
        (nx, ny, n_slices),
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in origin),
        tuple(float(d) for d in rot.ravel()),
        values,
    )
