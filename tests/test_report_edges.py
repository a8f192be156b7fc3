"""The dataset report on awkward indexes: no masks, masks that went to no image, broken or flat images.

Each case is checked on the page itself (parsed with the standard library) or on the thumbnail's
decoded pixels (Pillow), against what the index holds.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_report import Page

import imgindex
import imgindex.report as report_module
from imgindex.examples import write_example_dataset
from imgindex.plot import GREYS, thumbnail
from imgindex.report import html, tables


@pytest.fixture(scope="module")
def sts(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges") / "data"
    write_example_dataset(root, n_samples=2, extras=False)
    return root


def _ct(sts):
    return imgindex.build_index(
        sts, image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask", mask_modality="rtstruct"
    )


def test_an_index_without_masks_has_no_pairs_to_show(sts, tmp_path):
    index = imgindex.build_index(sts, image_sub_folder="PET/dicom/image")
    assert index.pairs.empty
    summary = imgindex.write_report(index, tmp_path / "r.html", workers=1)
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "pairs" not in page.tables and "rois" not in page.tables  # "None." instead of a table
    assert summary.n_thumbnails == len(index.images) == 2 and summary.n_problems == 0
    assert tables.unpaired_masks(index, None).empty


def test_masks_that_went_to_no_image_are_listed_and_counted(sts, tmp_path):
    index = _ct(sts)
    lost = index.pairs["mask_id"].iloc[0]
    pairs = index.pairs[index.pairs["mask_id"] != lost].reset_index(drop=True)
    partial = imgindex.Index(index.files, index.objects, pairs, index.options, index.requests)
    summary = imgindex.write_report(partial, tmp_path / "r.html", thumbnails=False)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    page = Page(text)
    alone = page.table("pairs", 1)
    assert list(alone["mask"]) == [lost] and "1 masks went to no image" in text
    assert summary.n_problems == 1
    cohort = page.table("cohort").set_index("sample")
    sample = index.objects.set_index("object_id").loc[lost, "sample_name"]
    assert cohort.loc[sample, "masks without image"] == "1"


def test_the_regions_to_outline_can_be_chosen(sts, tmp_path):
    [image] = [i for i in _ct(sts).materialise() if i.sample_name == "STS_001"]
    assert sorted(thumbnail(image).regions) == ["GTV_2", "GTV_Mass"]
    assert list(thumbnail(image, roi_name="GTV_2").regions) == ["GTV_2"]
    summary = imgindex.write_report(_ct(sts), tmp_path / "r.html", roi_name="GTV_2", workers=1)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_thumbnails == 2 and "GTV_Mass (" not in text and text.count("GTV_2<") >= 2


def test_a_mask_that_cannot_be_read_is_named_under_its_picture(sts, tmp_path):
    [image] = [i for i in _ct(sts).materialise() if i.sample_name == "STS_001"]
    [mask] = image.associated_masks
    mask.file_paths = (str(tmp_path / "gone.dcm"),)
    picture = thumbnail(image)
    assert picture.png and picture.regions == {}
    assert len(picture.problems) == 1 and picture.problems[0].startswith(f"mask {mask.object_id}: ")
    figure = html.figure(["caption"], picture)
    assert f"mask {mask.object_id}: " in figure and 'class="problem"' in figure


def test_a_flat_image_is_one_grey_and_a_region_off_the_slice_is_said(tmp_path):
    flat = imgindex.ImageFile(image_data=np.full((4, 20, 30), 5.0, np.float32), modality="mr")
    picture = thumbnail(flat, size=60)
    pixels = np.asarray(Image.open(io.BytesIO(picture.png)))
    assert pixels.shape == (40, 60) and set(np.unique(pixels)) == {0}  # (5 - 5) / 1: the lowest grey
    assert picture.z == 2 and picture.n_slices == 4
    labels = np.zeros((4, 20, 30), np.uint8)
    labels[0, 5:10, 5:10] = 1  # region 1 on the first slice only
    labels[1:4, 5:10, 5:10] = 2
    mask = imgindex.MaskFile(image_data=labels, modality="generic_mask")
    flat.associated_masks = [mask]
    picture = thumbnail(flat, size=60)
    assert picture.z == 1 and picture.empty == [
        "region_1"
    ]  # the median of the occupied slices 0, 1, 2, 3 and list(picture.regions) == ["region_2"]
    assert "not on this slice: region_1" in html.figure(["x"], picture)
    assert int(np.isin(np.asarray(Image.open(io.BytesIO(picture.png))), [GREYS + picture.regions["region_2"]]).sum())


def test_a_thumbnail_that_fails_outright_is_explained(sts, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk\nwent away")

    monkeypatch.setattr(report_module, "thumbnail", broken)
    summary = imgindex.write_report(_ct(sts), tmp_path / "r.html", workers=1)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_thumbnails == 0 and text.count("RuntimeError: the disk went away") == 2


def test_long_tables_say_how_many_rows_are_left_out():
    frame = pd.DataFrame({"a": range(5)})
    out = html.table(frame, {"a": "A"}, limit=2, more="See imgindex pairs.")
    page = Page(f"<section id='s'>{out}</section>")
    assert len(page.table("s")) == 2 and "3 more rows are not shown. See imgindex pairs." in out


def test_without_a_geometry_column_the_section_is_empty(sts, tmp_path):
    index = _ct(sts)
    objects = index.objects.drop(columns=[c for c in ("geometry_warning",) if c in index.objects])
    bare = imgindex.Index(index.files, objects, index.pairs, index.options, index.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imgindex.write_report(bare, tmp_path / "r.html", thumbnails=False)
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "geometry" not in page.tables and page.table("cohort")["geometry warnings"].eq("").all()
    assert tables.common_root([None, "relative/path"]) is None
