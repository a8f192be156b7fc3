"""Files per second of the DICOM header readers on ordinary CT slices (warm cache, one process).

Writes N CT slices of 512x512 with pydicom (distinct UIDs) into a temporary folder, then times

* ``read_fast``: :meth:`imgindex.headers.dicom_fast.FastReader.read` (one reader), reading the first 8192 bytes of
  each file itself, as the scanner does (after the first slices, through the series' template);
* ``read_fast (walk)``: the same without templates, every file walked element by element;
* ``read_with_pydicom``: the reference reader (``dcmread`` with ``specific_tags``);
* ``dcmread``: plain ``pydicom.dcmread(path, stop_before_pixels=True)``.

Usage: ``python benchmarks/bench_dicom_header.py [N] [--implicit]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from imgindex.headers.dicom import read_with_pydicom
from imgindex.headers.dicom_fast import FastReader

#: One reader for the run, as a scan's worker has one: after the first slices, files follow the series' template.
READER = FastReader()


def write_ct_series(folder: Path, n: int, implicit: bool = False) -> list[str]:
    """Write ``n`` CT slices of 512x512 int16 into ``folder``; return their paths."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    pixels = np.zeros((512, 512), dtype=np.int16).tobytes()
    paths = []
    for k in range(n):
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240101", "120000", "A1"
        ds.Modality, ds.Manufacturer, ds.ReferringPhysicianName = "CT", "Bench", ""
        ds.StudyDescription, ds.SeriesDescription = "Benchmark study", "Thorax 1.0 B30f"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Bench^Mark", "BENCH-1", "", "O"
        ds.SliceThickness, ds.KVP = "1.0", "120"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 2, k + 1
        ds.ImagePositionPatient = [-250.0, -250.0, -1.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame, ""
        ds.SliceLocation = -1.0 * k
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns, ds.PixelSpacing = 512, 512, [0.9765625, 0.9765625]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.PixelData = pixels
        path = folder / f"ct_{k:05d}.dcm"
        ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
        paths.append(str(path))
    return paths


def _fast(path: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    READER.read(path, head)


def _walked(path: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    READER.walk(path, head)


def _dcmread(path: str) -> None:
    pydicom.dcmread(path, stop_before_pixels=True)


def rate(func, paths: list[str], repeat: int = 3) -> float:
    """Best files/s over ``repeat`` passes (after one warm-up pass)."""
    for path in paths:
        func(path)
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for path in paths:
            func(path)
        best = max(best, len(paths) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=2000, help="number of CT slices (default 2000)")
    parser.add_argument("--implicit", action="store_true", help="write implicit VR little endian")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_ct_series(Path(tmp), args.n, args.implicit)
        fast = rate(_fast, paths)
        walked = rate(_walked, paths)
        ref = rate(read_with_pydicom, paths, repeat=1)
        plain = rate(_dcmread, paths, repeat=1)
    print(f"{args.n} CT slices 512x512, {'implicit' if args.implicit else 'explicit'} VR little endian")
    print(f"read_fast          {fast:9.0f} files/s")
    print(f"read_fast (walk)   {walked:9.0f} files/s")
    print(f"read_with_pydicom  {ref:9.0f} files/s")
    print(f"dcmread            {plain:9.0f} files/s")
    print(f"read_fast / read_with_pydicom: {fast / ref:.1f}x")


if __name__ == "__main__":
    main()
