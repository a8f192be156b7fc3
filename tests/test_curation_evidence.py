"""Issue 14, items 5 and 6: the modality of non-DICOM images from evidence, filters that say what there is.

Truth: the example dataset's manifest (each file's modality and folder).
"""

import os
import shutil
import warnings

import pandas as pd
import pytest

import imgindex
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    manifest = write_example_dataset(root, n_samples=2, n_slices=4, size=(16, 16), extras=False)
    return str(root), manifest


def recorded(call, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, [str(w.message) for w in caught]


def truth_of(manifest, role="image"):
    """file_path -> modality of every imaging file of a role."""
    rows = manifest[(manifest["role"] == role) & (manifest["expected"] == "imaging")]
    return dict(zip(rows["file_path"], rows["modality"], strict=True))


# ------------------------------------------------------------------ 5. modality from evidence


@pytest.mark.parametrize("requested", ["ct", "pet", "mri"])
def test_image_modality_keeps_only_files_of_that_modality(nested, requested):
    """The README's --image-modality ct: non-DICOM files whose folder names another modality are left
    out, instead of all taking the requested one (PET ROIs exported as CT)."""
    root, manifest = nested
    index, _ = recorded(imgindex.build_index, root, mask=root, image_modality=requested)
    canonical = {"ct": "ct", "pet": "pt", "mri": "mr"}[requested]
    truth = truth_of(manifest)
    members = [p for paths in index.images["file_paths"] for p in paths]
    assert members and {truth[p] for p in members} == {canonical}
    assert sorted(members) == sorted(p for p, m in truth.items() if m == canonical)
    assert set(index.images["modality"]) == {canonical}


def test_without_a_request_non_dicom_images_carry_the_modality_their_folder_names(nested):
    root, manifest = nested
    index, _ = recorded(imgindex.build_index, root)
    files = index.files.set_index("file_path")
    truth = truth_of(manifest)
    assert files.loc[list(truth), "modality"].tolist() == list(truth.values())
    other = [p for p in truth if not p.endswith(".dcm")]
    reasons = files.loc[other, "role_reason"]
    assert reasons.str.contains(r"modality (?:ct|pt|mr) from folder name (?:CT|PET|MR_T1)").all()


def test_dicom_siblings_decide_and_the_requested_modality_is_only_assumed(nested, tmp_path):
    """A neutral NIfTI next to a PET series is PET (its DICOM sibling); one with nothing beside it takes
    the requested modality, and role_reason says it was assumed."""
    _root, manifest = nested
    series = manifest.loc[manifest["object_key"] == "STS_001/PET/dicom/image", "file_path"]
    sample = tmp_path / "P1" / "scan"
    sample.mkdir(parents=True)
    for path in series:
        shutil.copy(path, sample / os.path.basename(path))
    nifti = manifest.loc[manifest["object_key"] == "STS_001/PET/nifti/image", "file_path"].iloc[0]
    shutil.copy(nifti, sample / "volume.nii.gz")
    alone = tmp_path / "P2" / "scan"
    alone.mkdir(parents=True)
    shutil.copy(nifti, alone / "volume.nii.gz")
    index, _ = recorded(imgindex.build_index, str(tmp_path), image_modality="pet")
    files = index.files.set_index("file_path")
    beside, lone = str(sample / "volume.nii.gz"), str(alone / "volume.nii.gz")
    assert files.loc[beside, "modality"] == "pt" and "DICOM images in its folder" in files.loc[beside, "role_reason"]
    assert files.loc[lone, "modality"] == "pt" and "assumed" in files.loc[lone, "role_reason"]
    index, _ = recorded(imgindex.build_index, str(tmp_path), image_modality="ct")
    kept = {p for paths in index.images["file_paths"] for p in paths}
    assert beside not in kept and lone in kept  # the sibling says PET; nothing speaks against CT for the other


@pytest.mark.parametrize(
    ("path", "modality"),
    [
        ("P1/STS_001_PET_image.nii.gz", "pt"),
        ("P1/T2w/volume.nii.gz", "mr"),
        ("P1/sub-01_FLAIR.nii.gz", "mr"),
        ("P1/adc/volume.nii.gz", "adc"),
        ("P1/CTV_expanded/volume.nii.gz", "generic"),  # CTV is not CT
        ("P1/PET_CT/volume.nii.gz", "generic"),  # names two modalities: says nothing
        ("CT/P1/pet/volume.nii.gz", "pt"),  # the nearest folder wins
    ],
)
def test_modality_words_in_paths(nested, tmp_path, path, modality):
    _root, manifest = nested
    source = manifest.loc[manifest["object_key"] == "STS_001/PET/nifti/image", "file_path"].iloc[0]
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)
    (image,) = imgindex.import_image(str(tmp_path))
    assert image.modality == modality


# ------------------------------------------------------------------ 6. filters that say what there is


def test_roi_name_matching_no_rtstruct_roi_warns_with_the_names_found(nested):
    """--roi-name GTV on ROIs GTV_Mass and GTV_2: the RTSTRUCTs and SEGs are left out with a warning
    that lists the ROI names found (never silently)."""
    root, manifest = nested
    index, messages = recorded(imgindex.build_index, root, mask=root, roi_name="GTV")
    (warning,) = [m for m in messages if m.startswith("roi_name")]
    n_dicom = manifest.loc[manifest["modality"].isin(["rtstruct", "seg"]), "object_key"].nunique()
    assert f"roi_name GTV matches no ROI of {n_dicom} RTSTRUCT/SEG masks" in warning
    assert "ROI names found: GTV_2, GTV_Mass" in warning
    assert set(index.masks["file_type"]) == {"nifti", "nrrd", "numpy"}  # label maps: regions by value


def test_roi_name_leaving_no_mask_is_an_error_that_lists_the_names(nested):
    root, _ = nested
    with pytest.raises(imgindex.errors.NotFoundError, match=r"No masks were found .*ROI names found: GTV_2, GTV_Mass"):
        imgindex.build_index(root, mask=root, roi_name=["GTV_Mass_CT"], mask_file_type="dicom")


def test_file_type_missing_from_the_sub_folder_names_the_real_cause(nested):
    """MIRP's order: the sub-folder first (it exists), then the file type it does not hold."""
    root, _ = nested
    with pytest.raises(
        imgindex.errors.NotFoundError,
        match=(
            r"The CT/dicom/image sub-folders of the .* directory \(and its subdirectories\) did not contain any "
            r"supported image files \(\.nii, \.nii\.gz\)\. File types found: dicom\."
        ),
    ):
        imgindex.import_image(root, image_sub_folder="CT/dicom/image", image_file_type="nifti")
    with pytest.raises(imgindex.errors.NotFoundError, match=r"No directories were found .* substructure CT/none"):
        imgindex.import_image(root, image_sub_folder="CT/none", image_file_type="nifti")


def test_sample_names_of_a_patient_folder_with_two_images(nested, tmp_path):
    """ct_image and pet_image in a patient folder: the folder names both (not 'ct' and 'pet'), and the
    mask beside them is shared, not lost."""
    _root, manifest = nested
    image = manifest.loc[manifest["object_key"] == "STS_001/CT/nifti/image", "file_path"].iloc[0]
    mask = manifest.loc[manifest["object_key"] == "STS_001/CT/nifti/mask", "file_path"].iloc[0]
    folder = tmp_path / "P7"
    folder.mkdir()
    for name, source in (("ct_image.nii.gz", image), ("pet_image.nii.gz", image), ("mask.nii.gz", mask)):
        shutil.copy(source, folder / name)
    index, _ = recorded(imgindex.build_index, str(tmp_path), mask=str(tmp_path))
    assert set(index.objects["sample_name"]) == {"P7"}
    assert index.pairs["status"].tolist() == ["ambiguous", "ambiguous"]
    assert pd.Series(index.images["modality"]).tolist() == ["ct", "pt"]
