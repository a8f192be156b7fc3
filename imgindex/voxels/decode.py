"""DICOM pixel data → stored values, and the voxel type of the real-world values, from the header.

**Decoding.** Uncompressed little-endian grey-scale data are read straight from the PixelData
bytes (the unused high bits masked and the sign extended, as pydicom does); everything else is
decoded by pydicom (its decoders for the transfer syntax, :func:`pydicom.pixels.iter_pixels`,
only the frames asked for); a file pydicom cannot decode (no plugin for its compression, or a
plugin that fails) is read with SimpleITK (GDCM). When both fail,
:class:`~imgindex.errors.DecodeError` names the file, the transfer syntax and what each decoder
said.

**Voxel type** (:func:`voxel_type`), from the header only, so that it does not depend on the
decoder that ran: grey-scale values are ``stored * RescaleSlope + RescaleIntercept``; with
integral slopes and intercepts it is the smallest integer type that holds both the stored range
(BitsStored, PixelRepresentation) and its transform (GDCM's rule), else float32; float pixel
data are float32. Colour images are RGB: RGB and YBR_* (converted by pydicom, or by the JPEG
decoder) in their stored type; PALETTE COLOR through its lookup tables as RGB of the stored
type (8-bit images get 8-bit colours, as GDCM gives).

GDCM rescales while it decodes and shows MONOCHROME1 inverted; its values are mapped back to
stored ones (``stored = (value - intercept) / slope``, inversion undone for unsigned data), so
both decoders give the same voxels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import iter_pixels
from pydicom.uid import UID

from .._lazy import SimpleITK as sitk
from ..errors import DecodeError
from .frames import Header, number

#: Integer types, smallest first, that the rescaled values of a series may take.
INTEGER_TYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)
_NATIVE_LITTLE = (pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian)
_GREY = ("MONOCHROME1", "MONOCHROME2")


def transfer_syntax(ds: pydicom.Dataset) -> UID:
    """The transfer syntax of ``ds``: its file meta, else the encoding it was read with (set in the meta)."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    uid = (
        pydicom.uid.ImplicitVRLittleEndian
        if implicit
        else pydicom.uid.ExplicitVRLittleEndian
        if little
        else pydicom.uid.ExplicitVRBigEndian
    )
    ds.file_meta = meta if meta is not None else pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid
    return uid


def _bits(ds: Header) -> tuple[int, int, bool]:
    allocated = int(ds.get("BitsAllocated") or 16)
    stored = int(ds.get("BitsStored") or allocated)
    return allocated, min(stored, allocated), ds.get("PixelRepresentation") == 1


def is_colour(ds: Header) -> bool:
    """Whether the voxels are RGB: several samples per pixel, or PALETTE COLOR."""
    return int(ds.get("SamplesPerPixel") or 1) > 1 or ds.get("PhotometricInterpretation") == "PALETTE COLOR"


def voxel_type(ds: Header, slope: npt.NDArray[np.float64], intercept: npt.NDArray[np.float64]) -> np.dtype[Any]:
    """The numpy type of the real-world voxels of a file (or a series whose first file is ``ds``).

    Examples
    --------
    >>> ds = pydicom.Dataset()
    >>> ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 12, 0
    >>> voxel_type(ds, np.array([1.0]), np.array([-1024.0])).name  # 0..4095 -> -1024..3071
    'int16'
    >>> voxel_type(ds, np.array([0.5]), np.array([0.0])).name
    'float32'
    """
    allocated, bits, signed = _bits(ds)
    if is_colour(ds):
        return np.dtype(np.uint8 if allocated <= 8 else np.uint16 if allocated <= 16 else np.uint32)
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return np.dtype(np.float32)
    if not (np.all(slope == np.round(slope)) and np.all(intercept == np.round(intercept))):
        return np.dtype(np.float32)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    ends = np.concatenate([slope * lo, slope * hi, slope * lo + intercept, slope * hi + intercept, [lo, hi]])
    for kind in INTEGER_TYPES:
        info = np.iinfo(kind)
        if info.min <= ends.min() and ends.max() <= info.max:
            return np.dtype(kind)
    return np.dtype(np.float32)


def stored_type(ds: Header) -> np.dtype[Any]:
    """The numpy type of the stored values (what the decoders return)."""
    allocated, _bits_stored, signed = _bits(ds)
    if "FloatPixelData" in ds:
        return np.dtype(np.float32)
    if "DoubleFloatPixelData" in ds:
        return np.dtype(np.float64)
    size = 1 if allocated <= 8 else 2 if allocated <= 16 else 4 if allocated <= 32 else 8
    return np.dtype(f"{'i' if signed and not is_colour(ds) else 'u'}{size}")


def frame_shape(ds: Header) -> tuple[int, ...]:
    """(rows, columns) of a grey-scale frame, (rows, columns, 3) of a colour one."""
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    return (rows, cols, 3) if is_colour(ds) else (rows, cols)


def _native(ds: pydicom.Dataset, n: int, numbers: npt.NDArray[np.intp] | None) -> npt.NDArray[Any] | None:
    """The stored values of uncompressed little-endian grey-scale data, straight from the bytes (else None)."""
    allocated, bits, _signed = _bits(ds)
    if (
        transfer_syntax(ds) not in _NATIVE_LITTLE
        or allocated not in (8, 16, 32)
        or int(ds.get("SamplesPerPixel") or 1) != 1
        or ds.get("PhotometricInterpretation") not in _GREY
        or "PixelData" not in ds
    ):
        return None
    data = ds.PixelData
    kind = stored_type(ds)
    count = n * int(ds.Rows) * int(ds.Columns)
    if not isinstance(data, bytes) or len(data) < count * kind.itemsize:
        return None  # pydicom explains what is wrong
    array = np.frombuffer(data, dtype=kind.newbyteorder("<"), count=count).reshape(n, int(ds.Rows), int(ds.Columns))
    if numbers is not None:
        array = array[numbers]
    if bits < allocated:  # ignore the unused high bits, extend the sign (PS3.5 8.1.1)
        shift = allocated - bits
        array = np.right_shift(np.left_shift(array, shift), shift)
    return array


def _pydicom(ds: pydicom.Dataset, n: int, numbers: npt.NDArray[np.intp] | None) -> npt.NDArray[Any]:
    if numbers is None and n == 1:
        frames = [ds.pixel_array]
    else:
        frames = list(iter_pixels(ds, indices=None if numbers is None else numbers.tolist()))
    array = np.stack(frames)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        array = palette_rgb(ds, array)
    return array


def palette_rgb(ds: pydicom.Dataset, indices: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """PALETTE COLOR indices → RGB of the stored type (an 8-bit image's 16-bit table entries keep their high byte)."""
    rgb = apply_color_lut(indices, ds)
    kind = voxel_type(ds, np.ones(1), np.zeros(1))
    table_bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    if table_bits > 8 * kind.itemsize:
        rgb = np.right_shift(rgb, table_bits - 8 * kind.itemsize)
    return np.asarray(rgb, dtype=kind)


def _gdcm(ds: pydicom.Dataset, path: str, numbers: npt.NDArray[np.intp] | None) -> npt.NDArray[Any]:
    """Stored values as GDCM decodes them: its rescale (and MONOCHROME1 inversion) undone."""
    image = sitk.ReadImage(path)
    array = sitk.GetArrayFromImage(image)
    shape = frame_shape(ds)
    array = array.reshape((-1, *shape))
    if numbers is not None:
        array = array[numbers]
    if is_colour(ds):
        return array
    slope = number(ds.get("RescaleSlope"), 1.0) or 1.0  # GDCM applies these (not an RTDOSE's DoseGridScaling)
    intercept = number(ds.get("RescaleIntercept"), 0.0)
    stored = (array.astype(np.float64) - intercept) / slope
    _allocated, bits, signed = _bits(ds)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1" and not signed:
        stored = (2**bits - 1) - stored
    return np.rint(stored).astype(stored_type(ds)) if stored_type(ds).kind in "iu" else stored


def _said(error: BaseException) -> str:
    """What a decoder's exception says, in one short line (ITK's source location left out)."""
    text = " ".join(line.strip() for line in str(error).strip().splitlines() if line.strip()) or type(error).__name__
    if "ERROR:" in text:  # ITK: "Exception thrown in ... .cxx:312: ITK ERROR: GDCMImageIO(0x...): what"
        text = re.sub(r"^\w+\(0x[0-9a-f]+\):\s*", "", text.rsplit("ERROR:", 1)[1].strip())
    text = text.rstrip(". ")
    return text if len(text) < 400 else text[:400] + "..."


def _syntax_name(uid: UID) -> str:
    return uid.name if uid.name != str(uid) else "unknown to pydicom"


def _pydicom_plugins(uid: UID) -> str:
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError):
        return f"pydicom has no decoder for {uid.name}"
    available = ", ".join(decoder.available_plugins) or "none"
    missing = "; ".join(decoder.missing_dependencies) or "none"
    return f"pydicom plugins available: {available}; missing: {missing}"


def stored_values(ds: pydicom.Dataset, path: str, numbers: npt.NDArray[np.intp] | None = None) -> npt.NDArray[Any]:
    """The stored values of the frames ``numbers`` (all when ``None``) of ``ds``: (frames, rows, columns[, 3]).

    Raises :class:`~imgindex.errors.DecodeError` naming the file, its transfer syntax and what
    each decoder said when neither pydicom nor SimpleITK (GDCM) can decode it.

    Examples
    --------
    >>> import glob, os
    >>> path = sorted(glob.glob(os.path.join(example_dir, "STS_001", "CT", "dicom", "image", "*.dcm")))[0]
    >>> stored_values(pydicom.dcmread(path), path).shape  # one frame of 32 x 32
    (1, 32, 32)
    """
    pixel_keywords = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    if not any(k in ds for k in pixel_keywords):
        raise DecodeError(
            f"{path} has no pixel data (no PixelData element; Modality {ds.get('Modality')!r}, SOP class "
            f"{UID(str(ds.get('SOPClassUID', ''))).name or 'unknown'}), so it has no voxels. It is not an "
            "image: index its folder with imgindex.build_index, which leaves such files out."
        )
    n = int(number(ds.get("NumberOfFrames"), 1.0) or 1)
    uid = transfer_syntax(ds)
    native = _native(ds, n, numbers)
    if native is not None:
        return native
    try:
        return _pydicom(ds, n, numbers)
    except Exception as pydicom_error:
        try:
            return _gdcm(ds, path, numbers)
        except Exception as gdcm_error:
            raise DecodeError(
                f"{path}: its pixel data could not be decoded. Transfer syntax: {_syntax_name(uid)} ({uid}). "
                f"Tried pydicom ({_pydicom_plugins(uid)}): {_said(pydicom_error)}. Then SimpleITK "
                f"(GDCM): {_said(gdcm_error)}. Install a decoder for this transfer syntax (e.g. "
                "pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm), or check that "
                "the file is complete."
            ) from None


def claimed_bytes(datasets: Sequence[Header], frames: Sequence[int], kind: np.dtype[Any]) -> int:
    """The bytes of the real-world voxels of ``frames[i]`` frames of each of ``datasets``, of type ``kind``."""
    total = 0
    for ds, n in zip(datasets, frames, strict=True):
        total += int(np.prod(frame_shape(ds), dtype=object)) * int(n) * kind.itemsize
    return total


def pixel_bytes(ds: pydicom.Dataset) -> tuple[int, int] | None:
    """(bytes the header's frames need, bytes of the PixelData element) of uncompressed data; else None."""
    uid = transfer_syntax(ds)
    if not uid.is_transfer_syntax or uid.is_compressed or uid.is_deflated or "PixelData" not in ds:
        return None  # an unknown syntax: the decoders say what they make of it
    allocated = int(ds.get("BitsAllocated") or 16)
    n = int(number(ds.get("NumberOfFrames"), 1.0) or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    pixels = int(ds.Rows) * int(ds.Columns) * samples * n
    needed = (pixels * allocated + 7) // 8
    if ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        needed = needed * 2 // 3
    return needed, len(ds.PixelData)
