"""Bounded reads (issue 13, item 7): the size a header claims is checked before anything is allocated.

Every read path (DICOM, NIfTI, NRRD, numpy, deflated DICOM) gets a file whose header claims far
more than it holds or than the limit allows; the read must raise AllocationError naming the file,
and under a memory limit (a subprocess with RLIMIT_AS) it must do so instead of running out.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from imgindex import ImageFile
from imgindex.errors import AllocationError, DecodeError, InputError
from imgindex.examples import write_series_dataset
from imgindex.voxels import limits, read_image

ROOT = Path(__file__).resolve().parents[1]


def nifti_header(dims, datatype=4, bitpix=16) -> bytes:
    """A NIfTI-1 header (348 bytes) plus the 4 extension bytes, claiming ``dims`` voxels."""
    header = bytearray(352)
    header[0:4] = np.int32(348).tobytes()
    dim = np.ones(8, np.int16)
    dim[0] = len(dims)
    dim[1 : 1 + len(dims)] = dims
    header[40:56] = dim.tobytes()
    header[70:72] = np.int16(datatype).tobytes()
    header[72:74] = np.int16(bitpix).tobytes()
    header[76:108] = np.ones(8, np.float32).tobytes()
    header[108:112] = np.float32(352).tobytes()
    header[344:348] = b"n+1\0"
    return bytes(header)


def make_bombs(root: Path) -> dict[str, Path]:
    """Files whose headers claim what they do not hold."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    out["nifti_claim"] = root / "claims_32767_cubed.nii.gz"
    out["nifti_claim"].write_bytes(gzip.compress(nifti_header((32767, 32767, 32767))))
    out["npy_claim"] = root / "claims_a_lot.npy"
    header = {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000, 100000)}
    with open(out["npy_claim"], "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(800))
    data = write_series_dataset(root / "dicom", n_slices=2, shuffle=False)
    ds = pydicom.dcmread(data.files[0])
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 10000
    out["dicom_claim"] = root / "claims_85_TB.dcm"
    ds.save_as(out["dicom_claim"])
    # a .nii.gz whose stream goes on far beyond its (small) claim: 2 GiB of zeros in 2 MB
    out["gzip_beyond"] = root / "beyond_the_claim.nii.gz"
    voxels = np.arange(64**3, dtype=np.int16).reshape(64, 64, 64)
    member = gzip.compress(bytes(1 << 24))
    with open(out["gzip_beyond"], "wb") as handle:
        handle.write(gzip.compress(nifti_header((64, 64, 64)) + voxels.tobytes()))
        for _ in range(128):
            handle.write(member)
    return out


def test_headers_that_claim_too_much_are_refused_before_allocating(tmp_path):
    bombs = make_bombs(tmp_path)
    for key in ("nifti_claim", "npy_claim", "dicom_claim"):
        path = bombs[key]
        kind = {"nifti_claim": "nifti", "npy_claim": "numpy", "dicom_claim": "dicom"}[key]
        with pytest.raises(AllocationError, match=f"{path.name}: its header claims .* more than the read limit"):
            ImageFile(file_path=str(path), file_type=kind).read()
    assert os.path.getsize(bombs["nifti_claim"]) < 100  # the 88-byte NIfTI of the issue


def test_a_gzip_stream_is_read_only_as_far_as_its_header_claims(tmp_path):
    path = make_bombs(tmp_path)["gzip_beyond"]
    array = ImageFile(file_path=str(path), file_type="nifti").to_numpy()
    np.testing.assert_array_equal(array, np.arange(64**3, dtype=np.int16).reshape(64, 64, 64))


def test_truncated_files_are_refused_not_zero_filled(tmp_path):
    image = sitk.GetImageFromArray(np.arange(20 * 30 * 40, dtype=np.int16).reshape(20, 30, 40))
    for name in ("ct.nii", "ct.nii.gz"):
        sitk.WriteImage(image, str(tmp_path / name))
        whole = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(whole[: len(whole) // 2])
        # SimpleITK itself fills the missing voxels with zeros and says nothing
        assert (sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"cut_{name}"))) == 0).any()
        with pytest.raises(AllocationError, match=f"cut_{name}: its header claims .* but the file holds only"):
            ImageFile(file_path=str(tmp_path / f"cut_{name}"), file_type="nifti").read()
        assert ImageFile(file_path=str(tmp_path / name), file_type="nifti").read().GetSize() == (40, 30, 20)
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(tmp_path / "ct.nrrd"))
    writer.Execute(image)
    whole = (tmp_path / "ct.nrrd").read_bytes()
    (tmp_path / "cut.nrrd").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DecodeError, match=r"cut.nrrd: .*got only"):
        ImageFile(file_path=str(tmp_path / "cut.nrrd"), file_type="nrrd").read()
    np.save(tmp_path / "a.npy", np.zeros((10, 10, 10)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-100])
    with pytest.raises(AllocationError, match=r"cut\.npy: its header claims 10 x 10 x 10 float64 array"):
        ImageFile(file_path=str(tmp_path / "cut.npy"), file_type="numpy").read()


def test_the_limit_is_configurable(tmp_path, monkeypatch):
    data = write_series_dataset(tmp_path / "ct", n_slices=4)
    image = ImageFile(file_paths=tuple(map(str, data.files)), file_type="dicom")
    needed = 4 * data.size[0] * data.size[1] * 4  # int32 voxels
    assert read_image(image, max_bytes=needed).GetSize()[2] == 4
    with pytest.raises(AllocationError, match=r"more than the read limit of 1\.0 KiB"):
        read_image(image, max_bytes=1024)
    monkeypatch.setenv(limits.ENVIRONMENT_VARIABLE, "1K")
    with pytest.raises(AllocationError, match=limits.ENVIRONMENT_VARIABLE):
        image.read()
    monkeypatch.setenv(limits.ENVIRONMENT_VARIABLE, "8G")
    assert limits.max_voxel_bytes() == 8 << 30
    monkeypatch.setenv(limits.ENVIRONMENT_VARIABLE, "plenty")
    with pytest.raises(InputError, match="is not a size"):
        image.read()
    monkeypatch.delenv(limits.ENVIRONMENT_VARIABLE)
    assert limits.max_voxel_bytes() >= limits.MINIMUM_DEFAULT
    with pytest.raises(InputError, match="max_bytes"):
        limits.max_voxel_bytes(0)


def test_a_deflated_data_set_is_inflated_within_the_limit(tmp_path):
    data = write_series_dataset(tmp_path / "ct", n_slices=2, shuffle=False)
    ds = pydicom.dcmread(data.files[0])
    ds.Rows, ds.Columns = 2048, 2048
    ds.PixelData = bytes(2 * 2048 * 2048)  # 8 MiB of zeros: a few KB deflated
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(AllocationError, match=r"deflated\.dcm: its deflated data set inflates to more than"):
        read_image(ImageFile(file_path=str(path), file_type="dicom"), max_bytes=1 << 20)
    assert read_image(ImageFile(file_path=str(path), file_type="dicom")).GetSize() == (2048, 2048, 1)
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    with pytest.raises(DecodeError, match="corrupt"):
        limits.check_deflated("broken.dcm", (packer.compress(bytes(1000)) + packer.flush())[:-3] + b"\xff\xff\xff\xff")


SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    import imgindex
    from imgindex import ImageFile
    from imgindex.errors import AllocationError
    sys.path.insert(0, {tests!r})
    from test_voxels_limits import make_bombs
    bombs = make_bombs(Path({root!r}))
    limit = {limit}
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    kinds = {{"nifti_claim": "nifti", "npy_claim": "numpy", "dicom_claim": "dicom"}}
    for key, kind in kinds.items():
        try:
            ImageFile(file_path=str(bombs[key]), file_type=kind).read()
            print(key, "read")
        except AllocationError:
            print(key, "AllocationError")
        except MemoryError:
            print(key, "MemoryError")
    array = ImageFile(file_path=str(bombs["gzip_beyond"]), file_type="nifti").to_numpy()
    print("gzip_beyond", array.shape, int(array.ravel()[12345]))
    """
)


@pytest.mark.slow
def test_under_a_memory_limit_nothing_is_allocated(tmp_path):
    pytest.importorskip("resource")
    limit = 3 << 30  # 3 GiB of address space: the interpreter and its libraries take about 0.7
    env = {**os.environ, "PYTHONPATH": str(ROOT), limits.ENVIRONMENT_VARIABLE: "1G"}
    script = SCRIPT.format(tests=str(ROOT / "tests"), root=str(tmp_path / "bombs"), limit=limit)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert lines == {
        "nifti_claim": "AllocationError",
        "npy_claim": "AllocationError",
        "dicom_claim": "AllocationError",
        "gzip_beyond": "(64, 64, 64) 12345",
    }
