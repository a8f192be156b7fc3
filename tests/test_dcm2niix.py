"""Volume counts and per-volume voxels against dcm2niix (issue 12, item 7).

dcm2niix (PyPI ``dcm2niix``; the tests skip when it is not on PATH) is the reference for how a
series splits into volumes: it writes a 4D NIfTI for volumes at the same positions, or one file
per echo. Series are built from the real slices of ``../shared/data/sts_images/STS_001`` (skipped
without them) and by :func:`imgindex.examples.write_series_dataset`. Voxels are compared in
patient space: both images are oriented to LPS by SimpleITK before their arrays are compared.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

import imgindex
from imgindex.examples import SPLITS, write_series_dataset

DCM2NIIX = shutil.which("dcm2niix")
pytestmark = [
    pytest.mark.slow,  # dcm2niix runs as a subprocess
    pytest.mark.skipif(DCM2NIIX is None, reason="dcm2niix is not on PATH (pip install dcm2niix)"),
]

#: What each case writes on the copies of the real slices (volume j), as DICOM keyword: value.
REAL_CASES = {
    "echo": lambda j: {"EchoNumbers": j + 1, "EchoTime": 10.0 * (j + 1)},
    "temporal": lambda j: {"TemporalPositionIdentifier": j + 1, "NumberOfTemporalPositions": 3},
    "acquisition": lambda j: {"AcquisitionNumber": j + 1},
    "trigger": lambda j: {"TriggerTime": 100.0 * j},
    "none": lambda j: {},  # nothing tells them apart: instance order, for dcm2niix too
    # the DCE series: AcquisitionNumber 1, 2, 2 and AcquisitionTime per acquisition; ContentTime
    # (a minute apart, and a little later from slice to slice: see copy_as_volumes) tells them apart
    "dce": lambda j: {
        "AcquisitionNumber": (1, 2, 2)[j],
        "AcquisitionTime": ("120000", "120100", "120100")[j],
        "ContentTime": f"12{j:02d}00",
    },
}

#: What the objects table names as what told them apart.
REAL_KEYS = {
    "echo": "EchoNumbers",
    "temporal": "TemporalPositionIdentifier",
    "acquisition": "AcquisitionNumber",
    "trigger": "TriggerTime",
    "none": "InstanceNumber",
    "dce": "ContentTime",
}


def dcm2niix_volumes(source: Path, out: Path, *, succeeds: bool = True) -> list[sitk.Image]:
    """dcm2niix's volumes of ``source``, in the order of its files (sorted names) and of their 4th axis.

    ``succeeds=False``: dcm2niix may return an error status (it does for uneven spacing, after
    writing the volumes as stacked).
    """
    out.mkdir(parents=True)
    done = subprocess.run(
        [str(DCM2NIIX), "-z", "n", "-b", "n", "-f", "%s_%e", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 or not succeeds, done.stdout + done.stderr
    volumes = []
    for path in sorted(out.glob("*.nii")):
        image = sitk.ReadImage(str(path))
        if image.GetDimension() == 4:
            size = list(image.GetSize())
            for t in range(size[3]):
                volumes.append(sitk.Extract(image, [*size[:3], 0], [0, 0, 0, t]))
        else:
            volumes.append(image)
    return volumes


def lps_array(image: sitk.Image) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
    oriented = sitk.DICOMOrient(image, "LPS")
    return sitk.GetArrayFromImage(oriented).astype(np.float64), oriented.GetOrigin(), oriented.GetSpacing()


def index_images(root: Path) -> list[imgindex.ImageFile]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imgindex.import_image(str(root))


def assert_same_volumes(ours: list[imgindex.ImageFile], theirs: list[sitk.Image]) -> None:
    assert len(ours) == len(theirs)
    for image, reference in zip(ours, theirs, strict=True):
        got, origin, spacing = lps_array(image.read())
        expected, reference_origin, reference_spacing = lps_array(reference)
        assert got.shape == expected.shape
        np.testing.assert_allclose(origin, reference_origin, atol=0.01)
        np.testing.assert_allclose(spacing, reference_spacing, atol=1e-3)
        np.testing.assert_array_equal(got, expected)


def copy_as_volumes(source: Path, root: Path, case: str, *, n_volumes: int = 3, n_slices: int = 12) -> None:
    """``n_volumes`` copies of the first ``n_slices`` real slices, one series, volume j's pixels + 50 j."""
    root.mkdir(parents=True)
    series = generate_uid(entropy_srcs=[str(root), case])
    slices = sorted(p for p in source.iterdir() if p.is_file())[:n_slices]
    for j in range(n_volumes):
        for i, path in enumerate(slices):
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
            ds.PixelData = (pixels.astype(np.int64) + 50 * j).astype(pixels.dtype).tobytes()
            ds.SeriesInstanceUID = series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
                entropy_srcs=[str(root), str(j), str(i)]
            )
            ds.InstanceNumber = j * n_slices + i + 1
            for keyword, value in REAL_CASES[case](j).items():
                setattr(ds, keyword, value)
            if "ContentTime" in ds and case == "dce":
                ds.ContentTime = f"{ds.ContentTime[:4]}{i:02d}.5"  # slice i: i seconds after the volume starts
            ds.save_as(root / f"IM{(i * 7 + j * 3) % 97:03d}_{j}{i}")  # names in neither slice nor volume order


@pytest.mark.parametrize("case", list(REAL_CASES))
def test_real_slices_as_several_volumes(real_data, tmp_path, case):
    copy_as_volumes(real_data / "STS_001" / "MR_T1" / "dicom" / "image", tmp_path / "series", case)
    theirs = dcm2niix_volumes(tmp_path / "series", tmp_path / "nifti")
    ours = sorted(index_images(tmp_path / "series"), key=lambda image: image.volume_index)
    assert len(theirs) == 3
    assert_same_volumes(ours, theirs)
    assert {image.volume_key for image in ours} == {REAL_KEYS[case]}


@pytest.mark.parametrize("modality", ["CT", "MR_T1"])
def test_a_real_series_of_one_volume(real_data, tmp_path, modality):
    source = real_data / "STS_001" / modality / "dicom" / "image"
    theirs = dcm2niix_volumes(source, tmp_path / "nifti")
    (image,) = index_images(source)
    assert image.n_volumes == 1
    assert_same_volumes([image], theirs)


@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame", "multi-frame"])
@pytest.mark.parametrize("split_by", list(SPLITS))
def test_synthetic_series(tmp_path, split_by, multiframe):
    """Every case of the generator: as many volumes as dcm2niix finds, with the same voxels."""
    data = write_series_dataset(tmp_path / "series", n_volumes=3, split_by=split_by, n_slices=6, multiframe=multiframe)
    theirs = dcm2niix_volumes(tmp_path / "series", tmp_path / "nifti")
    ours = sorted(index_images(tmp_path / "series"), key=lambda image: image.volume_index)
    assert len(ours) == 3
    assert_same_volumes(ours, theirs)  # read() by the object's frames for a multi-frame file
    if not multiframe:
        return
    # One enhanced file: each object names its frames; those frames are dcm2niix's volume.
    assert len(theirs) == 3
    (path,) = {image.file_path for image in ours}
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array.astype(np.float64)
    for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):  # the rescale of each frame
        for source in (group, ds.SharedFunctionalGroupsSequence[0]):
            if "PixelValueTransformationSequence" in source:
                rescale = source.PixelValueTransformationSequence[0]
                stored[f] = stored[f] * float(rescale.RescaleSlope) + float(rescale.RescaleIntercept)
                break
    for image, reference in zip(ours, theirs, strict=True):
        expected, origin, _ = lps_array(reference)
        frames = list(image.frames)
        np.testing.assert_array_equal(stored[frames], expected)  # axial, rows along x: LPS order is frame order
        np.testing.assert_allclose(origin, data.positions[0], atol=0.01)


def dcm2niix_tilt(source: Path, out: Path) -> float:
    """The gantry tilt dcm2niix estimates from the slice vector (degrees, signed as it prints it)."""
    out.mkdir(parents=True)
    done = subprocess.run(
        [str(DCM2NIIX), "-z", "n", "-b", "n", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r"estimated from slice vector (-?[\d.]+)", done.stdout)
    assert found, done.stdout
    return float(found.group(1))


def index_tilt(root: Path) -> float:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (tilt,) = imgindex.build_index(str(root)).images["tilt_angle"].tolist()
    assert len([w for w in caught if "gantry tilt" in str(w.message)]) == 1
    return float(tilt)


@pytest.mark.parametrize("tilt", [7.5, -20.0])
def test_tilt_angle_equals_dcm2niix_estimate(tmp_path, tilt):
    write_series_dataset(tmp_path / "series", tilt=tilt, n_slices=10)
    assert index_tilt(tmp_path / "series") == pytest.approx(
        abs(dcm2niix_tilt(tmp_path / "series", tmp_path / "o")), abs=0.01
    )


def test_tilt_angle_of_real_slices_equals_dcm2niix_estimate(real_data, tmp_path):
    """The real CT of STS_001 as a tilted gantry stores it: columns tilted by 15 degrees, slices along z."""
    angle = np.radians(15.0)
    root = tmp_path / "tilted"
    root.mkdir()
    for path in sorted((real_data / "STS_001" / "CT" / "dicom" / "image").iterdir())[:20]:
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, float(np.cos(angle)), float(np.sin(angle))]
        ds.GantryDetectorTilt = 15.0
        ds.save_as(root / path.name)
    assert index_tilt(root) == pytest.approx(abs(dcm2niix_tilt(root, tmp_path / "o")), abs=0.01)
    assert index_tilt(root) == pytest.approx(15.0, abs=0.01)


@pytest.mark.parametrize("split_by", ["echo", "acquisition"])
def test_gapped_volumes(tmp_path, split_by):
    """A slice missing from every volume: as many volumes as dcm2niix, each of the slices dcm2niix stacks."""
    write_series_dataset(tmp_path / "series", n_volumes=2, split_by=split_by, missing=(4,), n_slices=9)
    theirs = dcm2niix_volumes(tmp_path / "series", tmp_path / "nifti", succeeds=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = imgindex.build_index(str(tmp_path / "series")).images
    assert len(images) == len(theirs) == 2
    assert images["n_slices"].tolist() == [volume.GetSize()[2] for volume in theirs] == [8, 8]
    assert images["missing_slices"].tolist() == [1, 1]
