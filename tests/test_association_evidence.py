"""Issue 14: strong evidence wins per mask, no mask is lost, names and descriptions break ties,
masks follow the volumes of a series, and the pairs table says why (objects tables built by hand).

The expected pairs are the truth of each constructed layout (which mask was drawn on which image),
never the code's own output.
"""

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_association import GRID, dicom_image, dicom_mask, nifti, pairs_of, table

from imgindex import schema
from imgindex.association import associate
from imgindex.options import ImportOptions


def run(images, masks, strategy=None):
    """associate() and the messages of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = associate(images, masks, ImportOptions.from_arguments(association_strategy=strategy))
    schema.validate(pairs, "pairs")
    return pairs, [str(w.message) for w in caught]


def row(pairs, image_id, mask_id=None):
    """The one pairs row of an image (and mask)."""
    found = pairs[
        (pairs["image_id"] == image_id) & (pairs["mask_id"].isna() if mask_id is None else pairs["mask_id"] == mask_id)
    ]
    assert len(found) == 1, found
    return found.iloc[0]


# ------------------------------------------------------------------ 1. strong evidence is not overridden


def test_the_demo_extra_image_takes_no_label_map_of_the_samples():
    """The demo's extras/upper/IMAGE.NII.GZ (a CT on the grid of both samples' CT label maps, in
    neither sample's folder): the samples keep their own label maps (nearest folder, same sample)
    and the extra image stays missing, naming the images that have its candidates."""
    images = table(
        [
            nifti("/d/nested/STS_001/CT/nifti/image/image.nii.gz", "STS_001", **GRID),
            nifti("/d/nested/STS_002/CT/nifti/image/image.nii.gz", "STS_002", **GRID),
            nifti("/d/nested/extras/upper/IMAGE.NII.GZ", "nested", **GRID),
        ],
        "image",
    )
    flat = {**GRID, "origin_x": 100.0}  # the flat layout's CT, farther away and on another grid
    images = pd.concat(
        [
            images,
            table([nifti("/d/flat/nifti/STS_001_CT_image.nii.gz", "STS_001", **flat)], "image").assign(
                object_id="image_3"
            ),
        ]
    )
    masks = table(
        [
            nifti("/d/nested/STS_001/CT/nifti/mask/mask.nii.gz", "STS_001", **GRID),
            nifti("/d/nested/STS_002/CT/nifti/mask/mask.nii.gz", "STS_002", **GRID),
            nifti("/d/flat/nifti/STS_001_CT_mask.nii.gz", "STS_001", **flat),
        ],
        "mask",
    )
    pairs, messages = run(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_1"], "image_2": None, "image_3": ["mask_2"]}
    assert list(pairs["status"]) == ["ok", "ok", "missing", "ok"]
    assert row(pairs, "image_2")["candidates"] == ("image_0", "image_1")
    assert "stronger evidence" in row(pairs, "image_2")["evidence"]
    assert row(pairs, "image_0", "mask_0")["candidates"] == ("image_2",)
    assert len(messages) == 1 and "1 of 4 images have no mask: image_2" in messages[0]
    assert "ambiguous" not in messages[0]


STRONG = [
    # (what ties the mask to image_0, image_0, the other image, which has only weaker evidence)
    (
        "DICOM reference",
        dicom_image("ct", "F", "/p/CT/image", "P"),
        dicom_image("slice", "F", "/p/CT/image", "P"),  # same folder, frame and sample
    ),
    (
        "frame of reference and sample",
        dicom_image("ct", "F", "/p/CT/image", "P"),
        dicom_image("other", "G", "/p/CT/image", "P"),  # same folder, another frame
    ),
    (
        "nearest folder",
        nifti("/p/CT/image/ct.nii.gz", "P", **GRID),
        nifti("/p/extras/old/ct.nii.gz", "P", **GRID),  # same sample and grid, farther away
    ),
]


@pytest.mark.parametrize(("case", "own", "other"), STRONG, ids=[c[0] for c in STRONG])
def test_a_weaker_rule_never_hands_a_tied_mask_to_another_image(case, own, other):
    """Item 1: grid, names and list order come after reference, frame + sample and folder."""
    if own["file_type"] == "dicom":
        mask = dicom_mask("/p/CT/mask", frame="F", series="ct" if case == "DICOM reference" else None, sample="P")
        mask["file_path"] = "/p/CT/mask/slice_RS.dcm"  # its name is more like the other image's
    else:
        mask = nifti("/p/CT/mask/extras_mask.nii.gz", "P", **GRID)
    pairs, _ = run(table([own, other], "image"), table([mask], "mask"))
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": None}
    assert list(pairs["status"]) == ["ok", "missing"]
    assert row(pairs, "image_1")["candidates"] == ("image_0",)


def test_an_image_that_loses_some_masks_keeps_the_others():
    """Two masks in one folder: the CT's RTSTRUCT (by reference) and a SEG referring to nothing. The
    slice in the same frame gets neither the RTSTRUCT, nor the SEG the CT has by the same evidence."""
    images = table([dicom_image("ct", "F", "/p/CT", "P"), dicom_image("slice", "F", "/p/CT", "P")], "image")
    masks = table(
        [dicom_mask("/p/CT/mask", "F", "ct", sample="P"), dicom_mask("/p/CT/mask", "F", sample="P", modality="seg")],
        "mask",
    )
    pairs, _ = run(images, masks)
    # The SEG fits both images equally (frame, sample, folder): ambiguous on both, not lost.
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1"], "image_1": ["mask_1"]}
    assert row(pairs, "image_0", "mask_0")["status"] == "ok"
    assert row(pairs, "image_0", "mask_1")["status"] == row(pairs, "image_1", "mask_1")["status"] == "ambiguous"


# ------------------------------------------------------------------ 2. no mask lost


def test_two_images_and_one_mask_in_one_folder_share_it():
    """Item 2 (the issue's case): two NIfTI images and one mask on the same grid in one folder."""
    images = table([nifti("/d/P1/ct.nii.gz", "P1", **GRID), nifti("/d/P1/pet.nii.gz", "P1", **GRID)], "image")
    masks = table([nifti("/d/P1/mask.nii.gz", "P1", **GRID)], "mask")
    pairs, messages = run(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_0"]}
    assert list(pairs["status"]) == ["ambiguous", "ambiguous"]
    assert list(pairs["candidates"]) == [("image_1",), ("image_0",)]
    assert all("fits 2 images equally" in e for e in pairs["evidence"])
    assert "2 images have ambiguous masks" in messages[0]


def test_undecided_images_take_only_masks_nothing_speaks_against():
    """Image C finds no mask of its sample: it takes no mask of another sample (MIRP 13.6), but an
    unnamed mask in its folder fits it."""
    images = table([nifti("/d/i/a.nii", "A"), nifti("/d/i/c.nii", "C")], "image")
    masks = table([nifti("/d/m/a.nii", "A"), nifti("/d/m/b.nii", "B"), nifti("/d/m/x.nii")], "mask")
    pairs, _ = run(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_2"]}


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(1, 5))
def test_masks_that_fit_several_images_equally_are_never_lost(n_images, n_masks):
    """Images and masks in one folder, nothing telling them apart (unless as many of each: list
    order, as MIRP): every mask goes to every image, ambiguous, with the others as candidates."""
    if n_images == n_masks:
        n_masks += 1
    images = table([nifti(f"/d/P/img_{'abcde'[k]}.nii", **GRID) for k in range(n_images)], "image")
    masks = table([nifti(f"/d/P/roi_{'uvwxyz'[k]}.nii", **GRID) for k in range(n_masks)], "mask")
    pairs, _ = run(images, masks)
    assert len(pairs) == n_images * n_masks and set(pairs["status"]) == {"ambiguous"}
    assert set(pairs["mask_id"]) == set(masks["object_id"])
    for image_id, candidates in zip(pairs["image_id"], pairs["candidates"], strict=True):
        assert set(candidates) == set(images["object_id"]) - {image_id}


# ------------------------------------------------------------------ 3. names and descriptions decide last


def flat_dicom(**mask_fields):
    """A flat DICOM export: CT, PET and MR of one patient in one folder, one frame of reference, three
    RTSTRUCTs whose references match none of the series (as real exports do)."""
    images, masks = [], []
    for mod in ("CT", "PET", "MR_T1"):
        paths = tuple(f"/flat/STS_001_{mod}_{k:06d}.dcm" for k in range(3))
        images.append(
            dicom_image(
                f"s.{mod}", "F", "/flat", "STS_001", file_paths=paths, SeriesDescription=f"IBSI_1_STS_001_{mod}_image"
            )
        )
    for mod in ("MR_T1", "CT", "PET"):  # not in the images' order
        fields = {"file_path": f"/flat/STS_001_{mod}_RS.dcm", "SeriesDescription": f"IBSI_1_STS_001_{mod}_mask"}
        masks.append(dicom_mask("/flat", "F", "9.9.9", sample="STS_001", **{**fields, **mask_fields.get(mod, {})}))
    return table(images, "image"), table(masks, "mask")


def test_flat_dicom_names_and_descriptions_decide():
    """Item 3: references, frame, sample and folder cannot separate the three series; the file names
    and SeriesDescriptions do, and the pairs table records it."""
    pairs, messages = run(*flat_dicom())
    assert pairs_of(pairs) == {"image_0": ["mask_1"], "image_1": ["mask_2"], "image_2": ["mask_0"]}
    assert set(pairs["status"]) == {"ok"} and set(pairs["strategy"]) == {"file_name_similarity"}
    assert all(
        e.startswith("same frame of reference and sample name; the names and descriptions") for e in pairs["evidence"]
    )
    assert not messages


def test_structure_set_labels_decide_when_file_names_say_nothing():
    neutral = {
        m: {"file_path": f"/flat/RS{k}.dcm", "SeriesDescription": None, "StructureSetLabel": f"{m} GTV"}
        for k, m in enumerate(("MR_T1", "CT", "PET"))
    }
    pairs, _ = run(*flat_dicom(**neutral))
    assert pairs_of(pairs) == {"image_0": ["mask_1"], "image_1": ["mask_2"], "image_2": ["mask_0"]}


def test_names_never_separate_the_masks_of_one_image():
    """An RTSTRUCT and a SEG of the CT, both referenced: names only decide between images."""
    images = table([dicom_image("ct", "F", "/flat", "P", file_paths=("/flat/P_CT_0.dcm", "/flat/P_CT_1.dcm"))], "image")
    masks = table(
        [
            dicom_mask("/flat", "F", "ct", file_path="/flat/P_CT_RS.dcm", SeriesDescription="RTSTRUCT CT"),
            dicom_mask("/flat", "F", "ct", file_path="/flat/tumour_seg.dcm", modality="seg"),
        ],
        "mask",
    )
    pairs, _ = run(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1"]} and set(pairs["status"]) == {"ok"}


def test_explicit_file_name_similarity_never_crosses_file_types():
    """Item 3: DICOM series keep their RTSTRUCTs and NIfTI images their label maps, though the
    RTSTRUCT's name is closer to the NIfTI image's than to the series' folder-less name."""
    dicom_images, dicom_masks = flat_dicom()
    images = pd.concat(
        [
            dicom_images,
            table([nifti(f"/flat/STS_001_{m}_image.nii.gz", "STS_001") for m in ("CT", "PET")], "image").assign(
                object_id=["image_3", "image_4"]
            ),
        ],
        ignore_index=True,
    )
    masks = pd.concat(
        [
            dicom_masks,
            table([nifti(f"/flat/STS_001_{m}_mask.nii.gz", "STS_001") for m in ("PET", "CT")], "mask").assign(
                object_id=["mask_3", "mask_4"]
            ),
        ],
        ignore_index=True,
    )
    pairs, _ = run(images, masks, "file_name_similarity")
    assert pairs_of(pairs) == {
        "image_0": ["mask_1"],
        "image_1": ["mask_2"],
        "image_2": ["mask_0"],
        "image_3": ["mask_4"],
        "image_4": ["mask_3"],
    }


# ------------------------------------------------------------------ 4. masks follow the volumes


def volumes():
    """One DWI-like series split into two volumes (issue 12: volume_index, n_volumes, volume_group)."""
    return table(
        [
            dicom_image(
                "dwi", "F", "/p/dwi", "P", sops=("v0.1", "v0.2"), volume_index=0, n_volumes=2, volume_group="dwi"
            ),
            dicom_image(
                "dwi", "F", "/p/dwi", "P", sops=("v1.1", "v1.2"), volume_index=1, n_volumes=2, volume_group="dwi"
            ),
        ],
        "image",
    )


def test_a_mask_of_one_volume_goes_to_that_volume():
    masks = table([dicom_mask("/p/seg", "F", "dwi", sops=("v1.1", "v1.2"), modality="seg")], "mask")
    pairs, _ = run(volumes(), masks)
    assert pairs_of(pairs) == {"image_0": None, "image_1": ["mask_0"]}
    assert row(pairs, "image_1", "mask_0")["evidence"].startswith("refers to instances of this image")


def test_a_mask_of_the_whole_series_goes_to_every_volume():
    masks = table([dicom_mask("/p/rt", "F", "dwi")], "mask")
    pairs, messages = run(volumes(), masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_0"]}
    assert set(pairs["status"]) == {"ok"} and set(pairs["strategy"]) == {"reference"}
    assert set(pairs["evidence"]) == {"refers to the series as a whole: each of its 2 volumes"}
    assert not messages


def test_without_volume_groups_two_images_of_one_series_are_ambiguous():
    """Before issue 12 (no volume_group), two objects with one SeriesInstanceUID are not known volumes."""
    images = volumes().drop(columns=["volume_index", "n_volumes", "volume_group"])
    pairs, _ = run(images, table([dicom_mask("/p/rt", "F", "dwi")], "mask"))
    assert set(pairs["status"]) == {"ambiguous"}
