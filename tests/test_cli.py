"""The command line, through a subprocess as a user runs it."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import SimpleITK as sitk

import imgindex
from imgindex.examples import write_example_dataset

pytestmark = pytest.mark.slow  # every test runs the command line in a subprocess


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "imgindex", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small nested dataset (CT and PT, DICOM and NIfTI) and its saved index."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    manifest = write_example_dataset(data, modalities=("CT", "PT"), formats=("dicom", "nifti"), extras=False)
    out = root / "sts-index"
    result = _run("scan", str(data), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return data, manifest, out, result


def test_demo_writes_data_index_and_summary(tmp_path):
    out = tmp_path / "demo-index"
    result = _run("demo", "--dir", str(tmp_path / "data"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    index = imgindex.read_index(out)
    assert len(index.files) > 0 and len(index.pairs) > 0
    assert f"{len(index.files)} imaging files" in result.stdout
    assert "index written to" in result.stdout
    assert index.files["file_path"].str.startswith(str(tmp_path / "data")).all()


def test_scan_writes_an_index_with_every_pair(small):
    _data, manifest, out, result = small
    index = imgindex.read_index(out)
    expected_images = manifest[manifest["role"] == "image"]["object_key"].nunique()
    assert len(index.images) == expected_images
    assert (index.pairs["status"] == "ok").all()
    assert f"pairs: ok: {len(index.pairs)}" in result.stdout


def test_scan_import_flags_filter(tmp_path, small):
    data, manifest, _out, _result = small
    out = tmp_path / "ct.parquet"
    result = _run(
        "scan",
        str(data),
        "-o",
        str(out),
        "--image-modality",
        "ct",
        "--image-file-type",
        "dicom",
        "--mask-modality",
        "rtstruct",
        "--roi-name",
        "GTV_Mass",
    )
    assert result.returncode == 0, result.stderr
    index = imgindex.read_index(out)
    assert set(index.images["modality"]) == {"ct"} and set(index.masks["modality"]) == {"rtstruct"}
    assert len(index.images) == manifest.loc[manifest["modality"] == "ct", "sample_name"].nunique()


def test_scan_update_reuses_rows(tmp_path, small):
    data, _manifest, out, _result = small
    again = tmp_path / "again.parquet"
    result = _run("scan", str(data), "-o", str(again), "--update", str(out))
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(imgindex.read_index(again).objects, imgindex.read_index(out).objects)


def test_show_pairs_errors_json_and_csv(small):
    _data, _manifest, out, _result = small
    index = imgindex.read_index(out)
    shown = json.loads(_run("show", str(out), "--json").stdout)
    assert shown["files"] == len(index.files)
    assert sum(shown["images_per_modality"].values()) == len(index.images)
    assert shown["pairs"] == {"ok": len(index.pairs)}
    pairs = _run("pairs", str(out), "--csv").stdout
    table = pd.read_csv(pd.io.common.StringIO(pairs))
    assert set(table["image_id"]) == set(index.images["object_id"])
    assert _run("errors", str(out)).stdout.strip() == "(none)"


def test_labels_and_xml(tmp_path, small):
    data, _manifest, _out, _result = small
    labels = _run("labels", str(data), "--mask-modality", "rtstruct", "--csv")
    assert labels.returncode == 0, labels.stderr
    table = pd.read_csv(pd.io.common.StringIO(labels.stdout))
    assert set(table["roi_label"]) == {"GTV_Mass", "GTV_2"}
    result = _run("xml", str(tmp_path / "cfg"))
    assert result.returncode == 0 and (tmp_path / "cfg" / "data.xml").exists()


def test_export_nifti_and_refuse_overwrite(tmp_path, small):
    _data, _manifest, out, _result = small
    target = tmp_path / "nifti"
    result = _run("export", str(out), "--to", "nifti", str(target), "--workers", "1")
    assert result.returncode == 0, result.stderr
    manifest = pd.read_csv(target / "manifest.csv")
    assert manifest["mask_path"].notna().all()
    first = manifest.iloc[0]
    image, mask = sitk.ReadImage(str(target / first["image_path"])), sitk.ReadImage(str(target / first["mask_path"]))
    assert image.GetSize() == mask.GetSize() and image.GetOrigin() == mask.GetOrigin()
    again = _run("export", str(out), "--to", "nifti", str(target), "--workers", "1")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert _run("export", str(out), "--to", "nifti", str(target), "--workers", "1", "--overwrite").returncode == 0


def test_errors_are_one_line_and_exit_1(tmp_path):
    result = _run("scan", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("imgindex: error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    debug = _run("--debug", "scan", str(tmp_path / "missing"))
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize("command", ["scan", "show", "pairs", "errors", "labels", "xml", "export", "demo"])
def test_every_command_has_help_with_an_example(command):
    result = _run(command, "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout and f"imgindex {command}" in result.stdout


def test_bad_usage_exits_2():
    for args in (("scan",), ("export", "x", "y"), ("nope",)):
        result = _run(*args)
        assert result.returncode == 2
        assert "usage" in result.stderr


def test_show_png_draws_the_overview(tmp_path, small):
    _data, _manifest, out, _result = small
    png = tmp_path / "overview.png"
    result = _run("show", str(out), "--png", str(png))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_scan_with_a_roi_name_no_mask_has_fails_instead_of_indexing_images_only(tmp_path, small):
    """Only "no masks at all" falls back to images only; a roi_name that matches nothing is an error."""
    data, _manifest, _out, _result = small
    out = tmp_path / "x-index"
    result = _run("scan", str(data), "-o", str(out), "--mask-modality", "rtstruct", "--roi-name", "NO_SUCH_ROI")
    assert result.returncode != 0
    assert "NO_SUCH_ROI" in result.stderr and "indexing images only" not in result.stderr
    assert not out.exists()
