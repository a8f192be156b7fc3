"""Association of images and masks: objects tables built by hand, pairs checked per strategy."""

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgindex import schema
from imgindex.association import STRATEGIES, associate, available_strategies
from imgindex.errors import ImgIndexWarning, InputError
from imgindex.options import ImportOptions

GRID = {
    "size_x": 64,
    "size_y": 64,
    "size_z": 20,
    "spacing_x": 1.0,
    "spacing_y": 1.0,
    "spacing_z": 3.0,
    "origin_x": 0.0,
    "origin_y": 0.0,
    "origin_z": 0.0,
    "direction": (1, 0, 0, 0, 1, 0, 0, 0, 1),
}


def table(rows, role):
    rows = [{"object_id": f"{role}_{k}", "role": role, **row} for k, row in enumerate(rows)]
    return schema.coerce(pd.DataFrame(rows), "objects")


def dicom_image(series, frame, folder, sample=None, sops=None, modality="ct", **extra):
    return {
        "file_type": "dicom",
        "modality": modality,
        "SeriesInstanceUID": series,
        "FrameOfReferenceUID": frame,
        "SOPInstanceUID": sops or (f"{series}.1", f"{series}.2"),
        "dir_path": folder,
        "sample_name": sample,
        "file_paths": (f"{folder}/1.dcm", f"{folder}/2.dcm"),
        **extra,
    }


def dicom_mask(folder, frame=None, series=None, sops=None, sample=None, modality="rtstruct", **extra):
    return {
        "file_type": "dicom",
        "modality": modality,
        "FrameOfReferenceUID": frame,
        "ReferencedFrameOfReferenceUID": (frame,) if frame else None,
        "ReferencedSeriesInstanceUID": (series,) if series else None,
        "ReferencedSOPInstanceUID": sops,
        "dir_path": folder,
        "file_path": f"{folder}/RS.dcm",
        "sample_name": sample,
        **extra,
    }


def nifti(path, sample=None, **extra):
    folder = path.rpartition("/")[0]
    return {"file_type": "nifti", "file_path": path, "dir_path": folder, "sample_name": sample, **extra}


def pairs_of(pairs):
    """{image_id: sorted mask ids} (None for missing)."""
    out = {}
    for image_id, mask_id in zip(pairs["image_id"], pairs["mask_id"], strict=True):
        out.setdefault(image_id, [])
        if pd.notna(mask_id):
            out[image_id].append(mask_id)
    return {k: sorted(v) or None for k, v in out.items()}


def with_strategy(value) -> ImportOptions:
    """The options associate() reads, checked as the import functions check them."""
    return ImportOptions.from_arguments(association_strategy=value)


def quiet(images, masks, strategy=None):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return associate(images, masks, ImportOptions.from_arguments(association_strategy=strategy))


# ---------------------------------------------------------------------------- availability

AVAILABILITY = [
    (
        "dicom with frames and references",
        [dicom_image("1", "F", "/d/ct")],
        [dicom_mask("/d/rt", frame="F", series="1")],
        {"reference", "frame_of_reference", "file_distance", "file_name_similarity", "list_order", "single_image"},
    ),
    (
        "dicom mask without frame",
        [dicom_image("1", "F", "/d/ct")],
        [dicom_mask("/d/rt")],
        {"file_distance", "file_name_similarity", "list_order", "single_image"},
    ),
    (
        "nifti mask on dicom image: no frame of reference",
        [dicom_image("1", "F", "/d/ct")],
        [nifti("/d/m/a.nii")],
        {"file_distance", "file_name_similarity", "list_order", "single_image"},
    ),
    (
        "named on one side only",
        [nifti("/d/i/a.nii", "A"), nifti("/d/i/b.nii")],
        [nifti("/d/m/a.nii")],
        {"file_distance", "file_name_similarity"},
    ),
    (
        "named both sides, one mask folder (allowed, unlike MIRP)",
        [nifti("/d/i/a.nii", "A"), nifti("/d/i/b.nii", "B")],
        [nifti("/d/m/a.nii", "A"), nifti("/d/m/b.nii", "B")],
        {"sample_name", "file_distance", "file_name_similarity", "list_order"},
    ),
    (
        "arrays with geometry",
        [{"array_index": 0, **GRID}, {"array_index": 1, **GRID}],
        [{"array_index": 0, **GRID}],
        {"position"},
    ),
    (
        "arrays without anything, equal counts",
        [{"array_index": 0}],
        [{"array_index": 0}],
        {"list_order", "single_image"},
    ),
    ("arrays without anything, unequal counts", [{"array_index": 0}, {"array_index": 1}], [{"array_index": 0}], set()),
]


@pytest.mark.parametrize(("case", "images", "masks", "expected"), AVAILABILITY, ids=[c[0] for c in AVAILABILITY])
def test_available_strategies(case, images, masks, expected):
    assert available_strategies(table(images, "image"), table(masks, "mask")) == expected


def test_no_strategy_available_raises_e31():
    images, masks = table([{"array_index": 0}, {"array_index": 1}], "image"), table([{"array_index": 0}], "mask")
    with pytest.raises(InputError, match="No strategies for associating images and masks are available"):
        associate(images, masks)
    with pytest.raises(ValueError, match="no clear way to establish an association"):
        associate(images, masks, with_strategy("list_order"))


@pytest.mark.parametrize(
    ("strategy", "unavailable"),
    [
        ("frame_of_reference", "frame_of_reference"),
        (["sample_name", "list_order"], "sample_name, list_order"),
        ("single_image", "single_image"),
    ],
)
def test_unavailable_strategy_raises_e30(strategy, unavailable):
    images = table([nifti("/d/i/a.nii"), nifti("/d/i/b.nii")], "image")
    masks = table([nifti("/d/m/a.nii")], "mask")
    with pytest.raises(
        InputError,
        match=(
            "One or more strategies for associating images and masks are not available for the provided image "
            f"and mask set: {unavailable}. Only the following strategies are available: file_distance, "
            "file_name_similarity"
        ),
    ) as err:
        associate(images, masks, with_strategy(strategy))
    assert "needs" in str(err.value) and "leave the strategy unset" in str(err.value)


@pytest.mark.parametrize("strategy", ["nearest", ["sample_name", "bogus"], []])
def test_unknown_strategy(strategy):
    images, masks = table([nifti("/d/i/a.nii")], "image"), table([nifti("/d/m/a.nii")], "mask")
    with pytest.raises(InputError, match=r"(Unknown association strategy|empty list).*Valid strategies are: reference"):
        associate(images, masks, with_strategy(strategy))


# ---------------------------------------------------------------------------- each strategy alone


def patients_dicom(reference=True):
    """CT of A and B; A's and B's RTSTRUCT in one shared folder; frames differ per patient."""
    images = table([dicom_image("A.ct", "FA", "/d/ct", "A"), dicom_image("B.ct", "FB", "/d/ct", "B")], "image")
    masks = table(
        [
            dicom_mask("/d/rt", "FB", "B.ct" if reference else None, sample="B"),
            dicom_mask("/d/rt", "FA", "A.ct" if reference else None, sample="A"),
        ],
        "mask",
    )
    return images, masks


EXPLICIT = [
    ("reference", patients_dicom()),
    ("frame_of_reference", patients_dicom(reference=False)),
    (["frame_of_reference"], patients_dicom()),
    ("sample_name", patients_dicom(reference=False)),
    (
        "file_distance",
        (
            table([nifti("/d/A/img/i.nii"), nifti("/d/B/img/i.nii")], "image"),
            table([nifti("/d/B/msk/m.nii"), nifti("/d/A/msk/m.nii")], "mask"),
        ),
    ),
    (
        "file_name_similarity",
        (
            table([nifti("/d/i/STS_001_CT_image.nii.gz"), nifti("/d/i/STS_002_CT_image.nii.gz")], "image"),
            table([nifti("/d/m/STS_002_CT_mask.nii.gz"), nifti("/d/m/STS_001_CT_mask.nii.gz")], "mask"),
        ),
    ),
    (
        "position",
        (
            table([{**GRID, "origin_x": 0.0}, {**GRID, "origin_x": 500.0}], "image"),
            table([{**GRID, "origin_x": 500.0}, {**GRID, "origin_x": 0.0004}], "mask"),
        ),
    ),
]


@pytest.mark.parametrize(("strategy", "objects"), EXPLICIT, ids=[str(c[0]) for c in EXPLICIT])
def test_each_strategy_alone_pairs_crosswise(strategy, objects):
    images, masks = objects
    pairs = quiet(images, masks, strategy=strategy)
    assert pairs_of(pairs) == {"image_0": ["mask_1"], "image_1": ["mask_0"]}
    assert set(pairs["status"]) == {"ok"}
    # A requested frame_of_reference runs the reference step first, which decides when masks refer.
    assert set(pairs["strategy"]) == {"reference" if isinstance(strategy, list) else strategy}
    schema.validate(pairs, "pairs")


def test_reference_by_instances_only():
    images = table([dicom_image("A.ct", None, "/d/a"), dicom_image("B.ct", None, "/d/b")], "image")
    masks = table(
        [
            dicom_mask("/d/seg", sops=("B.ct.2",), modality="seg"),
            dicom_mask("/d/seg", sops=("A.ct.1", "A.ct.2"), modality="seg"),
        ],
        "mask",
    )
    assert pairs_of(quiet(images, masks, strategy="reference")) == {"image_0": ["mask_1"], "image_1": ["mask_0"]}


def test_position_falls_back_to_overlap_when_no_grid_is_equal():
    images = table([{**GRID, "origin_z": 0.0}, {**GRID, "origin_z": 1000.0}], "image")
    coarse = {**GRID, "size_x": 32, "size_y": 32, "spacing_x": 2.0, "spacing_y": 2.0}
    masks = table([{**coarse, "origin_z": 1010.0}, {**coarse, "origin_z": 5.0}], "mask")
    pairs = quiet(images, masks, strategy="position")
    assert pairs_of(pairs) == {"image_0": ["mask_1"], "image_1": ["mask_0"]}


def test_list_order_alone_pairs_by_position():
    images, masks = patients_dicom()
    pairs = quiet(images, masks, strategy="list_order")
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_1"]}
    assert set(pairs["strategy"]) == {"list_order"}


def test_single_image_alone_gives_every_mask():
    images = table([dicom_image("A.ct", "FA", "/d/ct")], "image")
    masks = table([dicom_mask("/d/rt", "FB"), nifti("/x/y.nii"), {"array_index": 0}], "mask")
    pairs = quiet(images, masks, strategy="single_image")
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1", "mask_2"]}
    assert set(pairs["strategy"]) == {"single_image"} and set(pairs["status"]) == {"ok"}


def test_explicit_strategy_without_a_match_leaves_the_image_missing():
    images = table([nifti("/d/i/a.nii", "A"), nifti("/d/i/b.nii", "B")], "image")
    masks = table([nifti("/d/m/a.nii", "A"), nifti("/d/m/c.nii", "C")], "mask")
    with pytest.warns(UserWarning, match=r"1 of 2 images have no mask: image_1 \(/d/i/b.nii\)"):
        pairs = associate(images, masks, with_strategy("sample_name"))
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": None}
    assert list(pairs["status"]) == ["ok", "missing"]


# ---------------------------------------------------------------------------- default narrowing


def sts_patient(patient, frame, reference):
    """CT, PET and MR of one patient sharing a frame of reference, each with its own RTSTRUCT."""
    images, masks = [], []
    for mod in ("CT", "PET", "MR_T1"):
        series = f"{patient}.{mod}"
        images.append(dicom_image(series, frame, f"/data/{patient}/{mod}/dicom/image", patient, object_id=series))
        masks.append(
            dicom_mask(
                f"/data/{patient}/{mod}/dicom/mask",
                frame,
                series if reference else "9.9.9",
                sample=patient,
                object_id=f"RS.{series}",
            )
        )
    return images, masks


@pytest.mark.parametrize(("reference", "strategy"), [(True, "reference"), (False, "file_distance")])
def test_shared_frame_of_reference_gives_each_image_only_its_own_mask(reference, strategy):
    ia, ma = sts_patient("STS_001", "F1", reference)
    ib, mb = sts_patient("STS_002", "F2", reference)
    images, masks = schema.coerce(pd.DataFrame(ia + ib), "objects"), schema.coerce(pd.DataFrame(mb + ma), "objects")
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {i: [f"RS.{i}"] for i in images["object_id"]}
    assert set(pairs["strategy"]) == {strategy} and set(pairs["status"]) == {"ok"}


def test_patients_are_kept_apart_even_when_their_frames_collide():
    """Two patients whose RTSTRUCTs share one frame and refer to nothing: names separate them."""
    ia, ma = sts_patient("STS_001", "F", reference=False)
    ib, mb = sts_patient("STS_002", "F", reference=False)
    images, masks = schema.coerce(pd.DataFrame(ia + ib), "objects"), schema.coerce(pd.DataFrame(mb + ma), "objects")
    pairs = quiet(images, masks)
    assert all(m == f"RS.{i}" for i, m in zip(pairs["image_id"], pairs["mask_id"], strict=True))


def test_rtstruct_and_seg_of_one_series_both_stay():
    images = table([dicom_image("A.ct", "FA", "/d/A/ct", "A"), dicom_image("B.ct", "FB", "/d/B/ct", "B")], "image")
    masks = table(
        [
            dicom_mask("/d/A/rt", "FA", "A.ct"),
            dicom_mask("/d/A/seg", "FA", "A.ct", modality="seg"),
            dicom_mask("/d/B/rt", "FB", "B.ct"),
        ],
        "mask",
    )
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1"], "image_1": ["mask_2"]}
    assert set(pairs["status"]) == {"ok"} and set(pairs["strategy"]) == {"reference"}


def test_nested_folders_nearest_directory():
    images = table([nifti(f"/d/{p}/{m}/image/image.nii.gz") for p in ("P1", "P2") for m in ("CT", "PET")], "image")
    masks = table([nifti(f"/d/{p}/{m}/mask/mask.nii.gz") for p in ("P2", "P1") for m in ("PET", "CT")], "mask")
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {
        "image_0": ["mask_3"],
        "image_1": ["mask_2"],
        "image_2": ["mask_1"],
        "image_3": ["mask_0"],
    }
    assert set(pairs["strategy"]) == {"file_distance"}


def test_flat_folder_with_sample_names():
    names = ["STS_001", "STS_002", "STS_003"]
    images = table([nifti(f"/flat/{n}_image.nii", n) for n in names], "image")
    masks = table([nifti(f"/flat/{n}_mask.nii", n) for n in reversed(names)], "mask")
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_2"], "image_1": ["mask_1"], "image_2": ["mask_0"]}
    assert set(pairs["strategy"]) == {"sample_name"}


def test_file_name_similarity_prefers_the_same_sample():
    images = table([nifti("/d/i/STS_001_CT_image.nii.gz")], "image")
    masks = table([nifti("/d/m/STS_002_CT_mask.nii.gz"), nifti("/d/m/STS_001_CT_mask.nii.gz")], "mask")
    pairs = quiet(images, masks, strategy="file_name_similarity")
    assert pairs_of(pairs) == {"image_0": ["mask_1"]}


def test_default_position_breaks_a_tie_between_label_maps():
    images = table([nifti("/d/a/img.nii", "A", **GRID)], "image")
    masks = table(
        [
            nifti("/d/a/m1.nii", "A", **{**GRID, "size_z": 40}),
            nifti("/d/a/m2.nii", "A", **GRID),
            dicom_mask("/d/a", sample="A"),
        ],
        "mask",
    )
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_1", "mask_2"]}
    assert set(pairs["strategy"]) == {"position"}


def test_same_grid_arrays_fall_back_to_list_order_not_position():
    images = table([{"array_index": k, **GRID} for k in range(3)], "image")
    masks = table([{"array_index": k, **GRID} for k in range(3)], "mask")
    pairs = quiet(images, masks)
    assert list(zip(pairs["image_id"], pairs["mask_id"], strict=True)) == [
        (f"image_{k}", f"mask_{k}") for k in range(3)
    ]
    assert set(pairs["strategy"]) == {"list_order"} and set(pairs["status"]) == {"ok"}


def test_list_order_fallback_of_files_warns():
    images = table([nifti("/d/img/a.nii"), nifti("/d/img/b.nii")], "image")
    masks = table([nifti("/d/msk/x.nii"), nifti("/d/msk/y.nii")], "mask")
    with pytest.warns(UserWarning, match="paired with masks by list order only"):
        pairs = associate(images, masks)
    assert set(pairs["strategy"]) == {"list_order"}


def test_single_image_fallback():
    images = table([dicom_image("A.ct", "FA", "/d/ct")], "image")
    masks = table([nifti("/x/a.nii"), nifti("/y/b.nii")], "mask")
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1"]}
    assert set(pairs["strategy"]) == {"single_image"} and set(pairs["status"]) == {"ok"}


def test_single_image_with_names_keeps_only_its_sample():
    images = table([nifti("/d/STS_001/img.nii", "STS_001")], "image")
    masks = table([nifti("/d/STS_001/mask.nii", "STS_001"), nifti("/d/STS_002/mask.nii", "STS_002")], "mask")
    pairs = quiet(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"]}
    assert set(pairs["strategy"]) == {"sample_name"}


# ---------------------------------------------------------------------------- missing, ambiguous, warning


def test_shared_mask_is_ambiguous_and_one_warning_names_the_images():
    """CT and PET in one folder, one RTSTRUCT in their frame referring to neither: MIRP gives both."""
    images = table([dicom_image("ct", "F", "/d/p/img", "P"), dicom_image("pt", "F", "/d/p/img", "P")], "image")
    masks = table([dicom_mask("/d/p/rt", "F", "other")], "mask")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = associate(images, masks)
    assert len(caught) == 1 and caught[0].category is ImgIndexWarning  # a UserWarning
    assert "2 images have ambiguous masks" in str(caught[0].message)
    assert "image_0 (/d/p/img)" in str(caught[0].message) and "image_1 (/d/p/img)" in str(caught[0].message)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": ["mask_0"]}
    assert set(pairs["status"]) == {"ambiguous"} and set(pairs["strategy"]) == {"frame_of_reference"}


def test_masks_from_sibling_folders_at_the_same_distance_are_ambiguous():
    images = table([nifti("/d/A/img/i.nii", "A"), nifti("/d/B/img/i.nii", "B")], "image")
    masks = table([nifti("/d/A/m1/m.nii", "A"), nifti("/d/A/m2/m.nii", "A"), nifti("/d/B/m/m.nii", "B")], "mask")
    with pytest.warns(UserWarning, match=r"1 images have ambiguous masks .*image_0 \(/d/A/img/i.nii\)"):
        pairs = associate(images, masks)
    assert list(pairs["status"]) == ["ambiguous", "ambiguous", "ok"]


def test_masks_in_one_folder_are_not_ambiguous():
    images = table([nifti("/d/A/img/i.nii", "A"), nifti("/d/B/img/i.nii", "B")], "image")
    masks = table([nifti("/d/A/m/tumour.nii", "A"), nifti("/d/A/m/edema.nii", "A"), nifti("/d/B/m/m.nii", "B")], "mask")
    assert set(quiet(images, masks)["status"]) == {"ok"}


def test_missing_image_and_capped_warning():
    images = table([nifti(f"/d/i/{k}.nii", f"S{k}") for k in range(14)], "image")
    masks = table([nifti("/d/m/0.nii", "S0")], "mask")
    with pytest.warns(UserWarning, match=r"13 of 14 images have no mask: image_1 \(/d/i/1.nii\).* and 3 more"):
        pairs = associate(images, masks, with_strategy("sample_name"))
    assert len(pairs) == 14 and pairs["mask_id"].isna().sum() == 13
    assert (pairs["status"] == "missing").sum() == 13 and pairs["strategy"].isna().sum() == 13


def test_default_shares_masks_nothing_tells_apart_instead_of_losing_them():
    """Same-grid arrays, 2 images and 3 masks: MIRP raises E31. Every mask fits both images equally:
    each image gets all three, ambiguous, with the other image as candidate (never a lost mask)."""
    images = table([{"array_index": k, **GRID} for k in range(2)], "image")
    masks = table([{"array_index": k, **GRID} for k in range(3)], "mask")
    with pytest.warns(UserWarning, match=r"2 images have ambiguous masks .*image_0 \(array 0\), image_1 \(array 1\)"):
        pairs = associate(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0", "mask_1", "mask_2"], "image_1": ["mask_0", "mask_1", "mask_2"]}
    assert set(pairs["status"]) == {"ambiguous"}
    assert [c for c in pairs["candidates"]] == [("image_1",)] * 3 + [("image_0",)] * 3


def test_images_with_nothing_to_compare_stay_missing():
    """Arrays without any geometry, 2 images and 3 masks: nothing fits, nothing is guessed."""
    images = table([{"array_index": k} for k in range(2)], "image")
    masks = table([{"array_index": k, "sample_name": "x"} for k in range(3)], "mask")
    images = images.assign(sample_name="y")
    with pytest.warns(UserWarning, match=r"2 of 2 images have no mask"):
        pairs = associate(images, masks)
    assert list(pairs["status"]) == ["missing", "missing"]


def test_list_order_fallback_only_when_every_image_is_undecided():
    """MIRP 13.3.4: image C finds nothing; A is decided by name, so C is not paired by order."""
    images = table([nifti("/d/i/a.nii", "A"), nifti("/d/i/c.nii", "C")], "image")
    masks = table([nifti("/d/m/a.nii", "A"), nifti("/d/m/b.nii", "B")], "mask")
    with pytest.warns(UserWarning, match=r"1 of 2 images have no mask: image_1"):
        pairs = associate(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": None}


def test_no_masks_gives_missing_rows_without_error():
    images = table([nifti("/d/i/a.nii")], "image")
    pairs = quiet(images, table([], "mask"))
    assert list(pairs["status"]) == ["missing"] and pairs["mask_id"].isna().all()


# ---------------------------------------------------------------------------- inputs and output


def test_inputs_are_not_mutated_and_output_follows_the_schema():
    images, masks = patients_dicom()
    images.index, masks.index = [10, 20], [5, 7]
    before_i, before_m = images.copy(deep=True), masks.copy(deep=True)
    pairs = quiet(images, masks)
    pd.testing.assert_frame_equal(images, before_i)
    pd.testing.assert_frame_equal(masks, before_m)
    schema.validate(pairs, "pairs")
    assert list(pairs.index) == list(range(len(pairs)))


def test_duplicate_object_ids_are_rejected():
    images = schema.coerce(pd.DataFrame({"object_id": ["a", "a"]}), "objects")
    with pytest.raises(InputError, match="unique, non-null object_id"):
        associate(images, images.assign(object_id=["m0", "m1"]))


def test_strategy_names_are_documented():
    assert set(STRATEGIES) == {
        "reference",
        "frame_of_reference",
        "sample_name",
        "file_distance",
        "file_name_similarity",
        "position",
        "list_order",
        "single_image",
    }


def test_many_objects_one_mask_each_by_reference():
    n = 300
    images = table([dicom_image(f"s{k}", f"f{k % 7}", f"/d/{k}/ct", f"P{k}") for k in range(n)], "image")
    masks = table([dicom_mask(f"/d/{k}/rt", f"f{k % 7}", f"s{k}") for k in reversed(range(n))], "mask")
    pairs = quiet(images, masks)
    assert len(pairs) == n and set(pairs["status"]) == {"ok"} and set(pairs["strategy"]) == {"reference"}
    assert all(
        int(i.split("_")[1]) + int(m.split("_")[1]) == n - 1
        for i, m in zip(pairs["image_id"], pairs["mask_id"], strict=True)
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=6),
    st.lists(st.sampled_from("ABCDEF"), min_size=1, max_size=6),
)
def test_sample_name_pairs_share_their_name(image_names, mask_names):
    images = table([nifti(f"/d/i/{k}.nii", n) for k, n in enumerate(image_names)], "image")
    masks = table([nifti(f"/d/m/{k}.nii", n) for k, n in enumerate(mask_names)], "mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = associate(images, masks, with_strategy("sample_name"))
    assert list(pd.unique(pairs["image_id"])) == list(images["object_id"])  # every image, in order
    name_i = dict(zip(images["object_id"], images["sample_name"], strict=True))
    name_m = dict(zip(masks["object_id"], masks["sample_name"], strict=True))
    for image_id, mask_id, status in zip(pairs["image_id"], pairs["mask_id"], pairs["status"], strict=True):
        if pd.isna(mask_id):
            assert status == "missing" and name_i[image_id] not in set(mask_names)
        else:
            assert name_i[image_id] == name_m[mask_id]


def test_a_mask_that_refers_to_one_image_never_goes_to_another_by_weaker_evidence():
    # Same patient, same frame of reference: the RTSTRUCT refers to the CT series only. The scout
    # series in another folder would get it by frame of reference and folder distance; it must not.
    images = table(
        [dicom_image("ct", "F", "/p/CT/image", sample="P"), dicom_image("scout", "F", "/p/extras/scout", sample="P")],
        "image",
    )
    masks = table([dicom_mask("/p/CT/mask", frame="F", series="ct", sample="P")], "mask")
    with pytest.warns(UserWarning, match="1 of 2 images have no mask"):
        pairs = associate(images, masks)
    assert pairs_of(pairs) == {"image_0": ["mask_0"], "image_1": None}
    assert dict(zip(pairs["image_id"], pairs["status"], strict=True)) == {"image_0": "ok", "image_1": "missing"}
