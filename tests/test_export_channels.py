"""nnU-Net and MONAI channels are a stated choice (issue 16, item 7), and label maps keep their regions.

Generic images (NIfTI without a modality hint) or two images of one modality in a sample stop a
multi-channel export before it writes anything, naming the samples; ``channels=`` says which image
goes in which channel; resampling onto the first channel's grid warns once per export, also when
the cases are written by worker processes. Every written channel is compared with the source
image read by SimpleITK (and, for the resampled channel, with SimpleITK's own resampling).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import cli
from imgindex.errors import InputError, InputTypeError
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    """Two samples, each a CT and a PET NIfTI image with their label maps, in folders that do not say
    which is which (``scan_a``, ``scan_b``): their modality is unknown, ``generic``."""
    root = tmp_path_factory.mktemp("channels") / "data"
    write_example_dataset(root, n_samples=2, modalities=("CT", "PT"), formats=("nifti",), extras=False)
    for sample in ("STS_001", "STS_002"):
        (root / sample / "CT").rename(root / sample / "scan_a")
        (root / sample / "PET").rename(root / sample / "scan_b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(root, mask=root)
    assert set(index.images["modality"]) == {"generic"} and len(index.images) == 4
    return root, index


def _source(root, sample, folder):
    return sitk.ReadImage(str(root / sample / folder / "nifti" / "image" / "image.nii.gz"))


@pytest.mark.parametrize("to", ["nnunet", "monai"])
def test_several_generic_images_per_sample_are_refused_naming_the_samples(generic, tmp_path, to):
    _root, index = generic
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"sample STS_001 has 2 generic images \(image_\d, image_\d\).*channels=") as e:
        imgindex.export(index, to=to, out=out, workers=1)
    assert "STS_002" in str(e.value) and "Nothing was written" in str(e.value)
    assert not out.exists()


def test_generic_images_beside_a_known_modality_are_refused(generic, tmp_path):
    _root, index = generic
    images = index.materialise()
    images[0].modality = "ct"  # one image told apart, the other generic: still no stated choice
    with pytest.raises(InputError, match=r"channels CT, GENERIC .*sample STS_001 has generic images"):
        imgindex.export(images, to="nnunet", out=tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_a_channel_mapping_by_path_places_every_image(generic, tmp_path):
    root, index = generic
    out = tmp_path / "Dataset002_Channels"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = imgindex.export(
            index, to="nnunet", out=out, workers=2, channels={"CT": "*/scan_a/*", "PET": "*/scan_b/*"}
        )
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT", "1": "PET"}
    assert dataset["numTraining"] == 2 and sorted(table["case"]) == ["STS_001", "STS_002"]
    resampled = [w for w in caught if "not on the first channel's grid" in str(w.message)]
    assert len(resampled) == 1  # once per export, though two workers wrote the cases
    assert "PET is not on the first channel's grid in 2 of 2 cases (STS_001; STS_002)" in str(resampled[0].message)
    for sample in ("STS_001", "STS_002"):
        ct, pet = _source(root, sample, "scan_a"), _source(root, sample, "scan_b")
        channel0 = sitk.ReadImage(str(out / "imagesTr" / f"{sample}_0000.nii.gz"))
        channel1 = sitk.ReadImage(str(out / "imagesTr" / f"{sample}_0001.nii.gz"))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(channel0), sitk.GetArrayFromImage(ct))
        expected = sitk.Resample(pet, ct, sitk.Transform(), sitk.sitkLinear, 0.0, pet.GetPixelID())
        np.testing.assert_allclose(sitk.GetArrayFromImage(channel1), sitk.GetArrayFromImage(expected), atol=1e-4)
        assert channel1.GetSize() == ct.GetSize() and channel1.GetOrigin() == pytest.approx(ct.GetOrigin())
    assert table["resampled"].map(list).tolist() == [["PET"], ["PET"]]


def test_a_channel_chosen_by_a_function_and_images_left_out_are_reported(generic, tmp_path):
    root, index = generic
    out = tmp_path / "ct_only"
    with pytest.warns(imgindex.ImgIndexWarning, match=r"2 images fit none of the channels CT and are not exported"):
        table = imgindex.export(
            index, to="monai", out=out, workers=1, channels={"CT": lambda i: "/scan_a/" in i.dir_path}
        )
    datalist = json.loads((out / "datalist.json").read_text())
    assert datalist["channels"] == ["CT"] and len(datalist["training"]) == 2
    assert len(table.attrs["not_in_channels"]) == 2 == len(datalist["imgindex"]["not_in_channels"])
    for item in datalist["training"]:
        written = sitk.ReadImage(str(out / item["image"]))
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(_source(root, item["sample_name"], "scan_a"))
        )
        assert item["image"].endswith("_ct.nii.gz")


def test_an_image_that_fits_two_channels_is_refused(generic, tmp_path):
    _root, index = generic
    with pytest.raises(InputError, match=r"image image_\d fits the channels A, B"):
        imgindex.export(index, to="nnunet", out=tmp_path / "x", workers=1, channels={"A": "*/scan_a/*", "B": "*/STS_*"})
    assert not (tmp_path / "x").exists()


def test_two_images_of_one_modality_can_be_told_apart_by_path(tmp_path):
    root = tmp_path / "data"
    write_example_dataset(root, n_samples=1, modalities=("CT", "PT"), formats=("dicom", "nifti"), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(root, mask=root, image_modality="ct")
        pt = imgindex.build_index(root, mask=root, image_modality="pt", image_file_type="dicom")
    images = [i for i in index.materialise() if "/CT/" in i.dir_path] + pt.materialise()  # CT: DICOM and NIfTI
    assert sorted(i.modality for i in images) == ["ct", "ct", "pt"]
    with pytest.raises(InputError, match=r"sample STS_001 has 2 CT images"):
        imgindex.export(images, to="nnunet", out=tmp_path / "refused", workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = imgindex.export(
            images, to="nnunet", out=tmp_path / "out", workers=1, channels={"CT": "*/CT/dicom/*", "PT": "pt"}
        )
    [row] = table.to_dict("records")
    chosen = {i.object_id: i for i in images}
    assert chosen[row["image_ids"][0]].file_type == "dicom" and chosen[row["image_ids"][1]].modality == "pt"


@pytest.mark.parametrize(
    ("channels", "error", "message"),
    [
        ({}, InputError, "channels is empty"),
        ({"CT": "ct", "ct": "pt"}, InputError, "different"),
        ({"CT": 3}, InputTypeError, "modality, a path pattern or a function"),
        (["ct", "*/T1/*"], InputError, "takes modalities only"),
        (42, InputTypeError, "channels is expected to be a mapping"),
    ],
)
def test_bad_channel_mappings_are_explained(generic, tmp_path, channels, error, message):
    _root, index = generic
    with pytest.raises(error, match=message):
        imgindex.export(index, to="nnunet", out=tmp_path / "x", workers=1, channels=channels)


def test_modalities_as_a_list_name_the_channels(tmp_path):
    root = tmp_path / "data"
    write_example_dataset(root, n_samples=1, modalities=("CT", "PT"), formats=("dicom",), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(root, mask=root, mask_modality="rtstruct")
        imgindex.export(index, to="nnunet", out=tmp_path / "out", workers=1, channels=["pet", "ct"])
    dataset = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "PT", "1": "CT"}  # in the order given: PT is the reference


def test_command_line_channels(generic, tmp_path, capsys):
    _root, index = generic
    index.to_parquet(tmp_path / "index")
    code = cli.main(
        ["export", str(tmp_path / "index"), "--to", "nnunet", str(tmp_path / "out"), "--workers", "1"]
        + ["--channels", "CT=*/scan_a/*", "PET=*/scan_b/*"]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["channel_names"] == {"0": "CT", "1": "PET"}
    assert cli.main(["export", str(tmp_path / "index"), "--to", "nnunet", str(tmp_path / "no")]) == 1
    assert "--channels" in capsys.readouterr().err


def test_label_maps_without_roi_name_keep_their_regions(generic, tmp_path):
    """Regions of label maps are found in their voxels: the label maps are not written empty."""
    root, index = generic
    out = tmp_path / "out"
    with pytest.warns(imgindex.ImgIndexWarning, match="2 images fit none of the channels CT"):
        imgindex.export(index, to="nnunet", out=out, workers=1, channels={"CT": "*/scan_a/*"})
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "region_1": 1, "region_2": 2}
    for sample in ("STS_001", "STS_002"):
        source = sitk.ReadImage(str(root / sample / "scan_a" / "nifti" / "mask" / "mask.nii.gz"))
        written = sitk.ReadImage(str(out / "labelsTr" / f"{sample}.nii.gz"))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(source))
