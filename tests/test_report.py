"""The HTML dataset report (issue 16, item 4): one self-contained page, checked against the index.

The page is parsed with the standard library's HTML parser and its tables are compared with the
index's own tables; thumbnails are decoded with Pillow and compared with the voxels SimpleITK
reads and the outlines SimpleITK's ``BinaryContour`` draws; headless Chromium renders the page
(skipped when ``chromium`` is not installed) and the screenshot must not be blank.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image

import imgindex
from imgindex import cli
from imgindex.errors import InputError, InputTypeError
from imgindex.examples import write_example_dataset, write_series_dataset
from imgindex.plot import GREYS, OUTLINE_COLOURS, thumbnail

SECTIONS = ("cohort", "pairs", "geometry", "unreadable", "rois", "thumbnails")


class Page(HTMLParser):
    """The parts of a page the tests look at: sections, tables (as rows of cell texts), images, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._section = ""
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "action", "srcset", "poster") and v]
        if tag == "section":
            self._section = attrs.get("id", "")
            self.sections.append(self._section)
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, section: str, number: int = 0) -> pd.DataFrame:
        rows = self.tables[section][number]
        return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two STS samples with every format and the awkward extras, a series with a missing slice, an ambiguous pair."""
    root = tmp_path_factory.mktemp("report") / "data"
    write_example_dataset(root, n_samples=2, extras=True)
    write_series_dataset(root / "GAP_001" / "CT", missing=[6], n_slices=12)
    nifti = root / "STS_001" / "CT" / "nifti"  # one image, masks in two sibling folders: ambiguous
    for folder, source in (("img", "image/image.nii.gz"), ("m1", "mask/mask.nii.gz"), ("m2", "mask/mask.nii.gz")):
        (root / "AMB_001" / folder).mkdir(parents=True)
        shutil.copy(nifti / source, root / "AMB_001" / folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(root, mask=root)
    assert {"ok", "ambiguous", "missing"} <= set(index.pairs["status"])  # every case is in it
    return root, index


@pytest.fixture(scope="module")
def written(cohort, tmp_path_factory):
    _root, index = cohort
    path = tmp_path_factory.mktemp("report_out") / "report.html"
    summary = imgindex.write_report(index, path, workers=2)
    return path, summary, Page(path.read_text(encoding="utf-8"))


def test_the_page_has_every_section_and_needs_nothing_else(written):
    path, summary, page = written
    assert page.sections == list(SECTIONS)
    assert all(url.startswith(("data:image/png;base64,", "#")) for url in page.urls), page.urls[:5]
    assert not page.tags & {"script", "link", "iframe", "object", "embed", "base"}
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    assert summary.path == str(path) and summary.n_bytes == len(text.encode("utf-8"))


def test_the_cohort_table_counts_images_masks_and_status_per_sample(cohort, written):
    _root, index = cohort
    _path, _summary, page = written
    table = page.table("cohort").set_index("sample")
    images = index.images
    pairs = index.pairs.merge(
        images[["object_id", "sample_name", "modality"]], left_on="image_id", right_on="object_id"
    )
    for (sample, modality), group in images.groupby(["sample_name", "modality"]):
        cell = table.loc[sample, modality.upper()]
        mine = pairs[(pairs["sample_name"] == sample) & (pairs["modality"] == modality)]
        n_masks = mine["mask_id"].dropna().nunique()
        assert cell.startswith(f"{len(group)} image{'s' if len(group) > 1 else ''} · {n_masks} mask")
        statuses = set(mine["status"])
        for status in ("ambiguous", "missing"):
            assert (status in cell) == (status in statuses and not ("ambiguous" in statuses and status == "missing"))
    assert set(table.index) == set(index.objects["sample_name"].dropna())


def test_pairs_come_with_their_rule_the_doubtful_ones_first(cohort, written):
    _root, index = cohort
    _path, _summary, page = written
    table = page.table("pairs")
    assert len(table) == len(index.pairs)
    statuses = table["status"].tolist()
    assert statuses == sorted(statuses, key=["ambiguous", "missing", "ok"].index)
    expected = index.pairs.assign(strategy=index.pairs["strategy"].fillna("")).groupby("strategy").size().to_dict()
    assert table.groupby("deciding rule").size().to_dict() == expected
    missing = set(index.pairs.loc[index.pairs["status"] == "missing", "image_id"])
    assert set(table.loc[table["status"] == "missing", "image"]) == missing
    if "evidence" in index.pairs:  # why each pair was made (issue 14), when the index says
        expected = sorted(" ".join(str(e).split()) for e in index.pairs["evidence"].fillna(""))
        assert sorted(table["evidence"]) == expected

        def shown(candidates):  # long lists: the first five and how many more
            if candidates is None:
                return ""
            if len(candidates) < 7:
                return ", ".join(candidates)
            return f"{', '.join(candidates[:5])} and {len(candidates) - 5} more"

        assert sorted(table["candidates"]) == sorted(shown(c) for c in index.pairs["candidates"])
        assert any(c is not None and len(c) >= 7 for c in index.pairs["candidates"])  # the shortening is tested
        ambiguous = index.pairs.loc[index.pairs["status"] == "ambiguous", "image_id"]
        assert set(table.loc[table["status"] == "ambiguous", "image"]) == set(ambiguous) and len(ambiguous)


def test_geometry_warnings_and_unreadable_files_are_listed(cohort, written):
    root, index = cohort
    _path, _summary, page = written
    geometry = page.table("geometry")
    warned = index.objects[index.objects["geometry_warning"].fillna("").str.len() > 0]
    assert set(geometry["object"]) == set(warned["object_id"]) and len(warned) >= 1
    assert any("1 missing slice" in w for w in geometry["warning"])
    unreadable = page.table("unreadable")
    errors = index.files[index.files["error"].notna()]
    assert len(errors) >= 1
    assert set(unreadable["file"]) == {os.path.relpath(p, root) for p in errors["file_path"]}
    assert list(unreadable["why it could not be read"]) == [" ".join(e.split()) for e in errors["error"]]


def test_roi_names_are_counted_across_the_cohort(cohort, written):
    _root, index = cohort
    _path, _summary, page = written
    rois = page.table("rois").set_index("ROI name")
    masks = index.masks
    for name in ("GTV_Mass", "GTV_2"):
        having = masks[masks["roi_names"].map(lambda r, n=name: isinstance(r, tuple) and n in r)]
        assert int(rois.loc[name, "masks"]) == len(having)
        assert int(rois.loc[name, "samples"]) == having["sample_name"].nunique()
    assert "region_1" in rois.index  # label maps: the regions found in their voxels


def test_other_spellings_and_samples_without_a_roi_are_flagged(cohort, tmp_path):
    _root, index = cohort
    objects = index.objects.copy()
    first = objects.index[objects["roi_names"].map(lambda r: isinstance(r, tuple) and "GTV_Mass" in r)][0]
    objects.at[first, "roi_names"] = ("gtv mass",)
    renamed = imgindex.Index(index.files, objects, index.pairs, index.options, index.requests)
    imgindex.write_report(renamed, tmp_path / "r.html", thumbnails=False)
    rois = Page((tmp_path / "r.html").read_text(encoding="utf-8")).table("rois").set_index("ROI name")
    assert rois.loc["gtv mass", "other spellings"] == "GTV_Mass"
    assert "gtv mass" in rois.loc["GTV_Mass", "other spellings"]
    sample = objects.at[first, "sample_name"]
    named = objects[
        (objects["role"] == "mask") & objects["roi_names"].map(lambda r: isinstance(r, tuple) and len(r) > 0)
    ]
    others = sorted(set(named["sample_name"]) - {sample})  # label maps name their regions only in their voxels
    assert rois.loc["gtv mass", "samples without it"] == ", ".join(others)  # in half the samples: the others lack it
    assert rois.loc["GTV_Mass", "samples without it"] == ""  # still in every sample


def test_every_image_has_a_thumbnail_that_decodes(cohort, written):
    _root, index = cohort
    _path, summary, page = written
    assert len(page.images) == summary.n_thumbnails == len(index.images)
    for attrs in page.images:
        png = base64.b64decode(attrs["src"].split(",", 1)[1])
        picture = Image.open(io.BytesIO(png))
        picture.load()
        assert picture.format == "PNG" and picture.mode == "P" and max(picture.size) <= 160
        assert max(int(attrs["width"]), int(attrs["height"])) == 160


def _decoded(png: bytes) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    picture = Image.open(io.BytesIO(png))
    palette = picture.getpalette()
    return np.asarray(picture), [tuple(palette[k : k + 3]) for k in range(0, len(palette), 3)]


def test_a_thumbnail_shows_the_mid_mask_slice_with_simpleitks_outlines(cohort):
    root, _index = cohort
    [image] = imgindex.import_image_and_mask(
        str(root), image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask", mask_modality="rtstruct",
        sample_name="STS_001",
    )  # fmt: skip
    picture = thumbnail(image, size=160)
    volume = image.read()
    regions = {
        roi: sitk.GetArrayFromImage(r) > 0 for roi, r in image.associated_masks[0].read(reference=volume).items()
    }
    occupied = np.concatenate([np.flatnonzero(m.any(axis=(1, 2))) for m in regions.values()])
    assert picture.z == int(np.median(occupied))
    indices, palette = _decoded(picture.png)
    up = 160 // volume.GetSize()[0]
    assert indices.shape == (volume.GetSize()[1] * up, volume.GetSize()[0] * up)
    later = np.zeros(indices.shape, bool)
    for roi in reversed(list(regions)):  # later regions are drawn over earlier ones
        plane = np.kron(regions[roi][picture.z], np.ones((up, up), bool)).astype(np.uint8)
        contour = sitk.GetArrayFromImage(sitk.BinaryContour(sitk.GetImageFromArray(plane), fullyConnected=False)) > 0
        drawn = indices == GREYS + picture.regions[roi]
        assert palette[GREYS + picture.regions[roi]] == OUTLINE_COLOURS[picture.regions[roi]]
        assert np.array_equal(drawn & ~later, contour & ~later) and contour.any()
        later |= contour
    values = np.kron(sitk.GetArrayFromImage(volume)[picture.z], np.ones((up, up)))
    expected = np.round(np.clip((values + 200) / 500, 0, 1) * (GREYS - 1))  # CT: window -200 to 300 HU
    grey = ~later
    assert np.array_equal(indices[grey], expected[grey])
    assert all(palette[k] == (round(int(k) * 255 / (GREYS - 1)),) * 3 for k in np.unique(indices[grey]))


def test_a_large_series_is_downsampled_and_only_its_middle_slice_is_read(tmp_path):
    series = write_series_dataset(tmp_path / "big", size=(400, 360), n_slices=9, shuffle=False)
    [image] = imgindex.import_image(str(tmp_path / "big"))
    reference = sitk.GetArrayFromImage(image.read())[4]
    for k, path in enumerate(image.file_paths):
        if k != 4:
            header = pydicom.dcmread(path)
            del header.PixelData  # the headers give the grid; only the middle slice's pixels are left
            header.save_as(path)
    picture = thumbnail(image, size=160)
    assert picture.problems == [] and picture.z == 4
    indices, palette = _decoded(picture.png)
    assert indices.shape == (400 // 3, 360 // 3)  # 3 x 3 blocks: 400 rows and 360 columns fit 160
    blocks = reference[:399, :360].reshape(133, 3, 120, 3).mean(axis=(1, 3))
    grey = np.array([palette[k][0] for k in indices.ravel()]).reshape(indices.shape)
    low, high = np.percentile(blocks, [1, 99]) if image.modality != "ct" else (-200, 300)
    expected = np.round(np.round(np.clip((blocks - low) / (high - low), 0, 1) * (GREYS - 1)) * 255 / (GREYS - 1))
    np.testing.assert_array_equal(grey, expected)
    assert series is not None


def test_without_thumbnails_no_imaging_file_is_read(cohort, tmp_path):
    root, index = cohort
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moved = imgindex.build_index(copy, mask=copy)
    moved.to_parquet(tmp_path / "index")
    shutil.rmtree(copy)  # the index is all there is
    summary = imgindex.write_report(tmp_path / "index", tmp_path / "r.html", thumbnails=False)
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert summary.n_thumbnails == 0 and not page.images and page.sections == list(SECTIONS)
    assert len(page.table("pairs")) == len(index.pairs)
    with_pictures = imgindex.write_report(tmp_path / "index", tmp_path / "r2.html", workers=1)
    text = (tmp_path / "r2.html").read_text(encoding="utf-8")
    assert with_pictures.n_thumbnails == 0 and "image:" in text  # every image explains why it has no picture


def test_max_thumbnails_draws_the_doubtful_images_first(cohort, tmp_path):
    _root, index = cohort
    summary = imgindex.write_report(index, tmp_path / "r.html", max_thumbnails=3, workers=1)
    assert summary.n_thumbnails == 3
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count("not drawn (over max_thumbnails=3)") == len(index.images) - 3
    doubtful = set(index.pairs.loc[index.pairs["status"] != "ok", "image_id"])
    drawn = [f for f in text.split("<figure>")[1:] if "<img " in f]
    assert all(any(f"{i} ·" in f for i in doubtful) for f in drawn)


def test_text_from_the_data_is_escaped(cohort, tmp_path):
    _root, index = cohort
    objects = index.objects.copy()
    objects["sample_name"] = objects["sample_name"].replace({"STS_001": "<script>alert(1)</script>"})
    hostile = imgindex.Index(index.files, objects, index.pairs, index.options, index.requests)
    imgindex.write_report(hostile, tmp_path / "r.html", thumbnails=False)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"path": "."}, InputError, "is a folder"),
        ({"max_thumbnails": -1}, InputError, "max_thumbnails"),
        ({"size": 4}, InputError, "size"),
        ({"path": 3}, InputTypeError, "expected to be a path"),
        ({"workers": 0}, InputError, "workers"),
    ],
)
def test_bad_arguments_are_explained(cohort, tmp_path, monkeypatch, kwargs, error, message):
    _root, index = cohort
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        imgindex.write_report(index, **{"path": "r.html", **kwargs})


def test_command_line_report(cohort, tmp_path, capsys):
    _root, index = cohort
    index.to_parquet(tmp_path / "index")
    out = tmp_path / "reports" / "cohort.html"
    assert cli.main(["report", str(tmp_path / "index"), "-o", str(out), "--no-thumbnails"]) == 0
    printed = capsys.readouterr().out
    assert f"report written to {out}" in printed and "things to look at" in printed
    assert Page(out.read_text(encoding="utf-8")).sections == list(SECTIONS)
    assert cli.main(["report", str(tmp_path / "nothing")]) == 1
    assert "imgindex: error:" in capsys.readouterr().err


@pytest.mark.slow
def test_chromium_renders_a_page_that_is_not_blank(written, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    path, _summary, _page = written
    shot = tmp_path / "shot.png"
    (tmp_path / "home").mkdir()
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        + ["--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
        + [f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000"]
        + [path.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1280)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    non_white = (pixels < 245).any(axis=2).mean()
    assert len(colours) > 200 and non_white > 0.1, (len(colours), non_white)
    dark = (pixels.max(axis=2) < 60).mean()
    assert dark > 0.01  # the header bar and the thumbnails' black background are drawn
