"""The MIRP hand-off (issue 16, item 5): MIRP's nested layout and a data xml MIRP names samples from.

Every written file is compared with the source read by imgindex's reference-checked readers; the
folder is read back by imgindex (same samples, same pairs) and, where MIRP 2.7 is installed (in this
interpreter, or in the virtual environment ``/tmp/mirp-venv`` the benchmarks use), by MIRP's own
``import_image_and_mask`` and ``extract_features``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import cli
from imgindex.errors import InputError
from imgindex.examples import write_example_dataset

MIRP_VENV = Path("/tmp/mirp-venv/bin/python")


@pytest.fixture(scope="module")
def dicom(tmp_path_factory):
    """Two samples with CT (RTSTRUCT and SEG) and PT (RTSTRUCT) DICOM series."""
    root = tmp_path_factory.mktemp("mirp") / "data"
    write_example_dataset(root, n_samples=2, modalities=("CT", "PT"), formats=("dicom",), extras=False)
    return imgindex.build_index(root, mask=root)


@pytest.fixture(scope="module")
def exported(dicom, tmp_path_factory):
    out = tmp_path_factory.mktemp("mirp_out") / "sts_mirp"
    table = imgindex.export(dicom, to="mirp", out=out, workers=2)
    return out, table


def _array(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_the_layout_is_mirps_nested_one_and_holds_the_source_voxels(dicom, exported):
    out, table = exported
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == len(table) == 12  # (CT: RTSTRUCT and SEG, PT: RTSTRUCT) x 2 ROIs x 2 samples
    sources = {i.object_id: i for i in dicom.materialise()}
    for row in manifest.itertuples():
        image = sources[row.image_id]
        folder = "CT" if image.modality == "ct" else "PT"
        assert row.image_path == f"{row.sample_name}/{folder}/image/{row.sample_name}.nii.gz"
        assert Path(row.mask_path).parent.as_posix() == f"{row.sample_name}/{folder}/mask"
        volume = image.read()
        np.testing.assert_array_equal(_array(out / row.image_path), sitk.GetArrayFromImage(volume))
        mask = next(m for m in image.associated_masks if m.object_id == row.mask_id)
        region = sitk.GetArrayFromImage(mask.read(reference=volume)[row.roi_name])
        written = _array(out / row.mask_path)
        np.testing.assert_array_equal(written, region * row.label)  # a mask of its own, valued by its label
        assert row.mirp_roi_name == f"region_{row.label}"
    labels = manifest.drop_duplicates("roi_name").set_index("roi_name")["label"].to_dict()
    assert labels == {"GTV_Mass": 1, "GTV_2": 2}  # one value per ROI across the cohort


def test_the_data_xml_has_one_data_element_per_folder(exported):
    out, _table = exported
    root = ElementTree.parse(out / "data.xml").getroot()
    [config] = root.findall("config")
    assert config.findtext("paths/image") == str(out) == config.findtext("paths/mask")
    elements = {d.findtext("image_sub_folder"): d for d in config.findall("data")}
    assert set(elements) == {"CT/image", "PT/image"}
    for sub_folder, data in elements.items():
        folder = sub_folder.split("/")[0]
        assert data.findtext("image_name") == "#" and data.findtext("mask_sub_folder") == f"{folder}/mask"
        assert data.findtext("image_modality") == folder.lower() and data.findtext("image_file_type") == "nifti"
    assert imgindex.read_index  # the xml is also imgindex's input form (next test)


def test_imgindex_reads_the_folder_back_with_the_same_samples_and_pairs(dicom, exported):
    out, table = exported
    again = imgindex.build_index(str(out / "data.xml"), association_strategy="file_distance")
    objects = again.objects.set_index("object_id")
    exported_image = {os.path.abspath(p): i for p, i in zip(table["image_path"], table["image_id"], strict=True)}
    pairs = {
        (exported_image[objects.loc[p.image_id, "file_path"]], os.path.abspath(objects.loc[p.mask_id, "file_path"]))
        for p in again.pairs.itertuples()
    }
    assert pairs == {(r.image_id, os.path.abspath(r.mask_path)) for r in table.itertuples()}
    assert set(again.pairs["status"]) == {"ok"}
    names = {
        exported_image[objects.loc[i, "file_path"]]: objects.loc[i, "sample_name"] for i in again.images["object_id"]
    }
    assert names == dict(zip(dicom.images["object_id"], dicom.images["sample_name"], strict=True))


MIRP_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import pandas as pd
    from mirp import extract_features
    from mirp.data_import.import_image_and_mask import import_image_and_mask
    xml = sys.argv[1]
    images = [
        {"sample_name": i.sample_name, "modality": i.modality, "image": i.file_path,
         "masks": sorted(m.file_path for m in i.associated_masks or [])}
        for i in import_image_and_mask(xml)
    ]
    features = pd.concat(extract_features(
        image=xml, base_feature_families="statistics", export_features=True, write_features=False,
        base_discretisation_method="fixed_bin_number", base_discretisation_n_bins=16,
    ))
    rows = features[["sample_name", "image_modality", "image_mask_label", "image_mask_file_name",
                     "image_mask_directory", "stat_mean"]].to_dict("records")
    print(json.dumps({"images": images, "features": rows}))
    """
)


def _mirp_python() -> str:
    if importlib.util.find_spec("mirp") is not None:
        return sys.executable
    if MIRP_VENV.exists():
        return str(MIRP_VENV)
    pytest.skip("MIRP is not installed (pip install mirp==2.7.0, here or in /tmp/mirp-venv)")


@pytest.mark.slow
def test_mirp_names_the_samples_as_the_index_and_pairs_each_image_with_its_own_masks(dicom, exported, tmp_path):
    python = _mirp_python()
    out, table = exported
    result = subprocess.run(
        [python, "-c", MIRP_SCRIPT, str(out / "data.xml")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {
        (os.path.abspath(image), tuple(sorted(os.path.abspath(m) for m in group["mask_path"])))
        for image, group in table.groupby("image_path")
    }
    assert {(i["image"], tuple(i["masks"])) for i in found["images"]} == expected
    by_image = dict(zip(table["image_path"].map(os.path.abspath), table["sample_name"], strict=True))
    assert {i["image"]: i["sample_name"] for i in found["images"]} == by_image  # MIRP's names are the index's
    features = pd.DataFrame(found["features"])
    assert len(features) == len(table)  # one row per image and ROI
    features["mask_path"] = [
        os.path.join(d, f)
        for d, f in zip(features["image_mask_directory"], features["image_mask_file_name"], strict=True)
    ]
    merged = features.merge(table.assign(mask_path=table["mask_path"].map(os.path.abspath)), on="mask_path")
    assert (merged["image_mask_label"] == merged["mirp_roi_name"]).all()
    assert (merged["sample_name_x"] == merged["sample_name_y"]).all()
    for row in merged.itertuples():  # MIRP's mean intensity is the mean of the source image in the ROI
        image = _array(row.image_path)
        mask = _array(row.mask_path) > 0
        assert row.stat_mean == pytest.approx(float(image[mask].mean()), rel=1e-4)


def test_two_images_of_one_modality_get_folders_of_their_own(tmp_path):
    root = tmp_path / "data"
    write_example_dataset(root, n_samples=1, modalities=("CT",), formats=("dicom", "nifti"), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(root, mask=root, image_modality="ct")  # DICOM and NIfTI, each with masks
    assert len(index.images) == 2
    table = imgindex.export(index, to="mirp", out=tmp_path / "out", workers=1)
    folders = sorted({Path(p).parent.parent.name for p in table["image_path"]})
    assert folders == ["CT", "CT_2"]
    root_xml = ElementTree.parse(tmp_path / "out" / "data.xml").getroot()
    assert sorted(d.findtext("image_sub_folder") for d in root_xml.iter("data")) == ["CT/image", "CT_2/image"]
    again = imgindex.build_index(str(tmp_path / "out" / "data.xml"), association_strategy="file_distance")
    assert set(again.images["sample_name"]) == {"STS_001"} and len(again.images) == 2


def test_images_without_a_mask_are_left_out_and_named(dicom, tmp_path):
    pairs = dicom.pairs.copy()
    lonely = pairs.iloc[0]["image_id"]
    pairs.loc[pairs["image_id"] == lonely, ["mask_id", "strategy"]] = None
    pairs.loc[pairs["image_id"] == lonely, "status"] = "missing"
    partial = imgindex.Index(dicom.files, dicom.objects, pairs.drop_duplicates("image_id", keep="first"))
    partial.pairs = pd.concat([partial.pairs[partial.pairs["image_id"] == lonely], pairs[pairs["image_id"] != lonely]])
    with pytest.warns(imgindex.ImgIndexWarning, match=r"1 images have no mask and are not in the MIRP export"):
        table = imgindex.export(partial, to="mirp", out=tmp_path / "out", workers=1)
    assert lonely not in set(table["image_id"]) and any(lonely in s for s in table.attrs["no_mask"])
    images = imgindex.import_image(str(tmp_path / "out"), image_name="#", image_sub_folder="CT/image")
    assert len(images) == 1  # the other sample's CT; the lonely one was not written


def test_nothing_to_export_without_masks(dicom, tmp_path):
    images = imgindex.import_image(str(dicom.images["dir_path"].iloc[0]))
    with pytest.raises(InputError, match="nothing to export to MIRP: no image has a mask"):
        imgindex.export(images, to="mirp", out=tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_sample_names_that_are_not_file_names_are_recorded(dicom, tmp_path):
    objects = dicom.objects.copy()
    objects["sample_name"] = objects["sample_name"].map({"STS_001": "Müller/1", "STS_002": "STS 002"})
    renamed = imgindex.Index(dicom.files, objects, dicom.pairs, dicom.options, dicom.requests)
    table = imgindex.export(renamed, to="mirp", out=tmp_path / "out", workers=1)
    names = table.drop_duplicates("sample_name").set_index("sample_name")["mirp_sample_name"].to_dict()
    assert names == {"Müller/1": "Muller_1", "STS 002": "STS_002"}
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert set(manifest["sample_name"]) == {"Müller/1", "STS 002"}
    assert all((tmp_path / "out" / name).is_dir() for name in names.values())


def test_command_line_export_to_mirp(dicom, tmp_path, capsys):
    dicom.to_parquet(tmp_path / "index")
    assert cli.main(["export", str(tmp_path / "index"), "--to", "mirp", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert "exported as mirp" in capsys.readouterr().out
    assert (tmp_path / "out" / "data.xml").is_file() and (tmp_path / "out" / "manifest.csv").is_file()
