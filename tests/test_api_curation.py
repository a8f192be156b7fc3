"""import_image_and_mask / build_index on the example layouts and the real patient.

Every assertion compares with ground truth: the manifest of :func:`write_example_dataset`
(``object_key`` per expected image or mask object, sample name, modality, slice order) or the
files of the real patient. Spec sections 4-13 of ``shared/spec/mirp_import.md``.
"""

import os
import shutil

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from _api_helpers import expected_pairs, key_map, key_of, manifest_row, masks_by_image, recorded, slice_order

import imgindex
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(root, manifest) per layout: 2 samples, CT/PT/MR in every format, no extras (small grids)."""
    out = {}
    for layout in ("nested", "nested_flat", "flat"):
        root = tmp_path_factory.mktemp(f"api_{layout}")
        out[layout] = (str(root), write_example_dataset(root, layout=layout, n_slices=4, size=(16, 16), extras=False))
    return out


# ------------------------------------------------------------------ the layouts, end to end


def test_every_expected_image_gets_exactly_its_own_masks(dataset):
    """Spec 13: for every layout (with every awkward extra), each image gets its own masks only."""
    root, manifest = dataset
    keys, expected = key_map(manifest), expected_pairs(manifest)
    index, messages = recorded(imgindex.build_index, str(root), mask=str(root))
    images = index.materialise()
    ids = dict(zip(index.objects["object_id"], index.objects["file_paths"], strict=True))
    found = {}
    for image in images:
        found[key_of(image.file_paths, keys)] = {key_of(m.file_paths, keys) for m in image.associated_masks or []}
    main = {k: v for k, v in expected.items() if v}
    assert {k: found.get(k) for k in main} == main
    # The extras (single CT slices, IMAGE.NII.GZ) have no mask of their own: they stay missing and
    # take no mask from an image with stronger evidence (issue 14, item 1), so nothing is ambiguous.
    pairs = index.pairs
    extras = {i for i in pairs["image_id"] if not expected.get(key_of(ids[i], keys))}
    assert extras and set(pairs.loc[pairs["image_id"].isin(extras), "status"]) == {"missing"}
    assert set(pairs.loc[~pairs["image_id"].isin(extras), "status"]) == {"ok"}
    assert pairs["evidence"].notna().all()
    (warning,) = [m for m in messages if "Association" in m]
    assert f"{len(extras)} of {len(index.images)} images have no mask" in warning and "ambiguous" not in warning


def test_images_have_the_true_modality_sample_name_and_slices(dataset):
    """Spec 8, 10.4, 11: modality, sample name, stack size and slice order per image object."""
    root, manifest = dataset
    keys, expected = key_map(manifest), expected_pairs(manifest)
    index, _ = recorded(imgindex.build_index, str(root), mask=str(root))
    checked = 0
    for image in index.materialise():
        key = key_of(image.file_paths, keys)
        if not expected.get(key):
            continue
        truth = manifest_row(manifest, key)
        assert image.modality == truth.modality  # non-DICOM files: from the CT / PET / MR_T1 in their path
        assert image.file_type == truth.file_type
        assert image.sample_name == truth.sample_name
        assert list(image.file_paths) == slice_order(manifest, key)
        assert image.image_dimension[0] == 8  # 8 slices, stacked or 3D
        for mask in image.associated_masks:
            assert mask.sample_name == truth.sample_name
            mask_truth = manifest_row(manifest, key_of(mask.file_paths, keys))
            assert mask.modality == (mask_truth.modality if mask_truth.file_type == "dicom" else "generic_mask")
        checked += 1
    assert checked == sum(bool(v) for v in expected.values()) == 30


def test_roles_follow_the_truth_without_any_hint(dataset):
    """Spec 6.1 / issue (3): images and masks told apart with no sub-folder or name hint, also
    in nested_flat, where image.nii.gz and mask.nii.gz share a folder."""
    root, manifest = dataset
    index, _ = recorded(imgindex.build_index, str(root), mask=str(root))
    truth = manifest[manifest["expected"] == "imaging"].set_index("file_path")["role"]
    files = index.files.set_index("file_path")
    assert files.loc[truth.index, "role"].tolist() == truth.tolist()
    # Without masks asked for, no mask file becomes an image (MIRP made every file an image).
    keys = key_map(manifest)
    only_images, _ = recorded(imgindex.build_index, str(root))
    roles = {manifest_row(manifest, key_of(p, keys)).role for p in only_images.objects["file_paths"]}
    assert roles == {"image"} and len(only_images.objects) == len(index.images)


def test_unreadable_files_are_error_rows_and_the_import_still_works(dataset):
    """E24/E25 (garbage .dcm, .nii.gz, .npy): an error row each, never a crash, never an object."""
    root, manifest = dataset
    index, _ = recorded(imgindex.build_index, str(root), mask=str(root))
    broken = manifest.loc[manifest["expected"] == "error", "file_path"]
    rows = index.files.set_index("file_path").loc[broken]
    assert rows["error"].notna().all() and rows["role"].isna().all()
    members = {p for paths in index.objects["file_paths"] for p in paths}
    assert members.isdisjoint(broken)


def test_roles_from_pixel_type_and_voxels_when_names_say_nothing(tmp_path):
    """Issue (3): neutral names; float pixels are an image, few integer labels a mask, many an image."""
    src = tmp_path / "src"
    manifest = write_example_dataset(
        src,
        n_samples=1,
        modalities=("CT", "PT"),
        formats=("nifti", "numpy"),
        n_slices=4,
        size=(16, 16),
        extras=False,
        layout="nested",
    )
    root = tmp_path / "neutral" / "P1"
    root.mkdir(parents=True)
    truth = {}
    for k, row in enumerate(manifest.itertuples()):
        name = f"vol{k}" + (".nii.gz" if row.file_type == "nifti" else ".npy")
        shutil.copy(row.file_path, root / name)
        truth[str(root / name)] = row.role
    index, _ = recorded(imgindex.build_index, str(root.parent), mask=str(root.parent))
    files = index.files.set_index("file_path")
    assert files.loc[list(truth), "role"].to_dict() == truth
    reasons = set(files["role_reason"])
    assert {"floating-point voxels"} <= reasons and any(r.startswith("voxels:") for r in reasons)


# ------------------------------------------------------------------------------ filters


def _ct(r):
    return r.modality == "ct"


FILTERS = [
    # (id, layout, arguments, image predicate, mask predicate)
    (
        "sample_name str",
        "nested",
        {"sample_name": "STS_002"},
        lambda r: r.sample_name == "STS_002",
        lambda r: r.sample_name == "STS_002",
    ),
    (
        "sample_name list",
        "nested_flat",
        {"sample_name": ["STS_001", "STS_002"], "image_file_type": "nifti"},
        lambda r: r.file_type == "nifti",
        lambda r: True,
    ),
    (
        "image_name *",
        "flat",
        {"image_name": "*_CT_image", "mask_name": "*_CT_mask"},
        lambda r: r.modality == "ct" and r.format_dir in ("nifti", "nrrd", "numpy"),
        lambda r: True,
    ),
    (
        "image_name #",
        "flat",
        {"image_name": "#_PET_image", "mask_name": "#_PET_mask", "image_file_type": "nifti", "mask_file_type": "nifti"},
        lambda r: r.modality == "pt" and r.file_type == "nifti",
        lambda r: True,
    ),
    (
        "image_name ?",
        "flat",
        {
            "image_name": "STS_00?_MR_T1_image",
            "mask_name": "STS_00?_MR_T1_mask",
            "image_file_type": "nrrd",
            "mask_file_type": "nrrd",
        },
        lambda r: r.modality == "mr" and r.file_type == "nrrd",
        lambda r: True,
    ),
    (
        "image_name list",
        "flat",
        {
            "image_name": ["#_CT_image", "#_PET_image"],
            "image_file_type": "numpy",
            "mask_name": ["#_CT_mask", "#_PET_mask"],
        },
        lambda r: r.modality in ("ct", "pt") and r.format_dir == "numpy",
        lambda r: True,
    ),
    (
        "file type itk",
        "nested",
        {"image_file_type": "itk", "mask_file_type": "itk"},
        lambda r: r.file_type in ("nifti", "nrrd"),
        lambda r: True,
    ),
    (
        "file type dicom",
        "nested_flat",
        {"image_file_type": "dicom", "mask_file_type": "DICOM"},
        lambda r: r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "file type numpy",
        "nested",
        {"image_file_type": "numpy", "mask_file_type": "numpy"},
        lambda r: r.file_type == "numpy",
        lambda r: True,
    ),
    (
        "modality pet",
        "nested",
        {"image_modality": "pet", "image_file_type": "dicom", "mask_file_type": "dicom"},
        lambda r: r.modality == "pt" and r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "modality PT",
        "flat",
        {"image_modality": "PT", "image_file_type": "dicom", "mask_file_type": "dicom"},
        lambda r: r.modality == "pt" and r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "modality mri",
        "nested_flat",
        {"image_modality": "mri", "image_file_type": "dicom", "mask_file_type": "dicom"},
        lambda r: r.modality == "mr" and r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "mask modality seg",
        "nested",
        {"image_modality": "ct", "mask_modality": "seg", "image_file_type": "dicom"},
        lambda r: r.modality == "ct" and r.file_type == "dicom",
        lambda r: r.modality == "seg",
    ),
    (
        "mask modality rtstruct",
        "flat",
        {"mask_modality": "rtstruct", "image_file_type": "dicom"},
        lambda r: r.file_type == "dicom",
        lambda r: r.modality == "rtstruct",
    ),
    (
        "sub-folder",
        "nested",
        {"image_sub_folder": "CT/nifti/image", "mask_sub_folder": "CT/nifti/mask"},
        lambda r: r.modality == "ct" and r.file_type == "nifti",
        lambda r: True,
    ),
    (
        "sub-folder with separators",
        "nested",
        {"image_sub_folder": "PET\\nrrd/image/", "mask_sub_folder": "PET/nrrd/mask"},
        lambda r: r.modality == "pt" and r.file_type == "nrrd",
        lambda r: True,
    ),
    (
        "sub-folder shared by images and masks",
        "nested_flat",
        {"image_sub_folder": "MR_T1/numpy_slice", "mask_sub_folder": "MR_T1/numpy_slice"},
        lambda r: r.modality == "mr" and r.format_dir == "numpy_slice",
        lambda r: True,
    ),
    (
        "sub-folder and sample name",
        "nested",
        {"image_sub_folder": "CT/dicom/image", "mask_sub_folder": "CT/dicom/mask", "sample_name": "STS_001"},
        lambda r: _ct(r) and r.file_type == "dicom" and r.sample_name == "STS_001",
        lambda r: True,
    ),
    (
        "roi_name str",
        "nested",
        {"roi_name": "GTV_Mass", "image_file_type": "dicom"},
        lambda r: r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "roi_name list",
        "flat",
        {"roi_name": ["GTV_2", "other"], "image_modality": "ct", "image_file_type": "dicom"},
        lambda r: _ct(r) and r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "roi_name dict",
        "nested_flat",
        {"roi_name": {"GTV_Mass": "tumour"}, "image_modality": "ct", "image_file_type": "dicom"},
        lambda r: _ct(r) and r.file_type == "dicom",
        lambda r: True,
    ),
    (
        "roi_name 1 for label maps",
        "nested",
        {"roi_name": "1", "image_file_type": "nifti"},
        lambda r: r.file_type == "nifti",
        lambda r: r.file_type == "nifti",
    ),
]


@pytest.mark.parametrize(
    ("layout", "arguments", "want_image", "want_mask"), [c[1:] for c in FILTERS], ids=[c[0] for c in FILTERS]
)
def test_filters_select_exactly_the_expected_objects(small, layout, arguments, want_image, want_mask):
    """Spec 9 and 6: each filter as a DataFrame step; the kept images and their masks equal the truth."""
    root, manifest = small[layout]
    keys, expected = key_map(manifest), expected_pairs(manifest)
    rows = {r.object_key: r for r in manifest.drop_duplicates("object_key").itertuples()}
    mask = root if not any(k.startswith(("mask", "roi")) for k in arguments) else None
    images, messages = recorded(imgindex.import_image_and_mask, root, mask=mask, **arguments)
    assert not [m for m in messages if "Association" in m]
    want = {k for k, r in rows.items() if r.role == "image" and want_image(r)}
    found = {key_of(i.file_paths, keys): i for i in images}
    assert set(found) == want
    for key, image in found.items():
        assert image.sample_name == rows[key].sample_name
        masks = {key_of(m.file_paths, keys) for m in image.associated_masks}
        assert masks == {m for m in expected[key] if want_mask(rows[m])}
        for m in image.associated_masks:
            assert m.roi_name == arguments.get("roi_name")
        if arguments.get("image_modality") and image.file_type == "dicom":
            assert image.modality == imgindex.arguments.canonical_modality(arguments["image_modality"])


def test_roi_name_drops_dicom_masks_without_that_roi(small):
    """roi_name filters RTSTRUCT/SEG by their ROI names (header only); "1" names label 1 of a label map."""
    root, _ = small["nested"]
    index, _ = recorded(
        imgindex.build_index, root, mask=root, roi_name=["region_1"], image_file_type="itk", mask_file_type="itk"
    )
    assert set(index.masks["file_type"]) == {"nifti", "nrrd"}  # RTSTRUCT and SEG hold no region_1
    labels = imgindex.extract_mask_labels(root, mask_file_type="nifti")["roi_label"].unique().tolist()
    assert imgindex.filters.select_rois([f"region_{v}" for v in labels], "1") == {"region_1": "1"}
    assert imgindex.filters.select_rois([f"region_{v}" for v in labels], ["region_2"]) == {"region_2": "region_2"}


# ------------------------------------------------------------------------ sample names

SAMPLE_NAMES = [
    # (id, layout, arguments, expected source of the names)
    ("DICOM PatientID", "flat", {"image_file_type": "dicom"}, "dicom"),
    ("# pattern", "flat", {"image_name": "#_CT_image", "image_file_type": "nrrd"}, "pattern"),
    ("folder below the root", "nested", {"image_file_type": "nifti"}, "folder"),
    ("folder above the sub-folder", "nested_flat", {"image_sub_folder": "PET/nrrd"}, "folder"),
    ("requested folder name", "nested", {"sample_name": ["STS_002"], "image_file_type": "nrrd"}, "folder"),
    ("known patient in a flat folder's file names", "flat", {}, None),
]


@pytest.mark.parametrize(
    ("layout", "arguments", "source"), [c[1:] for c in SAMPLE_NAMES], ids=[c[0] for c in SAMPLE_NAMES]
)
def test_sample_names_come_from_the_expected_source(small, layout, arguments, source):
    """Spec 8.1-8.2: PatientID, # patterns, folder names; every image named as the truth says."""
    root, manifest = small[layout]
    keys = key_map(manifest)
    index, _ = recorded(imgindex.build_index, root, **arguments)
    for paths, name in zip(index.images["file_paths"], index.images["sample_name"], strict=True):
        assert name == manifest_row(manifest, key_of(paths, keys)).sample_name
    used = index.files.dropna(subset=["request"])
    if source is not None:
        assert set(used.loc[used["role"] == "image", "sample_name_source"]) == {source}


def test_sample_names_by_list_position_and_generated_names(small):
    """Spec 8.4: a list as long as the images names them by position; otherwise deterministic names."""
    root, _ = small["nested"]
    files = [os.path.join(root, s, "CT", "nifti", "image", "image.nii.gz") for s in ("STS_002", "STS_001")]
    named = imgindex.import_image(files, sample_name=["second", "first"])
    assert [i.sample_name for i in named] == ["second", "first"]
    assert [
        os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(i.file_path))))) for i in named
    ] == ["STS_002", "STS_001"]
    # Two files both called image.nii.gz: neither file names nor folders tell them apart.
    generated = [i.sample_name for i in imgindex.import_image(files)]
    assert generated == [i.sample_name for i in imgindex.import_image(files)]  # deterministic
    assert [g.split("_")[0] for g in generated] == ["1", "2"] and all(len(g) == 18 for g in generated)


DICOM_FALLBACKS = [
    # (tags to set (None deletes), expected sample name)
    ({}, "STS_001"),
    ({"PatientID": None, "StudyID": "study_7"}, "study_7"),
    ({"PatientID": "", "StudyID": None, "PatientName": "Doe^Jane"}, "Doe^Jane"),
    ({"PatientID": None, "StudyID": None, "PatientName": None}, "Synthetic sarcoma study"),
    ({"PatientID": None, "StudyID": None, "PatientName": None, "StudyDescription": None}, "CT image"),
]


@pytest.mark.parametrize(("tags", "expected"), DICOM_FALLBACKS, ids=[e for _, e in DICOM_FALLBACKS])
def test_dicom_sample_name_fallbacks(small, tmp_path, tags, expected):
    """Spec 10.3: PatientID, then StudyID, PatientName, StudyDescription, SeriesDescription."""
    _, manifest = small["nested"]
    for path in slice_order(manifest, "STS_001/CT/dicom/image"):
        ds = pydicom.dcmread(path)
        for tag, value in tags.items():
            if value is None:
                delattr(ds, tag)
            else:
                setattr(ds, tag, value)
        ds.save_as(tmp_path / os.path.basename(path))
    (image,) = imgindex.import_image(str(tmp_path))
    assert image.sample_name == expected and len(image.file_paths) == 4


def test_sample_names_of_a_list_of_folders_are_checked_together(small):
    """Spec 4.4 / 18.12: MIRP demanded every listed sample in every listed folder; here the list
    applies to the union of the inputs."""
    root, _ = small["nested"]
    folders = [os.path.join(root, s, "PET", "dicom") for s in ("STS_001", "STS_002")]
    images = imgindex.import_image_and_mask(folders, mask=folders, sample_name=["STS_002", "STS_001"])
    assert [i.sample_name for i in images] == ["STS_001", "STS_002"]  # input order
    assert [[m.dir_path for m in i.associated_masks] for i in images] == [[os.path.join(f, "mask")] for f in folders]


# ---------------------------------------------------------------------------- stacking


def test_dicom_slices_are_ordered_by_position_not_by_file_name(small, tmp_path):
    """Spec 10.4: a series is ordered along the slice normal; the file names are reversed here."""
    _, manifest = small["nested"]
    truth = slice_order(manifest, "STS_001/CT/dicom/image")
    for k, path in enumerate(truth):
        shutil.copy(path, tmp_path / f"{len(truth) - 1 - k:03d}.dcm")
    (image,) = imgindex.import_image(str(tmp_path))
    assert [os.path.basename(p) for p in image.file_paths] == [
        f"{len(truth) - 1 - k:03d}.dcm" for k in range(len(truth))
    ]
    z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in image.file_paths]
    assert z == sorted(z) and image.image_origin[0] == z[0]
    assert image.image_dimension == (4, 16, 16) and image.image_spacing == pytest.approx((3.0, 0.9, 0.9))


def test_dicom_series_without_slice_thickness_works(small, tmp_path):
    """E35 (MIRP crashes on a missing SliceThickness): the spacing comes from the positions."""
    _, manifest = small["nested"]
    for path in slice_order(manifest, "STS_002/PET/dicom/image"):
        ds = pydicom.dcmread(path)
        del ds.SliceThickness
        ds.save_as(tmp_path / os.path.basename(path))
    (image,) = imgindex.import_image(str(tmp_path))
    assert image.modality == "pt" and image.image_spacing == pytest.approx((3.0, 2.0, 2.0))


def _write_slices(folder, names, kind):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in names:
        array = np.full((6, 5), float(k), np.float32)
        if kind == "numpy":
            np.save(folder / f"{name}.npy", array)
        else:
            image = sitk.GetImageFromArray(array)
            image.SetOrigin((0.0, 0.0))
            sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))


@pytest.mark.parametrize(
    ("kind", "option", "n_objects"),
    [
        ("numpy", "auto", 1),
        ("numpy", "yes", 1),
        ("numpy", "no", 11),
        ("nifti", "auto", 11),
        ("nifti", "no", 11),
        ("nifti", "yes", 1),  # "yes": E37, a crash in MIRP
    ],
)
def test_2d_slices_stack_in_the_order_of_the_number_in_their_name(tmp_path, kind, option, n_objects):
    """Spec 11: 2D numpy slices stack unless "no"; 2D NIfTI only with "yes"; slice_2 before slice_10."""
    _write_slices(tmp_path / "P1", [(k, f"slice_{k}") for k in range(11)], kind)
    images, _ = recorded(imgindex.import_image, str(tmp_path), stack_images=option)
    assert len(images) == n_objects
    if n_objects == 1:
        (image,) = images
        numbers = [int(os.path.basename(p).split("_")[1].split(".")[0]) for p in image.file_paths]
        assert numbers == list(range(11)) and image.image_dimension == (11, 6, 5)
    else:
        assert all(i.image_dimension == (1, 6, 5) for i in images)


def test_stack_masks_option_applies_to_masks_only(small):
    """stack_masks="no" keeps mask slices apart (each a mask of the stacked image); images still stack."""
    root, _ = small["nested"]
    sub = {"image_sub_folder": "CT/numpy_slice/image", "mask_sub_folder": "CT/numpy_slice/mask"}
    images = imgindex.import_image_and_mask(root, stack_masks="no", **sub)
    assert [i.image_dimension for i in images] == [(4, 16, 16)] * 2
    assert [len(i.associated_masks) for i in images] == [4, 4]
    assert all(m.image_dimension == (1, 16, 16) for i in images for m in i.associated_masks)


# ------------------------------------------------------------------------- association


@pytest.fixture(scope="module")
def own_frames(tmp_path_factory):
    """Nested DICOM + NIfTI with one frame of reference per series (so frame_of_reference alone works)."""
    root = tmp_path_factory.mktemp("own_frames")
    manifest = write_example_dataset(
        root,
        n_samples=2,
        modalities=("CT", "PT"),
        formats=("dicom", "nifti"),
        n_slices=4,
        size=(16, 16),
        extras=False,
        shared_frame_of_reference=False,
    )
    return str(root), manifest


STRATEGY_CASES = [
    # (strategy, layout or "own_frames", arguments)
    ("frame_of_reference", "own_frames", {"image_file_type": "dicom", "mask_file_type": "dicom"}),
    (
        "sample_name",
        "flat",
        {
            "image_name": "#_CT_image",
            "mask_name": "#_CT_mask",
            "image_file_type": "nifti",
            "mask_file_type": "nifti",
            "image_modality": "ct",
        },
    ),
    ("file_distance", "nested", {"image_file_type": "nrrd", "mask_file_type": "nrrd"}),
    ("file_name_similarity", "flat", {"image_file_type": "nifti", "mask_file_type": "nifti"}),
    ("position", "nested", {"sample_name": "STS_001", "image_file_type": "nifti", "mask_file_type": "nifti"}),
    ("list_order", "nested", {"image_sub_folder": "PET/numpy/image", "mask_sub_folder": "PET/numpy/mask"}),
    (
        "single_image",
        "nested",
        {
            "sample_name": "STS_002",
            "image_modality": "mr",
            "image_file_type": "dicom",
            "mask_sub_folder": "MR_T1/dicom/mask",
        },
    ),
]


@pytest.mark.parametrize(("strategy", "where", "arguments"), STRATEGY_CASES, ids=[c[0] for c in STRATEGY_CASES])
def test_each_strategy_alone_pairs_every_image_with_its_own_masks(small, own_frames, strategy, where, arguments):
    """Issue (6): all seven strategies run when asked for explicitly, and give the true pairs."""
    root, manifest = own_frames if where == "own_frames" else small[where]
    keys, expected = key_map(manifest), expected_pairs(manifest)
    index, messages = recorded(imgindex.build_index, root, mask=root, association_strategy=strategy, **arguments)
    assert not messages
    # frame_of_reference includes the DICOM references, which decide first when they are there
    allowed = {strategy, "reference"} if strategy == "frame_of_reference" else {strategy}
    assert set(index.pairs["strategy"]) <= allowed and set(index.pairs["status"]) == {"ok"}
    assert len(index.images) >= 1
    paths = dict(zip(index.objects["object_id"], index.objects["file_paths"], strict=True))
    for image_id, mask_ids in masks_by_image(index).items():
        assert {key_of(paths[m], keys) for m in mask_ids} == expected[key_of(paths[image_id], keys)]


def test_shared_frame_of_reference_each_image_gets_only_its_own_rtstruct(small):
    """Spec 13.4 caveat fixed: CT, PET and MR share one FrameOfReferenceUID, yet each series gets
    only the RTSTRUCT (and SEG) made on it, by DICOM references."""
    root, manifest = small["nested"]
    dicom = manifest[(manifest["file_type"] == "dicom") & (manifest["sample_name"] == "STS_001")]
    assert dicom["frame_of_reference_uid"].nunique() == 1
    keys, expected = key_map(manifest), expected_pairs(manifest)
    images = imgindex.import_image_and_mask(root, mask=root, image_file_type="dicom", mask_file_type="dicom")
    assert len(images) == 6
    for image in images:
        key = key_of(image.file_paths, keys)
        assert {key_of(m.file_paths, keys) for m in image.associated_masks} == expected[key]
        assert {m.series_instance_uid for m in image.associated_masks} == set(
            manifest.loc[manifest["object_key"].isin(expected[key]), "series_instance_uid"]
        )


def test_dicom_and_nifti_masks_mixed_with_frame_of_reference_active(small):
    """E32 (MIRP crashes): DICOM and NIfTI masks together, frame of reference active, works."""
    root, manifest = small["nested"]
    base = os.path.join(root, "STS_001", "CT")
    index, messages = recorded(
        imgindex.build_index,
        [os.path.join(base, "dicom", "image"), os.path.join(base, "nifti", "image")],
        mask=[os.path.join(base, "dicom", "mask"), os.path.join(base, "nifti", "mask", "mask.nii.gz")],
    )
    keys = key_map(manifest)
    paths = dict(zip(index.objects["object_id"], index.objects["file_paths"], strict=True))
    pairs = {key_of(paths[i], keys): {key_of(paths[m], keys) for m in ms} for i, ms in masks_by_image(index).items()}
    assert pairs == {
        "STS_001/CT/dicom/image": {"STS_001/CT/dicom/rtstruct", "STS_001/CT/dicom/seg"},
        "STS_001/CT/nifti/image": {"STS_001/CT/nifti/mask"},
    }
    assert not messages and set(index.pairs["status"]) == {"ok"}


def test_ambiguous_and_missing_masks_warn_naming_the_images_and_are_flagged(small, tmp_path):
    """Issue (6): one mask for two images is 'ambiguous'; an image without a mask is 'missing'."""
    root, _ = small["nested"]
    ct = os.path.join(root, "STS_001", "CT")
    image_files = [os.path.join(ct, "nifti", "image", "image.nii.gz"), os.path.join(ct, "nrrd", "image", "image.nrrd")]
    masks = [
        os.path.join(ct, "nifti", "mask", "mask.nii.gz"),
        os.path.join(root, "STS_002", "CT", "nifti", "mask", "mask.nii.gz"),
    ]
    # The NIfTI image's mask is in the nearest folder: the NRRD image, farther, does not take it.
    with pytest.warns(UserWarning, match=r"1 of 2 images have no mask: image_1 \(" + image_files[1]):
        index = imgindex.build_index(image_files, mask=masks)
    assert index.pairs[["mask_id", "status", "candidates"]].values.tolist() == [
        ["mask_0", "ok", ("image_1",)],
        [pd.NA, "missing", ("image_0",)],
    ]
    # Two copies of one image in a folder with one mask: it fits both equally, ambiguous on each.
    folder = tmp_path / "P1"
    folder.mkdir()
    for name, source in (
        ("ct_image.nii.gz", image_files[0]),
        ("pet_image.nii.gz", image_files[0]),
        ("mask.nii.gz", masks[0]),
    ):
        shutil.copy(source, folder / name)
    with pytest.warns(UserWarning, match="2 images have ambiguous masks") as caught:
        index = imgindex.build_index(str(tmp_path), mask=str(tmp_path))
    assert index.pairs[["mask_id", "status"]].values.tolist() == [["mask_0", "ambiguous"]] * 2
    assert all(str(folder / n) in str(caught[0].message) for n in ("ct_image.nii.gz", "pet_image.nii.gz"))

    series = [os.path.join(root, s, "CT", "dicom", "image") for s in ("STS_001", "STS_002")]
    rtstruct = os.path.join(root, "STS_001", "CT", "dicom", "mask", "RS.dcm")
    with pytest.warns(UserWarning, match=r"1 of 2 images have no mask: image_1 \(" + series[1]):
        index = imgindex.build_index(series, mask=rtstruct, association_strategy="frame_of_reference")
    assert index.pairs["status"].tolist() == ["ok", "missing"]
    with pytest.warns(UserWarning, match="no mask"):
        images = imgindex.import_image_and_mask(series, mask=rtstruct, association_strategy="frame_of_reference")
    assert images[1].associated_masks is None  # MIRP 13.6: unassociated, not a whole-image placeholder
    assert [m.file_path for m in images[0].associated_masks] == [rtstruct]


# ---------------------------------------------------------------------------- real data


def test_real_patient_each_series_gets_only_its_own_rtstruct(real_data):
    """CT, PET and MR of STS_001 share one frame of reference; each gets its own RTSTRUCT."""
    images, messages = recorded(
        imgindex.import_image_and_mask, real_data, mask=real_data, image_file_type="dicom", mask_file_type="dicom"
    )
    assert not messages
    by_folder = {os.path.basename(os.path.dirname(os.path.dirname(i.dir_path))): i for i in images}
    assert {k: v.modality for k, v in by_folder.items()} == {"CT": "ct", "PET": "pt", "MR_T1": "mr"}
    assert len({i.frame_of_reference_uid for i in images}) == 1
    for folder, image in by_folder.items():
        assert [m.file_path for m in image.associated_masks] == [
            str(real_data / "STS_001" / folder / "dicom" / "mask" / "RS.dcm")
        ]
        assert image.sample_name == "STS_001" and image.image_dimension[0] == len(image.file_paths) == 59
        z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in image.file_paths]
        assert z == sorted(z)


def test_real_patient_sub_folder_with_sample_name(real_data):
    """MIRP's documented example: image_sub_folder / mask_sub_folder with sample_name."""
    images = imgindex.import_image_and_mask(
        str(real_data), image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask", sample_name="STS_001"
    )
    assert [(i.sample_name, i.file_path) for i in images] == [
        ("STS_001", str(real_data / "STS_001" / "CT" / "nifti" / "image" / "image.nii.gz"))
    ]
    assert [m.file_path for m in images[0].associated_masks] == [
        str(real_data / "STS_001" / "CT" / "nifti" / "mask" / "mask.nii.gz")
    ]
    reference = sitk.ReadImage(images[0].file_path)
    assert images[0].image_dimension == tuple(reversed(reference.GetSize()))
    assert images[0].image_spacing == pytest.approx(tuple(reversed(reference.GetSpacing())))


def test_real_patient_pet_modality_filter(real_data):
    """image_modality="pet" keeps the PT series (and, as in MIRP, non-DICOM files take it on)."""
    images, _ = recorded(imgindex.import_image_and_mask, str(real_data), mask=str(real_data), image_modality="pet")
    assert {i.modality for i in images} == {"pt"}
    dicom = [i for i in images if i.file_type == "dicom"]
    assert [i.dir_path for i in dicom] == [str(real_data / "STS_001" / "PET" / "dicom" / "image")]
    assert [m.modality for m in dicom[0].associated_masks] == ["rtstruct"]
    slices = [i for i in images if i.dir_path.endswith(os.path.join("numpy_slice", "image"))]
    assert len(slices) == 1 and slices[0].image_dimension == (59, 43, 41)
    assert [os.path.basename(p) for p in slices[0].file_paths] == [f"STS_001_{k:02d}_image.npy" for k in range(59)]
