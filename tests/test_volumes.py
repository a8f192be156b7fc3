"""Series and enhanced multi-frame files split into one object per volume, from the headers (issue 12).

The ground truth is :func:`imgindex.examples.write_series_dataset`'s: which SOP instance (or frame)
belongs to which volume, what tells the volumes apart, where every slice is. Voxels of the volumes
are compared with SimpleITK's ImageSeriesReader on the volume's own files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex.examples import SPLITS, write_series_dataset
from imgindex.stacking.volumes import KEYS

#: What the objects table names as the key of each ``split_by`` of the generator (single-frame, multi-frame).
EXPECTED_KEY = {
    "diffusion": ("DiffusionBValue", "DiffusionBValue"),
    "echo": ("EchoNumbers", "EffectiveEchoTime"),
    "temporal": ("TemporalPositionIdentifier", "TemporalPositionIndex"),
    "trigger": ("TriggerTime", "NominalCardiacTriggerDelayTime"),
    "acquisition": ("AcquisitionNumber", "FrameAcquisitionNumber"),
    "content_time": ("ContentTime", "FrameAcquisitionDateTime"),
    "image_type": ("ImageType", "FrameType"),
    "none": ("InstanceNumber", "frame order"),
}


def index_of(root: Path, **kwargs) -> tuple[imgindex.Index, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = imgindex.build_index(str(root), **kwargs)
    return index, [str(w.message) for w in caught]


@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame", "multi-frame"])
@pytest.mark.parametrize("split_by", list(SPLITS))
def test_each_volume_is_one_object(tmp_path, split_by, multiframe):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by=split_by, n_slices=7, multiframe=multiframe)
    index, messages = index_of(tmp_path)
    images = index.images
    assert len(images) == 3
    assert images["volume_index"].tolist() == [0, 1, 2]
    assert images["n_volumes"].tolist() == [3, 3, 3]
    assert set(images["volume_key"]) == {EXPECTED_KEY[split_by][multiframe]}
    assert images["volume_group"].nunique() == 1 and images["volume_group"].iloc[0].startswith(data.series_uid)
    assert images["n_slices"].tolist() == [7, 7, 7] and images["size_z"].tolist() == [7, 7, 7]
    assert (images["missing_slices"] == 0).all() and (images["duplicate_positions"] == 0).all()
    np.testing.assert_allclose(images[["origin_x", "origin_y", "origin_z"]].to_numpy(float), [data.positions[0]] * 3)
    np.testing.assert_allclose(images["slice_spacing"].to_numpy(float), 2.5)
    if multiframe:  # one file; each volume its frames, in stack order (the generator writes volume by volume)
        assert images["n_files"].tolist() == [1, 1, 1]
        assert [list(f) for f in images["frames"]] == [list(range(7 * j, 7 * (j + 1))) for j in range(3)]
    else:  # each volume exactly the instances of one volume of the truth, in slice order
        assert images["frames"].isna().all()
        assert [list(s) for s in images["SOPInstanceUID"]] == data.sop_uids
    # Only the instance-order fallback is doubtful, and says so once, naming the series.
    if split_by == "none":
        assert images["geometry_warning"].str.contains("told apart by instance order only").all()
        assert len([m for m in messages if data.series_uid in m]) == 1
    else:
        assert (images["geometry_warning"] == "").all() and not [m for m in messages if "DICOM series" in m]


@pytest.mark.parametrize("split_by", ["diffusion", "echo", "temporal", "trigger", "acquisition", "content_time"])
def test_volume_values_name_what_tells_the_volumes_apart(tmp_path, split_by):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by=split_by, n_slices=4)
    values = index_of(tmp_path)[0].images["volume_value"].tolist()
    expected = {
        "diffusion": ["b=0", "b=1000 (1, 0, 0)", "b=1000 (0, 1, 0)"],
        "echo": ["1", "2", "3"],
        "temporal": ["1", "2", "3"],
        "trigger": ["0", "100", "200"],  # the earliest trigger time of the volume
        "acquisition": ["1", "2", "3"],
        "content_time": ["12:00:00.000", "12:01:00.000", "12:02:00.000"],
    }[split_by]
    assert values == expected, data.keys


def test_dce_told_apart_only_by_content_time(tmp_path):
    """The issue's real DCE case: AcquisitionNumber 1, 2, 2 and AcquisitionTime per acquisition."""
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="content_time", n_slices=20)
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in data.files]
    assert sorted({int(h.AcquisitionNumber) for h in headers}) == [1, 2]
    assert len({h.AcquisitionTime for h in headers}) == 2
    images = index_of(tmp_path)[0].images
    assert images["volume_key"].tolist() == ["ContentTime"] * 3
    assert images["n_slices"].tolist() == [20, 20, 20]


def test_the_files_table_keeps_the_mapping(tmp_path):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="echo", n_slices=5)
    index = index_of(tmp_path)[0]
    truth = {uid: j for j, uids in enumerate(data.sop_uids) for uid in uids}
    files = index.files
    assert (files["volume_index"] == files["SOPInstanceUID"].map(truth)).all()


def test_a_series_of_one_volume_has_no_volume_columns(tmp_path):
    write_series_dataset(tmp_path, n_volumes=1, n_slices=6)
    index = index_of(tmp_path)[0]
    row = index.images.iloc[0]
    assert row.n_volumes == 1 and pd.isna(row.volume_index) and pd.isna(row.volume_key)
    assert pd.isna(row.volume_group) and row.frames is None and row.tilt_angle == 0.0
    assert index.files["volume_index"].isna().all()


def test_copies_of_an_instance_are_left_out_not_made_a_volume(tmp_path):
    data = write_series_dataset(tmp_path, n_volumes=2, split_by="acquisition", n_slices=6, duplicates=3)
    assert len(data.files) == 15
    index, messages = index_of(tmp_path)
    images = index.images
    assert images["n_volumes"].tolist() == [2, 2] and images["n_slices"].tolist() == [6, 6]
    assert [list(s) for s in images["SOPInstanceUID"]] == data.sop_uids
    assert images["geometry_warning"].str.contains("3 cop(ies) of an instance", regex=False).sum() == 1
    assert len([m for m in messages if "cop(ies)" in m]) == 1


def test_copies_in_a_single_volume_series(tmp_path):
    write_series_dataset(tmp_path, n_volumes=1, n_slices=6, duplicates=2)
    row = index_of(tmp_path)[0].images.iloc[0]
    assert (row.n_volumes, row.n_slices, row.duplicate_positions) == (1, 6, 0)
    assert "2 cop(ies)" in row.geometry_warning


@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame", "multi-frame"])
def test_each_volume_has_its_own_geometry_checks(tmp_path, multiframe):
    data = write_series_dataset(
        tmp_path, n_volumes=2, split_by="temporal", n_slices=9, missing=(4,), multiframe=multiframe
    )
    images, messages = index_of(tmp_path)
    rows = images.images
    assert rows["n_slices"].tolist() == [8, 8] and rows["missing_slices"].tolist() == [1, 1]
    assert not rows["slice_spacing_uniform"].any() and rows["slice_spacing"].tolist() == [2.5, 2.5]
    assert rows["geometry_warning"].str.contains("1 missing slice").all()
    assert len([m for m in messages if "missing slice" in m]) == 1  # one warning per series
    assert len(data.positions) == 8


@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame", "multi-frame"])
@pytest.mark.parametrize("tilt", [0.0, 12.0, -20.0])
def test_gantry_tilt_is_detected_from_the_positions(tmp_path, tilt, multiframe):
    data = write_series_dataset(tmp_path, tilt=tilt, n_slices=10, multiframe=multiframe)
    index, messages = index_of(tmp_path)
    row = index.images.iloc[0]
    # the angle between the progression (along z) and the image normal of the truth
    expected = float(np.degrees(np.arccos(abs(np.dot(np.asarray(data.step) / 2.5, data.normal)))))
    assert expected == pytest.approx(abs(tilt), abs=1e-9)
    assert row.tilt_angle == pytest.approx(expected, abs=1e-6)
    # slice spacing along the normal: the progression's component along it
    assert row.slice_spacing == pytest.approx(float(np.dot(data.step, data.normal)))
    if tilt:
        assert "gantry tilt" in row.geometry_warning and row.oblique
        assert len([m for m in messages if "gantry tilt" in m]) == 1
    else:
        assert row.geometry_warning == "" and not messages


def test_tilt_of_each_volume(tmp_path):
    write_series_dataset(tmp_path, n_volumes=2, split_by="echo", tilt=15.0, n_slices=6)
    index, messages = index_of(tmp_path)
    assert index.images["tilt_angle"].round(6).tolist() == [15.0, 15.0]
    assert len([m for m in messages if "gantry tilt" in m]) == 1


def test_rounded_positions_are_not_a_tilt(tmp_path):
    """IPP written with 0.01 mm resolution: in-plane jitter below a tenth of a pixel is no tilt."""
    data = write_series_dataset(tmp_path, n_slices=8, shuffle=False)
    rng = np.random.default_rng(0)
    for path in data.files:
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [round(float(v) + rng.uniform(-0.004, 0.004), 3) for v in ds.ImagePositionPatient]
        ds.save_as(path)
    assert index_of(tmp_path)[0].images["tilt_angle"].tolist() == [0.0]


def test_volumes_read_as_simpleitk_reads_their_files(tmp_path):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="diffusion", n_slices=6)
    images = imgindex.import_image(str(tmp_path))
    assert len(images) == 3
    for j, image in enumerate(images):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(list(image.file_paths))
        reference = reader.Execute()
        volume = image.read()
        assert volume.GetSize() == reference.GetSize() == (44, 40, 6)
        np.testing.assert_allclose(volume.GetOrigin(), reference.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(volume.GetSpacing(), reference.GetSpacing(), atol=1e-6)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(volume), sitk.GetArrayFromImage(reference))
        # and each volume holds its own sphere (value 100 * (j + 1) inside)
        assert sitk.GetArrayFromImage(volume).max() == data.values[image.volume_index] == 100.0 * (j + 1)


def test_the_volumes_of_a_series_as_a_4d_image_and_as_channels(tmp_path):
    """The README recipe: group the objects by volume_group, read each volume, join them."""
    write_series_dataset(tmp_path / "dwi", n_volumes=3, split_by="diffusion", n_slices=5)
    write_series_dataset(tmp_path / "t2", n_volumes=2, split_by="echo", n_slices=5, seed=1)
    images = imgindex.import_image(str(tmp_path))
    groups: dict[str, list] = {}
    for image in images:
        groups.setdefault(image.volume_group, []).append(image)
    assert sorted(len(g) for g in groups.values()) == [2, 3]
    for volumes in groups.values():
        volumes.sort(key=lambda image: image.volume_index)
        four_d = sitk.JoinSeries([image.read() for image in volumes])
        channels = sitk.Compose([image.read() for image in volumes])
        assert four_d.GetSize() == (44, 40, 5, len(volumes))
        assert channels.GetNumberOfComponentsPerPixel() == len(volumes)
        for j, image in enumerate(volumes):
            one = sitk.GetArrayFromImage(image.read())
            np.testing.assert_array_equal(sitk.GetArrayFromImage(four_d)[j], one)
            np.testing.assert_array_equal(sitk.GetArrayFromImage(channels)[..., j], one)


def test_uneven_repeats_stay_one_object(tmp_path):
    """A position repeated once more than the others is not a volume: one object, reported."""
    data = write_series_dataset(tmp_path, n_volumes=1, n_slices=6, shuffle=False)
    ds = pydicom.dcmread(data.files[2])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.save_as(tmp_path / "again.dcm")
    row = index_of(tmp_path)[0].images.iloc[0]
    assert (row.n_volumes, row.n_slices, row.duplicate_positions) == (1, 7, 1)
    assert "1 duplicated slice position" in row.geometry_warning


def test_a_key_missing_from_some_volumes_still_tells_them_apart(tmp_path):
    """b = 0 images often have no DiffusionBValue at all: 'missing' is a value of its own."""
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="diffusion", n_slices=4, shuffle=False)
    for path in data.files:
        ds = pydicom.dcmread(path)
        if ds.DiffusionBValue == 0:
            del ds.DiffusionBValue, ds.DiffusionGradientOrientation
            ds.save_as(path)
    images = index_of(tmp_path)[0].images
    assert images["volume_key"].tolist() == ["DiffusionBValue"] * 3
    assert images["volume_value"].tolist() == ["b=1000 (1, 0, 0)", "b=1000 (0, 1, 0)", "no b-value"]


def test_a_stack_of_one_repeated_position_is_not_split_by_instance_order(tmp_path):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="none", n_slices=2, shuffle=False)
    for path in data.files:  # every slice at the first position
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = list(data.positions[0])
        ds.save_as(path)
    row = index_of(tmp_path)[0].images.iloc[0]
    assert (row.n_volumes, row.n_slices) == (1, 6)


def test_keys_are_tried_in_the_documented_order(tmp_path):
    """Echo numbers and acquisition numbers both differ: the echo (earlier in KEYS) decides."""
    data = write_series_dataset(tmp_path, n_volumes=2, split_by="echo", n_slices=4, shuffle=False)
    for path in data.files:
        ds = pydicom.dcmread(path)
        ds.AcquisitionNumber = 10 + int(ds.EchoNumbers)
        ds.save_as(path)
    assert index_of(tmp_path)[0].images["volume_key"].tolist() == ["EchoNumbers"] * 2
    order = [k.single for k in KEYS]
    assert order.index("EchoNumbers") < order.index("AcquisitionNumber")


def test_two_series_in_one_folder_split_independently(tmp_path):
    write_series_dataset(tmp_path, n_volumes=2, split_by="echo", n_slices=4, seed=1)
    write_series_dataset(tmp_path / "other", n_volumes=1, n_slices=5, seed=2)
    images = index_of(tmp_path)[0].images
    assert sorted(images["n_volumes"].tolist()) == [1, 2, 2]
    assert images["volume_group"].notna().sum() == 2


def test_saved_index_keeps_the_volume_columns(tmp_path):
    write_series_dataset(tmp_path / "data", n_volumes=2, split_by="echo", n_slices=4, multiframe=True)
    index = index_of(tmp_path / "data")[0]
    index.to_parquet(tmp_path / "index")
    loaded = imgindex.read_index(tmp_path / "index")
    columns = ["frames", "volume_index", "n_volumes", "volume_key", "volume_value", "volume_group", "tilt_angle"]
    pd.testing.assert_frame_equal(loaded.objects[columns], index.objects[columns])
    image = imgindex.import_image(tmp_path / "index")[1]
    assert (image.frames, image.volume_index, image.n_volumes, image.volume_key) == (
        (4, 5, 6, 7),
        1,
        2,
        "EffectiveEchoTime",
    )


@pytest.mark.parametrize("reference", [2, "series"])
def test_masks_can_follow_the_volumes(tmp_path, reference):
    """The columns association works from: each volume's own instances, and the series shared by all.

    An RTSTRUCT that names the slices of volume 2 shares instances with volume 2 only; one that
    names the series only shares its SeriesInstanceUID with every volume (issue 12, item 3; which
    volumes the pairs table gives it to is the association's rule).
    """
    data = write_series_dataset(tmp_path, n_volumes=3, split_by="echo", n_slices=8, rtstruct=reference)
    index = index_of(tmp_path, mask=str(tmp_path))[0]
    (mask,) = index.masks.itertuples()
    assert mask.roi_names == ("sphere",) and mask.ReferencedSeriesInstanceUID == (data.series_uid,)
    images = index.images
    assert (images["SeriesInstanceUID"] == data.series_uid).all()
    shared = [set(s) & set(mask.ReferencedSOPInstanceUID or ()) for s in images["SOPInstanceUID"]]
    pairs = index.pairs.merge(
        images[["object_id", "volume_index"]].rename(columns={"object_id": "image_id"}), on="image_id"
    ).sort_values("volume_index")
    if reference == "series":
        assert mask.ReferencedSOPInstanceUID is None and shared == [set(), set(), set()]
        # the series-level rule: every volume gets the mask, and the pairs table says why
        assert pairs["mask_id"].tolist() == [mask.object_id] * 3 and (pairs["status"] == "ok").all()
        assert (pairs["strategy"] == "reference").all()
        assert pairs["evidence"].str.contains("refers to the series as a whole: each of its 3 volumes").all()
    else:
        assert shared[2] == set(data.sop_uids[2]) and shared[0] == shared[1] == set()
        # the instance-level reference wins: volume 2 only
        paired = pairs[pairs["mask_id"].notna()]
        assert paired["volume_index"].tolist() == [2] and paired["status"].tolist() == ["ok"]
        assert paired["evidence"].str.contains("refers to instances of this image").all()
        assert pairs[pairs["mask_id"].isna()]["status"].tolist() == ["missing", "missing"]
    image = next(i for i in imgindex.import_image_and_mask(str(tmp_path), mask=str(tmp_path)) if i.volume_index == 2)
    sphere = image.associated_masks[0].read(reference=image)["sphere"]
    volume = sitk.GetArrayFromImage(sphere).sum() * np.prod(sphere.GetSpacing())
    assert volume == pytest.approx(4 / 3 * np.pi * data.radius**3, rel=0.05)


def test_a_seg_of_one_volume_goes_to_that_volume(tmp_path):
    """A SEG whose frames name the instances of volume 1 (SourceImageSequence) is paired with volume 1 only."""
    from pydicom.uid import MRImageStorage

    from imgindex.examples._dicom import _dicom_bytes, _Subject
    from imgindex.examples.seg import segmentation

    data = write_series_dataset(tmp_path, n_volumes=3, split_by="echo", n_slices=8)
    first = pydicom.dcmread(data.files[0], stop_before_pixels=True)
    subject = _Subject(str(first.PatientID), str(first.StudyInstanceUID), {"MR": str(first.FrameOfReferenceUID)})
    columns, rows = data.size
    i, j = np.meshgrid(np.arange(columns), np.arange(rows))
    in_plane = (i[..., None] * data.spacing[0] * np.asarray(data.row)) + (
        j[..., None] * data.spacing[1] * np.asarray(data.column)
    )
    sphere = np.stack([data.truth(p + in_plane) > 0.5 for p in data.positions])
    seg = segmentation(
        subject,
        uid="1.2.3.4.5.6",
        series_number=300,
        description="SEG sphere",
        label="SPHERE",
        source_series=data.series_uid,
        source_class=MRImageStorage,
        sops=data.sop_uids[1],
        masks={"sphere": sphere},
        positions=[list(p) for p in data.positions],
        orientation=[*data.row, *data.column],
        spacing=(*data.spacing, 2.5),
        frame_of_reference=str(first.FrameOfReferenceUID),
    )
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "SEG.dcm").write_bytes(_dicom_bytes(seg))
    index = index_of(tmp_path, mask=str(tmp_path))[0]
    (mask,) = index.masks.itertuples()
    images = index.images.rename(columns={"object_id": "image_id"})
    pairs = index.pairs.merge(images[["image_id", "volume_index"]], on="image_id")
    paired = pairs[pairs["mask_id"].notna()]
    assert paired["volume_index"].tolist() == [1] and paired["mask_id"].tolist() == [mask.object_id]
    assert paired["status"].tolist() == ["ok"] and paired["evidence"].str.contains("refers to instances").all()
    assert mask.modality == "seg"
