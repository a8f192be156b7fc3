"""What a file is: sniffing by content, suffixes as hints (table-driven)."""

import gzip
import struct

import numpy as np
import pytest

from imgindex import formats

NIFTI1 = struct.pack("<i", 348) + b"\0" * 340 + b"n+1\0" + b"\0" * 4
NIFTI1_BE = struct.pack(">i", 348) + b"\0" * 340 + b"n+1\0" + b"\0" * 4
NIFTI2 = struct.pack("<i", 540) + b"n+2\0" + b"\0" * 532


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL", "dicom"),
        (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "dicom"),  # no preamble, explicit VR LE
        (b"\x08\x00\x16\x00\x1a\x00\x00\x001.2.840.10008.5.1.4.1.1.2", "dicom"),  # implicit VR LE
        (b"\x00\x08\x00\x05CS\x00\nISO_IR 100", "dicom"),  # no preamble, big endian
        (b"\x93NUMPY\x01\x00", "numpy"),
        (b"NRRD0004\n", "nrrd"),
        (NIFTI1, "nifti"),
        (NIFTI1_BE, "nifti"),
        (NIFTI2, "nifti"),
        (gzip.compress(NIFTI1 + b"\0" * 100), "nifti"),
        (gzip.compress(b"just text"), None),
        (b"\x1f\x8bnot really gzip", None),
        (b"# README\nhello", None),
        (b"", None),
        (b"\x00\x00\x00\x01Bud1", None),  # .DS_Store
    ],
)
def test_sniff(head, expected):
    assert formats.sniff(head) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.dcm", "dicom"),
        ("A.DCM", "dicom"),
        ("x.Dicom", "dicom"),
        ("i.nii", "nifti"),
        ("IMAGE.NII.GZ", "nifti"),
        ("m.nrrd", "nrrd"),
        ("m.NHDR", "nrrd"),
        ("a.npy", "numpy"),
        ("IM0001", None),
        ("a.npz", None),
        ("a.nii.bz2", None),
        ("README.txt", None),
    ],
)
def test_suffix_type(name, expected):
    assert formats.suffix_type(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("STS_001_CT_image.nii.gz", "STS_001_CT_image"),
        ("a.NII.GZ", "a"),
        ("a.npy.nii.gz", "a.npy"),
        ("1.2.3.4", "1.2.3.4"),
        ("slice.dcm", "slice"),
    ],
)
def test_strip_suffix(name, expected):
    assert formats.strip_suffix(name) == expected


def test_detect_content_beats_suffix_and_explains_mismatch():
    # A DICOM file named .nii is DICOM; junk named .dcm is a DICOM row with an error.
    assert formats.detect("x.nii", b"\0" * 128 + b"DICM") == ("dicom", None)
    file_type, error = formats.detect("broken.dcm", b"random bytes" * 20)
    assert file_type == "dicom" and "not dicom" in error
    file_type, error = formats.detect("empty.npy", b"")
    assert file_type == "numpy" and "empty" in error
    assert formats.detect("notes.md", b"# notes") == (None, None)


def test_real_numpy_header_is_sniffed(tmp_path):
    path = tmp_path / "a.bin"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    assert formats.sniff(path.read_bytes()[: formats.HEAD_SIZE]) == "numpy"
