"""imgindex.stacking: files → image and mask objects."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import schema
from imgindex.errors import InputError
from imgindex.examples import ROI_NAMES, write_example_dataset
from imgindex.options import ImportOptions
from imgindex.stacking import order_by_name_number, stack


def curate(files: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Fill role / modality / sample_name as a caller would: DICOM role from Modality."""
    truth = manifest.dropna(subset=["object_key"]).set_index("file_path")
    out = files.copy()
    dicom_role = np.where(out["dicom_modality"].isin(["RTSTRUCT", "SEG"]).fillna(False), "mask", "image")
    role = np.where(out["file_type"].eq("dicom").fillna(False), dicom_role, out["file_path"].map(truth["role"]))
    out["role"] = pd.Series(role, index=out.index, dtype="string").where(out["error"].isna())
    out["modality"] = out["file_path"].map(truth["modality"]).astype("string")
    out["sample_name"] = out["file_path"].map(truth["sample_name"]).astype("string")
    return out


def options_of(stack_images: str = "auto", stack_masks: str = "auto", name_patterns=None) -> ImportOptions:
    """The options stack() reads, checked as the import functions check them."""
    patterns = name_patterns or {}
    return ImportOptions.from_arguments(
        stack_images=stack_images,
        stack_masks=stack_masks,
        image_name=patterns.get("image"),
        mask_name=patterns.get("mask"),
    )


def quiet_stack(files: pd.DataFrame, **options) -> pd.DataFrame:
    """stack() that must not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return stack(files, options_of(**options))


def expected_objects(manifest: pd.DataFrame) -> dict[str, list[str]]:
    """object_key -> member paths in slice order, for the readable imaging files."""
    rows = manifest[manifest["object_key"].notna() & manifest["expected"].eq("imaging")]
    rows = rows.assign(_k=rows["slice_index"].astype(float)).sort_values(["object_key", "_k"])
    return {key: list(group["file_path"]) for key, group in rows.groupby("object_key")}


def files_table(rows: list[dict]) -> pd.DataFrame:
    """A small files table from dicts (missing columns are null)."""
    return schema.coerce(pd.DataFrame(rows), "files")


@pytest.fixture(scope="module")
def curated(scanned):
    root, manifest, files = scanned
    return root, manifest, curate(files, manifest)


# --- example datasets -------------------------------------------------------------------------


def test_every_manifest_object_becomes_one_object(curated):
    _, manifest, files = curated
    objects = quiet_stack(files)
    schema.validate(objects, "objects")
    expected = expected_objects(manifest)
    got = {tuple(p): row for p, (_, row) in zip(objects["file_paths"], objects.iterrows(), strict=True)}
    assert len(objects) == len(expected)
    truth = manifest.set_index("file_path")
    for key, paths in expected.items():
        row = got[tuple(paths)]  # exactly these files, in slice order
        first = truth.loc[paths[0]]
        assert (row.role, row.sample_name, row.modality) == (first.role, first.sample_name, first.modality), key
        assert row.n_files == len(paths)
        if len(paths) == 1:
            assert row.file_path == paths[0]
        else:
            assert pd.isna(row.file_path)
        if len(paths) > 1:
            assert (row["ndim"], row.size_z) == (3, len(paths))


def test_object_table_order_and_ids(curated):
    _, _, files = curated
    objects = quiet_stack(files)
    n_images = int((objects["role"] == "image").sum())
    assert list(objects["role"]) == ["image"] * n_images + ["mask"] * (len(objects) - n_images)
    assert list(objects["object_id"]) == (
        [f"image_{k}" for k in range(n_images)] + [f"mask_{k}" for k in range(len(objects) - n_images)]
    )
    for _, part in objects.groupby("role"):
        keys = list(zip(part["sample_name"], [p[0] for p in part["file_paths"]], strict=True))
        assert keys == sorted(keys)
    assert objects["geometry_warning"].eq("").all()


def test_dicom_stack_columns(curated):
    _, manifest, files = curated
    objects = quiet_stack(files)
    series = objects[(objects["file_type"] == "dicom") & (objects["n_files"] > 1)]
    truth = manifest.set_index("file_path")
    for _, row in series.iterrows():
        assert row.SOPInstanceUID == tuple(truth.loc[list(row.file_paths), "sop_instance_uid"])
        assert row.SeriesInstanceUID == truth.loc[row.file_paths[0], "series_instance_uid"]
        assert row.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        assert row.PatientID == row.sample_name
    masks = objects[objects["modality"].isin(["rtstruct", "seg"])]
    assert len(masks) > 0
    for _, row in masks.iterrows():
        assert row.roi_names == ROI_NAMES
        assert row.FrameOfReferenceUID == truth.loc[row.file_path, "frame_of_reference_uid"]
        assert len(row.ReferencedSOPInstanceUID) > 0
    assert objects.loc[objects["role"] == "image", "roi_names"].isna().all()


def test_numpy_slices_stacked_in_slice_order_with_unit_geometry(curated):
    _, _, files = curated
    objects = quiet_stack(files)
    numpy_stacks = objects[(objects["file_type"] == "numpy") & (objects["n_files"] > 1)]
    assert len(numpy_stacks) == 12  # 2 samples x 3 modalities x image/mask
    for _, row in numpy_stacks.iterrows():
        assert (row["ndim"], row.size_x, row.size_y, row.size_z) == (3, 32, 32, 8)
        assert (row.spacing_x, row.spacing_y, row.spacing_z) == (1.0, 1.0, 1.0)
        assert (row.origin_x, row.origin_y, row.origin_z) == (0.0, 0.0, 0.0)
        assert row.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        assert pd.isna(row.file_path) and pd.isna(row.SOPInstanceUID)


def test_stack_no_keeps_numpy_slices_separate(curated):
    _, manifest, files = curated
    objects = quiet_stack(files, stack_images="no", stack_masks="no")
    slices = manifest.loc[manifest["format_dir"] == "numpy_slice", "file_path"]
    numpy_singles = objects[objects["file_path"].isin(slices)]
    assert len(numpy_singles) == len(slices)
    assert (numpy_singles["n_files"] == 1).all() and (numpy_singles["ndim"] == 2).all()
    masks_only = quiet_stack(files, stack_masks="no")
    assert (masks_only.loc[masks_only["file_path"].isin(slices), "role"] == "mask").all()
    assert len(masks_only) == len(objects) - len(slices) // 2 + 6


def test_shuffled_input_gives_the_same_objects(curated):
    _, _, files = curated
    shuffled = files.sample(frac=1.0, random_state=7)
    pd.testing.assert_frame_equal(quiet_stack(shuffled), quiet_stack(files))


def test_input_is_not_modified(curated):
    _, _, files = curated
    before = files.copy()
    stack(files)
    pd.testing.assert_frame_equal(files, before)


def test_ignores_errors_and_rows_without_role(curated):
    _, _, files = curated
    objects = quiet_stack(files)
    members = [p for paths in objects["file_paths"] for p in paths]
    assert len(members) == len(set(members))  # every file in at most one object ...
    eligible = files.loc[files["error"].isna() & files["role"].notna(), "file_path"]
    assert set(members) == set(eligible)  # ... and every eligible file in one
    no_role = files.assign(role=files["role"].where(files["file_type"] != "nrrd"))
    assert not (quiet_stack(no_role)["file_type"] == "nrrd").any()


def test_dicom_geometry_matches_simpleitk_series_reader(curated):
    _, _, files = curated
    objects = quiet_stack(files)
    series = objects[(objects["file_type"] == "dicom") & (objects["n_files"] > 1)]
    assert len(series) == 6
    for _, row in series.iterrows():
        gdcm_order = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(row.dir_path, row.SeriesInstanceUID)
        assert tuple(gdcm_order) == row.file_paths
        image = sitk.ReadImage(list(row.file_paths))
        assert image.GetSize() == (row.size_x, row.size_y, row.size_z)
        np.testing.assert_allclose(image.GetSpacing(), (row.spacing_x, row.spacing_y, row.spacing_z), atol=1e-4)
        np.testing.assert_allclose(image.GetOrigin(), (row.origin_x, row.origin_y, row.origin_z), atol=1e-4)
        np.testing.assert_allclose(image.GetDirection(), row.direction, atol=1e-4)


# --- broken DICOM series ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory):
    """Eight CT slices of one series (and their manifest rows)."""
    root = tmp_path_factory.mktemp("ct_series")
    manifest = write_example_dataset(root, n_samples=1, modalities=["CT"], formats=["dicom"], seg=False, extras=False)
    return manifest[manifest["role"] == "image"].sort_values("slice_index")


def copy_series(ct_series, tmp_path, change=None) -> list[Path]:
    """Copy the series into tmp_path; ``change(k, ds)`` may edit slice k before writing (None drops it)."""
    out = []
    for k, source in enumerate(ct_series["file_path"]):
        ds = pydicom.dcmread(source)
        if change is not None:
            ds = change(k, ds)
        if ds is None:
            continue
        path = tmp_path / f"{k:06d}.dcm"
        ds.save_as(path)
        out.append(path)
    return out


def stack_dir(path: Path, **options) -> pd.DataFrame:
    files = imgindex.scan(path)
    files["role"] = pd.Series("image", index=files.index, dtype="string")
    files["modality"] = files["dicom_modality"].str.lower()
    files["sample_name"] = files["PatientID"]
    return stack(files, options_of(**options))


def test_missing_slice_warns(ct_series, tmp_path):
    copy_series(ct_series, tmp_path, lambda k, ds: None if k == 3 else ds)
    uid = ct_series["series_instance_uid"].iloc[0]
    with pytest.warns(UserWarning, match=f"DICOM series {uid}.*1 missing slice") as record:
        objects = stack_dir(tmp_path)
    assert len(record) == 1
    (row,) = objects.itertuples()
    assert row.n_files == 7 and row.spacing_z == 3.0
    assert "not uniform" in row.geometry_warning and "1 missing slice(s)" in row.geometry_warning


def test_duplicated_positions_warn(ct_series, tmp_path):
    paths = copy_series(ct_series, tmp_path)
    ds = pydicom.dcmread(paths[2])
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    ds.InstanceNumber = 99
    ds.save_as(tmp_path / "duplicate.dcm")
    with pytest.warns(UserWarning, match="1 duplicated slice position"):
        objects = stack_dir(tmp_path)
    (row,) = objects.itertuples()
    assert row.n_files == 9 and row.spacing_z == 3.0
    # the duplicate follows its twin (tie broken by InstanceNumber)
    assert [Path(p).name for p in row.file_paths[2:4]] == ["000002.dcm", "duplicate.dcm"]
    assert "1 duplicated slice position(s)" in row.geometry_warning


def test_two_orientations_split_the_series(ct_series, tmp_path):
    def coronal(k, ds):
        if k >= 5:  # three coronal slices 3 mm apart
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
            ds.ImagePositionPatient = [-13.95, -3.0 + 3.0 * k, 14.0]
        return ds

    copy_series(ct_series, tmp_path, coronal)
    uid = ct_series["series_instance_uid"].iloc[0]
    with pytest.warns(UserWarning, match="split: 2 orientations") as record:
        objects = stack_dir(tmp_path)
    assert len(record) == 1
    assert sorted(objects["n_files"]) == [3, 5]
    assert (objects["geometry_warning"] == f"split: 2 orientations in series {uid}").all()
    assert (objects["SeriesInstanceUID"] == uid).all()
    coronal_row = objects[objects["n_files"] == 3].iloc[0]
    assert coronal_row.direction == (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0)


def test_two_sizes_split_the_series(ct_series, tmp_path):
    def smaller(k, ds):
        if k == 0:
            ds.Rows = 16
        return ds

    copy_series(ct_series, tmp_path, smaller)
    with pytest.warns(UserWarning, match=r"split: 2 image sizes"):
        objects = stack_dir(tmp_path)
    assert sorted(objects["n_files"]) == [1, 7]
    single = objects[objects["n_files"] == 1].iloc[0]
    assert (single["ndim"], single.size_y, single.size_z, single.spacing_z) == (2, 16, 1, 3.0)


def test_slice_without_position_keeps_instance_order(ct_series, tmp_path):
    def shuffle_and_drop(k, ds):
        ds.InstanceNumber = 8 - k  # reversed numbering: file order by InstanceNumber is reversed
        if k == 4:
            del ds.ImagePositionPatient
        return ds

    paths = copy_series(ct_series, tmp_path, shuffle_and_drop)
    with pytest.warns(UserWarning, match="1 slice.s. without ImagePositionPatient"):
        objects = stack_dir(tmp_path)
    (row,) = objects.itertuples()
    assert row.file_paths == tuple(str(p) for p in reversed(paths))
    assert "without ImagePositionPatient" in row.geometry_warning
    assert row.spacing_z == 3.0


def test_dicom_series_are_stacked_whatever_the_option(ct_series, tmp_path):
    copy_series(ct_series, tmp_path)
    for option in ("auto", "yes", "no"):
        objects = stack_dir(tmp_path, stack_images=option)
        assert list(objects["n_files"]) == [8]


# --- NIfTI and numpy slices ---------------------------------------------------------------------


def write_nifti_slices(folder: Path, n: int = 4, z_step: float = 0.0) -> list[Path]:
    paths = []
    for k in range(n):
        image = sitk.GetImageFromArray(np.full((6, 5), k, dtype=np.int16))
        image.SetSpacing((0.5, 0.7))
        image.SetOrigin((1.0, 2.0))
        path = folder / f"slice_{k}.nii.gz"
        sitk.WriteImage(image, str(path))
        if z_step:  # a 3D single-slice image at its own height
            volume = sitk.JoinSeries(image)
            volume.SetOrigin((1.0, 2.0, 10.0 - k * z_step))
            volume.SetSpacing((0.5, 0.7, 9.0))
            sitk.WriteImage(volume, str(path))
        paths.append(path)
    return paths


def role_files(folder: Path, role: str = "image") -> pd.DataFrame:
    files = imgindex.scan(folder)
    files["role"] = pd.Series(role, index=files.index, dtype="string")
    files["modality"] = pd.Series("ct" if role == "image" else "generic_mask", index=files.index, dtype="string")
    files["sample_name"] = pd.Series("S1", index=files.index, dtype="string")
    return files


def test_nifti_2d_slices_stack_only_with_yes(tmp_path):
    paths = write_nifti_slices(tmp_path, n=12)
    files = role_files(tmp_path)
    for option in ("auto", "no"):
        assert list(quiet_stack(files, stack_images=option)["n_files"]) == [1] * 12
    (row,) = quiet_stack(files, stack_images="yes").itertuples()
    assert row.file_paths == tuple(str(p) for p in paths)  # slice_2 before slice_10
    assert (row.ndim, row.size_x, row.size_y, row.size_z) == (3, 5, 6, 12)
    assert (row.spacing_x, row.spacing_y, row.spacing_z) == pytest.approx((0.5, 0.7, 1.0))
    assert (row.origin_x, row.origin_y, row.origin_z) == (1.0, 2.0, 0.0)
    assert row.file_type == "nifti"


def test_nifti_slices_at_different_heights_are_ordered_along_the_normal(tmp_path):
    paths = write_nifti_slices(tmp_path, n=4, z_step=2.5)  # slice_0 is the highest
    (row,) = quiet_stack(role_files(tmp_path), stack_images="yes").itertuples()
    assert row.file_paths == tuple(str(p) for p in reversed(paths))
    assert (row.spacing_z, row.origin_z, row.size_z) == (2.5, 2.5, 4)


def test_numpy_slices_sorted_by_number_not_by_name(tmp_path):
    for k in (10, 2, 1, 0, 9):
        np.save(tmp_path / f"img_{k}.npy", np.zeros((3, 4), np.float32))
    with pytest.warns(UserWarning, match="not fully sequential") as record:
        objects = stack(role_files(tmp_path))
    assert len(record) == 1
    (row,) = objects.itertuples()
    assert [Path(p).stem for p in row.file_paths] == ["img_0", "img_1", "img_2", "img_9", "img_10"]
    assert row.geometry_warning == "file-name numbers not fully sequential"


def test_numpy_slices_without_numbers_warn_and_sort_naturally(tmp_path):
    for name in ("b", "a", "c"):
        np.save(tmp_path / f"{name}.npy", np.zeros((3, 4), np.uint8))
    with pytest.warns(UserWarning, match="numeric values are missing"):
        objects = stack(role_files(tmp_path, "mask"))
    assert [Path(p).stem for p in objects["file_paths"].iloc[0]] == ["a", "b", "c"]
    assert objects["role"].iloc[0] == "mask"


def test_numpy_slices_in_different_shapes_or_types_stay_apart(tmp_path):
    np.save(tmp_path / "s_1.npy", np.zeros((3, 4), np.float32))
    np.save(tmp_path / "s_2.npy", np.zeros((3, 4), np.float32))
    np.save(tmp_path / "s_3.npy", np.zeros((4, 4), np.float32))
    np.save(tmp_path / "s_4.npy", np.zeros((3, 4), np.int16))
    np.save(tmp_path / "vol.npy", np.zeros((2, 3, 4), np.float32))
    objects = quiet_stack(role_files(tmp_path))
    assert sorted(objects["n_files"]) == [1, 1, 1, 2]
    vol = objects[objects["file_path"].str.endswith("vol.npy").fillna(False)].iloc[0]
    assert (vol["ndim"], vol.size_z) == (3, 2)


def test_a_lone_slice_without_number_is_a_quiet_single_object(tmp_path):
    np.save(tmp_path / "lonely.npy", np.zeros((3, 4), np.float32))
    (row,) = quiet_stack(role_files(tmp_path)).itertuples()
    assert (row.n_files, row.size_z, row.spacing_z) == (1, 1, 1.0) and row.geometry_warning == ""


def test_one_dimensional_numpy_arrays_stack_as_rows(tmp_path):
    for k in range(3):
        np.save(tmp_path / f"line_{k}.npy", np.zeros(7, np.float32))
    (row,) = quiet_stack(role_files(tmp_path)).itertuples()
    assert (row.ndim, row.size_x, row.size_y, row.size_z, row.n_files) == (3, 7, 1, 3, 3)


def test_name_patterns_remove_literal_parts(tmp_path):
    # the pattern's literal digits (the 2 of "scan2_") must not be taken for the slice number
    for k in (3, 1, 2):
        np.save(tmp_path / f"scan2_{k}.npy", np.zeros((3, 4), np.float32))
    objects = quiet_stack(role_files(tmp_path), name_patterns={"image": "scan2_*", "mask": None})
    assert [Path(p).stem for p in objects["file_paths"].iloc[0]] == ["scan2_1", "scan2_2", "scan2_3"]


def test_slices_with_different_name_templates_are_different_stacks(tmp_path):
    # a flat folder: STS_001_CT_00 and STS_001_PET_00 slices of one shape are two series
    for modality in ("CT", "PET"):
        for k in (1, 0):
            np.save(tmp_path / f"STS_001_{modality}_{k:02d}_image.npy", np.zeros((3, 4), np.float32))
    objects = quiet_stack(role_files(tmp_path))
    assert sorted(tuple(Path(p).stem for p in paths) for paths in objects["file_paths"]) == [
        ("STS_001_CT_00_image", "STS_001_CT_01_image"),
        ("STS_001_PET_00_image", "STS_001_PET_01_image"),
    ]


@pytest.mark.parametrize(
    ("names", "kwargs", "order", "reason"),
    [
        (["a_3", "a_1", "a_2"], {}, [1, 2, 0], []),
        (["S1_10_x", "S1_9_x"], {"sample_name": "S1"}, [1, 0], []),
        (["x1_y2", "x2_y1"], {}, [0, 1], ["more than one sequence of numeric values in file names: natural sort"]),
        (["b", "a10", "a2"], {}, [2, 1, 0], ["numeric values missing from file names: natural sort"]),
        (["a1", "b2"], {}, [0, 1], ["file names differ in structure: natural sort"]),
        (["v7_s1", "v7_s0"], {}, [1, 0], []),  # the constant 7 does not count
        (["p5_3", "p5_1"], {"patterns": ["p5_*"]}, [1, 0], ["file-name numbers not fully sequential"]),
        (
            ["a7_3", "a8_4"],
            {"patterns": ["a#_*"], "sample_name": None},
            [0, 1],
            ["more than one sequence of numeric values in file names: natural sort"],
        ),  # no merging of 7 and 3
        (["a_1", "a_01"], {}, [1, 0], ["file-name numbers not fully sequential"]),
    ],
)
def test_order_by_name_number(names, kwargs, order, reason):
    got_order, got_reason, message = order_by_name_number(names, **kwargs)
    assert got_order == order
    assert got_reason == reason
    assert (message is None) == (not reason)


# --- other DICOM objects, arrays, options ------------------------------------------------------


def _dose(path: str, summation: str, **extra) -> dict:
    return {
        "file_path": path,
        "dir_path": "/d",
        "file_name": path[3:],
        "file_type": "dicom",
        "dicom_modality": "RTDOSE",
        "role": "image",
        "modality": "rtdose",
        "sample_name": "S1",
        "SeriesInstanceUID": "1.2",
        "FrameOfReferenceUID": "1.3",
        "DoseSummationType": summation,
        "NumberOfFrames": 3,
        "ndim": 3,
        "size_x": 4,
        "size_y": 4,
        "size_z": 3,
        "Rows": 4,
        "Columns": 4,
        "GridFrameOffsetVector": (0.0, 2.5, 5.0),
        "SOPInstanceUID": f"1.4.{path[-5]}",
        **extra,
    }


def test_rtdose_beams_are_stacked_plans_are_not():
    files = files_table(
        [_dose("/d/b1.dcm", "BEAM"), _dose("/d/b2.dcm", "BEAM"), _dose("/d/p1.dcm", "PLAN"), _dose("/d/p2.dcm", "PLAN")]
    )
    objects = quiet_stack(files)
    assert list(objects["n_files"]) == [2, 1, 1]
    beams = objects.iloc[0]
    assert beams.file_paths == ("/d/b1.dcm", "/d/b2.dcm") and pd.isna(beams.file_path)
    assert beams.SOPInstanceUID == ("1.4.1", "1.4.2")
    assert (beams["ndim"], beams.size_z, beams.spacing_z) == (3, 3, 2.5)
    assert (objects["spacing_z"] == 2.5).all()


def test_planar_multiframe_and_masks_are_one_object_per_file():
    base = {
        "dir_path": "/d",
        "file_type": "dicom",
        "sample_name": "S1",
        "SeriesInstanceUID": "1.2",
        "FrameOfReferenceUID": "1.3",
        "Rows": 4,
        "Columns": 4,
        "ndim": 2,
        "size_z": 1,
    }
    files = files_table(
        [
            {**base, "file_path": "/d/cr1.dcm", "dicom_modality": "CR", "role": "image", "modality": "cr"},
            {**base, "file_path": "/d/cr2.dcm", "dicom_modality": "CR", "role": "image", "modality": "cr"},
            {
                **base,
                "file_path": "/d/mf1.dcm",
                "dicom_modality": "CT",
                "role": "image",
                "modality": "ct",
                "multiframe": True,
                "NumberOfFrames": 5,
                "ndim": 3,
                "size_z": 5,
            },
            {
                **base,
                "file_path": "/d/mf2.dcm",
                "dicom_modality": "CT",
                "role": "image",
                "modality": "ct",
                "NumberOfFrames": 5,
                "ndim": 3,
                "size_z": 5,
            },
            {
                **base,
                "file_path": "/d/rs.dcm",
                "dicom_modality": "RTSTRUCT",
                "role": "mask",
                "modality": "rtstruct",
                "FrameOfReferenceUID": None,
                "ReferencedFrameOfReferenceUID": ("9.9", "9.8"),
                "ROIName": ("GTV",),
                "Rows": None,
                "Columns": None,
                "ndim": None,
                "size_z": None,
            },
        ]
    )
    objects = quiet_stack(files)
    assert list(objects["n_files"]) == [1] * 5
    assert objects["file_path"].tolist() == ["/d/cr1.dcm", "/d/cr2.dcm", "/d/mf1.dcm", "/d/mf2.dcm", "/d/rs.dcm"]
    rs = objects.iloc[4]
    assert (rs.object_id, rs.FrameOfReferenceUID, rs.roi_names) == ("mask_0", "9.9", ("GTV",))
    assert objects.iloc[2].size_z == 5


def test_arrays_are_never_stacked():
    arrays = [
        {
            "array_index": k,
            "role": "image",
            "modality": "generic",
            "ndim": 2,
            "size_x": 4,
            "size_y": 4,
            "size_z": 1,
            "pixel_type": "float32",
            "file_type": "numpy",
        }
        for k in (1, 0)
    ]
    objects = quiet_stack(files_table(arrays))
    assert objects["array_index"].tolist() == [0, 1]
    assert objects["n_files"].tolist() == [0, 0]
    assert objects["file_paths"].tolist() == [(), ()]
    assert objects["file_type"].isna().all() and objects["file_path"].isna().all()


def test_empty_input_gives_an_empty_objects_table():
    objects = stack(schema.empty("files"))
    assert objects.empty
    schema.validate(objects, "objects")


@pytest.mark.parametrize("kwargs", [{"stack_images": "maybe"}, {"stack_masks": True}])
def test_bad_options(kwargs):
    """The stacking options are checked by ImportOptions, before anything is stacked."""
    with pytest.raises(InputError, match=r"stack_"):
        stack(schema.empty("files"), options_of(**kwargs))


# --- the real patient ---------------------------------------------------------------------------


def test_real_patient(real_data):
    files = imgindex.scan(real_data)
    parts = files["dir_path"].str.split("/")
    is_dicom = files["file_type"].eq("dicom")
    role = np.where(
        files["dicom_modality"].isin(["RTSTRUCT"]).fillna(False), "mask", np.where(is_dicom, "image", parts.str[-1])
    )
    files["role"] = pd.Series(role, index=files.index, dtype="string")
    files["modality"] = parts.str[-3].map({"CT": "ct", "PET": "pt", "MR_T1": "mr"}).astype("string")
    files["sample_name"] = pd.Series("STS_001", index=files.index, dtype="string")
    objects = quiet_stack(files)
    series = objects[(objects["file_type"] == "dicom") & (objects["role"] == "image")]
    assert sorted(series["modality"]) == ["ct", "mr", "pt"]
    assert (series["n_files"] == 59).all() and (series["size_z"] == 59).all()
    for _, row in series.iterrows():
        positions = [pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2] for p in row.file_paths]
        assert positions == sorted(positions)
        assert row.origin_z == pytest.approx(float(positions[0]))
    slices = objects[(objects["file_type"] == "numpy") & (objects["n_files"] > 1)]
    assert sorted(slices["role"]) == ["image", "mask"]
    for _, row in slices.iterrows():
        assert row.n_files == 59
        assert [int(Path(p).name.split("_")[2]) for p in row.file_paths] == list(range(59))
        source = Path(row.file_paths[0]).parents[1].parent / "numpy" / row.role
        volume = np.load(next(source.glob("*.npy")), mmap_mode="r")
        assert (row.size_z, row.size_y, row.size_x) == volume.shape
