"""Filters over the files table and ROI selection, with MIRP's error phrases (argument checks: test_options)."""

import re
from pathlib import Path

import pandas as pd
import pytest

from imgindex import InputError, NotFoundError, filters
from imgindex.arguments import canonical_modality
from imgindex.options import ImportOptions, RoleOptions

WHERE = "The /data directory (and its subdirectories)"
RE_WHERE = re.escape(WHERE)


def opts(role: str = "image", **arguments) -> RoleOptions:
    """The checked options of one role, as ImportOptions gives them to the filters."""
    return RoleOptions.of(role, **arguments)


def names(value) -> tuple[str, ...] | None:
    """A sample_name argument as ImportOptions checks it."""
    return ImportOptions.from_arguments(sample_name=value).sample_name


def _files(**columns) -> pd.DataFrame:
    n = max(len(v) for v in columns.values() if isinstance(v, list))
    base = {
        "file_path": [f"/data/f{i}" for i in range(n)],
        "file_name": [f"f{i}.nii.gz" for i in range(n)],
        "dir_path": ["/data"] * n,
        "file_type": ["nifti"] * n,
    }
    return pd.DataFrame({**base, **columns})


@pytest.fixture
def curated(scanned):
    """(root, manifest, files with root and DICOM modality)."""
    root, manifest, files = scanned
    files = files.assign(root=str(root))
    return root, manifest, files.assign(modality=filters.dicom_modality(files))


# ---------------------------------------------------------------------------------------------- dicom modality
@pytest.mark.parametrize(
    ("file_type", "modality", "image_type", "expected"),
    [
        ("dicom", "CT", ("ORIGINAL", "PRIMARY", "AXIAL"), "ct"),
        ("dicom", "PT", None, "pt"),
        ("dicom", "MR", ("ORIGINAL", "PRIMARY"), "mr"),
        ("dicom", "MR", ("DERIVED", "PRIMARY", "ADC"), "adc"),
        ("dicom", "MR", ("DERIVED", "adc"), "adc"),
        ("dicom", "MR", ("ORIGINAL", "DCE"), "dce"),
        ("dicom", "MR", ("ORIGINAL", "DCE_LIKE"), "mr"),  # a value, not a substring
        ("dicom", "CT", ("DERIVED", "ADC"), "ct"),  # only MR is promoted
        ("dicom", "RTSTRUCT", None, "rtstruct"),
        ("dicom", "SEG", ("DERIVED", "PRIMARY"), "seg"),
        ("dicom", None, None, None),
        ("nifti", None, None, None),
        ("nifti", "CT", None, None),
    ],
)
def test_dicom_modality(file_type, modality, image_type, expected):
    files = pd.DataFrame({"file_type": [file_type], "dicom_modality": [modality], "ImageType": [image_type]}, index=[4])
    out = filters.dicom_modality(files)
    assert out.index.tolist() == [4]
    assert (None if pd.isna(out.iloc[0]) else out.iloc[0]) == expected


def test_dicom_modality_matches_manifest(curated):
    _, manifest, files = curated
    merged = files.merge(manifest[["file_path", "modality"]], on="file_path", suffixes=("", "_truth"))
    dicom = merged[(merged["file_type"] == "dicom") & merged["error"].isna()]
    assert len(dicom) > 0
    assert dicom["modality"].tolist() == dicom["modality_truth"].tolist()


# ---------------------------------------------------------------------------------------------- file type
@pytest.mark.parametrize(
    ("file_type", "expected"),
    [
        ("dicom", {"dicom"}),
        ("nifti", {"nifti"}),
        ("NRRD", {"nrrd"}),
        ("numpy", {"numpy"}),
        ("itk", {"nifti", "nrrd"}),
        (None, {"dicom", "nifti", "nrrd", "numpy"}),
    ],
)
def test_by_file_type(curated, file_type, expected):
    _, manifest, files = curated
    out = filters.by_file_type(files, opts(file_type=file_type), where=WHERE)
    assert set(out["file_type"]) == expected
    truth = manifest[manifest["file_type"].isin(expected) & manifest["expected"].isin(["imaging", "error"])]
    assert set(out["file_path"]) == set(truth["file_path"])


@pytest.mark.parametrize(
    ("file_type", "role", "suffixes"),
    [
        ("dicom", "image", ".dcm, .dicom"),
        ("nifti", "mask", ".nii, .nii.gz"),
        ("itk", "image", ".nii, .nii.gz, .nrrd, .nhdr"),
        ("numpy", "mask", ".npy"),
        (None, "image", ".dcm, .dicom, .nii, .nii.gz, .nrrd, .nhdr, .npy"),
    ],
)
def test_by_file_type_nothing_found(file_type, role, suffixes):
    files = _files(file_type=["nrrd"])
    files = files.iloc[:0] if file_type in (None, "itk") else files
    phrase = re.escape(f"{WHERE} did not contain any supported {role} files ({suffixes}). ")
    with pytest.raises(NotFoundError, match="^" + phrase):
        filters.by_file_type(files, opts(role, file_type=file_type), where=WHERE)


# ---------------------------------------------------------------------------------------------- name
@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ("image", ["image.nii.gz", "image.npy"]),
        ("*_image", ["STS_001_00_image.npy"]),
        (["mask", "*_mask"], ["mask.nii.gz", "STS_001_00_mask.npy"]),
        ("#_00_*", ["STS_001_00_image.npy", "STS_001_00_mask.npy"]),
        ("IMAGE", ["IMAGE.NII.GZ"]),
        (
            None,
            ["image.nii.gz", "mask.nii.gz", "image.npy", "STS_001_00_image.npy", "STS_001_00_mask.npy", "IMAGE.NII.GZ"],
        ),
    ],
)
def test_by_name(patterns, expected):
    names = ["image.nii.gz", "mask.nii.gz", "image.npy", "STS_001_00_image.npy", "STS_001_00_mask.npy", "IMAGE.NII.GZ"]
    files = _files(file_name=names)
    assert filters.by_name(files, opts(name=patterns))["file_name"].tolist() == expected


@pytest.mark.parametrize(
    ("patterns", "shown", "example"),
    [
        ("CT_image", "CT_image", "*CT_image"),
        (["CT_image", "PET_image"], "CT_image, PET_image", "*CT_image"),
        ("*x", "*x", "*x"),
    ],
)
def test_by_name_nothing_found(patterns, shown, example):
    files = _files(file_name=["STS_001_CT_image.nii.gz"])
    phrase = re.escape(
        f"{WHERE} did not contain any supported mask files (.nii, .nii.gz) that contain the name "
        f"pattern ({shown}). The name must match exactly. Use wildcard symbol (*) for partial matching, "
        f"e.g. {example}."
    )
    with pytest.raises(NotFoundError, match="^" + phrase + ".*names found: STS_001_CT_image"):
        filters.by_name(files, opts("mask", name=patterns), where=WHERE)


# ---------------------------------------------------------------------------------------------- sub-folder
_DIRS = [
    "/d/STS_001/CT/nifti/image",
    "/d/STS_001/XCT/nifti/image",
    "/d/STS_001/CT/nifti/image/extra",
    "/d/STS_001/CT/nifti",
    "C:\\d\\STS_002\\CT\\nifti\\image\\",
    "/d/STS_003/CT/nifti/image/",
]


@pytest.mark.parametrize(
    ("sub_folder", "expected"),
    [
        ("CT/nifti/image", [0, 4, 5]),
        ("CT/nifti/image/", [0, 4, 5]),
        ("./CT//nifti/image", [0, 4, 5]),
        ("CT\\nifti\\image", [0, 4, 5]),
        ("nifti", [3]),
        ("image", [0, 1, 4, 5]),
        ("XCT/nifti/image", [1]),
        ("STS_001/CT/nifti/image", [0]),
        ("/d/STS_001/CT/nifti", [3]),  # absolute: the directory itself
        (None, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_by_sub_folder(sub_folder, expected):
    files = _files(dir_path=_DIRS)
    assert filters.by_sub_folder(files, opts(sub_folder=sub_folder)).index.tolist() == expected


def test_by_sub_folder_nothing_found():
    files = _files(dir_path=_DIRS)
    with pytest.raises(
        NotFoundError,
        match=r"^No directories were found in the /data directory \(and its "
        r"subdirectories\) that contained the directory substructure PET/nifti\.",
    ):
        filters.by_sub_folder(files, opts(sub_folder="PET/nifti"), where=WHERE)
    with pytest.raises(InputError, match="has no directory names"):
        filters.by_sub_folder(files, opts(sub_folder="/"))


@pytest.mark.parametrize("sub_folder", ["CT/nifti/image", "CT/nifti", "nifti", "dicom/mask", "numpy_slice"])
def test_by_sub_folder_on_dataset(curated, sub_folder):
    _, manifest, files = curated
    parts = tuple(sub_folder.split("/"))
    truth = {p for p in manifest["file_path"] if Path(p).parent.parts[-len(parts) :] == parts} & set(files["file_path"])
    if not truth:
        with pytest.raises(NotFoundError, match="contained the directory substructure"):
            filters.by_sub_folder(files, opts(sub_folder=sub_folder))
        return
    assert set(filters.by_sub_folder(files, opts(sub_folder=sub_folder))["file_path"]) == truth


# ---------------------------------------------------------------------------------------------- modality
@pytest.mark.parametrize(
    ("request_", "rows"),
    [
        ("CT", [0, 1, 6]),
        ("ct", [0, 1, 6]),
        ("pet", [2, 6]),
        ("PT", [2, 6]),
        ("mri", [3, 6]),
        ("MR", [3, 6]),
        ("adc", [4, 6]),
        ("rtstruct", [5]),  # an RTSTRUCT is DICOM by definition: never assigned to a NIfTI
    ],
)
def test_by_modality(request_, rows):
    files = pd.DataFrame(
        {
            "file_type": ["dicom", "dicom", "dicom", "dicom", "dicom", "dicom", "nifti"],
            "dicom_modality": ["CT", None, "PT", "MR", "MR", "RTSTRUCT", None],
            "ImageType": [None, None, None, None, ("DERIVED", "ADC"), None, None],
            "modality": [None, "ct", None, None, None, None, "generic"],
        }
    )
    out = filters.by_modality(files, opts("mask" if request_ == "rtstruct" else "image", modality=request_))
    assert out.index.tolist() == rows
    # every kept row carries the canonical code; the non-DICOM file takes the request (MIRP 8.5, canonicalised)
    assert set(out["modality"]) == {canonical_modality(request_)}


def test_by_modality_mr_excludes_adc_and_keeps_known_non_dicom_modality():
    files = pd.DataFrame(
        {
            "file_type": ["dicom", "dicom", "nifti"],
            "dicom_modality": ["MR", "MR", None],
            "ImageType": [None, ("ADC",), None],
            "modality": [None, None, "ct"],
        }
    )
    out = filters.by_modality(files, opts(modality="mr"))
    assert out.index.tolist() == [0]


def test_by_modality_on_dataset(curated):
    _, manifest, files = curated
    dicom = files[files["file_type"] == "dicom"]
    out = filters.by_modality(dicom, opts(modality="PET"), where=WHERE)
    truth = manifest[(manifest["modality"] == "pt") & (manifest["file_type"] == "dicom")]
    assert set(out["file_path"]) == set(truth["file_path"])


def test_by_modality_nothing_found():
    files = pd.DataFrame({"file_type": ["dicom"], "dicom_modality": ["CT"]})
    with pytest.raises(
        NotFoundError,
        match=rf"^{RE_WHERE} did not contain any images with the required modality "
        rf"\(pet\)\. Modalities found: ct",
    ):
        filters.by_modality(files, opts(modality="PET"), where=WHERE)
    with pytest.raises(NotFoundError, match=r"did not contain any masks with the required modality \(seg\)"):
        filters.by_modality(files, opts("mask", modality="seg"))
    with pytest.raises(InputError, match="unknown image modality: xray"):  # checked by the options
        filters.by_modality(files, opts(modality="xray"))


# ---------------------------------------------------------------------------------------------- sample name
_NAMED = ["STS_001", "STS_001", "STS_002", None]


@pytest.mark.parametrize(
    ("sample", "sample_names", "expected"),
    [
        ("STS_001", _NAMED[:3], [0, 1]),
        (["STS_002"], _NAMED[:3], [2]),
        (["STS_001", "STS_002"], _NAMED[:3], [0, 1, 2]),
        (["STS_002"], _NAMED, [3 - 1]),  # an unnamed file does not matter when every name is found
        (None, _NAMED, [0, 1, 2, 3]),
    ],
)
def test_by_sample_name(sample, sample_names, expected):
    files = _files(sample_name=sample_names)
    assert filters.by_sample_name(files, names(sample)).index.tolist() == expected


@pytest.mark.parametrize(
    ("sample_names", "sample", "phrase"),
    [
        ([], ["STS_001"], r"did not contain any images with the specified sample names \(STS_001\)"),
        (
            ["STS_003"],
            ["STS_001", "STS_002"],
            r"did not contain any images with the specified sample names "
            r"\(STS_001, STS_002\)",
        ),
        (
            ["STS_001"],
            ["STS_001", "STS_002"],
            r"did not contain all the images with the required sample names\. "
            r"Missing: STS_002\.",
        ),
        (
            ["STS_001", None],
            ["STS_001", "STS_002"],
            r"One or more files \(/data/f1; 1 in all\) could not be linked to a "
            r"sample name for checking.*You may specify an image file name "
            r"pattern using the image_name argument",
        ),
        ([None], ["STS_001"], r"could not be linked to a sample name for checking"),
    ],
)
def test_by_sample_name_errors(sample_names, sample, phrase):
    files = _files(sample_name=sample_names) if sample_names else _files(sample_name=["x"]).iloc[:0]
    with pytest.raises(NotFoundError, match=phrase):
        filters.by_sample_name(files, names(sample), where=WHERE)


def test_by_sample_name_mask_wording():
    files = _files(sample_name=["STS_001"])
    with pytest.raises(NotFoundError, match="did not contain any masks with the specified sample names"):
        filters.by_sample_name(files, names("STS_009"), role="mask")


# ---------------------------------------------------------------------------------------------- ROI names
@pytest.mark.parametrize(
    ("available", "roi_name", "expected"),
    [
        (["region_1", "region_2"], None, {"region_1": "region_1", "region_2": "region_2"}),
        (["region_1", "region_2"], "1", {"region_1": "1"}),
        (["region_1", "region_2"], "region_2", {"region_2": "region_2"}),
        (["region_1", "region_2"], ["2", "region_1"], {"region_1": "region_1", "region_2": "2"}),
        (["region_1", "region_2"], {"1": "tumour", "region_2": "node"}, {"region_1": "tumour", "region_2": "node"}),
        (["region_1", "region_12"], "12", {"region_12": "12"}),
        (["region_1"], "3", {}),
        (["GTV_Mass", "GTV_2"], ["GTV_2"], {"GTV_2": "GTV_2"}),
        (["GTV_Mass", "GTV_2"], {"GTV_Mass": "tumour"}, {"GTV_Mass": "tumour"}),
        (["GTV_Mass"], "gtv_mass", {}),  # exact, case-sensitive
        (["region_1"], "region_01", {}),
    ],
)
def test_select_rois(available, roi_name, expected):
    assert filters.select_rois(available, roi_name) == expected


# ---------------------------------------------------------------------------------------------- purity
_CALLS = [
    ("by_file_type", lambda f: filters.by_file_type(f, opts(file_type="itk"))),
    ("by_file_type_none", lambda f: filters.by_file_type(f, opts())),
    ("by_name", lambda f: filters.by_name(f, opts(name=["image", "*_image"]))),
    (
        "by_sub_folder",
        lambda f: (
            filters.by_sub_folder(f, opts(sub_folder="dicom/image"))
            if f["dir_path"].str.endswith("dicom/image").any()
            else filters.by_sub_folder(f, opts(sub_folder="dicom"))
        ),
    ),
    ("by_modality", lambda f: filters.by_modality(f.drop(columns="modality"), opts(modality="ct"))),
    ("by_sample_name", lambda f: filters.by_sample_name(f.assign(sample_name="STS_001"), names("STS_001"))),
    ("dicom_modality", filters.dicom_modality),
]


@pytest.mark.parametrize(("name", "call"), _CALLS, ids=[c[0] for c in _CALLS])
def test_input_frame_is_never_mutated(curated, name, call):
    _, _, files = curated
    files = pd.concat([files, files.iloc[:3]])  # a repeated index, too
    before = files.copy(deep=True)
    out = call(files)
    pd.testing.assert_frame_equal(files, before)
    if isinstance(out, pd.DataFrame):
        assert len(out) > 0
        out.iloc[:, 0] = "changed"
        pd.testing.assert_frame_equal(files, before)
