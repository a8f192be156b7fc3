"""Exports: every written file is read back with SimpleITK and checked against the source."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import imgindex
from imgindex.errors import InputError
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Two samples, CT and PT DICOM series with their RTSTRUCTs (+ SEG for CT)."""
    root = tmp_path_factory.mktemp("export")
    write_example_dataset(root, modalities=("CT", "PT"), formats=("dicom",), extras=False)
    return imgindex.build_index(root, mask=root)


def _same_grid(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


def _sources(index):
    """{image_id: (image volume, {(mask_id, roi): region})} read from the original files."""
    out = {}
    for image in index.materialise():
        volume = image.read()
        regions = {(m.object_id, roi): r for m in image.associated_masks for roi, r in m.read(reference=volume).items()}
        out[image.object_id] = (volume, regions)
    return out


def test_nifti_export_equals_the_source(index, tmp_path):
    table = imgindex.export(index, to="nifti", out=tmp_path, workers=2)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert len(manifest) == len(table) and set(manifest.columns) >= {
        "sample_name",
        "image_path",
        "mask_path",
        "roi_name",
    }
    sources = _sources(index)
    for row in manifest.itertuples():
        volume, regions = sources[row.image_id]
        written = sitk.ReadImage(str(tmp_path / row.image_path))  # paths relative to the manifest
        _same_grid(written, volume)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(volume))
        mask = sitk.ReadImage(str(tmp_path / row.mask_path))
        _same_grid(mask, volume)
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(regions[(row.mask_id, row.roi_name)])
        )
    assert set(manifest["roi_name"]) == {"GTV_Mass", "GTV_2"}


def test_nnunet_export_is_a_valid_raw_dataset(index, tmp_path):
    out = tmp_path / "Dataset001_STS"
    with pytest.warns(UserWarning, match="PT is not on the first channel's grid"):
        imgindex.export(index, to="nnunet", out=out, workers=1, roi_name={"GTV_Mass": "tumour", "GTV_2": "tumour"})
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT", "1": "PT"}
    assert dataset["labels"] == {"background": 0, "tumour": 1}
    assert dataset["file_ending"] == ".nii.gz"
    cases = sorted(p.name for p in (out / "labelsTr").iterdir())
    assert dataset["numTraining"] == len(cases) == 2
    sources = _sources(index)
    ct_images = {i.sample_name: i for i in index.materialise() if i.modality == "ct"}
    for case in cases:
        name = case.removesuffix(".nii.gz")
        label = sitk.ReadImage(str(out / "labelsTr" / case))
        channel0 = sitk.ReadImage(str(out / "imagesTr" / f"{name}_0000.nii.gz"))
        channel1 = sitk.ReadImage(str(out / "imagesTr" / f"{name}_0001.nii.gz"))
        _same_grid(label, channel0)
        _same_grid(channel1, channel0)  # PT resampled onto the CT grid
        volume, regions = sources[ct_images[name].object_id]
        _same_grid(channel0, volume)
        union = np.zeros(sitk.GetArrayViewFromImage(volume).shape, bool)
        for (_mask_id, roi), region in regions.items():
            if roi in ("GTV_Mass", "GTV_2"):
                union |= sitk.GetArrayViewFromImage(region) > 0
        np.testing.assert_array_equal(sitk.GetArrayFromImage(label), union.astype(np.uint8))


def test_monai_datalist_points_at_readable_files(index, tmp_path):
    with pytest.warns(UserWarning, match="resampled"):
        imgindex.export(index, to="monai", out=tmp_path, workers=1)
    datalist = json.loads((tmp_path / "datalist.json").read_text())
    assert len(datalist["training"]) == 2
    for item in datalist["training"]:
        images = item["image"] if isinstance(item["image"], list) else [item["image"]]
        label = sitk.ReadImage(str(tmp_path / item["label"]))  # paths relative to the datalist
        for path in images:
            _same_grid(sitk.ReadImage(str(tmp_path / path)), label)
        assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}


def test_pyradiomics_batch_csv(index, tmp_path):
    imgindex.export(index, to="pyradiomics", out=tmp_path, workers=1)
    table = pd.read_csv(tmp_path / "pyradiomics.csv")
    assert list(table.columns[:3]) == ["Image", "Mask", "Label"]
    assert (table["Label"] == 1).all() and table["roi_name"].notna().all()
    for row in table.itertuples():
        image, mask = sitk.ReadImage(str(tmp_path / row.Image)), sitk.ReadImage(str(tmp_path / row.Mask))
        _same_grid(image, mask)
        assert set(np.unique(sitk.GetArrayViewFromImage(mask))) <= {0, 1}


def test_existing_output_is_never_overwritten(index, tmp_path):
    imgindex.export(index, to="nifti", out=tmp_path, workers=1)
    before = {p: os.path.getmtime(p) for p in tmp_path.rglob("*.nii.gz")}
    with pytest.raises(InputError, match="exists already"):
        imgindex.export(index, to="nifti", out=tmp_path, workers=1)
    assert not list(tmp_path.rglob(".tmp-*"))
    imgindex.export(index, to="nifti", out=tmp_path, workers=1, overwrite=True)
    assert set(before) == set(tmp_path.rglob("*.nii.gz"))


def test_unknown_format_and_saved_index(index, tmp_path):
    with pytest.raises(InputError, match="Unknown export format"):
        imgindex.export(index, to="dicom", out=tmp_path)
    index.save(tmp_path / "index.parquet")
    table = imgindex.export(tmp_path / "index.parquet", to="nifti", out=tmp_path / "out", workers=1)
    assert len(table) > 0


def test_overview_figure(index):
    figure = index.plot_overview(columns=2)
    assert len(figure.axes) == len(index.images)
    assert all(ax.get_title() for ax in figure.axes)


def test_pictures_without_matplotlib_say_how_to_get_it(index, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(imgindex.ImgIndexError, match=r"pip install 'imgindex\[plot\]'"):
        index.plot_overview()
