"""Bounded reads: the voxels a header claims are checked before anything is allocated.

Every read path of :mod:`imgindex.voxels` (DICOM, NIfTI, NRRD, numpy, stacks of slices) works out
how many bytes the voxels it is about to allocate take, from the headers alone, and calls
:func:`check_allocation` first. It raises :class:`~imgindex.errors.AllocationError`, naming the
file, when

* the claim is above the limit: ``max_bytes`` when the caller gives one, else the environment
  variable ``IMGINDEX_MAX_VOXEL_BYTES`` (bytes, or with a ``K``/``M``/``G``/``T`` suffix), else
  :data:`DEFAULT_FRACTION` (a quarter) of the machine's physical memory, at least
  :data:`MINIMUM_DEFAULT` (1 GiB); or
* the file cannot hold what it claims: an uncompressed file with fewer bytes than its voxels need,
  or a compressed one (gzip, deflate) smaller than its claim divided by :data:`MAX_DEFLATE_RATIO`,
  the largest expansion deflate can reach.

Compressed data are never inflated beyond what the header claims: the header's claim is checked
before decompressing, SimpleITK reads only the claimed bytes of a ``.nii.gz``, and a deflated
DICOM data set (which has no claim of its own) is inflated in a bounded stream first
(:func:`check_deflated`).
"""

from __future__ import annotations

import os
import re
import zlib
from typing import Any

import numpy as np

from .._lazy import SimpleITK as sitk
from ..errors import AllocationError, DecodeError, InputError

__all__ = [
    "DEFAULT_FRACTION",
    "ENVIRONMENT_VARIABLE",
    "MAX_DEFLATE_RATIO",
    "MINIMUM_DEFAULT",
    "check_allocation",
    "max_voxel_bytes",
]

#: The environment variable that sets the limit (bytes; ``K``, ``M``, ``G``, ``T`` suffixes of 1024).
ENVIRONMENT_VARIABLE = "IMGINDEX_MAX_VOXEL_BYTES"
#: Without a setting the limit is this fraction of the machine's physical memory ...
DEFAULT_FRACTION = 0.25
#: ... but at least this many bytes (1 GiB).
MINIMUM_DEFAULT = 1 << 30
#: Deflate (gzip, zlib) cannot expand data by more than about 1032 : 1.
MAX_DEFLATE_RATIO = 1032
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_CHUNK = 1 << 20


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # not on this platform
        return None


def max_voxel_bytes(max_bytes: int | None = None) -> int:
    """The read limit in bytes: ``max_bytes``, else ``IMGINDEX_MAX_VOXEL_BYTES``, else the default.

    Examples
    --------
    >>> max_voxel_bytes(1000)
    1000
    >>> max_voxel_bytes() >= MINIMUM_DEFAULT
    True
    """
    if max_bytes is not None:
        if max_bytes <= 0:
            raise InputError(f"max_bytes is the largest voxel allocation in bytes; found {max_bytes}.")
        return int(max_bytes)
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if text:
        found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", text.upper())
        if found is None:
            raise InputError(f"{ENVIRONMENT_VARIABLE}={text!r} is not a size; give bytes, e.g. 8000000000 or 8G.")
        return int(float(found[1]) * _UNITS[found[2]])
    memory = _physical_memory()
    return max(MINIMUM_DEFAULT, int(memory * DEFAULT_FRACTION)) if memory else 4 * MINIMUM_DEFAULT


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # not reached


def check_allocation(
    path: str,
    claimed: int,
    *,
    what: str = "voxels",
    needed: int | None = None,
    present: int | None = None,
    compressed: bool = False,
    max_bytes: int | None = None,
) -> None:
    """Raise :class:`~imgindex.errors.AllocationError` unless ``claimed`` bytes may be allocated for ``path``.

    Parameters
    ----------
    path : str
        The file (named in the message).
    claimed : int
        The bytes the header's sizes and type need (what the reader would allocate).
    what : str
        What is claimed, for the message (e.g. ``"512 x 512 x 130 int16 voxels"``).
    needed : int, optional
        The bytes the file must hold for them (the stored values, which may be smaller than the
        values allocated, e.g. int16 stored, float32 read); default ``claimed``.
    present : int, optional
        The bytes the file holds for them (the pixel data element, the file after its header);
        not checked when ``None``.
    compressed : bool
        ``present`` bytes are deflate-compressed: they can hold at most
        :data:`MAX_DEFLATE_RATIO` times as much.
    max_bytes : int, optional
        The limit; default :func:`max_voxel_bytes`.

    Examples
    --------
    >>> check_allocation("ct.nii", 512 * 512 * 130 * 2, present=512 * 512 * 130 * 2)  # fine
    >>> check_allocation("bomb.nii.gz", 2 * 32767**3, present=88, compressed=True)
    Traceback (most recent call last):
    ...
    imgindex.errors.AllocationError: bomb.nii.gz: its header claims voxels of 64.0 TiB, more than the read limit ...
    """
    limit = max_voxel_bytes(max_bytes)
    if claimed > limit:
        raise AllocationError(
            f"{path}: its header claims {what} of {_size(claimed)}, more than the read limit of "
            f"{_size(limit)}; nothing was allocated. If the file really is that large, raise the limit "
            f"with max_bytes= or the environment variable {ENVIRONMENT_VARIABLE}; else the header is "
            "corrupt."
        )
    if present is None:
        return
    needed = claimed if needed is None else needed
    can_hold = present * MAX_DEFLATE_RATIO if compressed else present
    if needed > can_hold:
        held = (
            f"{_size(present)} of compressed data (at most {_size(can_hold)} inflated)"
            if compressed
            else (_size(present))
        )
        raise AllocationError(
            f"{path}: its header claims {what} stored in {_size(needed)}, but the file holds only {held}; "
            "nothing was allocated. The file is truncated or its header is corrupt: copy it again "
            "from its source."
        )


def check_deflated(path: str, data: bytes | memoryview, *, max_bytes: int | None = None) -> None:
    """Inflate a raw deflate stream in bounded steps and raise before it grows beyond the limit.

    A deflated DICOM data set (transfer syntax 1.2.840.10008.1.2.1.99) says nothing of its
    inflated size; pydicom inflates it at once. This runs first, keeping no more than a chunk.

    Examples
    --------
    >>> packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    >>> stream = packer.compress(bytes(10_000_000)) + packer.flush()
    >>> check_deflated("deflated.dcm", stream, max_bytes=1_000_000)
    Traceback (most recent call last):
    ...
    imgindex.errors.AllocationError: deflated.dcm: its deflated data set inflates to more than ...
    """
    limit = max_voxel_bytes(max_bytes)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total, pending = 0, bytes(data)
    try:
        while pending and not inflater.eof:
            total += len(inflater.decompress(pending, _CHUNK))
            pending = inflater.unconsumed_tail
            if total > limit:
                raise AllocationError(
                    f"{path}: its deflated data set inflates to more than the read limit of {_size(limit)} "
                    f"({len(data)} compressed bytes); it was not inflated. Raise the limit with "
                    f"max_bytes= or {ENVIRONMENT_VARIABLE} if it really is that large."
                )
    except zlib.error as error:
        raise DecodeError(
            f"{path}: its deflated data set is corrupt ({error}); copy it again from its source."
        ) from None


def itk_claim(path: str) -> tuple[int, str, tuple[int, ...]]:
    """Bytes, description and size of the voxels a NIfTI or NRRD header claims (header only).

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> sitk.WriteImage(sitk.Image(4, 3, 2, sitk.sitkInt16), tmp_dir + "/small.nii.gz")
    >>> itk_claim(tmp_dir + "/small.nii.gz")
    (48, '4 x 3 x 2 16-bit signed integer voxels', (4, 3, 2))
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise DecodeError(
            f"SimpleITK could not read the header of {path}: {str(error).strip().splitlines()[-1]}"
        ) from None
    size = tuple(int(v) for v in reader.GetSize())
    kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    claimed = int(np.prod(size, dtype=object)) * _component_bytes(kind) * int(reader.GetNumberOfComponents())
    return claimed, f"{' x '.join(map(str, size))} {kind} voxels", size


def _component_bytes(name: str) -> int:
    """Bytes of one component of a SimpleITK pixel type named e.g. ``vector of 16-bit signed integer``."""
    lowered = name.lower()  # complex voxels are 2 components (real, imaginary) of their float type
    if "float" in lowered:
        return 8 if "64" in lowered else 4
    bits = re.search(r"(\d+)-bit", lowered)
    return int(bits[1]) // 8 if bits else 8


def _nifti_header(head: bytes, path: str) -> tuple[int, int]:
    """(bytes of the stored voxels, offset of the voxels) from the first bytes of a NIfTI-1 file.

    NIfTI-2 files do not get here: SimpleITK (ITK 5.4) does not read them, and its header read
    comes first (:func:`itk_claim`).
    """
    for order in "<>":
        if len(head) >= 348 and np.frombuffer(head[:4], f"{order}i4")[0] == 348:
            dim = np.frombuffer(head[40:56], f"{order}i2").astype(np.int64)
            bitpix = int(np.frombuffer(head[72:74], f"{order}i2")[0])
            offset = int(np.frombuffer(head[108:112], f"{order}f4")[0])
            break
    else:
        raise DecodeError(f"{path} does not start with a NIfTI-1 header ({len(head)} bytes read).")
    n = min(max(int(dim[0]), 0), 7)
    voxels = int(np.prod([max(int(v), 1) for v in dim[1 : n + 1]], dtype=object)) if n else 1
    return (voxels * max(bitpix, 1) + 7) // 8, offset


def _inflated_length(path: str, limit: int) -> tuple[bytes, int]:
    """The first 540 inflated bytes of a gzip file and how many it inflates to, counting no further than ``limit``.

    Inflates in bounded steps (never more than a chunk in memory); members of a multi-member
    stream (bgzip) follow one another; a cut or corrupt stream counts what inflated before the cut.
    """
    head, total = b"", 0
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    with open(path, "rb") as handle:
        pending = b""
        while total < max(limit, 540):
            if not pending:
                pending = handle.read(1 << 16)
                if not pending:
                    break
            try:
                out = inflater.decompress(pending, _CHUNK)
            except zlib.error:
                break
            if len(head) < 540:
                head += out[: 540 - len(head)]
            total += len(out)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                pending = inflater.unused_data
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    return head, total


def check_nifti(path: str, claimed: int, *, what: str, max_bytes: int | None = None) -> None:
    """Check a NIfTI file's claim (``claimed`` bytes as read) against the limit and the bytes it holds.

    SimpleITK fills the voxels a truncated NIfTI file lacks with zeros, without a word; this
    counts the bytes after the header instead: from the file size, or, for a ``.nii.gz``, from the
    inflated size a complete gzip stream ends with when it is exactly the claim (a cut stream's last
    bytes match it by chance once in 2**32), else by inflating the stream in bounded steps up to the
    claim (never further).

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> sitk.WriteImage(sitk.Image(40, 30, 20, sitk.sitkInt16), tmp_dir + "/ct.nii")
    >>> with open(tmp_dir + "/ct.nii", "rb") as handle:
    ...     head = handle.read(2000)
    >>> with open(tmp_dir + "/cut.nii", "wb") as handle:
    ...     _ = handle.write(head)
    >>> check_nifti(tmp_dir + "/cut.nii", 48000, what="40 x 30 x 20 int16 voxels")
    Traceback (most recent call last):
    ...
    imgindex.errors.AllocationError: ...cut.nii: ... stored in 46.9 KiB, but the file holds only 1.6 KiB; ...
    """
    check_allocation(path, claimed, what=what, max_bytes=max_bytes)
    with open(path, "rb") as handle:
        head = handle.read(540)
    if head[:2] != b"\x1f\x8b":
        needed, offset = _nifti_header(head, path)
        present = os.path.getsize(path) - offset
    else:
        head, _ = _inflated_length(path, 540)
        needed, offset = _nifti_header(head, path)
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            isize = int.from_bytes(handle.read(4), "little")
        # A complete single-member stream ends with its inflated size (mod 2**32); the last 4 bytes
        # of a cut stream match it by chance once in 2**32. Anything else is counted, in bounded steps.
        if isize == (offset + needed) % (1 << 32):
            present = needed
        else:
            _, total = _inflated_length(path, offset + needed)
            present = total - offset
    if offset >= 348:  # else a header-only .hdr whose voxels are in an .img file
        check_allocation(path, claimed, what=what, needed=needed, present=max(present, 0), max_bytes=max_bytes)


def npy_claim(path: str) -> tuple[int, int, str, tuple[int, ...], Any]:
    """Bytes claimed, bytes present, description, shape and dtype of a ``.npy`` file (header only).

    Examples
    --------
    >>> np.save(tmp_dir + "/a.npy", np.zeros((2, 3), np.int16))
    >>> npy_claim(tmp_dir + "/a.npy")[:4]
    (12, 12, '2 x 3 int16 array', (2, 3))
    """
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = header(handle)
        except ValueError as error:
            raise DecodeError(f"{path} is not a readable numpy file: {error}") from None
        offset = handle.tell()
    if dtype.hasobject:
        raise DecodeError(f"{path} holds Python objects (pickles), which imgindex does not load.")
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = os.path.getsize(path) - offset
    return claimed, present, f"{' x '.join(map(str, shape))} {dtype} array", tuple(shape), dtype
