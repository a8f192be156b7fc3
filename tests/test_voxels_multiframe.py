"""Volumes of multi-frame files (issue 12, item 1's voxel part): an object may be some frames of one file.

The index side gives such objects a ``frames`` attribute (0-based frame numbers, ``None`` for all);
until it lands, the objects are built by hand here. References: the phantom's ground truth and the
same design written as single-frame files, read as a series (equal to SimpleITK's series reader).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from imgindex import ImageFile
from imgindex.errors import AllocationError, InputError
from imgindex.examples import write_series_dataset
from imgindex.voxels import read_grid, read_image


@dataclass(slots=True, eq=False)
class VolumeFile(ImageFile):
    """An image object that is some frames of a multi-frame file (what the index will build)."""

    frames: tuple[int, ...] | None = None


def volume_files(data, j: int) -> tuple[str, ...]:
    """The single-frame files of volume ``j`` of a phantom, by their SOPInstanceUIDs."""
    uids = set(data.sop_uids[j])
    return tuple(str(p) for p in data.files if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID in uids)


def gdcm(paths) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sorted(paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])))
    return reader.Execute()


@pytest.mark.parametrize("split_by", ["diffusion", "echo", "temporal", "trigger", "acquisition", "none"])
def test_each_volume_of_an_enhanced_file_is_its_frames(tmp_path, split_by):
    kwargs = {"n_volumes": 3, "split_by": split_by, "n_slices": 8}
    enhanced = write_series_dataset(tmp_path / "enhanced", multiframe=True, **kwargs)
    single = write_series_dataset(tmp_path / "single", **kwargs)
    n = len(enhanced.positions)
    rng = np.random.default_rng(1)
    for j in range(3):
        frames = tuple(
            int(f) for f in rng.permutation(np.arange(j * n, (j + 1) * n))
        )  # any order: sorted along the normal
        volume = VolumeFile(
            file_path=str(enhanced.files[0]), file_paths=(str(enhanced.files[0]),), file_type="dicom", frames=frames
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # one volume: no duplicated positions, nothing to warn about
            ours = volume.read()
        theirs = gdcm(volume_files(single, j))
        assert ours.GetSize() == theirs.GetSize() == (single.size[1], single.size[0], n)
        np.testing.assert_allclose(ours.GetOrigin(), theirs.GetOrigin(), atol=1e-6)
        np.testing.assert_allclose(ours.GetSpacing(), theirs.GetSpacing(), rtol=1e-9)
        np.testing.assert_allclose(ours.GetDirection(), theirs.GetDirection(), atol=1e-9)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs))
        assert sitk.GetArrayFromImage(ours).max() == pytest.approx(enhanced.values[j], abs=1)  # this volume's sphere
        assert read_grid(volume).same_as(read_grid(ImageFile(file_paths=volume_files(single, j), file_type="dicom")))


def test_all_frames_of_a_multi_volume_file_stay_together(tmp_path):
    data = write_series_dataset(tmp_path / "enhanced", multiframe=True, n_volumes=2, split_by="echo", n_slices=5)
    whole = ImageFile(file_path=str(data.files[0]), file_type="dicom")
    with pytest.warns(UserWarning, match="5 duplicated slice position"):
        image = whole.read()
    assert image.GetSize()[2] == 10  # nothing dropped: the frames as stored (the index splits such files)
    frames = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=None)
    with pytest.warns(UserWarning, match="duplicated"):
        assert frames.read().GetSize()[2] == 10  # frames=None: all frames
    null = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=float("nan"))  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="duplicated"):
        assert null.read().GetSize()[2] == 10  # a table's null read back as NaN: all frames too
    second = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=np.arange(5, 10))  # type: ignore[arg-type]
    as_tuple = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=(5, 6, 7, 8, 9))
    np.testing.assert_array_equal(second.to_numpy(), as_tuple.to_numpy())  # an array from a table, as a tuple
    assert second.to_numpy().shape[0] == 5


def test_a_tilted_volume_of_an_enhanced_file(tmp_path):
    data = write_series_dataset(
        tmp_path / "tilted", multiframe=True, n_volumes=2, split_by="temporal", tilt=20.0, n_slices=12
    )
    n = len(data.positions)
    volume = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=tuple(range(n, 2 * n)))
    with pytest.warns(UserWarning, match="gantry tilt"):
        image = volume.read()
    array = sitk.GetArrayFromImage(image).astype(float)
    weight = np.clip((array - data.background) / (data.values[1] - data.background), 0, None)
    index = np.argwhere(np.ones_like(array, dtype=bool))[:, ::-1].astype(float)
    world = np.array([image.TransformContinuousIndexToPhysicalPoint(p) for p in index[weight.ravel() > 0]])
    centre = (world * weight.ravel()[weight.ravel() > 0, None]).sum(0) / weight.sum()
    np.testing.assert_allclose(centre, data.centre, atol=0.1)
    assert array.max() == pytest.approx(data.values[1], abs=1)


def test_frames_that_do_not_exist_or_do_not_apply(tmp_path):
    data = write_series_dataset(tmp_path / "enhanced", multiframe=True, n_volumes=2, n_slices=4)
    path = str(data.files[0])
    for frames in ((0, 8), (-1, 2), (1, 1), ()):
        with pytest.raises(InputError, match="do not name distinct frames"):
            VolumeFile(file_path=path, file_type="dicom", frames=frames).read()
    series = write_series_dataset(tmp_path / "series", n_slices=3)
    with pytest.raises(InputError, match="frames of one multi-frame file"):
        VolumeFile(file_paths=tuple(map(str, series.files)), file_type="dicom", frames=(0,)).read()
    nifti = tmp_path / "image.nii.gz"
    sitk.WriteImage(sitk.Image(3, 3, 3, sitk.sitkInt16), str(nifti))
    with pytest.raises(InputError, match="frames select frames of a multi-frame DICOM file"):
        VolumeFile(file_path=str(nifti), file_type="nifti", frames=(0,)).read()


def test_the_read_limit_counts_the_frames_read(tmp_path):
    data = write_series_dataset(tmp_path / "enhanced", multiframe=True, n_volumes=4, n_slices=10, size=(64, 64))
    n = len(data.positions)
    one = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=tuple(range(n)))
    limit = 64 * 64 * n * 4 + 1  # one volume of int32 fits, the whole file does not
    assert read_image(one, max_bytes=limit).GetSize()[2] == n
    everything = ImageFile(file_path=str(data.files[0]), file_type="dicom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AllocationError, match="40 frame"):
            read_image(everything, max_bytes=limit)
