"""Every input form of the MIRP-compatible functions, and the objects they return.

Directory, file path (str and Path), list mixed with arrays, arrays, data xml, csv, DataFrame,
an imgindex files table and a saved index all give the same images and masks; ImageFile /
MaskFile attributes agree with the objects table and the manifest. Spec sections 4, 12, 14-16.
"""

import inspect
import os
import shutil
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _api_helpers import expected_pairs, key_map, key_of, recorded

import imgindex
from imgindex.examples import example_arrays, write_example_dataset


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """(root, manifest): nested layout, 2 samples, CT and PT, DICOM + NIfTI + numpy slices."""
    root = tmp_path_factory.mktemp("inputs") / "data"
    manifest = write_example_dataset(
        root,
        n_samples=2,
        modalities=("CT", "PT"),
        formats=("dicom", "nifti", "numpy_slice"),
        n_slices=4,
        size=(16, 16),
        extras=False,
    )
    return str(root), manifest


def pairs_by_key(images, keys):
    """{image object_key: set of mask object_keys} of materialised images."""
    return {key_of(i.file_paths, keys): {key_of(m.file_paths, keys) for m in i.associated_masks or []} for i in images}


def attributes(item):
    """The MIRP attributes of an ImageFile / MaskFile, comparable with ==."""
    orientation = None if item.image_orientation is None else item.image_orientation.round(6).tolist()
    return (
        item.sample_name,
        item.modality,
        item.file_type,
        item.file_path,
        tuple(item.file_paths),
        item.dir_path,
        item.series_instance_uid,
        item.frame_of_reference_uid,
        item.image_dimension,
        item.image_spacing,
        item.image_origin,
        orientation,
    )


# ------------------------------------------------------------------------ paths


def _sub(root, *parts):
    return os.path.join(root, "STS_001", "CT", *parts)


PATH_FORMS = [
    ("directory str", lambda r: (r, r)),
    ("directory Path", lambda r: (Path(r), Path(r))),
    ("file str", lambda r: (_sub(r, "nifti", "image", "image.nii.gz"), _sub(r, "nifti", "mask", "mask.nii.gz"))),
    (
        "file Path",
        lambda r: (Path(_sub(r, "nifti", "image", "image.nii.gz")), Path(_sub(r, "nifti", "mask", "mask.nii.gz"))),
    ),
    (
        "list of files and folders",
        lambda r: (
            [_sub(r, "nifti", "image", "image.nii.gz"), Path(_sub(r, "dicom"))],
            [Path(_sub(r, "nifti", "mask")), _sub(r, "dicom", "mask", "RS.dcm"), _sub(r, "dicom", "mask", "SEG.dcm")],
        ),
    ),
    ("nested lists", lambda r: ([[_sub(r, "dicom", "image")]], [[_sub(r, "dicom", "mask")]])),
]


@pytest.mark.parametrize("make", [f[1] for f in PATH_FORMS], ids=[f[0] for f in PATH_FORMS])
def test_path_forms_give_the_true_pairs(nested, make):
    """Spec 4: str and pathlib.Path (MIRP refused Path), files, folders, (nested) lists."""
    root, manifest = nested
    keys, expected = key_map(manifest), expected_pairs(manifest)
    image, mask = make(root)
    images, messages = recorded(imgindex.import_image_and_mask, image, mask=mask)
    assert not messages
    found = pairs_by_key(images, keys)
    assert found and found == {k: expected[k] for k in found}
    if isinstance(image, (str, Path)) and os.path.isdir(image):
        assert len(found) == sum(1 for v in expected.values() if v)


@pytest.mark.parametrize("folder", ["dir_xml", "DIR.CSV", "index.parquet"])
def test_folders_named_like_files_are_folders(nested, tmp_path, folder):
    """Spec 4.1: MIRP sent a folder ending in "xml" or "csv" to its xml/csv branch and failed."""
    root, _ = nested
    shutil.copytree(_sub(root, "dicom"), tmp_path / folder)
    images = imgindex.import_image_and_mask(tmp_path / folder, mask=tmp_path / folder)
    assert [(i.modality, len(i.file_paths), len(i.associated_masks)) for i in images] == [("ct", 4, 2)]


def test_single_file_is_named_like_mirp(nested):
    """Spec 4.2 / 8.4: a lone NIfTI file is named by its file name; the mask takes the image's name."""
    root, _ = nested
    (image,) = imgindex.import_image_and_mask(
        _sub(root, "nifti", "image", "image.nii.gz"), mask=_sub(root, "nifti", "mask", "mask.nii.gz")
    )
    assert image.sample_name == "image" and image.associated_masks[0].sample_name == "image"
    (named,) = imgindex.import_image(
        _sub(root, "nifti", "image", "image.nii.gz"), sample_name="STS_001", image_modality="CT"
    )
    assert (named.sample_name, named.modality) == ("STS_001", "ct")


def test_mask_none_gives_the_whole_image_placeholder(nested):
    """Spec 12: no mask asked for: each image gets one MaskFile with roi_name 'full_image_mask'."""
    root, _ = nested
    images = imgindex.import_image_and_mask(root, image_file_type="dicom")
    assert len(images) == 4
    for image in images:
        (mask,) = image.associated_masks
        assert (mask.roi_name, mask.file_path, mask.modality, mask.sample_name) == (
            "full_image_mask",
            None,
            None,
            image.sample_name,
        )


def test_mask_arguments_import_masks_from_the_image_source(nested):
    """Spec 12: mask=None with a mask argument crawls masks from the image source."""
    root, _ = nested
    images = imgindex.import_image_and_mask(root, mask_modality="rtstruct", image_file_type="dicom")
    assert {m.modality for i in images for m in i.associated_masks} == {"rtstruct"}
    assert all(len(i.associated_masks) == 1 for i in images)


# ------------------------------------------------------------------------ arrays

ARRAY_CASES = [
    # (id, n images, n masks, sample_name, expected strategy, expected names)
    ("equal lists: list order", 3, 3, None, "list_order", None),
    ("equal lists with names", 3, 3, ["a", "b", "c"], "list_order", ["a", "b", "c"]),
    ("one image, k masks: single image", 1, 3, None, "single_image", None),
    ("one name for everything: by sample name", 1, 2, "P1", "sample_name", ["P1"]),
]


@pytest.mark.parametrize(
    ("n_images", "n_masks", "sample_name", "strategy", "names"),
    [c[1:] for c in ARRAY_CASES],
    ids=[c[0] for c in ARRAY_CASES],
)
def test_arrays(n_images, n_masks, sample_name, strategy, names):
    """Spec 4.3 and 13.4: arrays pair by list order or single image; sample names by position."""
    image_arrays, mask_arrays = example_arrays(max(n_images, n_masks))
    images_in = image_arrays[:n_images] if n_images > 1 else image_arrays[0]
    index, messages = recorded(imgindex.build_index, images_in, mask=mask_arrays[:n_masks], sample_name=sample_name)
    assert not messages and set(index.pairs["strategy"]) == {strategy}
    images = index.materialise()
    assert len(images) == n_images
    for k, image in enumerate(images):
        assert image.image_data is image_arrays[k]
        assert (image.file_type, image.file_path, image.modality) == (None, None, "generic")
        assert image.image_dimension == (8, 32, 32) and image.image_spacing == (1.0, 1.0, 1.0)
        assert image.image_origin == (0.0, 0.0, 0.0) and np.array_equal(image.image_orientation, np.eye(3))
        if names:
            assert image.sample_name == names[k]
        masks = image.associated_masks
        expected = [mask_arrays[k]] if strategy == "list_order" else mask_arrays[:n_masks]
        assert [id(m.image_data) for m in masks] == [id(a) for a in expected]
        assert {m.sample_name for m in masks} == {image.sample_name}
        assert {m.modality for m in masks} == {"generic_mask"}


def test_arrays_without_a_way_to_pair_raise_e31():
    images, masks = example_arrays(3)
    with pytest.raises(imgindex.InputError, match="No strategies for associating images and masks are available"):
        imgindex.import_image_and_mask(images[:2], mask=masks)


def test_list_mixing_files_and_arrays(nested):
    """Spec 4.4: a list mixes paths and arrays; files pair by folder, the arrays by list order."""
    root, manifest = nested
    keys = key_map(manifest)
    image_arrays, mask_arrays = example_arrays(1)
    images, messages = recorded(
        imgindex.import_image_and_mask,
        [_sub(root, "nifti", "image"), image_arrays[0]],
        mask=[_sub(root, "nifti", "mask"), mask_arrays[0]],
    )
    assert not messages and len(images) == 2
    assert key_of(images[0].file_paths, keys) == "STS_001/CT/nifti/image"
    assert [key_of(m.file_paths, keys) for m in images[0].associated_masks] == ["STS_001/CT/nifti/mask"]
    assert images[1].image_data is image_arrays[0]
    assert [id(m.image_data) for m in images[1].associated_masks] == [id(mask_arrays[0])]


def test_2d_array_is_promoted_to_3d():
    (image,) = imgindex.import_image(np.zeros((5, 7), np.float32))
    assert image.image_dimension == (1, 5, 7) and image.associated_masks is None


# ------------------------------------------------------------------- tables: csv, DataFrame


def _table(root, relative_to=None):
    rows = []
    for sample in ("STS_001", "STS_002"):
        base = os.path.join(root, sample)
        rows += [
            {
                "image": os.path.join(base, "CT", "nifti", "image"),
                "mask": os.path.join(base, "CT", "nifti", "mask"),
                "sample_name": sample,
                "image_modality": "ct",
                "mask_modality": None,
                "roi_name": "1",
            },
            {
                "image": os.path.join(base, "PET", "dicom", "image"),
                "mask": os.path.join(base, "PET", "dicom", "mask"),
                "sample_name": sample,
                "image_modality": "pet",
                "mask_modality": "rtstruct",
                "roi_name": "GTV_Mass",
            },
        ]
    table = pd.DataFrame(rows)
    if relative_to is not None:
        for column in ("image", "mask"):
            table[column] = [os.path.relpath(p, relative_to) for p in table[column]]
    return table


TABLE_TRUTH = {
    "STS_001/CT/nifti/image": ({"STS_001/CT/nifti/mask"}, "ct", "1"),
    "STS_001/PET/dicom/image": ({"STS_001/PET/dicom/rtstruct"}, "pt", "GTV_Mass"),
    "STS_002/CT/nifti/image": ({"STS_002/CT/nifti/mask"}, "ct", "1"),
    "STS_002/PET/dicom/image": ({"STS_002/PET/dicom/rtstruct"}, "pt", "GTV_Mass"),
}


@pytest.mark.parametrize("form", ["DataFrame", "csv with relative paths", "csv path as Path"])
def test_table_inputs_one_request_per_row(nested, tmp_path, form):
    """Spec 19: a csv or DataFrame with image, mask, sample_name, image_modality, mask_modality and
    roi_name columns; each row's arguments apply to its own files (roi_name per row too)."""
    root, manifest = nested
    keys = key_map(manifest)
    if form == "DataFrame":
        source = _table(root)
        before = source.copy()
    else:
        csv = tmp_path / "sub" / "table.csv"
        csv.parent.mkdir()
        _table(root, relative_to=csv.parent).to_csv(csv, index=False)
        source = csv if form == "csv path as Path" else str(csv)
    images, messages = recorded(imgindex.import_image_and_mask, source)
    assert not messages
    found = {key_of(i.file_paths, keys): i for i in images}
    assert set(found) == set(TABLE_TRUTH)
    for key, (masks, modality, roi) in TABLE_TRUTH.items():
        image = found[key]
        assert image.modality == modality and image.sample_name == key.split("/")[0]
        assert {key_of(m.file_paths, keys) for m in image.associated_masks} == masks
        expected_roi = [roi]  # a table cell is a comma-separated list, as in the data xml
        assert [m.roi_name for m in image.associated_masks] == [expected_roi]
        assert [m.sample_name for m in image.associated_masks] == [image.sample_name]
    if form == "DataFrame":
        pd.testing.assert_frame_equal(source, before)  # the input is never mutated


def test_table_with_unknown_columns_warns_and_without_image_column_fails(nested):
    root, _ = nested
    table = _table(root).assign(comment="x")
    with pytest.warns(UserWarning, match="Ignoring table columns imgindex does not know: comment"):
        imgindex.build_index(table)
    with pytest.raises(imgindex.InputError, match="The table has no 'image' column"):
        imgindex.build_index(table.drop(columns=["image"]))


def test_files_table_is_used_without_scanning_again(nested, tmp_path):
    """Issue (1): a files table from imgindex.scan is an input; its files are not read again."""
    root, manifest = nested
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    files = imgindex.scan(copy)
    for path in copy.rglob("*"):  # empty every file: reading one now would fail
        if path.is_file():
            path.write_bytes(b"")
    keys = {p.replace(root, str(copy)): k for p, k in key_map(manifest).items()}
    images, messages = recorded(imgindex.import_image_and_mask, files, mask=files, image_file_type="dicom")
    assert not messages
    assert pairs_by_key(images, keys) == {
        k: v for k, v in expected_pairs(manifest).items() if k.endswith("dicom/image")
    }


# ------------------------------------------------------------------------- saved index


@pytest.mark.parametrize("how", ["folder path", "Path", "Index", "build_index"])
def test_saved_index_rematerialises_without_reading_a_file(nested, tmp_path, how):
    """Issue (1): build, save, move the imaging files away: the import still returns the
    same ImageFile attributes, so not one imaging file was read."""
    root, _ = nested
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    index = imgindex.build_index(str(copy), mask=str(copy), roi_name="GTV_Mass", image_file_type="dicom")
    before = [
        (attributes(i), [attributes(m) for m in i.associated_masks], [m.roi_name for m in i.associated_masks])
        for i in index.materialise()
    ]
    saved = tmp_path / "index"
    index.save(saved)
    shutil.move(copy, tmp_path / "elsewhere")
    source = {"folder path": str(saved), "Path": saved, "Index": imgindex.read_index(saved), "build_index": str(saved)}[
        how
    ]
    if how == "build_index":
        again = imgindex.build_index(source)
        pd.testing.assert_frame_equal(again.objects, index.objects, check_dtype=False)
        images = again.materialise()
    else:
        images = imgindex.import_image_and_mask(source)
    after = [
        (attributes(i), [attributes(m) for m in i.associated_masks], [m.roi_name for m in i.associated_masks])
        for i in images
    ]
    assert after == before and len(after) == 4


def test_saved_index_with_new_filters_recurates_from_its_files_table(nested, tmp_path):
    """A saved index with new arguments is curated again from its files table (headers only)."""
    root, manifest = nested
    index = imgindex.build_index(root, mask=root)
    index.save(tmp_path / "index")
    images = imgindex.import_image_and_mask(
        tmp_path / "index", image_modality="pet", image_file_type="dicom", mask_file_type="dicom"
    )
    keys = key_map(manifest)
    assert pairs_by_key(images, keys) == {
        "STS_001/PET/dicom/image": {"STS_001/PET/dicom/rtstruct"},
        "STS_002/PET/dicom/image": {"STS_002/PET/dicom/rtstruct"},
    }


# ------------------------------------------------------------------------------ data xml


def _filled_xml(folder, root, deprecated=True):
    imgindex.get_data_xml(folder)
    path = Path(folder) / "data.xml"
    tree = ElementTree.parse(path)
    config = tree.getroot().find("config")
    paths, data = config.find("paths"), config.find("data")
    paths.find("image").text = os.path.relpath(root, folder)  # relative to the xml's folder
    paths.find("mask").text = root
    paths.find("sample_name").text = "STS_001, STS_002"
    values = {
        "image_sub_folder": "CT/dicom/image",
        "mask_sub_folder": "CT/dicom/mask",
        "image_modality": "CT",
        "mask_modality": "rtstruct",
        "roi_name": "GTV_Mass",
    }
    for tag, value in values.items():
        data.find(tag).text = value
    if deprecated:
        ElementTree.SubElement(paths, "write_folder").text = "/tmp"
        ElementTree.SubElement(data, "divide_disconnected_roi").text = "true"
    second = ElementTree.fromstring(ElementTree.tostring(data))
    for tag, value in {
        "image_sub_folder": "PET/nifti/image",
        "mask_sub_folder": "PET/nifti/mask",
        "image_modality": "pet",
        "mask_modality": "",
        "roi_name": "1, 2",
    }.items():
        second.find(tag).text = value
    config.append(second)
    tree.write(path)
    return path


def test_data_xml_made_with_get_data_xml_and_filled_in(nested, tmp_path):
    """Spec 4.6 / 16: the template's tags are the argument names; each <data> is a request;
    deprecated tags give a DeprecationWarning naming the tag."""
    root, manifest = nested
    keys = key_map(manifest)
    path = _filled_xml(tmp_path / "config", root)
    with pytest.warns(DeprecationWarning) as caught:
        images = imgindex.import_image_and_mask(str(path))
    deprecated = {str(w.message) for w in caught if w.category is DeprecationWarning}
    assert deprecated == {
        "The write_path tag was deprecated in version 2.0, and will not be parsed.",
        "The divide_disconnected_roi tag was deprecated in version 2.0, and will not be parsed.",
    }
    found = pairs_by_key(images, keys)
    assert found == {
        f"{s}/{m}/{f}/image": {f"{s}/{m}/{f}/{k}"}
        for s in ("STS_001", "STS_002")
        for m, f, k in (("CT", "dicom", "rtstruct"), ("PET", "nifti", "mask"))
    }
    rois = {key_of(i.file_paths, keys): i.associated_masks[0].roi_name for i in images}
    assert rois["STS_001/CT/dicom/image"] == ["GTV_Mass"] and rois["STS_002/PET/nifti/image"] == ["1", "2"]
    assert {i.modality for i in images if i.file_type == "nifti"} == {"pt"}
    # masks only, from the same xml: its <mask> path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        masks = imgindex.import_mask(str(path))
        labels = imgindex.extract_mask_labels(str(path))
    assert sorted(key_of(m.file_paths, keys) for m in masks) == sorted(
        f"{s}/{k}" for s in ("STS_001", "STS_002") for k in ("CT/dicom/rtstruct", "PET/nifti/mask")
    )
    assert len(labels) == 2 * 2 + 2 * 2  # RTSTRUCT: 2 ROI names; label map: values 1 and 2


def test_get_data_xml_template_tags_are_the_argument_names(tmp_path):
    imgindex.get_data_xml(tmp_path / "new" / "folder")  # created if missing
    root = ElementTree.parse(tmp_path / "new" / "folder" / "data.xml").getroot()
    paths, data = root.find("config/paths"), root.find("config/data")
    assert [c.tag for c in paths] == ["image", "mask", "sample_name"]
    assert [c.tag for c in data] == [
        "image_name",
        "image_file_type",
        "image_modality",
        "image_sub_folder",
        "mask_name",
        "mask_file_type",
        "mask_modality",
        "mask_sub_folder",
        "roi_name",
    ]
    arguments = set(inspect.signature(imgindex.build_index).parameters)
    assert {c.tag for c in [*paths, *data]} <= arguments
    assert all((c.text or "").strip() == "" for c in [*paths, *data])


def test_get_data_xml_never_overwrites(tmp_path):
    path = tmp_path / "data.xml"
    path.write_text("<root>mine</root>")
    with pytest.warns(UserWarning, match="A data xml file already exists at"):
        imgindex.get_data_xml(tmp_path)
    assert path.read_text() == "<root>mine</root>"


def test_unfilled_template_says_what_to_fill_in(tmp_path):
    imgindex.get_data_xml(tmp_path)
    with pytest.raises(imgindex.InputError, match=r"The <image> path in .* is empty"):
        imgindex.import_image_and_mask(str(tmp_path / "data.xml"))


# ----------------------------------------------------------------------- returned objects


def test_image_file_attributes_agree_with_the_objects_table_and_the_truth(nested):
    """Spec 14: (z, y, x) tuples against the table's x, y, z columns; 3x3 orientation; stack order."""
    root, manifest = nested
    keys = key_map(manifest)
    index = imgindex.build_index(root, mask=root)
    rows = index.objects.set_index("object_id")
    items = [*index.materialise()]
    items += [m for i in items for m in i.associated_masks]
    assert {i.object_id for i in items} == set(rows.index)
    for item in items:
        row = rows.loc[item.object_id]
        key = key_of(item.file_paths, keys)
        truth = manifest[manifest["object_key"] == key]
        assert list(item.file_paths) == truth.sort_values("slice_index", na_position="first")["file_path"].tolist()
        assert item.file_path == (item.file_paths[0] if len(item.file_paths) == 1 else None)
        assert item.dir_path == os.path.dirname(item.file_paths[0])
        if item.modality == "rtstruct":
            assert item.image_dimension is None and item.image_orientation is None
            continue
        assert item.image_dimension == (row.size_z, row.size_y, row.size_x)
        assert item.image_spacing == pytest.approx((row.spacing_z, row.spacing_y, row.spacing_x))
        assert item.image_origin == pytest.approx((row.origin_z, row.origin_y, row.origin_x))
        assert item.image_orientation.shape == (3, 3)
        assert np.allclose(item.image_orientation, np.eye(3))
        first = truth.iloc[0]
        if first.file_type == "nifti":
            assert item.image_dimension == tuple(reversed(first["size"]))
            assert item.image_spacing == pytest.approx(tuple(reversed(first["spacing"])))
            assert item.image_origin == pytest.approx(tuple(reversed(first["origin"])))
        elif first.file_type == "dicom" and item.modality in ("ct", "pt"):
            assert item.image_spacing == pytest.approx(tuple(reversed(first["spacing"])))
            assert item.image_origin == pytest.approx(tuple(reversed(first["origin"])))
            assert item.sop_instance_uid == tuple(truth.sort_values("slice_index")["sop_instance_uid"])
            assert item.series_instance_uid == first.series_instance_uid
            assert item.frame_of_reference_uid == first.frame_of_reference_uid


def test_orientation_is_in_zyx_order(tmp_path):
    """A sagittal NIfTI: the 3x3 orientation is the direction matrix reversed on both axes."""
    import SimpleITK as sitk

    image = sitk.Image(4, 3, 2, sitk.sitkFloat32)
    direction = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    image.SetDirection(direction)
    sitk.WriteImage(image, str(tmp_path / "image.nii.gz"))
    (item,) = imgindex.import_image(str(tmp_path / "image.nii.gz"))
    assert np.allclose(item.image_orientation, np.array(direction).reshape(3, 3)[::-1, ::-1])
    assert item.image_dimension == (2, 3, 4)


def test_import_image_and_import_mask(nested):
    """Spec 1: import_image returns images with associated_masks None; import_mask MaskFiles."""
    root, manifest = nested
    keys = key_map(manifest)
    images = imgindex.import_image(root)
    assert sorted(key_of(i.file_paths, keys) for i in images) == sorted(
        k for k in expected_pairs(manifest) if k.endswith("/image")
    )
    assert all(isinstance(i, imgindex.ImageFile) and i.associated_masks is None for i in images)
    masks = imgindex.import_mask(root, roi_name={"GTV_Mass": "tumour"})
    truth = manifest[manifest["role"] == "mask"].drop_duplicates("object_key")
    assert sorted(key_of(m.file_paths, keys) for m in masks) == sorted(truth["object_key"])
    assert all(isinstance(m, imgindex.MaskFile) and m.roi_name == {"GTV_Mass": "tumour"} for m in masks)
    assert {m.modality for m in masks} == {"rtstruct", "seg", "generic_mask"}
    assert {m.roi_names for m in masks if m.file_type == "dicom"} == {("GTV_Mass", "GTV_2")}
    dicom = imgindex.import_mask(root, mask_modality="seg", mask_file_type="dicom")
    assert [key_of(m.file_paths, keys) for m in dicom] == ["STS_001/CT/dicom/seg", "STS_002/CT/dicom/seg"]


# ------------------------------------------------------------------------ mask labels


def test_extract_mask_labels_one_row_per_roi_label(nested, tmp_path):
    """Spec 15: columns, one row per ROI label; label maps give their voxel values."""
    root, manifest = nested
    table = imgindex.extract_mask_labels(root)
    assert list(table.columns) == [
        "sample_name",
        "modality",
        "dir_path",
        "file_name",
        "series_instance_uid",
        "frame_of_reference_uid",
        "roi_label",
        "mask_index",
    ]
    n_masks = manifest.loc[manifest["role"] == "mask", "object_key"].nunique()
    assert table["mask_index"].nunique() == n_masks and (table.groupby("mask_index").size() == 2).all()
    dicom = table[table["modality"].isin(["rtstruct", "seg"])]
    assert set(dicom["roi_label"]) == {"GTV_Mass", "GTV_2"}
    assert set(table.loc[table["modality"] == "generic_mask", "roi_label"]) == {1, 2}
    rtstruct = dicom[dicom["modality"] == "rtstruct"].iloc[0]
    truth = manifest[manifest["file_path"] == os.path.join(rtstruct.dir_path, rtstruct.file_name)].iloc[0]
    assert (rtstruct.sample_name, rtstruct.series_instance_uid, rtstruct.frame_of_reference_uid) == (
        truth.sample_name,
        truth.series_instance_uid,
        truth.frame_of_reference_uid,
    )
    assert imgindex.extract_mask_labels(root, write_dir=tmp_path / "out") is None
    written = pd.read_csv(tmp_path / "out" / "mask_labels.csv", index_col=0)
    assert len(written) == len(table) and list(written.columns) == list(table.columns)


def test_extract_mask_labels_of_arrays():
    _, masks = example_arrays(2)
    table = imgindex.extract_mask_labels(masks)
    assert list(table.columns) == ["modality", "roi_label", "mask_index"]
    assert table[["roi_label", "mask_index"]].values.tolist() == [[1, 0], [2, 0], [1, 1], [2, 1]]
