"""Write large synthetic DICOM trees fast: N patients, each with CT, PT and MR series and RTSTRUCTs.

Every patient gets one study with three image series (CT 52 slices, PT 50, MR 50 by default)
and one RTSTRUCT per series (two ROIs, contours on a few slices, a ContourImageSequence that
references every slice): 155 files per patient, so 1000 patients are 155,000 files. Patients
have their own PatientID, study, series, SOP instance and frame-of-reference UIDs (CT and PT
share a frame of reference, as on a PET/CT scanner; MR has its own).

Realistic headers: the image slices carry the attributes (and about the header size: CT and MR
~2.5 KB, PET ~3.5 KB) of the de-identified TCIA soft-tissue-sarcoma patient in
``../shared/data/sts_images``, plus a small vendor private block; the RTSTRUCTs, like that
patient's, hold dense contours (GTV_Mass on 3/5 of the slices with 650 points per contour,
GTV_2 on a few slices: ~20,000 points, ~450 KB). Only the pixel data is small (16x16 by
default), since only headers matter for indexing.

Speed: pydicom builds one *template* file per series kind (and one per RTSTRUCT kind) in which
every value that changes between patients or slices is a fixed-width placeholder. Files are
then written by replacing the placeholders in the template bytes (same widths, so every offset
and length stays valid) and writing the result, on several processes.

Layouts (the first matches ``image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask"``):

- ``nested``: ``root/PAT0000001/{CT,PT,MR}/dicom/image/IM00001.dcm`` and ``.../dicom/mask/RS.dcm``;
- ``flat``: every file in ``root/dicom/``, named ``PAT0000001_CT_00001.dcm``, ``PAT0000001_CT_RS.dcm``.

Usage: ``python benchmarks/make_tree.py ROOT N [--layout nested|flat] [--workers 2]``
"""

from __future__ import annotations

import argparse
import io
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RTStructureSetStorage,
)

LAYOUTS = ("nested", "flat")
#: UID root (pydicom's) followed by a fixed-width scheme, so every UID of a kind has one length.
ROOT = "1.2.826.0.1.3680043.8.498.1"
#: Placeholders: digits (valid in UIDs and IS), unlikely to occur anywhere else in a header.
P_TOKEN = b"8686868"  # patient number, 7 digits
K_TOKEN = b"31313"  # slice number (1-based), 5 digits
Z_TOKEN = b"-9191.125"  # slice position, DS of 9 characters ("%+09.3f")


@dataclass(frozen=True)
class SeriesSpec:
    modality: str
    number: int
    sop_class: str
    n_slices: int
    spacing: tuple[float, float, float]  # x, y, z (mm)
    description: str


SERIES = (
    SeriesSpec("CT", 1, CTImageStorage, 52, (0.9765625, 0.9765625, 3.0), "Thorax 3.0 B30f"),
    SeriesSpec("PT", 2, PositronEmissionTomographyImageStorage, 50, (4.0, 4.0, 3.0), "PET WB AC"),
    SeriesSpec("MR", 3, MRImageStorage, 50, (0.9375, 0.9375, 4.0), "T1 SE axial"),
)


def uid(patient: bytes | str, kind: int, part: int, slice_: bytes | str = "00000") -> str:
    """``ROOT.1<patient 7>.<kind>.<part>.1<slice 5>``: one length for every patient and slice.

    (The leading 1 keeps zero-padded numbers valid: a UID component must not start with 0.)
    """
    p = patient.decode() if isinstance(patient, bytes) else patient
    k = slice_.decode() if isinstance(slice_, bytes) else slice_
    return f"{ROOT}.1{p}.{kind}.{part}.1{k}"


def _uids(p: bytes | str, spec: SeriesSpec) -> dict[str, str]:
    return {
        "study": uid(p, 1, 0),
        "series": uid(p, 2, spec.number),
        "rt_series": uid(p, 3, spec.number),
        "rt_sop": uid(p, 4, spec.number),
        "frame": uid(p, 5, 1 if spec.modality in ("CT", "PT") else 2),
        "sop": uid(p, 6, spec.number, K_TOKEN),
    }


def _common(
    ds: Dataset,
    spec: SeriesSpec,
    modality: str,
    sop_class: str,
    sop: str,
    series: str,
    study: str,
    number: int,
    description: str,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = f"{ROOT}.99"
    meta.ImplementationVersionName = "IMGIDX_BENCH"
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = "20240312", "103012"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240312"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101530.250000"
    ds.AccessionNumber = "A" + P_TOKEN.decode()
    ds.Modality, ds.Manufacturer = modality, "BenchCorp"
    ds.InstitutionName, ds.ReferringPhysicianName = "Synthetic Hospital", "Referrer^Dr"
    ds.StationName, ds.StudyDescription, ds.SeriesDescription = "BENCH01", "PET-CT WB", description
    ds.OperatorsName, ds.ManufacturerModelName = "Operator^A", "Bench 3000"
    ds.PatientName, ds.PatientID = "BENCH^P" + P_TOKEN.decode(), "PAT" + P_TOKEN.decode()
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = "19600101", "O", "064Y"
    ds.PatientWeight, ds.PatientSize = "75", "1.75"
    ds.PatientIdentityRemoved, ds.DeidentificationMethod = "YES", "Per DICOM PS 3.15 AnnexE"
    ds.DeidentificationMethodCodeSequence = [
        _item(CodeValue="113100", CodingSchemeDesignator="DCM", CodeMeaning="Basic Application Confidentiality Profile")
    ]
    ds.BodyPartExamined = "LEG"
    ds.DeviceSerialNumber, ds.SoftwareVersions = "12345", "VB42"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyID, ds.SeriesNumber = "1", number
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    return ds


def image_template(spec: SeriesSpec, size: int = 16) -> bytes:
    """A Part 10 slice of ``spec`` with the patient, slice and position placeholders."""
    u = _uids(P_TOKEN, spec)
    ds = _common(
        Dataset(), spec, spec.modality, spec.sop_class, u["sop"], u["series"], u["study"], spec.number, spec.description
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    if spec.modality == "CT":
        ds.ScanOptions, ds.KVP, ds.DataCollectionDiameter = "HELICAL MODE", "120", "500"
        ds.ReconstructionDiameter, ds.GantryDetectorTilt = "500", "0"
        ds.DistanceSourceToDetector, ds.DistanceSourceToPatient = "1040", "570"
        ds.TableHeight, ds.RotationDirection, ds.ExposureTime = "150", "CW", "500"
        ds.XRayTubeCurrent, ds.Exposure, ds.FilterType = "200", "100", "FLAT"
        ds.GeneratorPower, ds.FocalSpots = "24", "0.7"
        ds.ConvolutionKernel, ds.PatientPosition = "B30f", "FFS"
    elif spec.modality == "PT":
        ds.AcquisitionTerminationCondition, ds.AcquisitionStartCondition = "TIME", "MANU"
        ds.AcquisitionStartConditionData, ds.AcquisitionTerminationConditionData = 0, 180
        ds.ContrastBolusRoute, ds.IntervalsAcquired = "IV", 0
        ds.ReconstructionDiameter, ds.GantryDetectorTilt, ds.TableHeight = "700", "0", "150"
        ds.FieldOfViewShape, ds.FieldOfViewDimensions, ds.CollimatorType = "CYLINDRICAL RING", [700, 162], "NONE"
        ds.ActualFrameDuration, ds.PatientPosition = 180000, "FFS"
        ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
        ds.SmallestImagePixelValue, ds.LargestImagePixelValue = 0, 32767
        ds.EnergyWindowRangeSequence = [_item(EnergyWindowLowerLimit="375.0", EnergyWindowUpperLimit="650.0")]
        ds.RadiopharmaceuticalInformationSequence = [
            _item(
                Radiopharmaceutical="Fluorodeoxyglucose",
                RadiopharmaceuticalStartTime="093000.000000",
                RadionuclideTotalDose="350000000",
                RadionuclideHalfLife="6586.2",
                RadionuclidePositronFraction="0.97",
                RadionuclideCodeSequence=[
                    _item(CodeValue="C-111A1", CodingSchemeDesignator="SRT", CodeMeaning="^18^Fluorine")
                ],
            )
        ]
        ds.NumberOfSlices, ds.NumberOfTimeSlices, ds.TypeOfDetectorMotion = spec.n_slices, 1, "NONE"
        ds.PatientOrientationCodeSequence = [
            _item(
                CodeValue="F-10450",
                CodingSchemeDesignator="99SDM",
                CodeMeaning="recumbent",
                PatientOrientationModifierCodeSequence=[
                    _item(CodeValue="F-10340", CodingSchemeDesignator="99SDM", CodeMeaning="supine")
                ],
            )
        ]
        ds.PatientGantryRelationshipCodeSequence = [
            _item(CodeValue="F-10470", CodingSchemeDesignator="99SDM", CodeMeaning="feet-first")
        ]
        ds.SeriesType, ds.Units, ds.CountsSource = ["WHOLE BODY", "IMAGE"], "BQML", "EMISSION"
        ds.SUVType, ds.RandomsCorrectionMethod, ds.AttenuationCorrectionMethod = "BW", "DLYD", "measured"
        ds.DecayCorrection, ds.ReconstructionMethod = "START", "OSEM3D 3i21s"
        ds.ScatterCorrectionMethod, ds.AxialMash, ds.TransverseMash = "Model-based", [5, 6], 1
        ds.CoincidenceWindowWidth, ds.FrameReferenceTime = "0", "0"
        ds.PrimaryPromptsCountsAccumulated, ds.SliceSensitivityFactor = 0, "1.0"
        ds.DecayFactor, ds.DoseCalibrationFactor, ds.ScatterFractionFactor = "1.0", "1.0", "0.3"
        ds.ImageIndex = 1  # binary (US): not patched per slice
    else:
        ds.DerivationDescription = "none"
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "SP", "PFP"
        ds.MRAcquisitionType, ds.RepetitionTime, ds.EchoTime = "2D", "500", "15"
        ds.InversionTime, ds.EchoTrainLength, ds.ProtocolName, ds.TriggerTime = "0", "1", "T1 SE AX", "0"
        ds.MagneticFieldStrength = "1.5"
        ds.ImagingFrequency, ds.ImagedNucleus, ds.NumberOfAverages = "63.6", "1H", "2"
        ds.SpacingBetweenSlices, ds.PatientPosition = f"{spec.spacing[2]:.1f}", "HFS"
        ds.Laterality = "R"
    ds.SliceThickness = f"{spec.spacing[2]:.1f}"
    ds.AcquisitionNumber = "1"
    ds.InstanceNumber = K_TOKEN.decode()
    half = (size - 1) / 2
    x0, y0 = -half * spec.spacing[0], -half * spec.spacing[1]
    ds.ImagePositionPatient = [f"{x0:+09.3f}", f"{y0:+09.3f}", Z_TOKEN.decode()]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = u["frame"], ""
    ds.SliceLocation = Z_TOKEN.decode()
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.PixelSpacing = [f"{spec.spacing[1]:.7g}", f"{spec.spacing[0]:.7g}"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1 if spec.modality == "CT" else 0
    if spec.modality != "PT":
        ds.SmallestImagePixelValue, ds.LargestImagePixelValue = 0, 4095
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    if spec.modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    elif spec.modality == "PT":
        ds.RescaleIntercept, ds.RescaleSlope = "0", "2.5"
    block = ds.private_block(0x0029, "BENCHCORP HEADER", create=True)  # a vendor's private block
    block.add_new(0x08, "CS", "IMAGE NUM 4")
    block.add_new(0x09, "LO", "20240312")
    block.add_new(0x10, "OB", bytes(range(256)) * 2)
    pixels = (np.arange(size * size, dtype=np.int16).reshape(size, size) % 64).tobytes()
    ds.PixelData = pixels
    return _encode(ds)


def rtstruct_template(spec: SeriesSpec, size: int = 16) -> bytes:
    """An RTSTRUCT on ``spec`` (two ROIs) with the patient placeholder; it references every slice."""
    u = _uids(P_TOKEN, spec)
    ds = _common(
        Dataset(),
        spec,
        "RTSTRUCT",
        RTStructureSetStorage,
        u["rt_sop"],
        u["rt_series"],
        u["study"],
        100 + spec.number,
        f"RTSTRUCT {spec.modality}",
    )
    ds.InstanceNumber = "1"
    ds.StructureSetLabel, ds.StructureSetName = "GTV", "GTV"
    ds.StructureSetDate, ds.StructureSetTime = "20240312", "120000"
    slices = [f"{k + 1:05d}" for k in range(spec.n_slices)]
    sops = [uid(P_TOKEN, 6, spec.number, s) for s in slices]
    refs = [_item(ReferencedSOPClassUID=spec.sop_class, ReferencedSOPInstanceUID=s) for s in sops]
    series = _item(SeriesInstanceUID=u["series"], ContourImageSequence=refs)
    study = _item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
        ReferencedSOPInstanceUID=u["study"],
        RTReferencedSeriesSequence=[series],
    )
    ds.ReferencedFrameOfReferenceSequence = [_item(FrameOfReferenceUID=u["frame"], RTReferencedStudySequence=[study])]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    dz = spec.spacing[2]
    middle = spec.n_slices // 2
    rois = (("GTV_Mass", spec.n_slices * 3 // 5, 650), ("GTV_2", 6, 60))  # (name, slices, points per contour)
    for number, (name, slices, points) in enumerate(rois, 1):
        ds.StructureSetROISequence.append(
            _item(
                ROINumber=number,
                ReferencedFrameOfReferenceUID=u["frame"],
                ROIName=name,
                ROIGenerationAlgorithm="MANUAL",
            )
        )
        contours = []
        for k in range(middle - slices // 2, middle - slices // 2 + slices):
            theta = np.linspace(0, 2 * np.pi, points, endpoint=False)
            r = 3.0 * number * (1 + 0.1 * np.sin(7 * theta))
            pts = np.column_stack([r * np.cos(theta), r * np.sin(theta), np.full(points, -k * dz)])
            contours.append(
                _item(
                    ContourImageSequence=[refs[k]],
                    ContourGeometricType="CLOSED_PLANAR",
                    NumberOfContourPoints=points,
                    ContourNumber=len(contours) + 1,
                    ContourData=[f"{v:.3f}" for v in pts.ravel()],
                )
            )
        ds.ROIContourSequence.append(
            _item(ROIDisplayColor=[255, 0, 0], ReferencedROINumber=number, ContourSequence=contours)
        )
        ds.RTROIObservationsSequence.append(
            _item(ObservationNumber=number, ReferencedROINumber=number, RTROIInterpretedType="GTV", ROIInterpreter="")
        )
    return _encode(ds)


def _item(**attrs) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def templates(size: int = 16) -> dict[str, tuple[bytes, bytes]]:
    """(image template, RTSTRUCT template) per modality."""
    return {s.modality: (image_template(s, size), rtstruct_template(s, size)) for s in SERIES}


def _paths(root: str, layout: str, patient: str, modality: str) -> tuple[str, str, str]:
    """(image directory, image file prefix, RTSTRUCT path) of one series of one patient."""
    if layout == "nested":
        base = os.path.join(root, f"PAT{patient}", modality, "dicom")
        return os.path.join(base, "image"), "IM", os.path.join(base, "mask", "RS.dcm")
    flat = os.path.join(root, "dicom")
    return flat, f"PAT{patient}_{modality}_", os.path.join(flat, f"PAT{patient}_{modality}_RS.dcm")


def _write_patients(root: str, layout: str, patients: list[int], size: int) -> int:
    temps = templates(size)
    made: set[str] = set()
    count = 0
    for number in patients:
        p = f"{number:07d}".encode()
        for spec in SERIES:
            image, rtstruct = temps[spec.modality]
            image = image.replace(P_TOKEN, p)
            folder, prefix, rs_path = _paths(root, layout, p.decode(), spec.modality)
            for directory in (folder, os.path.dirname(rs_path)):
                if directory not in made:
                    os.makedirs(directory, exist_ok=True)
                    made.add(directory)
            for k in range(spec.n_slices):
                slice_ = f"{k + 1:05d}".encode()
                data = image.replace(K_TOKEN, slice_).replace(Z_TOKEN, f"{-k * spec.spacing[2]:+09.3f}".encode())
                with open(os.path.join(folder, f"{prefix}{slice_.decode()}.dcm"), "wb") as handle:
                    handle.write(data)
            with open(rs_path, "wb") as handle:
                handle.write(rtstruct.replace(P_TOKEN, p))
            count += spec.n_slices + 1
    return count


def files_per_patient() -> int:
    return sum(s.n_slices + 1 for s in SERIES)


def write_tree(
    root: str | os.PathLike,
    n_patients: int,
    *,
    layout: str = "nested",
    size: int = 16,
    workers: int | None = None,
    first: int = 1,
) -> int:
    """Write ``n_patients`` patients (numbered from ``first``) under ``root``; return the file count."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose from {LAYOUTS}.")
    root = os.path.abspath(os.fspath(root))
    os.makedirs(root, exist_ok=True)
    numbers = list(range(first, first + n_patients))
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or n_patients < 4:
        return _write_patients(root, layout, numbers, size)
    parts = [numbers[i :: workers * 4] for i in range(workers * 4)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_write_patients, [root] * len(parts), [layout] * len(parts), parts, [size] * len(parts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("n", type=int, help="number of patients")
    parser.add_argument("--layout", choices=LAYOUTS, default="nested")
    parser.add_argument("--size", type=int, default=16, help="rows and columns of each slice (default 16)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    n = write_tree(args.root, args.n, layout=args.layout, size=args.size, workers=args.workers)
    seconds = time.perf_counter() - start
    print(f"wrote {n} files ({args.n} patients, {args.layout}) in {seconds:.1f} s ({n / seconds:,.0f} files/s)")


if __name__ == "__main__":
    main()
