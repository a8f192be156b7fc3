"""The real clients read the exports, from another current directory than the output's (issue 13, item 6).

pyradiomics (its batch command line, which resolves relative paths against the csv's folder),
MONAI (``load_decathlon_datalist``, against the datalist's folder) and nnU-Net v2 (its dataset
integrity check). Each test skips when its client is not installed; none of them is a dependency.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import imgindex
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Two samples, each a CT NIfTI image and its label map of two regions."""
    root = tmp_path_factory.mktemp("clients") / "data"
    write_example_dataset(root, n_samples=2, modalities=("CT",), formats=("nifti",), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imgindex.build_index(root, mask=root)


@pytest.mark.slow
def test_pyradiomics_batch_reads_every_row_from_another_directory(index, tmp_path, monkeypatch):
    pytest.importorskip("radiomics")
    monkeypatch.chdir(tmp_path)
    imgindex.export(index, to="pyradiomics", out="export", workers=1)  # relative output folder
    (tmp_path / "elsewhere").mkdir()
    code = "import sys; from radiomics.scripts import parse_args; sys.exit(parse_args())"
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "export" / "pyradiomics.csv"), "-o", "features.csv", "-f", "csv"],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    features = pd.read_csv(tmp_path / "elsewhere" / "features.csv")
    listed = pd.read_csv(tmp_path / "export" / "pyradiomics.csv")
    assert len(features) == len(listed) == 4  # 2 samples x 2 regions
    assert features["original_shape_VoxelVolume"].gt(0).all()
    for row, expected in zip(features.itertuples(), listed.itertuples(), strict=True):
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "export" / expected.Mask)))
        spacing = np.prod(sitk.ReadImage(str(tmp_path / "export" / expected.Image)).GetSpacing())
        assert row.original_shape_VoxelVolume == pytest.approx(mask.sum() * spacing)


def test_monai_load_decathlon_datalist_finds_every_file(index, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "torchinductor"))  # torch's cache: not in /tmp
    data = pytest.importorskip("monai.data")
    transforms = pytest.importorskip("monai.transforms")
    monkeypatch.chdir(tmp_path)
    table = imgindex.export(index, to="monai", out="export", workers=1)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    items = data.load_decathlon_datalist(str(tmp_path / "export" / "datalist.json"), True, "training")
    assert [(i["image"], i["label"]) for i in items] == [(r["images"][0], r["label"]) for _, r in table.iterrows()]
    loaded = transforms.LoadImaged(keys=["image", "label"], image_only=True)(items[0])
    expected = sitk.GetArrayFromImage(sitk.ReadImage(table["label"].iloc[0]))
    np.testing.assert_array_equal(np.asarray(loaded["label"]).transpose(2, 1, 0), expected)


def test_nnunet_dataset_integrity_check_passes(index, tmp_path, monkeypatch):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity")
    out = tmp_path / "Dataset013_Hardening"
    imgindex.export(index, to="nnunet", out=out, workers=1, roi_name={"region_1": "tumour", "region_2": "oedema"})
    monkeypatch.chdir(tmp_path)
    verify.verify_dataset_integrity(str(out), num_processes=1)  # raises on any problem
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "tumour": 1, "oedema": 2}
    assert dataset["numTraining"] == len(os.listdir(out / "labelsTr")) == 2
