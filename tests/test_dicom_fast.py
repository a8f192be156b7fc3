"""The fast DICOM header reader returns exactly what the pydicom reference returns, or falls back.

The rule every file obeys (:func:`agrees`):

* ``read_fast`` raises nothing but :class:`Unsupported`;
* if it raises :class:`Unsupported`, the caller reads the file with pydicom: nothing to compare;
* if it returns, ``read_with_pydicom`` must succeed too, with the same keys in the same order and
  the same values: same types, floats compared exactly (NaN equal to NaN);
* so a file pydicom's reader fails on must make ``read_fast`` raise :class:`Unsupported`, and
  the fallback reports pydicom's error.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import struct
from pathlib import Path

import pydicom
import pytest
from _pydicom_files import DATA_ROOT, bundled_charset_files, bundled_file, bundled_files
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RTStructureSetStorage,
    SegmentationStorage,
)

from imgindex.headers.dicom import read_with_pydicom
from imgindex.headers.dicom_fast import FastReader, Unsupported

#: One reader for the module, as a scan's worker has one: later files may follow earlier ones' templates.
READER = FastReader()


def read_fast(path: str, head: bytes) -> dict:
    """The fast reader, with the module's reader (templates and conversions kept between files)."""
    return READER.read(path, head)


HEAD = 8192
UID = "1.2.826.0.1.3680043.8.498.77"
STUDY, SERIES, CT_SERIES, FRAME = f"{UID}.1", f"{UID}.2", f"{UID}.3", f"{UID}.4"


def _same(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def agrees(path: str | os.PathLike, head_size: int = HEAD) -> bool:
    """Check the rule above for one file; True when the fast reader handled it."""
    path = str(path)
    with open(path, "rb") as handle:
        head = handle.read(head_size)
    try:
        expected = read_with_pydicom(path)
    except Exception as exc:  # any reference failure: read_fast must fall back
        expected = exc
    try:
        got = read_fast(path, head)
    except Unsupported:
        return False
    assert not isinstance(expected, Exception), f"pydicom failed ({expected!r}) but read_fast returned {got}"
    assert list(got) == list(expected)
    bad = {k: (got[k], expected[k]) for k in expected if not _same(got[k], expected[k])}
    assert not bad, f"read_fast, read_with_pydicom differ in {path}: {bad}"
    return True


def fallback_reason(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        head = handle.read(HEAD)
    with pytest.raises(Unsupported) as info:
        read_fast(str(path), head)
    return str(info.value)


# --- pydicom's test files ---

# Only the files installed with pydicom: pydicom.data.get_testdata_files would try to download more.
TEST_FILES = sorted(set(bundled_files() + bundled_charset_files()))


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: os.path.relpath(p, DATA_ROOT))
def test_pydicom_test_file(path):
    agrees(path)


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "rtplan.dcm",
        "rtdose.dcm",
        "liver_1frame.dcm",
        "badVR.dcm",
        "nested_priv_SQ.dcm",
        "SC_rgb_rle_2frame.dcm",
    ],
)
def test_ordinary_test_files_take_the_fast_path(name):
    assert agrees(bundled_file(name))


def test_charset_files_in_latin1_or_utf8_take_the_fast_path():
    names = {"chrFren.dcm", "chrFrenMulti.dcm", "chrGerm.dcm", "chrSQEncoding.dcm", "chrX1.dcm"}
    handled = {os.path.basename(f) for f in bundled_charset_files() if os.path.basename(f) in names and agrees(f)}
    assert handled == names


# --- fallbacks ---


def test_big_endian_falls_back():
    assert "big-endian" in fallback_reason(bundled_file("MR_small_bigendian.dcm"))


def test_deflated_falls_back():
    assert "deflated" in fallback_reason(bundled_file("image_dfl.dcm"))


def test_file_without_preamble_or_meta_falls_back(tmp_path):
    ds = _ct()
    del ds.file_meta
    path = tmp_path / "nometa.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)  # no preamble, no file meta
    assert "DICM" in fallback_reason(path)
    assert read_with_pydicom(str(path))["Modality"] == "CT"
    stripped = tmp_path / "nopreamble.dcm"
    stripped.write_bytes(_save(_ct())[128:])
    assert "DICM" in fallback_reason(stripped)


def test_truncated_file_falls_back(tmp_path):
    data = Path(bundled_file("CT_small.dcm")).read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:700])  # inside the header, before the pixel data
    assert "ends" in fallback_reason(path)


@pytest.mark.parametrize("kind", ["ct", "undefined-sequences", "rtstruct"])
def test_truncated_anywhere_agrees_or_falls_back(tmp_path, kind):
    """Cut a file at many offsets: each piece agrees with pydicom or falls back.

    The one exception is an RTSTRUCT cut inside its ROIContourSequence (3006,0039), which comes
    after every tag needed and is not read: the fast reader returns the whole file's values
    where pydicom fails on the broken contours.
    """
    if kind == "ct":
        data = _save(_ct(2, private=9000), implicit=True)
    else:
        ds = _rtstruct(n_images=40, undefined=True, modality="RTSTRUCT" if kind == "rtstruct" else "OT")
        data = _save(ds)
    contours = data.find(b"\x06\x30\x39\x00")
    path = tmp_path / "cut.dcm"
    path.write_bytes(data)
    whole = read_fast(str(path), data)
    for cut in [*range(120, 400, 7), *range(400, len(data), 97)]:
        path.write_bytes(data[:cut])
        if kind == "rtstruct" and cut > contours + 12:
            assert read_fast(str(path), data[:HEAD]) == whole
            continue
        agrees(path, 300)
        agrees(path)


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "liver_1frame.dcm", "nested_priv_SQ.dcm"]
)
def test_corrupted_headers_raise_only_unsupported(tmp_path, name):
    """Random byte changes and cuts in the header: a dict or Unsupported, never another exception.

    (Values are not compared: a tag corrupted into a high group ends the fast walk where pydicom
    reads on, the price of stopping after the last needed tag.)
    """
    rng = random.Random(name)
    data = Path(bundled_file(name)).read_bytes()
    path = tmp_path / "bad.dcm"
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupt[rng.randrange(132, min(len(data), 3000))] = rng.randrange(256)
        if rng.random() < 0.3:
            corrupt = corrupt[: rng.randrange(132, len(corrupt))]
        path.write_bytes(corrupt)
        with contextlib.suppress(Unsupported):
            assert isinstance(read_fast(str(path), bytes(corrupt[:HEAD])), dict)


# --- synthetic files written with pydicom ---


def _item(**attributes) -> Dataset:
    item = Dataset()
    for key, value in attributes.items():
        setattr(item, key, value)
    return item


def _base(modality: str, sop_class: str, sop: str) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.StudyDate, ds.Modality, ds.StudyDescription = "20240101", modality, "Study ü"
    ds.PatientName, ds.PatientID = "Müller^Jürgen", "P-1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyID, ds.SeriesNumber = STUDY, SERIES, "1", 7
    ds.FrameOfReferenceUID = FRAME
    return ds


def _ct(k: int = 0, private: int = 0) -> Dataset:
    ds = _base("CT", CTImageStorage, f"{UID}.10.{k}")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesDescription, ds.SliceThickness, ds.KVP = "Thorax  ", "1.25", "120"
    if private:  # a big private element: the needed tags after it lie beyond the first 8192 bytes
        ds.add_new(0x00190010, "LO", "ACME")
        ds.add_new(0x00191001, "OB", bytes(private))
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [-250, -250.5, -1.25 * k], [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns, ds.PixelSpacing = 8, 8, [0.9765625, 0.9765625]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.PixelData = bytes(128)
    return ds


def _rtstruct(
    n_images: int = 300, n_rois: int = 3, undefined: bool = False, modality: str = "RTSTRUCT", groups: bool = False
) -> Dataset:
    ds = _base(modality, RTStructureSetStorage, f"{UID}.20")
    ds.StructureSetLabel = "RS"
    images = [
        _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=f"{UID}.10.{i}") for i in range(n_images)
    ]
    series = _item(SeriesInstanceUID=CT_SERIES, ContourImageSequence=images)
    study = _item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
        ReferencedSOPInstanceUID=STUDY,
        RTReferencedSeriesSequence=[series],
    )
    ds.ReferencedFrameOfReferenceSequence = [_item(FrameOfReferenceUID=FRAME, RTReferencedStudySequence=[study])]
    ds.StructureSetROISequence = [
        _item(
            ROINumber=r + 1, ReferencedFrameOfReferenceUID=FRAME, ROIName=f"GTV {r} é", ROIGenerationAlgorithm="MANUAL"
        )
        for r in range(n_rois)
    ]
    contours = [
        _item(
            ContourImageSequence=images[i : i + 1],
            ContourGeometricType="CLOSED_PLANAR",
            NumberOfContourPoints=50,
            ContourData=[float(j) for j in range(150)],
        )
        for i in range(0, n_images, 3)
    ]
    ds.ROIContourSequence = [
        _item(ReferencedROINumber=r + 1, ROIDisplayColor=[255, 0, 0], ContourSequence=contours) for r in range(n_rois)
    ]
    ds.RTROIObservationsSequence = [
        _item(ObservationNumber=r + 1, ReferencedROINumber=r + 1, RTROIInterpretedType="GTV") for r in range(n_rois)
    ]
    if groups:  # not in an RTSTRUCT: only found when the contours are walked to their end
        ds.SharedFunctionalGroupsSequence = [
            _item(PixelMeasuresSequence=[_item(PixelSpacing=[0.5, 0.25], SliceThickness=3.0)])
        ]
    if undefined:
        _undefined(ds)
    return ds


def _seg(n_frames: int = 4, instances: bool = True, undefined: bool = False, top_geometry: bool = False) -> Dataset:
    ds = _base("SEG", SegmentationStorage, f"{UID}.30")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    source = [
        _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=f"{UID}.10.{i}") for i in range(n_frames)
    ]
    series = _item(SeriesInstanceUID=CT_SERIES)
    if instances:
        series.ReferencedInstanceSequence = source
    ds.ReferencedSeriesSequence = [series]
    ds.SegmentSequence = [
        _item(SegmentNumber=1, SegmentLabel="Liver", SegmentDescription="the liver", SegmentAlgorithmType="MANUAL"),
        _item(SegmentNumber=2, SegmentLabel="Tumour", SegmentAlgorithmType="MANUAL"),
    ]
    ds.SegmentationType = "BINARY"
    ds.NumberOfFrames, ds.Rows, ds.Columns = n_frames, 16, 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    if top_geometry:
        ds.PixelSpacing, ds.ImageOrientationPatient = [2.0, 2.0], [0, 1, 0, 0, 0, -1]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[_item(PixelSpacing=[0.5, 0.75], SliceThickness=2.5, SpacingBetweenSlices=2.0)],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])],
        )
    ]
    ds.PerFrameFunctionalGroupsSequence = [
        _item(
            DerivationImageSequence=[_item(SourceImageSequence=source[i : i + 1])],
            FrameContentSequence=[_item(DimensionIndexValues=[1, i + 1])],
            PlanePositionSequence=[_item(ImagePositionPatient=[-10, -20.5, 2.5 * i])],
            SegmentIdentificationSequence=[_item(ReferencedSegmentNumber=1)],
        )
        for i in range(n_frames)
    ]
    ds.PixelData = bytes(n_frames * 32)
    if undefined:
        _undefined(ds)
    return ds


def _undefined(ds: Dataset) -> None:
    """Give every sequence and item of ``ds`` undefined length, recursively."""
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                _undefined(item)


def _save(ds: Dataset, implicit: bool = False) -> bytes:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    return buf.getvalue()


def _write(tmp_path: Path, name: str, ds: Dataset, implicit: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(_save(ds, implicit))
    return path


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("head_size", [132, 700, HEAD, 1 << 20])
def test_ct_slice(tmp_path, implicit, head_size):
    path = _write(tmp_path, "ct.dcm", _ct(3), implicit)
    assert agrees(path, head_size)
    values = read_fast(str(path), path.read_bytes()[:head_size])
    assert values["PatientName"] == "Müller^Jürgen" and values["PixelSpacing"] == (0.9765625, 0.9765625)
    assert values["multiframe"] is None and values["ImagePositionPatient"] == (-250.0, -250.5, -3.75)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_ct_header_longer_than_head(tmp_path, implicit):
    path = _write(tmp_path, "ct.dcm", _ct(1, private=30000), implicit)
    assert agrees(path)
    assert read_fast(str(path), path.read_bytes()[:HEAD])["InstanceNumber"] == 2


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_rtstruct(tmp_path, implicit, undefined):
    path = _write(tmp_path, "rs.dcm", _rtstruct(undefined=undefined), implicit)
    assert path.stat().st_size > 5 * HEAD
    assert agrees(path)
    values = read_fast(str(path), path.read_bytes()[:HEAD])
    assert values["ROIName"] == ("GTV 0 é", "GTV 1 é", "GTV 2 é") and values["ROINumber"] == (1, 2, 3)
    assert len(values["ReferencedSOPInstanceUID"]) == 300


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_undefined_sequences_are_walked_when_needed_tags_can_follow(tmp_path, implicit, undefined):
    path = _write(
        tmp_path, "odd.dcm", _rtstruct(n_images=30, undefined=undefined, modality="OT", groups=True), implicit
    )
    assert agrees(path)
    assert read_fast(str(path), path.read_bytes()[:HEAD])["PixelSpacing"] == (0.5, 0.25)


def test_rtstruct_without_rois(tmp_path):
    ds = _rtstruct(n_images=2)
    ds.StructureSetROISequence = []
    del ds.ReferencedFrameOfReferenceSequence
    assert agrees(_write(tmp_path, "rs.dcm", ds))


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("instances", [True, False], ids=["instances", "source-images"])
@pytest.mark.parametrize("top_geometry", [False, True], ids=["groups", "top-level"])
def test_seg_multiframe(tmp_path, implicit, undefined, instances, top_geometry):
    path = _write(
        tmp_path, "seg.dcm", _seg(instances=instances, undefined=undefined, top_geometry=top_geometry), implicit
    )
    assert agrees(path)
    values = read_fast(str(path), path.read_bytes()[:HEAD])
    assert values["multiframe"] is True and values["SegmentNumber"] == (1, 2)
    assert values["SegmentDescription"] == ("the liver", "")
    assert values["ImagePositionPatient"] == (-10.0, -20.5, 0.0)
    assert values["PixelSpacing"] == ((2.0, 2.0) if top_geometry else (0.5, 0.75))
    assert len(values["ReferencedSOPInstanceUID"]) == 4


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("where", ["top-level", "frames-and-instances"])
def test_seg_source_images_are_references(tmp_path, implicit, where):
    """Issue 14: a SEG's SourceImageSequence (top level) and every frame's DerivationImageSequence
    name its source images, also beside a ReferencedInstanceSequence that names only some."""
    ds = _seg(n_frames=4)
    sources = [f"{UID}.10.{i}" for i in range(4)]
    if where == "top-level":
        del ds.ReferencedSeriesSequence, ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence
        ds.SourceImageSequence = [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=sources[0])]
    else:
        ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence = ds.ReferencedSeriesSequence[0][
            "ReferencedInstanceSequence"
        ].value[:1]
    path = _write(tmp_path, "seg.dcm", ds, implicit)
    assert agrees(path)
    values = read_fast(str(path), path.read_bytes()[:HEAD])
    assert set(values["ReferencedSOPInstanceUID"]) == set(sources)


def test_a_derived_image_source_sequence_is_not_a_reference(tmp_path):
    """A CT's own SourceImageSequence (a derived image) names no mask reference, in both readers."""
    ds = _ct()
    ds.SourceImageSequence = [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=f"{UID}.99")]
    path = _write(tmp_path, "ct.dcm", ds)
    assert agrees(path)
    assert read_fast(str(path), path.read_bytes()[:HEAD])["ReferencedSOPInstanceUID"] is None


def test_shared_groups_without_per_frame(tmp_path):
    ds = _seg()
    del ds.PerFrameFunctionalGroupsSequence
    ds.SegmentSequence = []
    assert agrees(_write(tmp_path, "seg.dcm", ds))


# --- raw files: values and encodings pydicom's writer would refuse ---

_LONG = {"OB", "OW", "SQ", "UN", "UT", "UC", "UR"}


def _element(tag: int, vr: str, value: bytes, implicit: bool = False, undefined: bool = False) -> bytes:
    """One encoded element; an odd value is padded (UI with NUL, others with a space)."""
    if len(value) % 2 and not undefined:
        value += b"\0" if vr == "UI" else b" "
    length = 0xFFFFFFFF if undefined else len(value)
    group, elem = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHL", group, elem, length) + value
    if vr in _LONG:
        return struct.pack("<HH2sHL", group, elem, vr.encode(), 0, length) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), length) + value


def _sequence(items: list[bytes], undefined: bool) -> bytes:
    """A sequence value from encoded item bodies (with delimiters when ``undefined``)."""
    out = b""
    for body in items:
        if undefined:
            out += struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
        else:
            out += struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
    return out + (struct.pack("<HHL", 0xFFFE, 0xE0DD, 0) if undefined else b"")


def _raw_file(elements: dict[int, tuple[str, bytes]], implicit: bool = False) -> bytes:
    """A DICOM file of ``elements`` (tag: (VR, value)), sorted."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, f"{UID}.40"
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, meta, enforce_standard=True)
    body = b""
    for tag, (vr, value) in sorted(elements.items()):
        if isinstance(value, tuple):  # ("undefined", value) of a sequence with delimiters
            body += _element(tag, vr, value[1], implicit, undefined=True)
            continue
        body += _element(tag, vr, value, implicit)
    return b"\0" * 128 + b"DICM" + fp.getvalue() + body


_BASE = {
    0x00080005: ("CS", b"ISO_IR 100"),
    0x00080008: ("CS", b"ORIGINAL\\PRIMARY\\AXIAL"),
    0x00080016: ("UI", CTImageStorage.encode()),
    0x00080018: ("UI", f"{UID}.40".encode()),
    0x00080060: ("CS", b"CT"),
    0x0008103E: ("LO", b"Series"),
    0x00100010: ("PN", b"Doe^John"),
    0x00100020: ("LO", b"P-2"),
    0x00180050: ("DS", b"1.5"),
    0x0020000D: ("UI", STUDY.encode()),
    0x0020000E: ("UI", SERIES.encode()),
    0x00200011: ("IS", b"3"),
    0x00200013: ("IS", b"12"),
    0x00200032: ("DS", b"-1\\-2.5\\3e1"),
    0x00200037: ("DS", b"1\\0\\0\\0\\1\\0"),
    0x00280010: ("US", b"\x08\x00"),
    0x00280011: ("US", b"\x08\x00"),
    0x00280030: ("DS", b"0.5\\0.5"),
    0x00280100: ("US", b"\x10\x00"),
    0x00280103: ("US", b"\x01\x00"),
    0x00281052: ("DS", b"-1024"),
    0x00281053: ("DS", b"1"),
    0x7FE00010: ("OW", bytes(128)),
}
_ODD_VALUES = {
    "ds-trailing-backslash": {0x00280030: ("DS", b"0.5\\0.5\\"), 0x00180050: ("DS", b"2.5\\")},
    "ds-blank-first": {0x00180050: ("DS", b"\\2.5"), 0x00200037: ("DS", b" \\0\\0\\0\\1\\0")},
    "ds-invalid": {0x00281053: ("DS", b"abc"), 0x00280030: ("DS", b"1\\x"), 0x00181030: ("DS", b"1.5\\x")},
    "ds-retry-scalar": {0x00180050: ("DS", b"2.5\\x"), 0x00281052: ("DS", b" 7\\")},
    "ds-nan-inf": {0x00281052: ("DS", b"nan"), 0x00180050: ("DS", b"-inf"), 0x00280030: ("DS", b"1e3\\ 2 ")},
    "ds-one-value": {0x00280030: ("DS", b"0.7")},
    "is-float": {0x00200013: ("IS", b"1.5"), 0x00200011: ("IS", b"-0.5"), 0x00280008: ("IS", b" 2.0 ")},
    "is-invalid": {0x00200013: ("IS", b"1A"), 0x00280008: ("IS", b"x\\2"), 0x00200011: ("IS", b"nan")},
    "is-multi": {0x00200013: ("IS", b"3\\4"), 0x00200011: ("IS", b"5\\x")},
    "is-blank": {0x00200013: ("IS", b"\t"), 0x00200011: ("IS", b"   ")},
    "is-huge": {0x00200013: ("IS", b"123456789012345678901")},
    "is-inf": {0x00200013: ("IS", b"inf")},
    "empty": {
        0x00100010: ("PN", b""),
        0x00080060: ("CS", b""),
        0x00080008: ("CS", b""),
        0x00280030: ("DS", b""),
        0x00280010: ("US", b""),
        0x00200013: ("IS", b""),
        0x0020000D: ("UI", b""),
    },
    "blank": {
        0x00100020: ("LO", b"    "),
        0x00080008: ("CS", b"\\\\"),
        0x00081030: ("LO", b" \0 "),
        0x00100010: ("PN", b"  "),
        0x0020000E: ("UI", b"\0\0"),
    },
    "nul-padding": {0x0008103E: ("LO", b"abc\0\0"), 0x00080018: ("UI", b"1.2.3\0"), 0x00100020: ("LO", b"a \0 \0")},
    "whitespace": {0x00100020: ("LO", b"\tabc\t"), 0x0020000D: ("UI", b" 1.2.3 "), 0x00200010: ("SH", b" 1 ")},
    "pn-groups": {0x00100010: ("PN", b"Doe^John=Jo=")},
    "pn-ideographic-only": {0x00100010: ("PN", b"=Yamada^Tarou")},
    "pn-multi": {0x00100010: ("PN", b"A^B\\C^D")},
    "multi-valued-text": {0x00080060: ("CS", b"CT\\MR"), 0x0008103E: ("LO", b"a\\b"), 0x00080018: ("UI", b"1.2\\1.3")},
    "us-multi": {0x00280010: ("US", b"\x10\x00\x20\x00")},
    "us-odd": {0x00280010: ("US", b"\x10\x00\x20")},
    "no-charset": {0x00080005: None, 0x00100010: ("PN", b"Doe^John")},
    "empty-charset": {0x00080005: ("CS", b""), 0x00100010: ("PN", b"M\xfcller")},
    "latin1": {0x00100010: ("PN", b"M\xfcller^J\xfcrgen"), 0x0008103E: ("LO", b"\xe9t\xe9")},
    "utf8": {0x00080005: ("CS", b"ISO_IR 192"), 0x00100010: ("PN", "Müller^Jürgen".encode())},
    "utf8-invalid": {0x00080005: ("CS", b"ISO_IR 192"), 0x00100010: ("PN", b"M\xfcller")},
    "gb18030-ascii": {0x00080005: ("CS", b"GB18030"), 0x00100010: ("PN", b"Wang^Xiaodong")},
    "gb18030": {0x00080005: ("CS", b"GB18030"), 0x00100010: ("PN", "王^小东".encode("gb18030"))},
    "iso2022": {0x00080005: ("CS", b"\\ISO 2022 IR 87"), 0x00100010: ("PN", b"Yamada^Tarou=\x1b$B;3ED\x1b(B")},
    "vr-differs": {0x00200013: ("US", b"\x01\x00")},
}
_HANDLED = {
    "ds-trailing-backslash",
    "ds-blank-first",
    "ds-invalid",
    "ds-retry-scalar",
    "ds-nan-inf",
    "ds-one-value",
    "is-float",
    "is-invalid",
    "is-multi",
    "is-blank",
    "empty",
    "blank",
    "nul-padding",
    "whitespace",
    "pn-groups",
    "pn-ideographic-only",
    "pn-multi",
    "multi-valued-text",
    "us-multi",
    "no-charset",
    "empty-charset",
    "latin1",
    "utf8",
    "gb18030-ascii",
}


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("case", list(_ODD_VALUES))
def test_odd_values(tmp_path, case, implicit):
    elements = {**_BASE, **_ODD_VALUES[case]}
    elements = {tag: value for tag, value in elements.items() if value is not None}
    path = tmp_path / f"{case}.dcm"
    path.write_bytes(_raw_file(elements, implicit))
    handled = agrees(path)
    if case in _HANDLED or (implicit and case == "vr-differs"):
        assert handled, fallback_reason(path)


def _roi_item(number: bytes, name: bytes, implicit: bool, charset: bytes | None = None) -> bytes:
    out = _element(0x00080005, "CS", charset, implicit) if charset is not None else b""
    return (
        out
        + _element(0x30060022, "IS", number, implicit)
        + _element(0x30060024, "UI", FRAME.encode(), implicit)
        + _element(0x30060026, "LO", name, implicit)
    )


@pytest.mark.parametrize("vr", ["UN", "SQ"])
def test_implicit_items_in_an_explicit_file(tmp_path, vr):
    """An explicit-VR file whose StructureSetROISequence is UN (implicit items), as pydicom reads it."""
    items = [_roi_item(b"1 ", b"GTV ", True), _roi_item(b"2 ", b"CTV ", True)]
    value = _sequence(items, undefined=True)
    elements = {**_BASE, 0x00080060: ("CS", b"RTSTRUCT"), 0x30060020: (vr, ("undefined", value))}
    path = tmp_path / "un.dcm"
    path.write_bytes(_raw_file(elements))
    assert agrees(path)
    assert read_fast(str(path), path.read_bytes())["ROIName"] == ("GTV", "CTV")


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_item_character_set(tmp_path, implicit):
    """An item's own (0008,0005) decodes its text; the others inherit the data set's."""
    items = [
        _roi_item(b"1", "Léon".encode("latin-1"), implicit),
        _roi_item(b"2", "Gödel".encode(), implicit, charset=b"ISO_IR 192"),
        _roi_item(b"3", b"z", implicit),
    ]
    elements = {**_BASE, 0x00080060: ("CS", b"RTSTRUCT"), 0x30060020: ("SQ", _sequence(items, undefined=False))}
    path = tmp_path / "charset.dcm"
    path.write_bytes(_raw_file(elements, implicit))
    assert agrees(path)
    values = read_fast(str(path), path.read_bytes())
    assert values["ROIName"] == ("Léon", "Gödel", "z") and values["ROINumber"] == (1, 2, 3)


@pytest.mark.parametrize("numbers", [(b"1", b""), (b"1", b"  "), (b"1", b"2\\3"), (b"1", b"1A"), (b"1.5", b"2")])
def test_roi_numbers(tmp_path, numbers):
    items = [_roi_item(n, b"ROI", False) for n in numbers]
    elements = {**_BASE, 0x00080060: ("CS", b"RTSTRUCT"), 0x30060020: ("SQ", _sequence(items, undefined=False))}
    path = tmp_path / "rois.dcm"
    path.write_bytes(_raw_file(elements))
    assert agrees(path)


def test_multi_valued_roi_name_falls_back(tmp_path):
    """The reference gives str(MultiValue), "['a', 'b']", for a multi-valued ROIName: fall back."""
    elements = {
        **_BASE,
        0x00080060: ("CS", b"RTSTRUCT"),
        0x30060020: ("SQ", _sequence([_roi_item(b"1", b"a\\b", False)], undefined=False)),
    }
    path = tmp_path / "multi.dcm"
    path.write_bytes(_raw_file(elements))
    assert "multi-valued" in fallback_reason(path)


def test_elements_out_of_order_fall_back(tmp_path):
    data = _raw_file(_BASE)
    rows = _element(0x00280010, "US", b"\x08\x00")
    swapped = data.replace(rows, b"").replace(
        _element(0x00100010, "PN", b"Doe^John"), _element(0x00100010, "PN", b"Doe^John") + rows
    )
    path = tmp_path / "order.dcm"
    path.write_bytes(swapped)
    assert "order" in fallback_reason(path)


# --- real and example data ---


def test_real_patient(real_data):
    paths = sorted(real_data.glob("STS_001/**/*.dcm"))
    if not paths:
        pytest.skip("no DICOM files for STS_001")
    assert all(agrees(p) for p in paths)


def test_example_dataset(tmp_path):
    try:
        from imgindex.examples import write_example_dataset
    except ImportError:
        pytest.skip("imgindex.examples.write_example_dataset is not there yet")
    write_example_dataset(tmp_path, extras=True)
    handled = [agrees(p) for p in sorted(tmp_path.rglob("*")) if p.is_file()]
    assert sum(handled) >= 20
