"""Decoding DICOM pixel data (issue 12, items 5 and 6): colour as RGB, projection spacing, explained failures.

References: SimpleITK (GDCM) for RGB voxels and projection spacing, pydicom's own decoders for
the stored values, and the same series written uncompressed and compressed for the claim that the
voxel type (and the voxels) do not depend on the decoder that ran.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from _pydicom_files import bundled_file

from imgindex import ImageFile
from imgindex.errors import AllocationError, DecodeError, ImgIndexError
from imgindex.examples import write_series_dataset
from imgindex.voxels import decode, read_grid


def image_of(path) -> ImageFile:
    return ImageFile(file_path=str(path), file_type="dicom")


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2D files without a position: "origin 0 assumed"
        return function(*args, **kwargs)


def gdcm_array(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


COLOUR = [
    "examples_palette.dcm",  # PALETTE COLOR, 16-bit table entries of an 8-bit image
    "examples_ybr_color.dcm",  # YBR_FULL_422 JPEG baseline, 30 frames
    "SC_ybr_full_422_uncompressed.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",  # YBR_FULL JPEG baseline
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "examples_jpeg2k.dcm",  # YBR_RCT JPEG 2000
    "examples_rgb_color.dcm",
]


@pytest.mark.parametrize("name", COLOUR)
def test_colour_reads_as_rgb_equal_to_gdcm(name):
    path = bundled_file(name)
    image = quietly(image_of(path).read)
    assert image.GetNumberOfComponentsPerPixel() == 3
    assert image.GetPixelIDTypeAsString() == "vector of 8-bit unsigned integer"
    theirs = gdcm_array(path)
    ours = sitk.GetArrayFromImage(image)
    assert ours.shape == (max(1, theirs.shape[0] if theirs.ndim == 4 else 1), *theirs.shape[-3:])
    np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs)


def test_palette_colours_are_the_lookup_tables(tmp_path):
    ds = pydicom.dcmread(bundled_file("examples_palette.dcm"))
    rgb = quietly(image_of(bundled_file("examples_palette.dcm")).to_numpy)[0]
    index = ds.pixel_array
    red = np.frombuffer(ds.RedPaletteColorLookupTableData, np.uint16)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    np.testing.assert_array_equal(rgb[..., 0], (red[np.clip(index.astype(int) - first, 0, len(red) - 1)] >> 8))


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG2000.dcm",
        "6154",  # CR, MONOCHROME1, RescaleSlope 0.684 and intercept 200
        "examples_palette.dcm",
        "examples_ybr_color.dcm",
        "rtdose.dcm",
        "rtdose_rle.dcm",
        "image_dfl.dcm",
    ],
)
def test_gdcm_fallback_gives_the_same_voxels_and_type(name, monkeypatch):
    """The voxel type and values of a file do not depend on which decoder read it."""
    item = image_of(bundled_file(name))
    by_pydicom = quietly(item.to_numpy)

    def no_plugin(*args, **kwargs):
        raise RuntimeError("no pydicom plugin (simulated)")

    monkeypatch.setattr(decode, "_native", lambda *args: None)
    monkeypatch.setattr(decode, "_pydicom", no_plugin)
    by_gdcm = quietly(item.to_numpy)
    assert by_gdcm.dtype == by_pydicom.dtype
    np.testing.assert_allclose(by_gdcm, by_pydicom, rtol=1e-6, atol=0)


def _jpeg_lossless(path: Path, target: Path) -> None:
    """Re-encode one file's pixel data as JPEG Lossless (process 14, SV1), by GDCM, keeping its header."""
    ds = pydicom.dcmread(path)
    scratch = target.with_name(target.stem + "_by_gdcm.dcm")
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(scratch))
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")
    writer.Execute(sitk.GetImageFromArray(ds.pixel_array))
    compressed = pydicom.dcmread(scratch)
    scratch.unlink()
    assert compressed.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLosslessSV1
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLosslessSV1
    ds.PixelData = compressed.PixelData
    ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    ds.save_as(target)


def test_voxel_type_of_a_series_does_not_depend_on_its_compression(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=6, shuffle=False)
    mixed = []
    for k, path in enumerate(data.files):  # every other slice JPEG lossless: pydicom needs a plugin for it
        target = tmp_path / f"mixed_{k}.dcm"
        if k % 2:
            _jpeg_lossless(path, target)
        else:
            shutil.copy(path, target)
        mixed.append(str(target))
    plain = ImageFile(file_paths=tuple(map(str, data.files)), file_type="dicom").read()
    compressed = ImageFile(file_paths=tuple(mixed), file_type="dicom").read()
    assert compressed.GetPixelIDTypeAsString() == plain.GetPixelIDTypeAsString() == "32-bit signed integer"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(compressed), sitk.GetArrayFromImage(plain))


def test_decode_failure_names_the_file_the_syntax_and_the_decoders(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=2, shuffle=False)
    target = tmp_path / "broken.dcm"
    _jpeg_lossless(data.files[0], target)
    ds = pydicom.dcmread(target)
    fragments = bytearray(ds.PixelData)
    fragments[40:-2] = bytes(len(fragments) - 42)  # the compressed stream wiped, its container kept
    ds.PixelData = bytes(fragments)
    ds.save_as(target)
    with pytest.raises(DecodeError) as caught:
        quietly(image_of(target).read)
    message = str(caught.value)
    assert str(target) in message
    assert "JPEG Lossless" in message and pydicom.uid.JPEGLosslessSV1 in message
    assert "pydicom" in message and "GDCM" in message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ImgIndexError)


def test_files_without_voxels_are_explained(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=2, shuffle=False)
    ds = pydicom.dcmread(data.files[0])
    del ds.PixelData
    ds.save_as(tmp_path / "no_pixels.dcm")
    with pytest.raises(DecodeError, match=r"no_pixels.dcm has no pixel data"):
        image_of(tmp_path / "no_pixels.dcm").read()
    for name in ("Rows", "Columns"):
        delattr(ds, name)
    ds.save_as(tmp_path / "header_only.dcm")
    with pytest.raises(DecodeError, match=r"header_only.dcm has no image \(no Rows/Columns"):
        image_of(tmp_path / "header_only.dcm").read()
    with pytest.raises(DecodeError, match="DICOMDIR has no image"):  # what users hit on a CD
        read_grid(image_of(bundled_file("DICOMDIR")))
    (tmp_path / "junk.dcm").write_bytes(b"not a DICOM file at all" * 10)
    with pytest.raises(ImgIndexError, match=r"junk\.dcm"):
        image_of(tmp_path / "junk.dcm").read()


def test_projection_images_use_imager_pixel_spacing(tmp_path):
    path = bundled_file("6154")  # a CR without PixelSpacing; ImagerPixelSpacing 0.1 mm
    ds = pydicom.dcmread(path)
    assert "PixelSpacing" not in ds and [float(v) for v in ds.ImagerPixelSpacing] == [0.1, 0.1]
    grid = quietly(read_grid, image_of(path))
    assert grid.spacing[:2] == pytest.approx((0.1, 0.1))
    assert grid.spacing[:2] == pytest.approx(sitk.ReadImage(path).GetSpacing()[:2])  # GDCM's spacing
    ds.EstimatedRadiographicMagnificationFactor = 1.25  # at the patient: the detector's spacing / magnification
    ds.ImagerPixelSpacing = [0.15, 0.125]
    ds.save_as(tmp_path / "magnified.dcm")
    image = quietly(image_of(tmp_path / "magnified.dcm").read)
    assert image.GetSpacing()[:2] == pytest.approx((0.125 / 1.25, 0.15 / 1.25))  # (x, y) = (column, row)
    ds.PixelSpacing = [0.2, 0.2]  # PixelSpacing, when present, is the spacing
    ds.save_as(tmp_path / "calibrated.dcm")
    assert quietly(read_grid, image_of(tmp_path / "calibrated.dcm")).spacing[:2] == pytest.approx((0.2, 0.2))


def test_unused_high_bits_are_ignored_and_the_type_is_the_headers(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=3, shuffle=False)
    files = []
    for k, path in enumerate(data.files):
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array.astype(np.int32)  # 24 .. 1124: 12 bits unsigned will do
        ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 12, 11
        ds.PixelData = (stored.astype(np.uint16) | np.uint16(0xF000)).tobytes()  # junk in the 4 unused bits
        ds.RescaleIntercept = -2048
        target = tmp_path / f"12bit_{k}.dcm"
        ds.save_as(target)
        files.append(str(target))
    image = ImageFile(file_paths=tuple(files), file_type="dicom").read()
    assert image.GetPixelIDTypeAsString() == "16-bit signed integer"  # 0..4095 - 2048 fits int16
    original = ImageFile(file_paths=tuple(map(str, data.files)), file_type="dicom").to_numpy()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), original + 1024 - 2048)
    reader = sitk.ImageSeriesReader()  # GDCM decides the same type and ignores the same bits
    reader.SetFileNames(files)
    gdcm = reader.Execute()
    assert gdcm.GetPixelIDTypeAsString() == image.GetPixelIDTypeAsString()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(gdcm), sitk.GetArrayFromImage(image))


def test_truncated_pixel_data_is_not_read():
    with pytest.raises(AllocationError, match=r"MR_truncated.dcm: its header claims pixel data stored in 8.0 KiB"):
        image_of(bundled_file("MR_truncated.dcm")).read()


def test_files_of_one_series_with_other_bit_depths_share_one_type(tmp_path):
    data = write_series_dataset(tmp_path / "plain", n_slices=4, shuffle=False)
    files = []
    for k, path in enumerate(data.files):
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array
        if k % 2 == 0:  # 12 bits unsigned (the first file too): its own type is int16
            ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 12, 11
            ds.PixelData = stored.astype(np.uint16).tobytes()
        else:  # 16 bits signed with intercept -1024: int32, and this one needs it
            stored = stored.copy()
            stored[0, 0] = -32768
            ds.PixelData = stored.tobytes()
        target = tmp_path / f"mixed_{k}.dcm"
        ds.save_as(target)
        files.append(str(target))
    mixed = ImageFile(file_paths=tuple(files), file_type="dicom").read()
    assert mixed.GetPixelIDTypeAsString() == "32-bit signed integer"
    each = np.concatenate([ImageFile(file_path=f, file_type="dicom").to_numpy() for f in files])
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mixed), each)
    assert each.min() == -32768 - 1024
