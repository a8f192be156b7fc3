"""The schema: declared once, used for dtypes, parquet and docs."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from imgindex import schema
from imgindex.errors import InputError


def test_every_column_is_documented_and_unique():
    cols = schema.columns("files")
    assert len({c.name for c in cols}) == len(cols)
    assert all(c.doc and c.doc.endswith(".") for c in cols)
    assert all(isinstance(c.type, pa.DataType) for c in cols)


def test_empty_frame_has_declared_dtypes():
    df = schema.empty("files")
    schema.validate(df, "files")
    assert list(df.columns) == schema.names("files")
    assert df["Rows"].dtype == pd.Int64Dtype()
    assert df["spacing_x"].dtype == np.float64


def test_coerce_adds_missing_columns_keeps_extras_and_does_not_mutate():
    df = pd.DataFrame({"file_path": ["/a"], "Rows": [512.0], "ImageType": [["ORIGINAL", "PRIMARY"]], "mine": [1]})
    before = df.copy()
    out = schema.coerce(df, "files")
    pd.testing.assert_frame_equal(df, before)
    schema.validate(out, "files")
    assert out.loc[0, "Rows"] == 512
    assert out.loc[0, "ImageType"] == ("ORIGINAL", "PRIMARY")
    assert out["PatientID"].isna().all()
    assert list(out.columns)[-1] == "mine"


def test_validate_names_every_problem():
    df = schema.empty("files").drop(columns=["Rows"]).astype({"Columns": "float64"})
    with pytest.raises(InputError, match=r"'Rows' is missing.*'Columns' has dtype float64"):
        schema.validate(df, "files")


def test_markdown_table_lists_every_column():
    text = schema.markdown_table("files")
    for col in schema.columns("files"):
        assert f"| `{col.name}` |" in text
    assert "list<float>" in text


def test_unknown_table():
    with pytest.raises(InputError, match="Unknown table"):
        schema.columns("nope")


def test_readme_column_table_is_generated_from_schema():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert schema.markdown_table("files") in readme, "run `python scripts/update_readme.py` to refresh README"
