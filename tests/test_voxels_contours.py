"""The RTSTRUCT read without pydicom (issue 15, item 4) gives exactly what the pydicom path gives.

Reference: :func:`imgindex.voxels.rtstruct.read_rois` with the fast path switched off (pydicom's
data set, Python's ``float`` per coordinate), on structure sets written with pydicom in the forms
the fast path reads and in those it leaves to pydicom.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from imgindex.errors import InputError
from imgindex.examples import write_shapes_dataset
from imgindex.voxels import buffer, contours, rtstruct
from imgindex.voxels.grid import Grid

RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(
    path: Path,
    rois=((1, "GTV"), (2, "CTV")),
    items=((1, [("CLOSED_PLANAR", "0\\0\\0\\1.5\\0\\0\\1.5\\2.25\\0")]),),
    *,
    charset: str | None = None,
    modality: str = "RTSTRUCT",
    syntax: str = ExplicitVRLittleEndian,
    contour_sequence: bool = True,
) -> str:
    """An RTSTRUCT whose ROIs are ``rois`` ((number or None, name or None), ...) and whose contours are
    ``items`` ((referenced number or None, [(type or None, raw ContourData text), ...]), ...)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RTSTRUCT, generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = pydicom.Dataset()
    ds.file_meta = meta
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTSTRUCT, meta.MediaStorageSOPInstanceUID, modality
    listed = []
    for number, name in rois:
        item = pydicom.Dataset()
        if number is not None:
            item.ROINumber = number
        if name is not None:
            item.ROIName = name
        listed.append(item)
    ds.StructureSetROISequence = pydicom.Sequence(listed)
    if contour_sequence:
        roi_contours = []
        for number, drawn in items:
            item = pydicom.Dataset()
            if number is not None:
                item.ReferencedROINumber = number
            sequence = []
            for kind, text in drawn:
                contour = pydicom.Dataset()
                if kind is not None:
                    contour.ContourGeometricType = kind
                if text is not None:
                    contour.add_new(0x30060050, "DS", text)
                sequence.append(contour)
            item.ContourSequence = pydicom.Sequence(sequence)
            roi_contours.append(item)
        ds.ROIContourSequence = pydicom.Sequence(roi_contours)
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def fast_read(path: str) -> list | None:
    """The ROIContourSequence items the fast path reads, or ``None`` when it leaves the file to pydicom."""
    walked = contours.walk_rois(path)
    return walked.items() if walked is not None else None


def with_pydicom(path: str, monkeypatch) -> list[rtstruct.Roi]:
    with monkeypatch.context() as patch:
        patch.setattr(rtstruct, "walk_rois", lambda _path: None)
        return rtstruct.read_rois(path)


def assert_same_rois(ours: list[rtstruct.Roi], theirs: list[rtstruct.Roi]) -> None:
    assert [(r.name, r.number) for r in ours] == [(r.name, r.number) for r in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert [k for k, _ in a.contours] == [k for k, _ in b.contours]
        for (_, p), (_, q) in zip(a.contours, b.contours, strict=True):
            assert p.shape == q.shape and p.dtype == q.dtype
            np.testing.assert_array_equal(p, q)


FAST = {
    "plain": {},
    "implicit VR": {"syntax": ImplicitVRLittleEndian},
    "utf-8 names": {"charset": "ISO_IR 192", "rois": ((1, "Tumör"), (2, "Läsion"))},
    "latin-1 names": {"charset": "ISO_IR 100", "rois": ((1, "Tumör"),)},
    "no names or numbers": {"rois": ((None, None), (3, "")), "items": ((None, [(None, "1\\2\\3")]), (7, []))},
    "padded and exponents": {"items": ((1, [("CLOSED_PLANAR", "1e1\\-2.5E-1\\+3\\.5\\-0\\6.\\7\\8\\9 ")]),)},
    "empty contour data": {"items": ((1, [("POINT", ""), ("CLOSED_PLANAR", None)]),)},
    "no contour sequence": {"contour_sequence": False},
}
SLOW = {
    "a character set the fast path does not decode": {"charset": "ISO_IR 144", "rois": ((1, "GTV"),)},
    "multi-valued names": {"rois": ((1, "GTV\\CTV"),)},
    "a number that is not printed as it is written": {"rois": ((1, "GTV"),), "items": (("01", []),)},
    "a space inside the coordinates": {"items": ((1, [("CLOSED_PLANAR", "1\\12\\3")]),)},  # 12: " 2", below
}


@pytest.mark.parametrize("name", list(FAST))
def test_fast_read_equals_pydicom(name, tmp_path, monkeypatch):
    path = write_rtstruct(tmp_path / "RS.dcm", **FAST[name])
    assert fast_read(path) is not None
    assert_same_rois(rtstruct.read_rois(path), with_pydicom(path, monkeypatch))


@pytest.mark.parametrize("name", list(SLOW))
def test_what_the_fast_read_leaves_to_pydicom(name, tmp_path, monkeypatch):
    path = write_rtstruct(tmp_path / "RS.dcm", **SLOW[name])
    data = Path(path).read_bytes()
    Path(path).write_bytes(data.replace(b"1\\12\\3", b"1\\ 2\\3"))  # pydicom would write " 2" as "2"
    assert fast_read(path) is None
    assert_same_rois(rtstruct.read_rois(path), with_pydicom(path, monkeypatch))


def test_errors_are_those_of_the_pydicom_path(tmp_path, monkeypatch):
    other = write_rtstruct(tmp_path / "CT.dcm", modality="CT", contour_sequence=False)
    for read in (rtstruct.read_rois, lambda p: with_pydicom(p, monkeypatch)):
        with pytest.raises(InputError, match="is not an RTSTRUCT"):
            read(other)
    odd = write_rtstruct(tmp_path / "odd.dcm", items=((1, [("CLOSED_PLANAR", "1\\2\\3\\4")]),))
    for read in (rtstruct.read_rois, lambda p: with_pydicom(p, monkeypatch)):
        with pytest.raises(InputError, match="4 ContourData values, not a multiple of 3"):
            read(odd)


def test_parse_decimals_is_python_float():
    texts = [b"-130.06\\-153.81\\-109.25", b"0.1\\0.2\\0.30000000000000004 ", b"1e-7\\2.5e+3\\-0"]
    parsed = contours.parse_decimals(texts)
    for text, values in zip(texts, parsed, strict=True):
        expected = [float(v) for v in text.strip().split(b"\\")]
        assert values.tolist() == expected
    assert np.signbit(parsed[2][2])  # -0 stays negative zero
    assert contours.parse_decimals([b"1\\\\2"]) is None  # an empty value: Python decides
    assert [v.tolist() for v in contours.parse_decimals([b"", b" "])] == [[], []]


def test_files_the_walker_cannot_map_or_read(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")  # cannot be memory-mapped: read instead, and not DICOM
    assert fast_read(str(empty)) is None
    cut = Path(write_rtstruct(tmp_path / "RS.dcm"))
    cut.write_bytes(cut.read_bytes()[:-20])  # ends inside the contours
    assert fast_read(str(cut)) is None


def test_masks_allocated_ahead_are_the_exact_shapes_each_in_its_own_buffer(tmp_path, monkeypatch):
    # Reference: the exact voxel masks write_shapes_dataset defines; a grid of 4 MiB per mask, so
    # the masks are zero-filled ahead in threads (buffer.AHEAD_BYTES), then the same with it off.
    data = write_shapes_dataset(tmp_path, size=(256, 256), n_slices=64, seg=False)
    grid = Grid(data.size, data.spacing, data.origin, data.direction)
    assert int(np.prod(grid.shape)) >= buffer.AHEAD_BYTES
    submitted = []
    real_submit = ThreadPoolExecutor.submit
    monkeypatch.setattr(ThreadPoolExecutor, "submit", lambda self, *a: submitted.append(a) or real_submit(self, *a))
    ahead = rtstruct.read_rtstruct(str(data.rtstruct), grid)
    assert len(submitted) == len(data.expected)  # one allocation ahead per ROI
    monkeypatch.setattr(buffer, "AHEAD_BYTES", 1 << 62)
    one_by_one = rtstruct.read_rtstruct(str(data.rtstruct), grid)
    assert len(submitted) == len(data.expected)
    for masks in (ahead, one_by_one):
        assert sorted(masks) == sorted(data.expected)
        for shape, expected in data.expected.items():
            assert np.array_equal(sitk.GetArrayFromImage(masks[shape]), expected), shape
    views = [buffer.writable_view(m) for m in ahead.values()]
    assert len({v.__array_interface__["data"][0] for v in views}) == len(views)  # no two masks share voxels


def test_allocations_give_what_empty_image_gives_and_wait_for_nothing_untaken():
    shape = (8, 512, 512)  # 4 MiB of uint16: allocated ahead
    with buffer.Allocations(shape, np.dtype(np.uint16), 2) as ahead:
        taken = [ahead.take() for _ in range(3)]  # one more than allocated ahead: made on the spot
    for image, view in taken:
        assert image.GetSize() == (512, 512, 8) and image.GetPixelID() == sitk.sitkUInt16
        assert view.shape == shape and not view.any()
        view[1, 2, 3] = 9
        assert image.GetPixel(3, 2, 1) == 9
    with buffer.Allocations(shape, np.dtype(np.uint16), 4) as untaken:
        pass
    assert untaken._ahead == []
    with buffer.Allocations(shape, np.dtype(">u2"), 2) as foreign:
        assert foreign.take() is None  # no SimpleITK image of a byte-swapped type, as empty_image
    assert buffer.empty_image(shape, np.dtype(">u2")) is None


def test_ready_gets_the_names_once_before_the_contours_on_both_paths(tmp_path, monkeypatch):
    path = write_rtstruct(tmp_path / "RS.dcm", **FAST[next(iter(FAST))])
    for read in (rtstruct.read_rois, lambda p, **k: with_pydicom_ready(p, monkeypatch, **k)):
        calls = []
        rois = read(path, ready=calls.append)
        assert calls == [[r.name for r in rois]]


def with_pydicom_ready(path: str, monkeypatch, **kwargs) -> list[rtstruct.Roi]:
    with monkeypatch.context() as patch:
        patch.setattr(rtstruct, "walk_rois", lambda _path: None)
        return rtstruct.read_rois(path, **kwargs)
