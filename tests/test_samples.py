"""Sample names from patterns, folders and DICOM identifiers, on example datasets and real data."""

import re

import pandas as pd
import pytest

import imgindex
from imgindex import InputTypeError, filters
from imgindex.options import ImportOptions, RoleOptions
from imgindex.samples import assign_sample_names, generated_names


def named(files: pd.DataFrame, *, name_patterns=None, sample_name=None, sub_folder=None) -> pd.DataFrame:
    """assign_sample_names with the arguments checked as the import checks them (ImportOptions)."""
    options = ImportOptions.from_arguments(
        image_name=name_patterns, sample_name=sample_name, image_sub_folder=sub_folder
    )
    return assign_sample_names(
        files, name_patterns=options.image.name, sample_name=options.sample_name, sub_folder=options.image.sub_folder
    )


#: Patterns that name the flat layout's files (``STS_001_CT_..``, ``STS_001_PET_..``, ``STS_001_MR_T1_..``).
FLAT_PATTERNS = ["#_CT_*", "#_PET_*", "#_MR_*"]


def _frame(**columns) -> pd.DataFrame:
    n = max(len(v) for v in columns.values() if isinstance(v, list))
    base = {"file_name": ["image.nii.gz"] * n, "dir_path": ["/d/x"] * n, "root": ["/d"] * n, "file_type": ["nifti"] * n}
    return pd.DataFrame({**base, **columns})


def _pairs(out: pd.DataFrame) -> list[list]:
    return [[None if pd.isna(v) else v for v in row] for row in out[["sample_name", "sample_name_source"]].values]


def _compare(out: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows of the sample datasets (not the extras) with the found and the true sample name."""
    merged = out.merge(manifest[["file_path", "sample_name", "extra"]], on="file_path", suffixes=("", "_truth"))
    return merged[~merged["file_path"].str.contains("/extras/", regex=False)]


# ---------------------------------------------------------------------------------------------- example layouts
def test_sample_names_on_example_layouts(scanned):
    root, manifest, files = scanned
    files = files.assign(root=str(root))
    before = files.copy(deep=True)
    flat = files["dir_path"].eq(str(root / "dicom")).any()
    out = named(files, name_patterns=FLAT_PATTERNS if flat else None)
    pd.testing.assert_frame_equal(files, before)
    rows = _compare(out, manifest)
    assert len(rows) > 100
    assert rows["sample_name"].tolist() == rows["sample_name_truth"].tolist()
    expected_sources = {"pattern"} if flat else {"folder", "dicom"}
    assert set(rows["sample_name_source"]) == expected_sources
    if not flat:
        assert (rows["sample_name_source"] == "dicom").tolist() == (rows["file_type"] == "dicom").tolist()


def test_flat_layout_dicom_names_without_pattern(tmp_path_factory):
    root = tmp_path_factory.mktemp("flat_dicom")
    manifest = imgindex.examples.write_example_dataset(root, layout="flat", formats=["dicom", "nifti"], extras=False)
    out = named(imgindex.scan(root).assign(root=str(root)))
    rows = _compare(out, manifest)
    dicom = rows[rows["file_type"] == "dicom"]
    assert dicom["sample_name"].tolist() == dicom["sample_name_truth"].tolist()
    assert set(dicom["sample_name_source"]) == {"dicom"}
    # non-DICOM files of the flat layout only have their format folder to go on
    assert set(rows.loc[rows["file_type"] == "nifti", "sample_name"]) == {"nifti"}


def test_requested_names_on_example_layouts(nested_scanned):
    root, manifest, files = nested_scanned
    out = named(files.assign(root=str(root)), sample_name=["STS_002"])
    rows = _compare(out, manifest)
    of_002 = rows["sample_name_truth"] == "STS_002"
    assert set(rows.loc[of_002, "sample_name_source"]) == {"folder"}  # the requested folder wins over DICOM
    assert set(rows.loc[~of_002, "sample_name"]) == {"STS_001"}
    kept = filters.by_sample_name(out, ("STS_002",))
    assert set(kept["file_path"]) == set(manifest.loc[manifest["sample_name"] == "STS_002", "file_path"])


def test_sub_folder_names_on_nested_layouts(nested_scanned):
    root, manifest, files = nested_scanned
    sub = "CT/nifti/image" if (root / "STS_001" / "CT" / "nifti" / "image").is_dir() else "CT/nifti"
    files = filters.by_sub_folder(files.assign(root=str(root)), RoleOptions.of("image", sub_folder=sub))
    out = named(files, sub_folder=sub)
    truth = manifest.set_index("file_path").loc[out["file_path"], "sample_name"]
    assert out["sample_name"].tolist() == truth.tolist()
    assert set(out["sample_name"]) == {"STS_001", "STS_002"}
    # the root itself may be the folder above the sub-folder (import of one patient's directory)
    one = files[files["dir_path"].str.contains("STS_001")].assign(root=str(root / "STS_001"))
    assert set(named(one, sub_folder=sub)["sample_name"]) == {"STS_001"}


def test_real_patient(real_data):
    files = imgindex.scan(real_data).assign(root=str(real_data))
    out = named(files)
    assert set(out["sample_name"]) == {"STS_001"}
    assert set(out.loc[out["file_type"] == "dicom", "sample_name_source"]) == {"dicom"}
    assert set(out.loc[out["file_type"] != "dicom", "sample_name_source"]) == {"folder"}
    ct = filters.by_sub_folder(files, RoleOptions.of("image", sub_folder="CT/nifti/image"))
    by_folder = named(ct.assign(root=str(real_data / "STS_001")), sub_folder="CT/nifti/image")
    assert set(by_folder["sample_name"]) == {"STS_001"}
    requested = named(files, sample_name=("STS_001",))
    assert set(requested["sample_name_source"]) == {"folder"}
    assert len(filters.by_sample_name(requested, ("STS_001",))) == len(files)


# ---------------------------------------------------------------------------------------------- each source
@pytest.mark.parametrize(
    ("row", "kwargs", "expected"),
    [
        # 1. pattern
        ({"file_name": "P1_CT_image.nii.gz"}, {"name_patterns": "#_CT_*"}, ["P1", "pattern"]),
        ({"file_name": "P1_CT_image.nii.gz"}, {"name_patterns": ["*_PET_*", "#_CT_*"]}, ["P1", "pattern"]),
        (
            {"file_name": "P1_CT_image.nii.gz", "dir_path": "/d/P9"},
            {"name_patterns": "#_CT_*", "sample_name": "P9"},
            ["P1", "pattern"],
        ),
        ({"file_name": "P1_CT_image.nii.gz"}, {"name_patterns": "*_CT_*"}, ["x", "folder"]),  # no #
        ({"file_name": "STS_001_CT_image.nii.gz"}, {"name_patterns": "#_*"}, ["STS_001_CT", "pattern"]),  # MIRP 7.3
        # 2. folder equal to a requested name (anywhere below the root)
        ({"dir_path": "/d/site/P2/CT"}, {"sample_name": ["P1", "P2"]}, ["P2", "folder"]),
        ({"dir_path": "/d/site/P2/CT"}, {"sample_name": "P3"}, ["site", "folder"]),
        ({"dir_path": "/d/P1/P2"}, {"sample_name": ["P1", "P2"]}, ["P1", "folder"]),  # ambiguous: falls to rule 4
        ({"dir_path": "/P1/d/x", "root": "/P1/d"}, {"sample_name": "P1"}, ["x", "folder"]),  # above the root: no
        (
            {"dir_path": "/d/P1/CT", "file_type": "dicom", "PatientID": "STS_001"},
            {"sample_name": "P1"},
            ["P1", "folder"],
        ),  # MIRP would drop this DICOM file; the folder name wins
        ({"dir_path": "/d/site/CT/P2/image"}, {"sample_name": "CT", "sub_folder": "CT/P2/image"}, ["site", "folder"]),
        # 3. DICOM identifiers
        ({"file_type": "dicom", "PatientID": "STS_001", "StudyID": "S"}, {}, ["STS_001", "dicom"]),
        ({"file_type": "dicom", "PatientID": " ", "StudyID": "S"}, {}, ["S", "dicom"]),
        ({"file_type": "dicom", "PatientID": "", "PatientName": "Doe^J"}, {}, ["Doe^J", "dicom"]),
        ({"file_type": "dicom", "SeriesDescription": "CT thorax"}, {}, ["CT thorax", "dicom"]),
        ({"file_type": "dicom", "PatientID": "A", "StudyDescription": "P1"}, {"sample_name": ["P1"]}, ["P1", "dicom"]),
        ({"file_type": "dicom", "PatientID": "A", "StudyDescription": "P1"}, {"sample_name": ["Q"]}, ["A", "dicom"]),
        ({"file_type": "nifti", "PatientID": "STS_001"}, {}, ["x", "folder"]),  # identifiers only count for DICOM
        ({"file_type": "dicom", "dir_path": "/d"}, {}, [None, None]),
        # 4. folder
        ({"dir_path": "/d/P1/CT/nifti/image"}, {}, ["P1", "folder"]),
        ({"dir_path": "/d/P1/CT/nifti/image/"}, {"sub_folder": "CT/nifti/image/"}, ["P1", "folder"]),
        ({"dir_path": "/d/P1/XCT/nifti/image"}, {"sub_folder": "CT/nifti/image"}, [None, None]),
        ({"dir_path": "/d/CT/nifti/image"}, {"sub_folder": "CT/nifti/image"}, ["d", "folder"]),
        ({"dir_path": "C:\\d\\P1\\CT", "root": "C:\\d"}, {}, ["P1", "folder"]),
        ({"dir_path": "/d"}, {}, [None, None]),  # directly in the root
        ({"dir_path": "/e/P1", "root": "/d"}, {}, [None, None]),  # not under its root
        ({"root": None}, {}, [None, None]),
    ],
)
def test_sources(row, kwargs, expected):
    assert _pairs(named(_frame(**{k: [v] for k, v in row.items()}), **kwargs)) == [expected]


@pytest.mark.parametrize(
    ("existing", "source", "expected"),
    [
        ("given", "argument", ["given", "argument"]),
        ("given", None, ["given", None]),
        ("old", "folder", ["P1", "pattern"]),
        ("old", "dicom", ["P1", "pattern"]),
        ("old", "pattern", ["P1", "pattern"]),
        ("old", "generated", ["P1", "pattern"]),
        ("old", "file_name", ["P1", "pattern"]),
    ],
)
def test_existing_names(existing, source, expected):
    files = _frame(file_name=["P1_CT.nii.gz"], sample_name=[existing], sample_name_source=[source])
    assert _pairs(named(files, name_patterns="#_CT")) == [expected]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("folder", ["STS_001", "dicom"]),
        ("dicom", ["STS_001", "dicom"]),
        ("list", ["STS_001", "dicom"]),
        ("pattern", ["old", "pattern"]),
        ("argument", ["old", "argument"]),
    ],
)
def test_existing_names_against_dicom(source, expected):
    files = _frame(file_type=["dicom"], PatientID=["STS_001"], sample_name=["old"], sample_name_source=[source])
    assert _pairs(named(files)) == [expected]


def test_repeated_index_and_no_mutation():
    files = _frame(file_name=["P1_CT.nii.gz", "P2_CT.nii.gz", "image.nii.gz"], dir_path=["/d", "/d", "/d/P3"])
    files.index = [5, 5, 0]
    before = files.copy(deep=True)
    out = named(files, name_patterns="#_CT")
    pd.testing.assert_frame_equal(files, before)
    assert out.index.tolist() == [5, 5, 0]
    assert out["sample_name"].tolist() == ["P1", "P2", "P3"]
    assert str(out["sample_name"].dtype) == "string"


def test_sample_name_type_error():
    """Checked by ImportOptions, before any name is assigned."""
    with pytest.raises(
        InputTypeError, match="The sample_name argument is expected to be a string or a list of strings"
    ):
        named(_frame(dir_path=["/d/x"]), sample_name=[1])


# ---------------------------------------------------------------------------------------------- generated names
def test_generated_names():
    keys = ["STS_001/CT", "STS_002/CT", "STS_001/CT"]
    names = generated_names(keys)
    assert all(re.fullmatch(r"\d+_[A-Z0-9]{16}", n) for n in names)
    assert [n.split("_")[0] for n in names] == ["1", "2", "3"]
    assert names == generated_names(keys)
    assert names[0][2:] == names[2][2:] != names[1][2:]
    assert generated_names([]) == []
