"""The fast paths of the scan give the same table as the plain ones: columns from workers, coerce,
parquet list columns, caches in the DICOM reader, and the benchmark tree generator. No timings."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

import imgindex
from imgindex import persist, schema
from imgindex.headers import dicom, dicom_fast
from imgindex.headers.dicom import read_with_pydicom

scan_module = importlib.import_module("imgindex.scan")
chunks_module = importlib.import_module("imgindex.chunks")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _old_way(records: list[dict]) -> pd.DataFrame:
    """What the scan did before columns: one dict per row, from_records, then coerce."""
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    columns = {c.key: c.name for c in schema.columns("files")}  # the readers' DICOM keywords
    return schema.coerce(frame.rename(columns=columns), "files")


def _read_columns(frame: pd.DataFrame) -> list[str]:
    return [c.name for c in chunks_module._READ]


def test_columns_from_chunks_equal_the_dict_rows(scanned):
    _root, _manifest, files = scanned
    paths = files["file_path"].dropna().tolist()
    records = [r for r in chunks_module.read_many(paths) if r is not None]
    chunks = [chunks_module.read_chunk(paths[i : i + 7]) for i in range(0, len(paths), 7)]
    got = chunks_module.frame_of(chunks)
    want = _old_way(records)
    cols = _read_columns(got)
    pd.testing.assert_frame_equal(schema.coerce(got, "files")[cols], want[cols])


def test_columns_of_follows_coerce_for_values_arrow_refuses():
    records = [
        {"file_type": "dicom", "Rows": 12.0, "SeriesNumber": 3.0, "spacing_x": "0.5", "multiframe": True},
        {"file_type": "nifti", "error": "broken", "Rows": None},
        {"file_type": "dicom", "Rows": 7, "SeriesNumber": None, "ImageType": "ORIGINAL", "direction": [1, 0, 0]},
    ]
    batch, lists = chunks_module.columns_of(records)
    got = chunks_module.frame_of([chunks_module.Chunk([0, 1, 2], [], batch, lists)])
    want = _old_way(records)
    cols = _read_columns(got)
    pd.testing.assert_frame_equal(schema.coerce(got, "files")[cols], want[cols])
    assert got["Rows"].tolist() == [12, pd.NA, 7]
    assert schema.coerce(got, "files")["ImageType"].tolist() == [None, None, ("ORIGINAL",)]


def test_empty_chunks_give_an_empty_table():
    assert chunks_module.frame_of([]).empty
    chunk = chunks_module.read_chunk([])
    assert chunk.rows == [] and chunk.not_imaging == []


@pytest.mark.parametrize(
    ("n", "workers", "size", "expected"),
    [
        (100, 1, 2000, 2000),
        (100, 2, 2000, 13),
        (4650, 2, 2000, 582),
        (155000, 2, 2000, 2000),
        (5, 8, 16, 1),
    ],
)
def test_chunk_size_gives_every_worker_several_chunks(n, workers, size, expected):
    assert scan_module._chunk_size(n, workers, size) == expected


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_scan_is_the_same_for_any_chunk_size(scanned, chunk_size):
    root, _manifest, files = scanned
    pd.testing.assert_frame_equal(imgindex.scan(root, workers=2, chunk_size=chunk_size), files)


# ------------------------------------------------------------------------------------------- coerce
def test_coerce_keeps_a_frame_that_follows_the_schema(scanned):
    _root, _manifest, files = scanned
    again = schema.coerce(files, "files")
    pd.testing.assert_frame_equal(again, files)
    again.loc[again.index[0], "Rows"] = 99999  # a copy: the input is never modified
    assert files["Rows"].iloc[0] != 99999


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ((1, 0, 0), (1.0, 0.0, 0.0)),  # ints in a float list: converted
        ((True, 2.0), (1.0, 2.0)),
        (np.array([1.5, 2.5]), (1.5, 2.5)),
        ([1.0, None], (1.0, None)),
        ((np.float64(1.0),), (1.0,)),
        (pd.NA, None),
        (float("nan"), None),
        ((), ()),
    ],
)
def test_coerce_converts_list_cells_that_are_not_yet_tuples_of_the_item_type(cell, expected):
    cells = pd.Series([(0.5, 0.5), cell], dtype=object)
    out = schema.coerce(pd.DataFrame({"PixelSpacing": cells}), "files")["PixelSpacing"].tolist()
    assert out[0] == (0.5, 0.5)
    assert out[1] == expected
    if isinstance(expected, tuple):
        assert all(type(v) is float or v is None for v in out[1])


def test_coerce_text_and_integer_lists():
    frame = pd.DataFrame(
        {
            "ImageType": pd.Series(["AXIAL", ("A", 1)], dtype=object),
            "ROINumber": pd.Series([(1, 2), (True, 3.0)], dtype=object),
        }
    )
    out = schema.coerce(frame, "files")
    assert out["ImageType"].tolist() == [("AXIAL",), ("A", "1")]
    assert out["ROINumber"].tolist() == [(1, 2), (1, 3)]
    assert [type(v) for v in out["ROINumber"].iloc[1]] == [int, int]


def test_coerce_adds_missing_columns_with_their_dtypes():
    out = schema.coerce(pd.DataFrame({"file_path": ["/a", "/b"]}), "files")
    schema.validate(out, "files")
    assert out["mtime"].isna().all() and out["direction"].isna().all() and out["spacing_x"].isna().all()
    assert schema.coerce(pd.DataFrame(), "files").dtypes.equals(schema.empty("files").dtypes)


# --------------------------------------------------------------------------------------- list cells
@pytest.mark.parametrize(
    ("type_", "cells"),
    [
        (pa.list_(pa.float64()), [(1.0, 2.0), None, (1.0, 2.0), (), (-0.0, 0.0), (float("nan"), 1.0), (3.0,)]),
        (pa.list_(pa.int64()), [(1, 2, 3), None, (1, 2, 3), (4,), ()]),
        (pa.list_(pa.string()), [("ORIGINAL", "PRIMARY"), None, ("ORIGINAL", "PRIMARY"), ("", "x"), ("é",)]),
        (pa.list_(pa.float64()), [(1.0, None), None]),  # a null item: the plain way
        (pa.list_(pa.string()), [None, None]),
    ],
)
def test_list_cells_round_trip(type_, cells):
    got = persist.list_cells(pa.array(cells, type=type_))
    assert len(got) == len(cells)
    for g, c in zip(got, cells, strict=True):
        if c is None:
            assert g is None
            continue
        assert isinstance(g, tuple) and len(g) == len(c)
        for a, b in zip(g, c, strict=True):
            if isinstance(b, float) and math.isnan(b):
                assert math.isnan(a)
            else:
                assert a == b and type(a) is type(b)
                if isinstance(b, float):
                    assert math.copysign(1, a) == math.copysign(1, b)  # -0.0 stays -0.0


def test_list_cells_of_chunked_and_sliced_arrays_share_equal_tuples():
    array = pa.chunked_array([pa.array([[1.0, 2.0], [3.0]]), pa.array([None, [1.0, 2.0]])])
    got = persist.list_cells(array)
    assert got.tolist() == [(1.0, 2.0), (3.0,), None, (1.0, 2.0)]
    assert got[0] is got[3]
    sliced = pa.array([[9.0], [1.0, 2.0], None, [5.0]]).slice(1, 3)
    assert persist.list_cells(sliced).tolist() == [(1.0, 2.0), None, (5.0,)]


def test_parquet_round_trip_keeps_odd_list_cells(tmp_path):
    files = schema.coerce(
        pd.DataFrame(
            {
                "file_path": ["/a", "/b", "/c"],
                "direction": [(1.0, -0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), None, ()],
                "ROIName": [("GTV", ""), ("GTV", ""), None],
                "ROINumber": [(1, 2), None, (3,)],
            }
        ),
        "files",
    )
    imgindex.write_files(files, tmp_path / "f.parquet")
    back = imgindex.read_files(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(back, files)
    assert math.copysign(1, back["direction"].iloc[0][1]) == -1


# -------------------------------------------------------------------------------------------- reuse
def test_reuse_matches_whatever_the_dtypes_of_the_previous_table(scanned):
    root, _manifest, files = scanned
    loose = files.astype({"file_size": "float64", "file_path": object})
    again = imgindex.scan(root, previous=loose)
    assert again.attrs["scan"]["n_reused"] == len(files)
    pd.testing.assert_frame_equal(again, files)


def test_reuse_with_duplicate_rows_in_the_previous_table(scanned):
    root, _manifest, files = scanned
    doubled = pd.concat([files, files.iloc[:3]], ignore_index=True)
    again = imgindex.scan(root, previous=doubled)
    pd.testing.assert_frame_equal(again, files)


# ------------------------------------------------------------------------------ DICOM reader caches
def _ct(path: Path, charset: str, name: bytes) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, "1.2.3.4", "CT"
    ds.add_new(0x00100010, "PN", name)
    ds.add_new(0x00081030, "LO", name)
    ds.ImageOrientationPatient = ["1", "-0", "0", "0", "1", "0"]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_remembered_values_depend_on_the_character_set(tmp_path):
    raw = "Müller".encode()  # valid UTF-8 and valid Latin-1, read differently
    latin = _ct(tmp_path / "latin.dcm", "ISO_IR 100", raw)
    utf8 = _ct(tmp_path / "utf8.dcm", "ISO_IR 192", raw)
    for path in (latin, utf8, latin, utf8):  # the second round comes from the memo
        head = path.read_bytes()[:8192]
        assert dicom_fast.read_fast(str(path), head) == read_with_pydicom(str(path))
    assert dicom_fast.read_fast(str(latin), latin.read_bytes())["PatientName"] == raw.decode("latin-1")
    assert dicom_fast.read_fast(str(utf8), utf8.read_bytes())["PatientName"] == "Müller"


def test_direction_cache_keeps_types_and_signed_zeros():
    cache: dict = {}  # a reader's own (DicomReader.directions)
    a = dicom.geometry({"ImageOrientationPatient": (1.0, -0.0, 0.0, 0.0, 1.0, 0.0)}, cache)["direction"]
    b = dicom.geometry({"ImageOrientationPatient": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)}, cache)["direction"]
    c = dicom.geometry({"ImageOrientationPatient": (1, 0, 0, 0, 1, 0)}, cache)["direction"]
    assert a == b and [math.copysign(1, v) for v in a] != [math.copysign(1, v) for v in b]
    assert all(type(v) is int for v in c)
    assert dicom.geometry({"ImageOrientationPatient": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)}, cache)["direction"] is b


# ----------------------------------------------------------------------------- benchmark generator
def _make_tree():
    spec = importlib.util.spec_from_file_location("make_tree", BENCHMARKS / "make_tree.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_tree", module)
    spec.loader.exec_module(module)
    return sys.modules["make_tree"]


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_benchmark_tree_is_valid_dicom_with_distinct_uids(tmp_path, layout):
    make_tree = _make_tree()
    n = make_tree.write_tree(tmp_path, 2, layout=layout, workers=1)
    assert n == 2 * make_tree.files_per_patient() == 310
    files = imgindex.scan(tmp_path)
    assert len(files) == n and files["error"].isna().all()
    assert files["SOPInstanceUID"].is_unique
    assert files.groupby("PatientID")["StudyInstanceUID"].nunique().eq(1).all()
    assert files["StudyInstanceUID"].nunique() == 2 and files["SeriesInstanceUID"].nunique() == 12
    assert sorted(files["dicom_modality"].unique()) == ["CT", "MR", "PT", "RTSTRUCT"]
    for path in files["file_path"].iloc[::37]:  # the fast reader took them and agrees with pydicom
        head = Path(path).read_bytes()[:8192]
        assert dicom_fast.read_fast(path, head) == read_with_pydicom(path)
    index = imgindex.build_index(tmp_path, mask=tmp_path)
    assert (index.pairs["status"] == "ok").sum() == 6
    if layout == "nested":
        ct = imgindex.build_index(tmp_path, image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask")
        assert len(ct.pairs) == 2 and (ct.pairs["status"] == "ok").all()
