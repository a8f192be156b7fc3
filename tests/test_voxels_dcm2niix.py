"""Voxels against dcm2niix (issue 12, item 7): tilt correction, unequal spacing, the volumes of a series.

dcm2niix (``pip install dcm2niix``; these tests skip without it) writes ``*_Tilt_1.nii`` for a
tilted series (each slice moved along its columns with linear interpolation, the grid widened),
``*_Eq_1.nii`` for unequal spacing (linear interpolation between neighbours at the smallest gap),
one file per echo, and a 4D file for the other multi-volume series. Their voxels are compared with
``read()`` voxel for voxel, in the same axis order (dcm2niix's NIfTI flips the rows).

Known differences, asserted as such: dcm2niix's tilt-corrected header places the volume off by
tens of mm (v1.0.20260724; our geometry is checked against the phantom's ground truth instead, in
tests/test_voxels_layout.py), and its grid puts the fractional slack of the widening at the other
end (so the voxels are compared at tilts whose shift is a whole number of rows); dcm2niix
interpolates across missing slices where ``read()`` leaves empty slices, and may stretch its
``_Eq_`` grid to the series' extent (it does for the real CT), where ``read()`` keeps the median
spacing.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from test_voxels_multiframe import VolumeFile

from imgindex import ImageFile
from imgindex.examples import write_series_dataset

pytestmark = pytest.mark.slow
DCM2NIIX = shutil.which("dcm2niix")
needs_dcm2niix = pytest.mark.skipif(DCM2NIIX is None, reason="dcm2niix is not installed (pip install dcm2niix)")


def dcm2niix(folder: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [DCM2NIIX, "-z", "n", "-b", "n", "-o", str(out), "-f", "%s_%p", str(folder)], check=True, capture_output=True
    )
    return sorted(Path(p) for p in glob.glob(str(out / "*.nii")))


def volumes(path: Path) -> list[sitk.Image]:
    """The 3D volumes of a (3D or 4D) NIfTI file."""
    image = sitk.ReadImage(str(path))
    if image.GetDimension() == 3:
        return [image]
    size = list(image.GetSize())
    out = []
    for t in range(size[3]):
        volume = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, t])
        out.append(volume)
    return out


def in_our_axes(theirs: sitk.Image, ours: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """dcm2niix's voxels in the axis order of ours (axes permuted and flipped), and the point of their first voxel."""
    mine, found = (np.asarray(i.GetDirection()).reshape(3, 3) for i in (ours, theirs))
    array = sitk.GetArrayFromImage(theirs)  # (z, y, x)
    axes, flips, corner = [], [], [0, 0, 0]
    for j in range(3):
        dots = mine[:, j] @ found
        i = int(np.argmax(np.abs(dots)))
        assert abs(dots[i]) > 0.999, "dcm2niix's axes are not ours"
        axes.append(i)
        flips.append(dots[i] < 0)
        corner[i] = theirs.GetSize()[i] - 1 if dots[i] < 0 else 0
    array = np.transpose(array, [2 - a for a in axes[::-1]])
    for j, flip in enumerate(flips):
        if flip:
            array = np.flip(array, axis=2 - j)
    return array, np.asarray(theirs.TransformIndexToPhysicalPoint(corner))


def read(paths) -> sitk.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ImageFile(file_paths=tuple(str(p) for p in paths), file_type="dicom").read()


def tilt_for_whole_rows(n_slices: int, step: float, row_spacing: float, rows: int) -> float:
    """A tilt (degrees) whose shift across the stack is (just under) a whole number of rows: the grids coincide."""
    return float(np.degrees(np.arcsin((rows - 0.002) * row_spacing / ((n_slices - 1) * step))))


@needs_dcm2niix
def test_tilt_correction_equals_dcm2niix(tmp_path):
    tilt = tilt_for_whole_rows(30, 2.5, 1.0, 25)  # 20.2 degrees
    data = write_series_dataset(tmp_path / "tilt", tilt=tilt, n_slices=30)
    ours = read(data.files)
    (theirs_path,) = [p for p in dcm2niix(data.root, tmp_path / "out") if p.name.endswith("_Tilt_1.nii")]
    theirs = sitk.ReadImage(str(theirs_path))
    assert theirs.GetSize() == ours.GetSize() == (44, 40 + 25, 30)
    np.testing.assert_allclose(theirs.GetSpacing(), ours.GetSpacing(), rtol=1e-5)
    array, _ = in_our_axes(theirs, ours)
    mine = sitk.GetArrayFromImage(ours)
    covered = (mine > mine.min()) | (array > array.min())
    covered[:, [0, -1], :] = False  # the rows at the grid's edge: dcm2niix repeats the last row, we fill
    # the same linear interpolation, rounded: dcm2niix takes its fractions from GantryDetectorTilt in float32,
    # we from the slice positions; on the phantom's 1100 HU-per-mm surface that is worth 2 HU at most
    difference = np.abs(mine.astype(int) - array)[covered]
    assert difference.max() <= 2 and np.mean(difference <= 1) > 0.95


@needs_dcm2niix
@pytest.mark.parametrize("tilt", [20.0, -25.0, 7.0])
def test_tilt_shear_equals_dcm2niix_at_any_angle(tmp_path, tilt):
    data = write_series_dataset(tmp_path / "tilt", tilt=tilt, n_slices=30)
    ours = read(data.files)
    (theirs_path,) = [p for p in dcm2niix(data.root, tmp_path / "out") if p.name.endswith("_Tilt_1.nii")]
    theirs, _ = in_our_axes(sitk.ReadImage(str(theirs_path)), ours)
    mine = sitk.GetArrayFromImage(ours).astype(float)
    assert theirs.shape == mine.shape
    total = (len(data.files) - 1) * abs(np.dot(data.step, data.column)) / data.spacing[1]
    slack = np.ceil(total) - total  # dcm2niix leaves the widening's fraction at the other end of the rows
    rows = np.arange(mine.shape[1])
    offsets = []
    for k in range(mine.shape[0]):
        a, b = (np.clip(v[k] - v.min(), 0, None).sum(axis=1) for v in (mine, theirs.astype(float)))
        if a.sum() > 1000 * 20:
            offsets.append((a @ rows) / a.sum() - (b @ rows) / b.sum())
    assert len(offsets) >= 8
    np.testing.assert_allclose(offsets, -slack, atol=0.02)  # the same shear: one constant offset for all slices


@needs_dcm2niix
def test_unequal_spacing_equals_dcm2niix(tmp_path):
    fine = write_series_dataset(tmp_path / "fine", n_slices=101, slice_spacing=0.25, shuffle=False)
    # gaps of 2.5 mm and two of 3.75 mm (uneven, nothing missing), 25 mm in all: dcm2niix's grid is ours
    keep = np.cumsum([0, 10, 10, 15, 10, 10, 15, 10, 10, 10]).tolist()
    folder = tmp_path / "uneven"
    folder.mkdir()
    for k in keep:
        shutil.copy(fine.files[k], folder / fine.files[k].name)
    ours = read(sorted(folder.iterdir()))
    (theirs_path,) = [p for p in dcm2niix(folder, tmp_path / "out") if p.name.endswith("_Eq_1.nii")]
    theirs = sitk.ReadImage(str(theirs_path))
    array, origin = in_our_axes(theirs, ours)
    mine = sitk.GetArrayFromImage(ours)
    assert array.shape == mine.shape == (11, 40, 44)
    np.testing.assert_allclose(origin, ours.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(theirs.GetSpacing(), ours.GetSpacing(), rtol=1e-5)
    assert np.abs(mine.astype(int) - array).max() <= 1  # both round the same interpolation


@needs_dcm2niix
def test_missing_slices_equal_dcm2niix_where_there_are_slices(tmp_path):
    data = write_series_dataset(tmp_path / "gap", missing=(5, 6, 12))
    ours = read(data.files)
    (theirs_path,) = [p for p in dcm2niix(data.root, tmp_path / "out") if p.name.endswith("_Eq_1.nii")]
    theirs = sitk.ReadImage(str(theirs_path))
    array, origin = in_our_axes(theirs, ours)
    mine = sitk.GetArrayFromImage(ours)
    assert array.shape == mine.shape
    np.testing.assert_allclose(origin, ours.GetOrigin(), atol=1e-3)
    kept = [k for k in range(mine.shape[0]) if k not in data.missing]
    np.testing.assert_array_equal(mine[kept], array[kept])
    assert (mine[list(data.missing)] == mine.min()).all()  # ours: empty; dcm2niix interpolates across the gap
    assert not (array[list(data.missing)] == array.min()).all()


@needs_dcm2niix
@pytest.mark.parametrize("multiframe", [False, True])
@pytest.mark.parametrize("split_by", ["echo", "diffusion", "temporal"])
def test_each_volume_equals_dcm2niix(tmp_path, split_by, multiframe):
    data = write_series_dataset(tmp_path / "series", n_volumes=3, split_by=split_by, n_slices=8, multiframe=multiframe)
    theirs = [v for path in dcm2niix(data.root, tmp_path / "out") for v in volumes(path)]
    assert len(theirs) == 3  # dcm2niix's volume count
    n = len(data.positions)
    for j in range(3):
        if multiframe:
            item = VolumeFile(file_path=str(data.files[0]), file_type="dicom", frames=tuple(range(j * n, (j + 1) * n)))
            ours = item.read()
        else:
            uids = set(data.sop_uids[j])
            ours = read([p for p in data.files if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID in uids])
        mine = sitk.GetArrayFromImage(ours)
        matches = []
        for volume in theirs:
            array, origin = in_our_axes(volume, ours)
            if array.shape == mine.shape and np.array_equal(array, mine):
                np.testing.assert_allclose(origin, ours.GetOrigin(), atol=1e-3)
                matches.append(volume)
        assert len(matches) == 1, f"volume {j} ({data.keys[j]}) is not exactly one of dcm2niix's volumes"


def _real_series(real_data, out: Path, change) -> list[Path]:
    """The real CT slices of STS_001, changed by ``change(k, ds)`` (left out when it returns False)."""
    out.mkdir(parents=True)
    written = []
    for k, path in enumerate(sorted((real_data / "STS_001" / "CT" / "dicom" / "image").glob("*.dcm"))):
        ds = pydicom.dcmread(path)
        if change(k, ds) is False:
            continue
        ds.save_as(out / path.name)
        written.append(out / path.name)
    return written


@needs_dcm2niix
def test_real_ct_tilted_equals_dcm2niix_and_gapped_keeps_its_slices(real_data, tmp_path):
    first = pydicom.dcmread(sorted((real_data / "STS_001" / "CT" / "dicom" / "image").glob("*.dcm"))[0])
    n, step, dy = 59, 3.27, float(first.PixelSpacing[0])
    x0, y0, z0 = (float(v) for v in first.ImagePositionPatient)
    angle = np.radians(tilt_for_whole_rows(n, step, dy, 40))

    def tilted(k, ds):
        ds.ImageOrientationPatient = [1, 0, 0, 0, round(float(np.cos(angle)), 8), round(float(np.sin(angle)), 8)]
        ds.ImagePositionPatient = [x0, y0, round(z0 + k * step, 4)]
        ds.GantryDetectorTilt = f"{np.degrees(angle):.10f}"[:16]

    files = _real_series(real_data, tmp_path / "tilted", tilted)
    ours = read(files)
    (theirs_path,) = [p for p in dcm2niix(files[0].parent, tmp_path / "tilted_out") if "_Tilt_" in p.name]
    array, _ = in_our_axes(sitk.ReadImage(str(theirs_path)), ours)
    mine = sitk.GetArrayFromImage(ours)
    assert array.shape == mine.shape == (n, first.Rows + 40, first.Columns)
    covered = (mine > mine.min()) & (array > array.min())
    covered[:, [0, -1], :] = False
    difference = np.abs(mine.astype(int) - array)[covered]
    assert difference.max() <= 2 and np.mean(difference <= 1) > 0.99

    # gapped: dcm2niix stretches its _Eq_ grid to the series' extent (60 slices of 3.215 mm here), so the
    # reference is the complete series as SimpleITK reads it: the kept slices unchanged, the missing ones empty
    files = _real_series(real_data, tmp_path / "gapped", lambda k, ds: k not in (30, 31, 45))
    ours = read(files)
    complete = sorted((real_data / "STS_001" / "CT" / "dicom" / "image").glob("*.dcm"))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in complete])
    whole = reader.Execute()
    mine, theirs = sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(whole)
    assert mine.shape == theirs.shape
    np.testing.assert_allclose(ours.GetOrigin(), whole.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(ours.GetSpacing(), whole.GetSpacing(), rtol=1e-9)
    kept = [k for k in range(n) if k not in (30, 31, 45)]
    np.testing.assert_array_equal(mine[kept], theirs[kept])
    assert (mine[[30, 31, 45]] == mine.min()).all()


@needs_dcm2niix
def test_real_mr_as_two_echoes_equals_dcm2niix_per_echo(real_data, tmp_path):
    """The real MR slices written as a two-echo series (echo 2: half the values): each echo's voxels."""
    folder = tmp_path / "echoes"
    folder.mkdir()
    echoes: dict[int, list[Path]] = {1: [], 2: []}
    for path in sorted((real_data / "STS_001" / "MR_T1" / "dicom" / "image").glob("*.dcm")):
        for echo in (1, 2):
            ds = pydicom.dcmread(path)
            ds.EchoNumbers, ds.EchoTime = echo, 10.0 * echo
            if echo == 2:
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
                ds.InstanceNumber = int(ds.InstanceNumber) + 1000
                ds.PixelData = (ds.pixel_array // 2).astype(ds.pixel_array.dtype).tobytes()
            target = folder / f"e{echo}_{path.name}"
            ds.save_as(target)
            echoes[echo].append(target)
    theirs = [v for p in dcm2niix(folder, tmp_path / "out") for v in volumes(p)]
    assert len(theirs) == 2  # dcm2niix: one file per echo
    for echo, files in echoes.items():
        ours = read(files)
        mine = sitk.GetArrayFromImage(ours)
        found = [in_our_axes(v, ours) for v in theirs]
        same = [(a, o) for a, o in found if a.shape == mine.shape and np.array_equal(a, mine)]
        assert len(same) == 1, f"echo {echo} is not exactly one of dcm2niix's volumes"
        np.testing.assert_allclose(same[0][1], ours.GetOrigin(), atol=1e-3)
