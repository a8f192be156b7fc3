"""DICOM writing helpers of the example datasets: UIDs, the attributes every file has, items, encoding."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

_DATE, _TIME = "20200101", "120000"


def _uid(*parts: object) -> str:
    """A deterministic ``2.25.`` UID (128-bit integer from a hash of ``parts``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


_IMPLEMENTATION_UID = _uid("imgindex", "examples", "implementation")


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
    meta.MediaStorageSOPClassUID = UID(sop_class)  # pydicom would make the same UID of the str
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(_IMPLEMENTATION_UID)
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


def _item(**attrs: Any) -> Dataset:
    """A dataset (a sequence item) with these attributes."""
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _code(value: str, scheme: str, meaning: str) -> list[Dataset]:
    """A code sequence of one item."""
    return [_item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)]


def _dicom_bytes(ds: Dataset, variant: str | None = None) -> bytes:
    """Encode ``ds``: a normal Part 10 file, or ``no_preamble`` / ``no_meta`` (implicit VR)."""
    buf = io.BytesIO()
    if variant == "no_meta":
        del ds.file_meta
        pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)
        return buf.getvalue()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()[132:] if variant == "no_preamble" else buf.getvalue()


def _ds_text(values: NDArray[np.floating[Any]]) -> list[str]:
    """Decimal strings of at most 10 significant digits (a DS value of each number)."""
    return [format(float(x), ".10g") for x in values]
