"""The header columns of issue 12: what tells volumes apart, per-frame values, projection spacing, cut-short files.

Both DICOM readers must agree on every file (the rule of tests/test_dicom_fast.py), and the values
must be the generator's ground truth or pydicom's.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _pydicom_files import TEST_FILES, bundled_file

import imgindex
from imgindex.examples import SPLITS, write_series_dataset
from imgindex.headers import read_file
from imgindex.headers.dicom_cut import Cut, cut_message, where_it_ends
from imgindex.headers.dicom_fast import FastReader, Unsupported
from imgindex.headers.dicom_pydicom import read_with_pydicom
from imgindex.headers.dicom_walk import Truncated

READER = FastReader()


def _same(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def fast_equals_reference(path: Path) -> dict:
    """Both readers on one file: the same keys in the same order and the same values."""
    head = path.read_bytes()[:8192]
    expected = read_with_pydicom(str(path))
    got = READER.read(str(path), head)
    assert list(got) == list(expected)
    assert not {k for k in expected if not _same(got[k], expected[k])}
    return got


@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame", "multi-frame"])
@pytest.mark.parametrize("split_by", list(SPLITS))
def test_readers_agree_and_read_the_truth(tmp_path, split_by, multiframe):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by=split_by, n_slices=4, multiframe=multiframe)
    values = [fast_equals_reference(p) for p in data.files]
    if multiframe:
        (one,) = values
        positions = np.asarray(one["frame_positions"]).reshape(-1, 3)
        np.testing.assert_allclose(positions, np.tile(data.positions, (3, 1)), atol=1e-6)
        expected = {
            "diffusion": ("frame_b_values", [0.0] * 4 + [1000.0] * 8),
            "echo": ("frame_echo_times", [10.0] * 4 + [20.0] * 4 + [30.0] * 4),
            "temporal": ("frame_temporal_indices", [1] * 4 + [2] * 4 + [3] * 4),
            "trigger": ("frame_trigger_delays", [100.0 * j + 0.1 * k for j in range(3) for k in range(4)]),
            "acquisition": ("frame_acquisition_numbers", [1] * 4 + [2] * 4 + [3] * 4),
        }.get(split_by)
        if expected:
            np.testing.assert_allclose(np.asarray(one[expected[0]], dtype=float), expected[1], atol=1e-9)
        if split_by == "diffusion":
            gradients = np.asarray(one["frame_gradients"]).reshape(-1, 3)
            assert np.isnan(gradients[:4]).all() and gradients[4:8].tolist() == [[1.0, 0.0, 0.0]] * 4
        if split_by == "content_time":  # FrameAcquisitionDateTime: 2020-01-01 12:00 + 60 s per volume + 0.5 s per slice
            first = one["frame_acquisition_datetimes"][0]
            assert first == 1577880000.0
            assert one["frame_acquisition_datetimes"][4] - first == 60.0
        if split_by == "image_type":
            assert one["frame_types"][4] == "ORIGINAL\\PRIMARY\\M1\\NONE"
        return
    assert all(v["frame_positions"] is None for v in values)
    by_sop = {v["SOPInstanceUID"]: v for v in values}
    for j, key in enumerate(data.keys):
        for uid in data.sop_uids[j]:
            row = by_sop[uid]
            for keyword, value in (key or {}).items():
                if keyword == "ContentTime":
                    assert row["content_time"] == pytest.approx(value, abs=2.0)
                elif keyword == "ImageType":
                    assert row["ImageType"] == tuple(value)
                elif keyword == "TriggerTime":
                    assert row["TriggerTime"] == pytest.approx(value, abs=1.0)
                elif keyword == "NumberOfTemporalPositions":
                    continue
                elif isinstance(value, tuple):
                    assert row[keyword] == value
                else:
                    assert row[keyword] == value, keyword


def test_times_are_seconds_since_midnight(tmp_path):
    data = write_series_dataset(tmp_path, n_volumes=2, split_by="content_time", n_slices=3, shuffle=False)
    values = read_file(str(data.files[4]))  # volume 1, slice 1
    assert values["content_time"] == 12 * 3600 + 60 + 0.5 and values["acquisition_time"] == 12 * 3600 + 60


def test_projection_spacing_from_imager_pixel_spacing(tmp_path):
    """pydicom's CR files of the dicomdirtests file set: ImagerPixelSpacing 0.1 mm, no PixelSpacing."""
    path = bundled_file("6154")
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert "PixelSpacing" not in header and [float(v) for v in header.ImagerPixelSpacing] == [0.1, 0.1]
    values = read_file(path)
    assert values["spacing_x"] == values["spacing_y"] == 0.1 and values["ImagerPixelSpacing"] == (0.1, 0.1)
    full = pydicom.dcmread(path)
    full.EstimatedRadiographicMagnificationFactor = 1.25  # the patient plane is smaller than the detector
    corrected = tmp_path / "magnified.dcm"
    full.save_as(corrected)
    values = read_file(str(corrected))
    assert values["spacing_x"] == pytest.approx(0.08) and values["EstimatedRadiographicMagnificationFactor"] == 1.25


@pytest.mark.parametrize(
    ("name", "components"),
    [("CT_small.dcm", 1), ("SC_rgb_rle.dcm", 3), ("examples_ybr_color.dcm", 3), ("examples_palette.dcm", 3)],
)
def test_components_from_the_photometric_interpretation(name, components):
    path = bundled_file(name)
    values = read_file(path)
    assert values["n_components"] == components
    assert (
        values["PhotometricInterpretation"] == pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation
    )


# --- headers cut short ---


def _cut(tmp_path: Path, source: str, size: int, name: str = "cut.dcm") -> Path:
    path = tmp_path / name
    path.write_bytes(Path(source).read_bytes()[:size])
    return path


def test_a_header_cut_short_is_an_error_row_saying_where(tmp_path):
    path = _cut(tmp_path, bundled_file("CT_small.dcm"), 1000)
    with pytest.raises(Truncated):
        READER.read(str(path), path.read_bytes())
    assert len(pydicom.dcmread(path, force=True, stop_before_pixels=True)) > 10  # pydicom reads it silently
    files = imgindex.scan(tmp_path)
    (error,) = files["error"].tolist()
    assert "cut short" in error and "ends at byte 1000" in error and str(path) in error
    assert "(0010,1002) OtherPatientIDsSequence" in error and "from byte 982, 72 bytes long" in error
    assert files["dicom_modality"].isna().all() and files["file_type"].tolist() == ["dicom"]


def test_a_cut_deep_inside_the_functional_groups_names_the_path(tmp_path):
    data = write_series_dataset(tmp_path / "data", n_volumes=2, multiframe=True, n_slices=4, shuffle=False)
    whole = data.files[0].read_bytes()
    cut = whole.index(b"\x20\x00\x32\x00", whole.index(b"\x00\x52\x30\x92")) + 20  # inside a frame's position
    path = tmp_path / "cut.dcm"
    path.write_bytes(whole[:cut])
    error = read_file(str(path))["error"]
    assert "PerFrameFunctionalGroupsSequence > item 1 > (0020,9113) PlanePositionSequence > item 1" in error
    assert "(0020,0032) ImagePositionPatient" in error


def test_a_file_pydicom_reads_is_checked_too(tmp_path):
    """Big endian: the fast reader hands the file to pydicom, which does not notice the cut."""
    source = bundled_file("MR_small_bigendian.dcm")
    header_end = pydicom.dcmread(source, stop_before_pixels=True)  # where the pixel data begin
    assert header_end.Rows == 64
    path = _cut(tmp_path, source, 700)
    with pytest.raises(Unsupported, match="big-endian"):
        READER.read(str(path), path.read_bytes())
    error = read_file(str(path))["error"]
    assert "cut short" in error and "ends at byte 700" in error


def test_pydicoms_truncated_rtplan(tmp_path):
    shutil.copy(bundled_file("rtplan_truncated.dcm"), tmp_path / "plan.dcm")
    error = imgindex.scan(tmp_path)["error"].item()
    assert "BeamSequence > item 1 > (300A,0111) ControlPointSequence" in error


def test_complete_files_and_cuts_in_the_pixel_data_are_not_cut_short(tmp_path):
    every = [p for p in TEST_FILES.rglob("*.dcm") if p.is_file()]
    flagged = sorted(p.name for p in every if where_it_ends(p) is not None)
    # no_meta.dcm starts with a stray byte: pydicom reads one garbage element, (0820,0500), of 173 MB
    assert flagged == ["no_meta.dcm", "rtplan_truncated.dcm"]
    path = _cut(tmp_path, bundled_file("CT_small.dcm"), 30000)  # inside the pixel data: a decode error later
    values = read_file(str(path))
    assert "error" not in values and values["Modality"] == "CT"


@pytest.mark.parametrize("size", [0, 60, 131, 132, 140, 200])
def test_cuts_in_the_preamble_and_meta(tmp_path, size):
    path = _cut(tmp_path, bundled_file("CT_small.dcm"), size)
    values = read_file(str(path))
    if values is not None:  # an empty or preamble-only .dcm is an error row; nothing is read silently
        assert values.get("error") and values.get("Modality") is None


def _top_level_ends(path: str) -> tuple[int, list[tuple[int, int]]]:
    """Where pydicom's element generator finds the meta to end, and each top-level (tag, end byte) after it."""
    from pydicom.filereader import _read_file_meta_info, data_element_generator, read_preamble

    with open(path, "rb") as fp:
        read_preamble(fp, False)
        syntax = _read_file_meta_info(fp).TransferSyntaxUID
        start, ends = fp.tell(), []
        for element in data_element_generator(fp, syntax.is_implicit_VR, syntax.is_little_endian):
            ends.append((element.tag, fp.tell()))
            if element.tag == 0x7FE00010:
                break
    return start, ends


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_every_cut_in_the_header_is_found_in_the_element_pydicom_finds(tmp_path, name):
    """Cut at every byte from the meta to the pixel data: ends of top-level elements are clean ends, others cuts.

    The reference is pydicom's own element generator: the element whose bytes hold the cut is the
    element :func:`where_it_ends` names first.
    """
    source = bundled_file(name)
    meta_end, ends = _top_level_ends(source)
    pixels_start = ends[-2][1]  # where the element before the pixel data ends
    boundaries = {end for _, end in ends[:-1]}
    path = tmp_path / "cut.dcm"
    path.write_bytes(Path(source).read_bytes()[: pixels_start + 8])
    found = 0
    with open(path, "r+b") as handle:
        for size in range(pixels_start + 7, 131, -1):  # shorter and shorter
            handle.truncate(size)
            cut = where_it_ends(path)
            if size in boundaries:
                assert cut is None, size
                continue
            assert cut is not None and cut.size == size, size
            assert cut.start <= size and (cut.length is None or cut.start + 12 + cut.length > size)
            if size > meta_end:
                k = next(k for k, (_, end) in enumerate(ends) if end > size)
                tag, element_start = ends[k][0], ends[k - 1][1] if k else meta_end
                if size - element_start < 8:  # not even the tag and length: the header where it starts
                    assert cut.where == (f"the element header at byte {element_start}",), (size, cut)
                else:
                    assert cut.where[0].startswith(f"({tag >> 16:04X},{tag & 0xFFFF:04X})"), (size, cut)
            found += 1
    assert found == pixels_start + 8 - 132 - len(boundaries & set(range(132, pixels_start + 8)))


def test_a_cut_without_a_place():
    message = cut_message("/nowhere/x.dcm", None, "inside the preamble")
    assert message.startswith("The DICOM header of /nowhere/x.dcm is cut short: the file ends at byte ? (inside")


def test_an_empty_file_ends_at_byte_0(tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    assert where_it_ends(tmp_path / "empty.dcm") == Cut(0, (), 0, None)
