"""What keeps a large index small: shared text values, SimpleITK loaded only on use.

Peak memory itself is measured by benchmarks/bench_scale.py, not here; these tests check the
properties it rests on.
"""

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

import imgindex
from imgindex import saved, schema


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]


def _distinct_objects(series: pd.Series) -> tuple[int, int]:
    values = [v for v in series.astype(object) if isinstance(v, str)]
    return len(set(values)), len({id(v) for v in values})


def test_text_columns_are_object_storage_and_equal_values_are_one_object(scanned, tmp_path):
    _, _, files = scanned
    saved.write_files(files, tmp_path / "files.parquet")
    for frame in (files, saved.read_files(tmp_path / "files.parquet")):
        texts = _text_columns(frame)
        assert "SeriesInstanceUID" in texts and "dir_path" in texts
        for column in texts:
            assert frame[column].dtype == schema.TEXT, column
            if column in ("file_path", "file_name"):  # one per file anyway
                continue
            values, objects = _distinct_objects(frame[column])
            assert objects == values, f"{column}: {objects} objects for {values} distinct values"


def test_equal_list_cells_share_one_tuple(scanned):
    _, _, files = scanned
    orientation = files["ImageOrientationPatient"].dropna()
    assert len(orientation) > len(set(orientation))  # the example series repeat their orientation
    assert len({id(v) for v in orientation}) == len(set(orientation))


def test_text_array_keeps_nulls_and_order():
    array = schema.text_array(pa.chunked_array([["b", None], ["a", "b"]]))
    assert array.dtype == schema.TEXT
    assert array.tolist() == ["b", pd.NA, "a", "b"]
    assert array[0] is array[3]
    assert len(schema.text_array(pa.array([], type=pa.string()))) == 0


@pytest.mark.slow  # a fresh interpreter
def test_importing_and_indexing_dicom_do_not_load_simpleitk(tmp_path):
    imgindex.examples.write_example_dataset(tmp_path, n_samples=1, modalities=("CT",), formats=("dicom",), extras=False)
    code = (
        "import sys, imgindex\n"
        "assert 'SimpleITK' not in sys.modules, 'import'\n"
        f"index = imgindex.build_index({str(tmp_path)!r}, mask={str(tmp_path)!r}, workers=1)\n"
        "assert len(index.pairs), 'no pairs'\n"
        "assert 'SimpleITK' not in sys.modules, 'build_index'\n"
        f"image = imgindex.import_image({str(tmp_path)!r}, workers=1)[0]\n"
        "assert image.to_numpy().ndim == 3  # voxels still work: the first use loads SimpleITK\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
