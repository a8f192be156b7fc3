"""The fast voxel path (issue 15, items 4 and 6): identical to SimpleITK's series reader and to the pydicom path.

References: SimpleITK's ``ImageSeriesReader`` (GDCM) for the voxels and the geometry of
synthetic series written with pydicom in every uncompressed encoding the fast path reads, and of
the real patient's CT, PET and MR (skipped cleanly without ``../shared/data``); the pydicom path
of the same reader (the fast path switched off) for what GDCM shows differently (MONOCHROME1,
unused high bits) and for every file the fast path leaves to it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

import imgindex
from imgindex import ImageFile
from imgindex.voxels import dicom, elements, native, read_image
from imgindex.voxels.buffer import ImageTarget, empty_image
from imgindex.voxels.dicom import read_dicom

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def write_series(
    folder: Path,
    stored: np.ndarray,
    *,
    syntax: str = ExplicitVRLittleEndian,
    bits_stored: int | None = None,
    slopes=None,
    intercepts=None,
    photometric: str = "MONOCHROME2",
    spacing=(0.7, 0.9),
    step: float = 2.5,
    extra=None,
) -> list[str]:
    """One file per slice of ``stored`` (n, rows, cols), its dtype deciding BitsAllocated and the sign."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, cols = stored.shape
    series, frame = generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = syntax
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.StudyInstanceUID = "CT", "P", generate_uid()
        ds.SeriesInstanceUID, ds.FrameOfReferenceUID, ds.InstanceNumber = series, frame, k + 1
        ds.ImagePositionPatient = [-10.0, 5.5, 3.0 + step * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = list(spacing)
        ds.SliceThickness = step
        ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = stored.dtype.itemsize * 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
        if slopes is not None:
            ds.RescaleSlope = slopes[k]
        if intercepts is not None:
            ds.RescaleIntercept = intercepts[k]
        for keyword, value in (extra or {}).items():
            setattr(ds, keyword, value)
        order = ">" if syntax == ExplicitVRBigEndian else "<"
        data = stored[k].astype(stored.dtype.newbyteorder(order)).tobytes()
        ds.PixelData = data + b"\0" * (len(data) % 2)
        ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
        path = folder / f"{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    return paths[::-1]  # not in order along the normal: the reader sorts


def gdcm(paths) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sorted(paths))
    return reader.Execute()


def pydicom_path(paths, monkeypatch, **kwargs):
    """The same reader with the fast path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(native, "headers", lambda _paths: None)
        return read_dicom(paths, **kwargs)


def assert_same(ours: sitk.Image, theirs: sitk.Image) -> None:
    assert ours.GetSize() == theirs.GetSize()
    np.testing.assert_allclose(ours.GetOrigin(), theirs.GetOrigin(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.GetSpacing(), theirs.GetSpacing(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.GetDirection(), theirs.GetDirection(), rtol=0, atol=1e-6)
    a, b = sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs)
    if (
        a.dtype == np.float32 and b.dtype == np.float64
    ):  # GDCM rescales 32-bit data to float64; the same values, rounded
        b = b.astype(np.float32)
    np.testing.assert_array_equal(a, b)


def image_of(paths) -> ImageFile:
    return ImageFile(file_paths=tuple(paths), file_type="dicom")


RNG = np.random.default_rng(15)
CASES = {
    # name: (stored values, write_series keywords)
    "int16 CT, intercept -1024": (RNG.integers(-1000, 3000, (6, 17, 23)).astype(np.int16), {"intercepts": [-1024] * 6}),
    "uint16, slopes and intercepts per slice": (
        RNG.integers(0, 4000, (5, 16, 9)).astype(np.uint16),
        {"slopes": [0.5, 0.25, 2.0, 1.5, 0.125], "intercepts": [-3.0, 0.0, 10.5, -1000.0, 2.25]},
    ),
    "int16, integral slopes per slice": (
        RNG.integers(-500, 500, (4, 8, 8)).astype(np.int16),
        {"slopes": [1, 2, 3, 1], "intercepts": [0, -10, 7, 100]},
    ),
    "uint8": (RNG.integers(0, 255, (3, 7, 5)).astype(np.uint8), {}),
    "int8": (RNG.integers(-128, 127, (3, 5, 7)).astype(np.int8), {}),
    "uint8 odd size, rescaled": (
        RNG.integers(0, 255, (4, 3, 5)).astype(np.uint8),
        {"slopes": [1, 1, 1, 1], "intercepts": [-100, -100, -100, -100]},
    ),
    "uint32": (RNG.integers(0, 2**31, (3, 4, 6)).astype(np.uint32), {}),
    "int32, fractional": (RNG.integers(-(2**30), 2**30, (3, 4, 4)).astype(np.int32), {"slopes": [0.1] * 3}),
    "implicit VR": (
        RNG.integers(-1000, 3000, (4, 11, 13)).astype(np.int16),
        {"syntax": ImplicitVRLittleEndian, "intercepts": [-1024] * 4},
    ),
    "explicit VR big endian int16": (
        RNG.integers(-1000, 3000, (4, 9, 10)).astype(np.int16),
        {"syntax": ExplicitVRBigEndian, "intercepts": [-1024] * 4},
    ),
    "explicit VR big endian uint16 fractional": (  # big endian: 16-bit OW only (8 and 32 bits go to pydicom)
        RNG.integers(0, 60000, (3, 6, 5)).astype(np.uint16),
        {"syntax": ExplicitVRBigEndian, "slopes": [0.5, 0.75, 1.25], "intercepts": [1, 2, 3]},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_equals_simpleitk_and_pydicom(name, tmp_path, monkeypatch):
    stored, options = CASES[name]
    paths = write_series(tmp_path / "series", stored, **options)
    assert native.headers(paths) is not None, "the fast path reads this series"
    ours = read_image(image_of(paths))
    assert_same(ours, gdcm(paths))
    grid, slow = pydicom_path(paths, monkeypatch)
    assert grid.size == ours.GetSize() and grid.origin == ours.GetOrigin() and grid.spacing == ours.GetSpacing()
    assert slow.dtype == sitk.GetArrayViewFromImage(ours).dtype
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ours), slow)
    fast_grid, fast = read_dicom(paths)  # the numpy path (to_numpy) gives the same
    assert fast_grid == grid and fast.dtype == slow.dtype
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_unused_high_bits_and_monochrome1_as_the_pydicom_path(photometric, tmp_path, monkeypatch):
    """GDCM shows MONOCHROME1 inverted and keeps dirty high bits; the reader's own rule is the pydicom path's."""
    stored = RNG.integers(0, 2**16, (4, 6, 7)).astype(np.uint16)  # values above 12 bits: the high bits are set
    paths = write_series(tmp_path / "s", stored, bits_stored=12, photometric=photometric, intercepts=[-1024] * 4)
    signed = write_series(tmp_path / "t", stored.view(np.int16), bits_stored=10, photometric=photometric)
    for series in (paths, signed):
        assert native.headers(series) is not None
        grid, fast = read_dicom(series)
        slow_grid, slow = pydicom_path(series, monkeypatch)
        assert grid == slow_grid and fast.dtype == slow.dtype
        np.testing.assert_array_equal(fast, slow)
        image = read_image(image_of(series))  # held: a view does not keep its image alive
        np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), slow)


def test_header_longer_than_the_first_read_and_sequences_are_walked(tmp_path, monkeypatch):
    """A large private element and undefined-length sequences before the pixel data."""
    stored = RNG.integers(-1000, 3000, (3, 5, 6)).astype(np.int16)
    item = pydicom.Dataset()
    item.CodeValue, item.CodeMeaning = "1", "x" * 40
    extra = {"ProcedureCodeSequence": pydicom.Sequence([item, item])}
    paths = write_series(tmp_path / "s", stored, extra=extra)
    for path in paths:  # a private OB element of 100 kB, and the sequence written with undefined lengths
        ds = pydicom.dcmread(path)
        ds.add_new(0x00091010, "OB", b"\1" * 100_000)
        ds.ProcedureCodeSequence.is_undefined_length = True
        for entry in ds.ProcedureCodeSequence:
            entry.is_undefined_length_sequence_item = True
        ds.save_as(path, enforce_file_format=True)
    assert native.headers(paths) is not None
    assert_same(read_image(image_of(paths)), gdcm(paths))
    np.testing.assert_array_equal(read_dicom(paths)[1], pydicom_path(paths, monkeypatch)[1])


def test_what_the_fast_path_leaves_to_pydicom(tmp_path):
    """RTDOSE, multi-frame files, short pixel data and files without a meta header go to pydicom."""
    stored = RNG.integers(0, 255, (2, 4, 4)).astype(np.uint8)
    rtdose = write_series(tmp_path / "dose", stored, extra={"Modality": "RTDOSE"})
    frames = write_series(tmp_path / "frames", stored, extra={"NumberOfFrames": 2})
    short = write_series(tmp_path / "short", stored)
    ds = pydicom.dcmread(short[0])
    ds.PixelData = ds.PixelData[:-4]
    ds.save_as(short[0], enforce_file_format=True)
    raw = write_series(tmp_path / "raw", stored)
    data = Path(raw[0]).read_bytes()  # the data set without preamble and meta: pydicom reads it with force=True
    Path(raw[0]).write_bytes(data[144 + int.from_bytes(data[140:144], "little") :])
    for paths in (rtdose, frames, short, raw):
        assert native.headers(paths) is None
    assert native.headers([str(tmp_path / "missing.dcm")]) is None


def test_a_file_that_changes_after_its_header_is_read_goes_to_pydicom(tmp_path, monkeypatch):
    stored = RNG.integers(-1000, 3000, (3, 5, 6)).astype(np.int16)
    paths = write_series(tmp_path / "s", stored, intercepts=[-1024] * 3)
    expected = pydicom_path(paths, monkeypatch)[1]

    def changed(*_args):
        raise elements.NotHandled("the file holds fewer pixel bytes than its header said")

    monkeypatch.setattr(native, "_read_into", changed)
    np.testing.assert_array_equal(read_dicom(paths)[1], expected)


def test_image_target_and_empty_image():
    target = ImageTarget()
    plain = target((2, 2, 2), np.dtype(np.float16))  # no SimpleITK image of this type: a numpy array
    assert isinstance(plain, np.ndarray) and target.image_of(plain, None) is None
    assert empty_image((2, 2), np.dtype(np.uint8)) is None
    target((2, 3, 4), np.dtype(np.int16))
    assert target.image_of(np.zeros((2, 3, 4), np.int16), None) is None  # another array


def test_walker_refuses_what_it_does_not_read_as_pydicom_does():
    meta = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\0"
    with pytest.raises(elements.NotHandled, match="DICM"):
        elements.walk(b"\0" * 200, {}, complete=True)
    with pytest.raises(elements.NeedMore):
        elements.walk(meta[:150], {}, complete=False)  # the head ends inside the transfer syntax
    with pytest.raises(elements.NotHandled, match="transfer syntax"):
        elements.walk(
            b"\0" * 128 + b"DICM" + b"\x02\x00\x01\x00OB\0\0\x02\0\0\0\0\1" + b"\x08\x00\x05\x00CS\0\0",
            {},
            complete=True,
        )
    lower_vr = meta + b"\x08\x00\x60\x00cs\x02\x00CT"
    with pytest.raises(elements.NotHandled, match="VR"):
        elements.walk(lower_vr, {}, complete=True)
    backwards = meta + b"\x08\x00\x60\x00CS\x02\x00CT" + b"\x08\x00\x50\x00SH\x00\x00"
    with pytest.raises(elements.NotHandled, match="out of order"):
        elements.walk(backwards, {}, complete=True)
    undefined = meta + b"\x08\x00\x60\x00LO\xff\xff"  # a short VR cannot be undefined: it is 65535 bytes long
    with pytest.raises(elements.NotHandled, match="truncated"):
        elements.walk(undefined, {0x00080060: None}, complete=True)
    undefined_text = meta + b"\x08\x00\x60\x00UT\0\0\xff\xff\xff\xff"
    with pytest.raises(elements.NotHandled, match="undefined length"):
        elements.walk(undefined_text, {}, complete=True)
    not_a_sequence = meta + b"\x08\x00\x60\x00CS\x02\x00CT"
    with pytest.raises(elements.NotHandled, match="not a sequence"):
        elements.walk(not_a_sequence, {0x00080060: {}}, complete=True)
    bad_item = meta + b"\x08\x00\x15\x11SQ\0\0\x08\0\0\0" + b"\x08\x00\x60\x00\0\0\0\0"
    with pytest.raises(elements.NotHandled, match="sequence item"):
        elements.walk(bad_item, {0x00081115: {}}, complete=True)
    found = elements.walk(meta + b"\x08\x00\x60\x00CS\x02\x00CT", {0x00080060: None}, complete=True)
    assert found.values == {0x00080060: b"CT"} and found.pixels is None and found.vrs == {0x00080060: b"CS"}


@pytest.fixture(scope="module")
def real_series(real_data):
    return sorted((real_data / "STS_001").glob("*/dicom/image"))


def test_real_patient_series_equal_simpleitk(real_series):
    assert len(real_series) == 3  # CT, MR_T1, PET
    for folder in real_series:
        image = imgindex.import_image(str(folder))[0]
        assert native.headers(image.file_paths) is not None, folder
        assert_same(image.read(), gdcm(image.file_paths))


def test_mask_grid_comes_from_the_index_and_no_pixels_are_read(tmp_path, monkeypatch):
    from imgindex.examples import write_shapes_dataset

    for oblique in (False, True):
        data = write_shapes_dataset(tmp_path / f"shapes_{oblique}", oblique=oblique, seg=False)
        image = imgindex.import_image_and_mask(str(data.root), mask=str(data.rtstruct))[0]
        reference = image.read()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {k: sitk.GetArrayFromImage(v) for k, v in image.associated_masks[0].read(reference).items()}

        def no_pixels(*_args, **_kwargs):
            raise AssertionError("the image's pixel data were read")

        with monkeypatch.context() as patch:
            patch.setattr(native, "read_volume", no_pixels)
            patch.setattr(native, "_read_into", no_pixels)
            patch.setattr(dicom, "_voxels", no_pixels)
            patch.setattr(dicom, "stored_values", no_pixels)
            if not oblique:  # the index holds the grid: not even a header is read
                patch.setattr(native, "read_header", no_pixels)
                patch.setattr(dicom, "open_dataset", no_pixels)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                masks = image.associated_masks[0].read(reference=image)
        assert list(masks) == list(expected) == list(data.expected)
        for name, mask in masks.items():
            assert mask.GetSize() == reference.GetSize() and mask.GetOrigin() == reference.GetOrigin()
            assert mask.GetSpacing() == reference.GetSpacing() and mask.GetDirection() == reference.GetDirection()
            np.testing.assert_array_equal(sitk.GetArrayViewFromImage(mask), expected[name])
            np.testing.assert_array_equal(sitk.GetArrayViewFromImage(mask).astype(bool), data.expected[name])


def test_slices_out_of_order_in_the_object(tmp_path, monkeypatch):
    """Files not in order along the normal land in their slots (here rescaled into a wider type, slice by slice)."""
    stored = RNG.integers(0, 65535, (5, 4, 6)).astype(np.uint16)
    paths = sorted(write_series(tmp_path / "s", stored, intercepts=[-1024] * 5))
    shuffled = [paths[i] for i in (0, 3, 1, 4, 2)]
    _grid, fast = read_dicom(shuffled)
    assert fast.dtype == np.int32
    np.testing.assert_array_equal(fast, pydicom_path(shuffled, monkeypatch)[1])
    np.testing.assert_array_equal(fast, stored.astype(np.int32) - 1024)


@pytest.mark.parametrize(
    ("change", "patch"),
    [
        (lambda ds: ds.add_new(0x00280010, "SS", 4) if ds.__delitem__(0x00280010) is None else None, None),  # SS
        (lambda ds: setattr(ds, "PhotometricInterpretation", " MONOCHROME2"), None),
        (lambda ds: setattr(ds, "PhotometricInterpretation", "RGB"), None),
        (None, (b"2.5 ", b"2,5 ")),  # a SliceThickness that float() refuses
        (lambda ds: setattr(ds, "SamplesPerPixel", [1, 1]), None),  # two values
    ],
    ids=["VR", "leading space", "colour", "bad DS", "two values"],
)
def test_headers_the_fast_path_does_not_read(change, patch, tmp_path):
    paths = write_series(tmp_path / "s", RNG.integers(0, 100, (1, 4, 4)).astype(np.uint16))
    if change is not None:
        ds = pydicom.dcmread(paths[0])
        change(ds)
        ds.save_as(paths[0], enforce_file_format=True)
    if patch is not None:
        data = Path(paths[0]).read_bytes()
        assert data.count(patch[0]) == 1
        Path(paths[0]).write_bytes(data.replace(*patch))
    with pytest.raises(elements.NotHandled):
        native.read_header(paths[0])


def test_empty_values_are_those_of_pydicom(tmp_path, monkeypatch):
    extra = {"SliceThickness": None, "PixelRepresentation": None}
    paths = write_series(tmp_path / "s", RNG.integers(0, 100, (2, 4, 4)).astype(np.uint16), extra=extra)
    header = native.read_header(paths[0]).header
    assert header["SliceThickness"] is None and header["PixelRepresentation"] is None
    np.testing.assert_array_equal(read_dicom(paths)[1], pydicom_path(paths, monkeypatch)[1])


def test_world_to_index_along_patient_axes_is_the_solve_bit_for_bit():
    """Along the patient's axes the grid picks coordinates: what np.linalg.solve gives, signs of zero too."""
    import itertools

    from imgindex.voxels import Grid

    points = np.r_[RNG.normal(0, 200, (2000, 3)), np.round(RNG.normal(0, 200, (50, 3)), 2), [[-12.3, 45.6, 7.89]]]
    for axes in itertools.permutations(range(3)):
        for signs in itertools.product((-1.0, 1.0), repeat=3):
            matrix = np.zeros((3, 3))
            matrix[list(axes), range(3)] = signs
            grid = Grid((5, 6, 7), (0.7, 0.9, 2.5), (-12.3, 45.6, 7.89), matrix.ravel())
            solved = np.linalg.solve(grid.matrix, (points - np.asarray(grid.origin)).T).T / np.asarray(grid.spacing)
            ours = grid.to_index(points)
            assert np.array_equal(ours, solved) and np.array_equal(np.signbit(ours), np.signbit(solved))
    oblique = Grid((5, 6, 7), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.8, -0.6, 0, 0.6, 0.8, 0, 0, 0, 1))
    np.testing.assert_allclose(oblique.to_world(oblique.to_index(points)), points, atol=1e-9)


def test_slice_planes_of_the_fast_path_are_pydicoms(tmp_path, monkeypatch):
    """The planes a SEG's frames are placed by (SOPInstanceUID → position, orientation, spacing)."""
    paths = write_series(tmp_path / "s", RNG.integers(0, 100, (3, 4, 5)).astype(np.uint16), spacing=(0.5, 0.75))
    assert native.headers(paths) is not None
    fast = dicom.slice_planes(paths)
    with monkeypatch.context() as patch:
        patch.setattr(native, "headers", lambda _paths: None)
        slow = dicom.slice_planes(paths)
    assert list(fast) == list(slow) == [pydicom.dcmread(p).SOPInstanceUID for p in paths]
    for uid, planes in slow.items():
        for ours, theirs in zip(fast[uid], planes, strict=True):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "options",
    [{}, {"tilt": 20.0}, {"missing": (5, 6)}, {"duplicates": 2}, {"n_volumes": 2, "split_by": "echo"}],
    ids=["regular", "tilt", "missing", "duplicates", "two volumes"],
)
def test_the_index_grid_is_the_image_grid_or_not_used(options, tmp_path):
    """Where the index's geometry gives the grid (mask.read(reference=image)), it is read_grid's to the bit."""
    from imgindex.examples import write_series_dataset
    from imgindex.voxels.image import index_grid, read_grid

    write_series_dataset(tmp_path / "s", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = imgindex.import_image(str(tmp_path / "s"))
        for image in images:
            grid = index_grid(image)
            assert grid is None or grid == read_grid(image)
    used = [index_grid(image) is not None for image in images]
    assert all(used) if options in ({}, {"n_volumes": 2, "split_by": "echo"}) else not any(used)
