"""Edge cases of reading voxels: what each is checked against is said in each test.

Rescale and voxel type against pydicom's modality LUT; files SimpleITK cannot hold as 3D, unknown
types and bad grids are clear errors; slices beside a gap within half a voxel of the grid; label
maps keep their labels between unevenly spaced slices; headers that lie to the bounded reads
(NIfTI-2, complex voxels, a corrupt gzip stream, a file that is not numpy, pickled numpy) are
refused naming the file.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut

from imgindex import ImageFile
from imgindex.errors import AllocationError, DecodeError, ImgIndexError, InputError
from imgindex.examples import write_series_dataset
from imgindex.voxels import Grid, limits, read_grid, read_image
from imgindex.voxels.dicom import read_dicom
from imgindex.voxels.layout import plan, resample


def rewrite(data, folder: Path, change) -> list[str]:
    """The files of a written series, each changed by ``change(k, ds)`` and saved under ``folder``."""
    folder.mkdir()
    out = []
    for k, path in enumerate(data.files):
        ds = pydicom.dcmread(path)
        change(k, ds)
        target = folder / f"slice_{k}.dcm"
        ds.save_as(target, enforce_file_format=True)
        out.append(str(target))
    return out


def modality_lut(paths) -> np.ndarray:
    """pydicom's real-world values of each file, in slice order (the files are written in order)."""
    return np.stack([apply_modality_lut(pydicom.dcmread(p).pixel_array, pydicom.dcmread(p)) for p in paths])


def test_integer_rescale_with_a_slope_stays_integer_and_equals_pydicom(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=4, shuffle=False)

    def doubled(k, ds):
        ds.RescaleSlope, ds.RescaleIntercept = 2, -1024

    paths = rewrite(data, tmp_path / "doubled", doubled)
    image = ImageFile(file_paths=tuple(paths), file_type="dicom").read()
    assert image.GetPixelIDTypeAsString() == "32-bit signed integer"  # int16 stored * 2 - 1024 needs int32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), modality_lut(paths))


def test_one_fractional_slope_makes_the_whole_series_float(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=4, shuffle=False)

    def one_fractional(k, ds):
        if k == 2:
            ds.RescaleSlope = 0.5

    paths = rewrite(data, tmp_path / "fractional", one_fractional)
    image = ImageFile(file_paths=tuple(paths), file_type="dicom").read()
    assert image.GetPixelIDTypeAsString() == "32-bit float"
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), modality_lut(paths).astype(np.float32))


def test_a_rescale_no_integer_type_holds_is_float(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=2, shuffle=False)

    def huge_slope(k, ds):
        ds.RescaleSlope = 10**15  # 16-bit values times 1e15: beyond int64

    paths = rewrite(data, tmp_path / "huge", huge_slope)
    image = ImageFile(file_paths=tuple(paths), file_type="dicom").read()
    assert image.GetPixelIDTypeAsString() == "32-bit float"
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), modality_lut(paths), rtol=1e-6)


@pytest.mark.parametrize(("keyword", "kind"), [("FloatPixelData", np.float32), ("DoubleFloatPixelData", np.float64)])
def test_float_pixel_data_read_as_float32_equal_to_pydicom(tmp_path, keyword, kind):
    data = write_series_dataset(tmp_path / "plain", n_slices=3, shuffle=False)
    rng = np.random.default_rng(3)

    def floating(k, ds):
        values = (rng.standard_normal((int(ds.Rows), int(ds.Columns))) * 100).astype(kind)
        del ds.PixelData
        for name in ("BitsStored", "HighBit", "PixelRepresentation", "RescaleSlope", "RescaleIntercept"):
            if name in ds:
                delattr(ds, name)
        ds.BitsAllocated = 8 * values.itemsize
        setattr(ds, keyword, values.tobytes())

    paths = rewrite(data, tmp_path / keyword, floating)
    image = ImageFile(file_paths=tuple(paths), file_type="dicom").read()
    assert image.GetPixelIDTypeAsString() == "32-bit float"
    expected = np.stack([pydicom.dcmread(p).pixel_array for p in paths]).astype(np.float32)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)


def test_an_unknown_transfer_syntax_is_explained(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=2, shuffle=False)
    ds = pydicom.dcmread(data.files[0])
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"  # nobody's: neither pydicom nor GDCM decodes it
    target = tmp_path / "private_syntax.dcm"
    ds.save_as(target)
    with pytest.raises(DecodeError) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ImageFile(file_path=str(target), file_type="dicom").read()
    message = str(caught.value)
    assert "private_syntax.dcm" in message and "1.2.3.4.5.6.7" in message
    assert "Transfer syntax: unknown to pydicom" in message and "pydicom has no decoder" in message


def test_an_object_without_files_is_an_input_error():
    with pytest.raises(InputError, match="at least one file"):
        read_dicom([])


def test_four_dimensional_files_and_unknown_types_are_clear_errors(tmp_path):
    path = tmp_path / "four_d.nii.gz"
    sitk.WriteImage(sitk.Image([4, 3, 2, 2], sitk.sitkInt16), str(path))
    item = ImageFile(file_path=str(path), file_type="nifti")
    for read in (read_image, read_grid):
        with pytest.raises(InputError, match=r"four_d\.nii\.gz has 4 dimensions"):
            read(item)
    with pytest.raises(InputError, match=r"Unknown file type 'png'"):
        read_grid(ImageFile(file_path=str(path), file_type="png"))
    with pytest.raises(InputError, match="this image has 4 dimensions"):
        Grid.of(sitk.Image([4, 3, 2, 2], sitk.sitkInt16))
    with pytest.raises(InputError, match="3 sizes"):
        Grid((4, 3), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def test_the_grid_of_nifti_files_equals_simpleitk_without_reading_voxels(tmp_path):
    image = sitk.Image([5, 4, 3], sitk.sitkInt16)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-10.0, 4.0, 30.0))
    sitk.WriteImage(image, str(tmp_path / "volume.nii.gz"))
    grid = read_grid(ImageFile(file_path=str(tmp_path / "volume.nii.gz"), file_type="nifti"))
    assert grid == Grid.of(sitk.ReadImage(str(tmp_path / "volume.nii.gz")))
    slices = []
    for k in range(3):  # a stack of 2D slices: the first slice's geometry, its spacing
        plane = sitk.Image([5, 4], sitk.sitkInt16) + k
        plane.SetSpacing((0.7, 0.8))
        slices.append(str(tmp_path / f"slice_{k}.nii.gz"))
        sitk.WriteImage(plane, slices[-1])
    stack = ImageFile(file_paths=tuple(slices), file_type="nifti")
    assert read_grid(stack).size == (5, 4, 3)
    assert read_grid(stack).spacing[:2] == pytest.approx((0.7, 0.8))
    np.testing.assert_array_equal(stack.to_numpy()[:, 0, 0], [0, 1, 2])


def test_slices_beside_a_gap_are_snapped_within_half_a_voxel():
    z = np.array([0.0, 2.0, 4.0, 8.6, 10.6])  # the slice at 6 is missing; those after it are 0.6 mm off
    positions = np.column_stack([np.zeros(5), np.zeros(5), z])
    layout = plan(positions, (1, 0, 0, 0, 1, 0), (1.0, 1.0), (1, 1))
    assert layout.grid.size[2] == 6 and layout.resampled
    grid_z = layout.grid.origin[2] + layout.grid.spacing[2] * np.arange(6)
    copied = layout.slot_of()
    assert copied.tolist()[:4] == [0, 1, 2, 4]  # slice 8.6 goes to the grid slice at 8
    assert np.all(np.abs(grid_z[copied[copied >= 0]] - z[copied >= 0]) <= layout.grid.spacing[2] / 2)
    assert any("moved by less than half a slice" in note for note in layout.notes)
    assert any("missing slices: 1 empty" in note for note in layout.notes)
    values = np.array([10, 20, 30, 40, 50], np.int16).reshape(5, 1, 1)
    out = resample(layout, values)[:, 0, 0]
    assert out.tolist()[:5] == [10, 20, 30, 10, 40]  # the gap holds the minimum, not an interpolation
    assert 40 < out[5] < 50  # the grid slice at 10 lies between the slices at 8.6 and 10.6


def test_label_maps_between_unevenly_spaced_slices_keep_their_labels():
    z = np.array([0.0, 2.0, 3.0, 4.0, 6.0, 8.0])  # 3.0: uneven; the grid (median 2 mm) is 0, 2, ..., 8
    positions = np.column_stack([np.zeros(6), np.zeros(6), z])
    layout = plan(positions, (1, 0, 0, 0, 1, 0), (1.0, 1.0), (1, 1))
    labels = np.array([1, 2, 7, 3, 4, 5], np.uint8).reshape(6, 1, 1)
    nearest = resample(layout, labels, nearest=True)[:, 0, 0]
    assert set(nearest.tolist()) <= set(labels.ravel().tolist())  # no label made up between two others
    linear = resample(layout, labels)[:, 0, 0]
    assert nearest.tolist() == [1, 2, 3, 4, 5] == linear.tolist()  # grid slices on stored ones are copied


def test_a_nifti2_file_is_an_error_naming_it(tmp_path):
    header = bytearray(544)  # NIfTI-2: SimpleITK (ITK 5.4) reads no NIfTI-2 header, so neither do we
    header[0:4] = np.int32(540).tobytes()
    header[4:12] = b"n+2\0\r\n\x1a\n"
    header[12:16] = np.array([4, 16], np.int16).tobytes()
    header[16:80] = np.array([3, 8, 8, 8, 1, 1, 1, 1], np.int64).tobytes()
    header[104:168] = np.ones(8, np.float64).tobytes()
    header[168:176] = np.int64(544).tobytes()
    path = tmp_path / "version2.nii"
    path.write_bytes(bytes(header) + bytes(1024))
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(path))
    with pytest.raises(DecodeError, match=r"SimpleITK could not read the header of .*version2\.nii"):
        ImageFile(file_path=str(path), file_type="nifti").read()


def test_complex_voxels_are_counted_at_their_size(tmp_path):
    path = str(tmp_path / "complex.nrrd")
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkComplexFloat64), path)
    assert limits.itk_claim(path)[0] == 64 * 16  # two float64 per voxel
    with pytest.raises(AllocationError, match=r"complex\.nrrd"):
        read_image(ImageFile(file_path=path, file_type="nrrd"), max_bytes=64 * 16 - 1)
    assert read_image(ImageFile(file_path=path, file_type="nrrd"), max_bytes=64 * 16).GetSize() == (4, 4, 4)
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkComplexFloat32), path)
    assert limits.itk_claim(path)[0] == 64 * 8


def test_a_corrupt_gzip_stream_is_refused_not_read_as_zeros(tmp_path):
    voxels = np.arange(32**3, dtype=np.int16)
    header = bytearray(352)
    header[0:4] = np.int32(348).tobytes()
    header[40:56] = np.array([3, 32, 32, 32, 1, 1, 1, 1], np.int16).tobytes()
    header[70:74] = np.array([4, 16], np.int16).tobytes()
    header[76:108] = np.ones(8, np.float32).tobytes()
    header[108:112] = np.float32(352).tobytes()
    header[344:348] = b"n+1\0"
    stream = bytearray(gzip.compress(bytes(header) + voxels.tobytes(), compresslevel=1))
    stream[len(stream) // 2 : len(stream) // 2 + 64] = b"\xff" * 64  # corrupt in the middle
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(bytes(stream))
    with pytest.raises(ImgIndexError, match=r"corrupt\.nii\.gz"):
        ImageFile(file_path=str(path), file_type="nifti").read()


def test_files_that_are_not_numpy_or_hold_pickles_are_refused(tmp_path):
    (tmp_path / "text.npy").write_bytes(b"these are not the arrays you are looking for")
    with pytest.raises(DecodeError, match=r"text\.npy is not a readable numpy file"):
        ImageFile(file_path=str(tmp_path / "text.npy"), file_type="numpy").read()
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DecodeError, match=r"objects\.npy holds Python objects"):
        ImageFile(file_path=str(tmp_path / "objects.npy"), file_type="numpy").read()


def test_without_knowing_the_memory_the_limit_is_four_gib(monkeypatch):
    monkeypatch.delenv(limits.ENVIRONMENT_VARIABLE, raising=False)

    def unknown(name):
        raise ValueError(name)

    monkeypatch.setattr(limits.os, "sysconf", unknown)
    assert limits.max_voxel_bytes() == 4 * limits.MINIMUM_DEFAULT
