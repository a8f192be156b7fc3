"""Parquet round trips, metadata and version checks."""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import imgindex
from imgindex import persist, schema
from imgindex.errors import InputError, NotFoundError, SchemaVersionError


def test_round_trip_gives_an_equal_frame(scanned, tmp_path):
    _root, _manifest, files = scanned
    before = files.copy()
    path = tmp_path / "files.parquet"
    imgindex.write_files(files, path)
    back = imgindex.read_files(path)
    pd.testing.assert_frame_equal(back, files)
    pd.testing.assert_frame_equal(files, before)  # input not mutated
    assert back.attrs["scan"]["n_rows"] == files.attrs["scan"]["n_rows"]


def test_parquet_has_native_types_and_metadata(scanned, tmp_path):
    _root, _manifest, files = scanned
    path = tmp_path / "files.parquet"
    imgindex.write_files(files, path)
    arrow = pq.read_schema(path)
    assert arrow.field("ImagePositionPatient").type.value_type == pa.float64()
    assert arrow.field("ROIName").type.value_type == pa.string()
    assert arrow.field("Rows").type == pa.int64()
    meta = persist.read_metadata(path)
    assert meta["schema_version"] == schema.SCHEMA_VERSION
    assert meta["library_version"] == imgindex.__version__
    assert meta["table"] == "files"


def test_unknown_schema_version_names_both_versions(tmp_path):
    path = tmp_path / "old.parquet"
    table = persist.to_arrow(schema.empty("files"), "files")
    meta = json.loads(table.schema.metadata[persist.METADATA_KEY])
    meta["schema_version"], meta["library_version"] = 999, "9.9.9"
    pq.write_table(table.replace_schema_metadata({persist.METADATA_KEY: json.dumps(meta)}), path)
    expected = rf"schema version 999 \(imgindex 9\.9\.9\).*schema version {schema.SCHEMA_VERSION}"
    with pytest.raises(SchemaVersionError, match=expected):
        imgindex.read_files(path)


def test_foreign_parquet_and_missing_file(tmp_path):
    path = tmp_path / "foreign.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(InputError, match="not written by imgindex"):
        imgindex.read_files(path)
    with pytest.raises(NotFoundError, match="No index file"):
        imgindex.read_files(tmp_path / "missing.parquet")


def test_extra_columns_survive(tmp_path):
    df = schema.coerce(pd.DataFrame({"file_path": ["/x.dcm"], "note": ["kept"]}), "files")
    path = tmp_path / "extra.parquet"
    imgindex.write_files(df, path)
    assert imgindex.read_files(path).loc[0, "note"] == "kept"
