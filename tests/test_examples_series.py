"""The known-answer series of ``imgindex.examples.write_series_dataset`` hold what their ground truth says.

The report's tests use these series; here every split and the multi-frame form are read back by
pydicom (the attributes) and SimpleITK/GDCM (the voxels of single-frame files) and compared with
the returned :class:`SeriesDataset`, never with imgindex's own readers.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from imgindex.examples import write_series_dataset
from imgindex.examples.series import SPLITS


def _volume_of(data, ds) -> tuple[int, int]:
    for j, uids in enumerate(data.sop_uids):
        if ds.SOPInstanceUID in uids:
            return j, uids.index(ds.SOPInstanceUID)
    raise AssertionError(f"{ds.SOPInstanceUID} is not in the ground truth")


@pytest.mark.parametrize("split_by", sorted(SPLITS))
def test_every_split_writes_the_volumes_its_truth_describes(tmp_path, split_by):
    data = write_series_dataset(tmp_path, n_volumes=3, split_by=split_by, n_slices=4, size=(12, 10), missing=[2])
    assert data.modality == SPLITS[split_by] and len(data.files) == 3 * 3
    assert len(data.positions) == 3 and data.missing == (2,)
    seen = set()
    for path in data.files:
        ds = pydicom.dcmread(path)
        j, k = _volume_of(data, ds)
        seen.add((j, k))
        assert ds.Modality == data.modality and ds.SeriesInstanceUID == data.series_uid
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], data.all_positions[k], atol=1e-4)
        for keyword, value in (data.keys[j] or {}).items():
            found = ds.get(keyword)
            if keyword == "ContentTime":
                continue  # jittered per slice; checked below
            if keyword == "TriggerTime":
                assert float(found) == pytest.approx(value + 0.1 * k)
            elif isinstance(value, (tuple, list)):
                assert [type(v)(f) for v, f in zip(value, found, strict=True)] == list(value)
            else:
                assert type(value)(found) == value
        image = sitk.ReadImage(str(path))
        voxels = sitk.GetArrayFromImage(image)[0].astype(float)
        points = np.array(
            [image.TransformIndexToPhysicalPoint((x, y, 0)) for y in range(data.size[0]) for x in range(data.size[1])]
        )
        expected = data.background + (data.values[j] - data.background) * data.truth(points)
        np.testing.assert_allclose(voxels.ravel(), expected, atol=0.51)  # stored as integers
    assert seen == {(j, k) for j in range(3) for k in (0, 1, 3)}
    if split_by == "content_time":
        times = {_volume_of(data, d)[0]: d.ContentTime for d in map(pydicom.dcmread, data.files)}
        assert len(set(times.values())) == 3


def test_duplicates_and_plain_names(tmp_path):
    data = write_series_dataset(tmp_path, n_slices=3, size=(6, 6), duplicates=2, shuffle=False)
    assert [p.name for p in data.files] == [f"{k:04d}.dcm" for k in range(5)]
    uids = [pydicom.dcmread(p).SOPInstanceUID for p in data.files]
    assert len(set(uids)) == 3 and uids[3:] == uids[:2]


def test_a_tilted_series_progresses_along_the_table(tmp_path):
    data = write_series_dataset(tmp_path, n_slices=3, size=(6, 6), tilt=15.0)
    ds = pydicom.dcmread(data.files[0])
    assert float(ds.GantryDetectorTilt) == 15.0
    cosines = np.array([float(v) for v in ds.ImageOrientationPatient])
    np.testing.assert_allclose(cosines[3:], [0, np.cos(np.radians(15)), np.sin(np.radians(15))], atol=1e-6)
    np.testing.assert_allclose(np.diff(data.positions, axis=0), [[0, 0, 2.5]] * 2)


@pytest.mark.parametrize("split_by", ["diffusion", "echo", "temporal", "trigger", "acquisition"])
def test_a_multiframe_file_holds_every_frame_with_its_position(tmp_path, split_by):
    data = write_series_dataset(tmp_path, n_volumes=2, split_by=split_by, n_slices=3, size=(8, 6), multiframe=True)
    [path] = data.files
    ds = pydicom.dcmread(path)
    assert int(ds.NumberOfFrames) == 6 and ds.Modality == data.modality
    positions = [
        [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        for group in ds.PerFrameFunctionalGroupsSequence
    ]
    np.testing.assert_allclose(positions, np.concatenate([data.positions, data.positions]), atol=1e-4)
    frames = ds.pixel_array.astype(float)
    intercept = -1024.0 if data.modality == "CT" else 0.0
    for j in range(2):
        assert frames[3 * j + 1].max() + intercept == pytest.approx(data.values[j], abs=0.51)  # the sphere's middle
    if split_by == "diffusion":
        b = [g.MRDiffusionSequence[0].DiffusionBValue for g in ds.PerFrameFunctionalGroupsSequence]
        assert b == [0.0] * 3 + [1000.0] * 3


def test_impossible_series_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown split_by"):
        write_series_dataset(tmp_path, split_by="colour")
    with pytest.raises(ValueError, match="n_slices >= 2"):
        write_series_dataset(tmp_path, n_slices=1)
    with pytest.raises(ValueError, match=r"do not exist: \[9\]"):
        write_series_dataset(tmp_path, n_slices=3, missing=[9])
