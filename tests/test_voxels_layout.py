"""Every voxel where the patient was (issue 12, item 2): tilted, gapped and unevenly spaced series.

References: the phantom of :func:`imgindex.examples.write_series_dataset` (a sphere defined in
patient coordinates, so every voxel's true value at its physical point is known), SimpleITK's
series reader for the stack as stored, and the slices' own ImagePositionPatient. dcm2niix is the
reference of tests/test_voxels_dcm2niix.py.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from imgindex import ImageFile, MaskFile
from imgindex.examples import write_series_dataset
from imgindex.voxels import Grid, read_grid
from imgindex.voxels.layout import plan, resample


def series(data, files=None) -> ImageFile:
    """An image object of the phantom's files (sorted as the index sorts them: by name, then read())."""
    return ImageFile(file_paths=tuple(str(p) for p in (files or data.files)), file_type="dicom")


def points(image: sitk.Image) -> np.ndarray:
    """Physical points (z, y, x, 3) of every voxel of ``image``."""
    grid = Grid.of(image)
    index = np.stack(np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij"), -1)[..., ::-1]
    return grid.to_world(index.reshape(-1, 3)).reshape(*grid.shape, 3)


def truth(data, image: sitk.Image) -> np.ndarray:
    """The phantom's real-world values at the voxels of ``image`` (volume 0)."""
    return data.background + (data.values[0] - data.background) * data.truth(points(image))


def centroid(data, image: sitk.Image, values: np.ndarray | None = None) -> np.ndarray:
    """The sphere's centroid in patient mm: voxels weighted by how far they are above the background."""
    values = sitk.GetArrayFromImage(image).astype(float) if values is None else values
    weight = np.clip((values - data.background) / (data.values[0] - data.background), 0, None)
    return (points(image) * weight[..., None]).reshape(-1, 3).sum(0) / weight.sum()


def stored_positions(data) -> np.ndarray:
    return np.array([[float(v) for v in pydicom.dcmread(p).ImagePositionPatient] for p in data.files])


def gdcm(paths) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in paths])
    return reader.Execute()


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    return {
        "plain": write_series_dataset(root / "plain"),
        "tilt": write_series_dataset(root / "tilt", tilt=20.0, n_slices=30),
        "tilt_negative": write_series_dataset(root / "tilt_negative", tilt=-25.0, n_slices=30, spacing=(0.8, 0.9)),
        "gap": write_series_dataset(root / "gap", missing=(5, 6, 12)),
        "tilt_gap": write_series_dataset(root / "tilt_gap", tilt=15.0, missing=(8, 9), n_slices=24),
        "tilt_multiframe": write_series_dataset(root / "tilt_mf", tilt=20.0, n_slices=30, multiframe=True),
    }


@pytest.mark.parametrize("name", ["plain", "tilt", "tilt_negative", "tilt_multiframe"])
def test_the_sphere_comes_back_where_it_was(phantoms, name):
    data = phantoms[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the multi-frame file warns about its tilt
        image = series(data).read()
    np.testing.assert_allclose(centroid(data, image), data.centre, atol=0.05)  # issue: within 1 mm
    array = sitk.GetArrayFromImage(image).astype(float)
    error = np.abs(array - truth(data, image))
    # linear interpolation of a 1 mm surface ramp across 1 mm voxels: small on average, exact far from it
    assert error.mean() < 0.003 * (data.values[0] - data.background)
    far = np.abs(np.linalg.norm(points(image) - np.asarray(data.centre), axis=-1) - data.radius) > 2.5
    assert error[far].max() <= 0.5
    assert image.GetPixelIDTypeAsString() == "32-bit signed integer"  # the header's type, also after resampling


@pytest.mark.parametrize("name", ["tilt", "tilt_negative"])
def test_tilt_is_resampled_onto_an_orthogonal_grid_over_every_slice(phantoms, name):
    data = phantoms[name]
    image = series(data).read()
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction.T @ direction, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(direction[:, 0], data.row, atol=1e-9)
    np.testing.assert_allclose(direction[:, 1], data.column, atol=1e-9)
    np.testing.assert_allclose(direction[:, 2], data.normal, atol=1e-9)
    # slice spacing = progression . normal; every slice on a grid slice (index along the normal integral)
    assert image.GetSpacing()[2] == pytest.approx(float(np.dot(data.step, data.normal)), rel=1e-6)
    grid = Grid.of(image)
    index = grid.to_index(stored_positions(data))
    np.testing.assert_allclose(index[:, 2], np.rint(index[:, 2]), atol=1e-6)
    # every slice's pixels inside the widened grid: its corners' indices within the grid
    rows, cols = data.size
    corners = np.array([[0, 0], [cols - 1, 0], [0, rows - 1], [cols - 1, rows - 1]], float) * data.spacing
    for position in stored_positions(data):
        world = position + corners[:, :1] * np.asarray(data.row) + corners[:, 1:] * np.asarray(data.column)
        found = grid.to_index(world)
        assert (found[:, :2] >= -1e-6).all() and (found[:, :2] <= np.asarray(grid.size[:2]) - 1 + 1e-6).all()
    # the grid is no wider than it must be: the shift across the stack, rounded up
    shift = abs((len(data.positions) - 1) * np.dot(data.step, data.column)) / data.spacing[1]
    assert grid.size[1] == rows + int(np.ceil(shift - 1e-3))
    assert read_grid(series(data)).same_as(grid)


def test_tilt_raw_stack_on_request_equals_simpleitk(phantoms):
    data = phantoms["tilt"]
    raw = series(data).read(resample=False)
    reference = gdcm(sorted(data.files, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])))
    assert raw.GetSize() == reference.GetSize() == (data.size[1], data.size[0], len(data.files))
    np.testing.assert_allclose(raw.GetOrigin(), reference.GetOrigin(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(raw), sitk.GetArrayFromImage(reference))
    # the sheared stack puts the sphere off by tan(tilt) x its distance along the stack: ~4 mm here
    assert np.linalg.norm(centroid(data, raw) - np.asarray(data.centre)) > 2.0
    assert np.array_equal(series(data).to_numpy(resample=False), sitk.GetArrayFromImage(raw))


@pytest.mark.parametrize("name", ["gap", "tilt_gap"])
def test_missing_slices_stay_missing(phantoms, name):
    data = phantoms[name]
    image = series(data).read()
    array = sitk.GetArrayFromImage(image).astype(float)
    assert image.GetSize()[2] == len(data.all_positions)  # one grid slice per slice position of the design
    grid = Grid.of(image)
    index = grid.to_index(data.all_positions)  # every design position, missing or not, is a grid slice
    np.testing.assert_allclose(index[:, 2], np.arange(len(data.all_positions)), atol=1e-6)
    missing = list(data.missing)
    assert (array[missing] == array.min()).all()  # empty slices: the image's minimum
    kept = [k for k in range(len(data.all_positions)) if k not in missing]
    expected = truth(data, image)
    if not data.tilt:  # slices copied, not interpolated: exactly the stored values
        np.testing.assert_allclose(array[kept], np.rint(expected[kept]), atol=0.51)
    # the sphere where it was: the centroid of what was sampled equals the truth's on the same slices
    sampled = np.zeros_like(array) + data.background
    sampled[kept] = expected[kept]
    # (the sphere's own centre is off by what the missing slices held: up to 1.5 mm for the central ones here)
    np.testing.assert_allclose(centroid(data, image), centroid(data, image, sampled), atol=0.05)
    stacked = series(data).read(resample=False)  # as stored: the slices after a gap move up
    assert stacked.GetSize()[2] == len(data.positions)
    if name == "gap":  # missing slices 5, 6 (near the sphere's edge) and 12: the centre still within 1 mm
        assert np.linalg.norm(centroid(data, image) - np.asarray(data.centre)) < 1.0
        assert np.linalg.norm(centroid(data, stacked) - np.asarray(data.centre)) > 3.0  # as stored: ~5 mm off


def test_uneven_spacing_is_interpolated_and_real_slices_kept(tmp_path):
    fine = write_series_dataset(tmp_path / "fine", n_slices=60, slice_spacing=0.5, shuffle=False)
    z = fine.all_positions[:, 2]
    keep = [0, 5, 10, 16, 21, 26, 31, 36, 42, 47, 52, 57]  # gaps 2.5 mm, some 3 mm: uneven, nothing missing
    files = [fine.files[k] for k in keep]
    image = series(fine, files).read()
    grid = Grid.of(image)
    assert image.GetSpacing()[2] == pytest.approx(2.5)
    index = grid.to_index(fine.all_positions[keep])[:, 2]
    assert np.all(np.abs(index - np.rint(index)) <= 0.5)  # every slice within half a voxel of a grid slice
    array = sitk.GetArrayFromImage(image).astype(float)
    on_grid = np.abs(index - np.rint(index)) < 1e-6
    stored = sitk.GetArrayFromImage(gdcm(files)).astype(float)
    np.testing.assert_array_equal(array[np.rint(index[on_grid]).astype(int)], stored[on_grid])  # copied as stored
    # the slices in between: the linear interpolation of the two neighbours along the normal
    for slot in range(grid.size[2]):
        at = z[0] + slot * 2.5
        if np.any(np.abs(z[keep] - at) < 1e-6):
            continue
        hi = int(np.searchsorted(z[keep], at))
        w = (at - z[keep][hi - 1]) / (z[keep][hi] - z[keep][hi - 1])
        np.testing.assert_allclose(array[slot], (1 - w) * stored[hi - 1] + w * stored[hi], atol=0.5 + 1e-6)
    # and the sphere is where it was
    np.testing.assert_allclose(centroid(fine, image), fine.centre, atol=0.3)


def test_regular_series_are_not_resampled(phantoms):
    data = phantoms["plain"]
    image = series(data).read()
    reference = gdcm(sorted(data.files, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])))
    assert image.GetSize() == reference.GetSize()
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference))


def test_duplicated_positions_are_stacked_as_given(phantoms):
    data = phantoms["plain"]
    files = sorted(data.files, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    twice = [*files[:3], files[2], *files[3:]]  # an object of copies: no grid is defined, nothing dropped
    assert series(data, twice).read().GetSize()[2] == len(twice)


def _sphere_rtstruct(data, path, image: ImageFile) -> MaskFile:
    """An RTSTRUCT whose contours are the sphere's circles in the plane of every slice."""
    ds = pydicom.dcmread(data.files[0])
    rs = pydicom.Dataset()
    rs.file_meta = pydicom.dataset.FileMetaDataset()
    rs.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    rs.file_meta.MediaStorageSOPClassUID = pydicom.uid.RTStructureSetStorage
    rs.SOPClassUID, rs.SOPInstanceUID, rs.Modality = (
        pydicom.uid.RTStructureSetStorage,
        pydicom.uid.generate_uid(),
        "RTSTRUCT",
    )
    rs.FrameOfReferenceUID = ds.FrameOfReferenceUID
    roi = pydicom.Dataset()
    roi.ROINumber, roi.ROIName = 1, "sphere"
    rs.StructureSetROISequence = [roi]
    contours = []
    row, col, normal = (np.asarray(v) for v in (data.row, data.column, data.normal))
    angles = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    for position in data.positions:
        distance = float(np.dot(np.asarray(data.centre) - position, normal))
        if abs(distance) >= data.radius - 0.5:
            continue
        centre = np.asarray(data.centre) - distance * normal
        rho = np.sqrt(data.radius**2 - distance**2)
        ring = centre + rho * (np.cos(angles)[:, None] * row + np.sin(angles)[:, None] * col)
        contour = pydicom.Dataset()
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = len(ring)
        contour.ContourData = [f"{v:.4f}" for v in ring.ravel()]
        contours.append(contour)
    item = pydicom.Dataset()
    item.ReferencedROINumber, item.ContourSequence = 1, contours
    rs.ROIContourSequence = [item]
    rs.save_as(path, enforce_file_format=True)
    return MaskFile(file_path=str(path), file_type="dicom", modality="rtstruct", frame_of_reference_uid=None)


@pytest.mark.parametrize("name", ["tilt", "gap", "tilt_gap"])
def test_rtstruct_lands_on_the_read_image(phantoms, name, tmp_path):
    data = phantoms[name]
    image = series(data)
    mask = _sphere_rtstruct(data, tmp_path / "RS.dcm", image).read(reference=image)["sphere"]
    read = image.read()
    assert Grid.of(mask).same_as(Grid.of(read))
    inside = sitk.GetArrayFromImage(mask).astype(bool)
    bright = sitk.GetArrayFromImage(read) > (data.background + data.values[0]) / 2
    dice = 2 * (inside & bright).sum() / (inside.sum() + bright.sum())
    assert dice > 0.95
    if not data.missing:
        np.testing.assert_allclose(points(read)[inside].mean(0), data.centre, atol=0.3)


def test_layout_plan_and_resample_directly():
    positions = np.array([[0.0, 0.0, z] for z in (0.0, 2.0, 4.0, 8.0, 10.0)])
    layout = plan(positions[::-1], (1, 0, 0, 0, 1, 0), (1.0, 1.0), (2, 3))  # given in reverse order
    assert layout.resampled and layout.grid.size == (3, 2, 6)
    assert layout.order.tolist() == [4, 3, 2, 1, 0]
    assert layout.slot_of().tolist() == [5, 4, 2, 1, 0]  # file 0 (z = 10) is the last grid slice
    values = np.arange(5, dtype=np.int16)[::-1, None, None] * np.ones((1, 2, 3), np.int16) + 10
    out = resample(layout, values)
    assert out[:, 0, 0].tolist() == [10, 11, 12, 10, 13, 14]  # z = 6: empty (the minimum, 10)
    labels = resample(
        layout, np.array([0, 3, 0, 7, 7], np.uint8)[:, None, None] * np.ones((1, 2, 3), np.uint8), nearest=True
    )
    assert set(np.unique(labels)) <= {0, 3, 7}
    same = plan(positions[:3], (1, 0, 0, 0, 1, 0), (1.0, 1.0), (2, 3), resample=True)
    assert not same.resampled and same.grid.size == (3, 2, 3)


def test_no_resampling_without_positions(tmp_path):
    data = write_series_dataset(tmp_path / "p", n_slices=4, shuffle=False)
    files = []
    for k, path in enumerate(data.files):
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        target = tmp_path / f"np{k}.dcm"
        ds.save_as(target)
        files.append(target)
    with pytest.warns(UserWarning, match="without ImagePositionPatient"):
        image = series(data, files).read()
    assert image.GetSize() == (data.size[1], data.size[0], 4) and image.GetOrigin() == (0.0, 0.0, 0.0)
    shutil.rmtree(tmp_path / "p")


def test_a_tilted_dicom_label_map_keeps_its_labels(tmp_path):
    data = write_series_dataset(tmp_path / "mr", split_by="echo", tilt=20.0, n_slices=16)  # MR: uint16, background 0
    files = []
    for k, path in enumerate(data.files):
        ds = pydicom.dcmread(path)
        ds.PixelData = ((ds.pixel_array > 50) * 3).astype(np.uint16).tobytes()  # a label map: 0 and 3
        target = tmp_path / f"label_{k}.dcm"
        ds.save_as(target)
        files.append(str(target))
    mask = MaskFile(file_paths=tuple(files), file_type="dicom")
    image = ImageFile(file_paths=tuple(files), file_type="dicom")
    assert set(np.unique(image.to_numpy())) > {0, 3}  # an image is interpolated linearly ...
    assert list(mask.read()) == ["region_3"]  # ... a label map with nearest neighbour: no label 1 or 2
    region = sitk.GetArrayFromImage(mask.read(reference=image)["region_3"]).astype(bool)
    np.testing.assert_allclose(points(image.read())[region].mean(0), data.centre, atol=0.3)


@pytest.mark.filterwarnings("ignore:The string")
@pytest.mark.parametrize("positions", [True, False])
def test_seg_lands_on_the_read_image_of_a_tilted_series(phantoms, tmp_path, positions):
    hd = pytest.importorskip("highdicom")
    data = phantoms["tilt"]
    sources = sorted((pydicom.dcmread(p) for p in data.files), key=lambda ds: float(ds.ImagePositionPatient[2]))
    rows, cols = data.size
    j, i = np.meshgrid(np.arange(cols), np.arange(rows))
    frames = []
    for ds in sources:  # the sphere in each slice's own pixels
        at = np.asarray([float(v) for v in ds.ImagePositionPatient]) + (
            j[..., None] * data.spacing[0] * np.asarray(data.row)
            + i[..., None] * data.spacing[1] * np.asarray(data.column)
        )
        frames.append(data.truth(at) > 0.5)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="sphere",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
        algorithm_type="MANUAL",
    )
    seg = hd.seg.Segmentation(
        sources,
        np.stack(frames).astype(np.uint8),
        "BINARY",
        [description],
        hd.UID(),
        5,
        hd.UID(),
        1,
        "imgindex",
        "tests",
        "1",
        "0",
    )
    if not positions:  # frames placed by the slices they were derived from
        for group in seg.PerFrameFunctionalGroupsSequence:
            del group.PlanePositionSequence
    seg.save_as(tmp_path / "seg.dcm")
    image = series(data)
    with pytest.warns(UserWarning, match="not on the reference grid"):  # moved in-plane by fractions of a voxel
        mask = MaskFile(file_path=str(tmp_path / "seg.dcm"), modality="seg").read(reference=image)["sphere"]
    read = image.read()
    assert Grid.of(mask).same_as(Grid.of(read))
    inside = sitk.GetArrayFromImage(mask).astype(bool)
    bright = sitk.GetArrayFromImage(read) > (data.background + data.values[0]) / 2
    assert 2 * (inside & bright).sum() / (inside.sum() + bright.sum()) > 0.9
    np.testing.assert_allclose(points(read)[inside].mean(0), data.centre, atol=0.5)
