"""What a file is: content sniffing first, the suffix as a hint.

imgindex recognises DICOM (with or without the 128-byte preamble, with any or no suffix),
NIfTI-1/NIfTI-2 (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``) and numpy ``.npy``. Suffixes
are compared case-insensitively. A file whose content is none of these but whose suffix is one of
them "looks like imaging": it becomes a row with an ``error``. Anything else is not imaging.
"""

from __future__ import annotations

import struct
import zlib

#: Bytes read from the start of every file; enough to sniff and to hold most DICOM headers.
HEAD_SIZE = 8192

#: Known suffixes (lower case) and the file type each suggests, longest first.
SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".dicom": "dicom",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".dcm": "dicom",
    ".nii": "nifti",
    ".npy": "numpy",
}

#: The file types imgindex reads, and the ``*_file_type`` aliases users may pass.
FILE_TYPES = ("dicom", "nifti", "nrrd", "numpy")
FILE_TYPE_ALIASES = {"itk": ("nifti", "nrrd")}

_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)


def suffix_type(name: str) -> str | None:
    """The file type a file name's suffix suggests (case-insensitive), or ``None``.

    Examples
    --------
    >>> suffix_type("IMAGE.NII.GZ"), suffix_type("slice.dcm"), suffix_type("README.txt")
    ('nifti', 'dicom', None)
    """
    lower = name.lower()
    for suffix, file_type in SUFFIXES.items():
        if lower.endswith(suffix):
            return file_type
    return None


def strip_suffix(name: str) -> str:
    """The file name without its imaging suffix (case-insensitive; only one suffix is removed).

    Examples
    --------
    >>> strip_suffix("STS_001_CT_image.nii.gz"), strip_suffix("IM0001"), strip_suffix("a.npy.NII.GZ")
    ('STS_001_CT_image', 'IM0001', 'a.npy')
    """
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_nifti(head: bytes) -> bool:
    if len(head) >= 348:
        for fmt in ("<i", ">i"):
            (size,) = struct.unpack_from(fmt, head, 0)
            if size == 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
                return True
    if len(head) >= 8:
        for fmt in ("<i", ">i"):
            (size,) = struct.unpack_from(fmt, head, 0)
            if size == 540 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
                return True
    return False


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set without preamble: starts with a group 0002 or 0008 element."""
    if len(head) < 8:
        return False
    for order in "<>":
        group, element = struct.unpack_from(order + "HH", head, 0)
        if group not in (0x0002, 0x0008) or element > 0x1FFF:
            continue
        if head[4:6] in _VRS:  # explicit VR
            return True
        (length,) = struct.unpack_from(order + "I", head, 4)  # implicit VR: a plausible length
        if length < 0x10000:
            return True
    return False


def sniff(head: bytes) -> str | None:
    r"""The file type given the first bytes of a file (at least 132 of them when available).

    Examples
    --------
    >>> sniff(b"\x00" * 128 + b"DICM"), sniff(b"\x93NUMPY\x01\x00"), sniff(b"hello")
    ('dicom', 'numpy', None)
    """
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if head[:4] == b"NRRD":
        return "nrrd"
    if head[:2] == b"\x1f\x8b":
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 600)
        except zlib.error:
            return None
        return "nifti" if _is_nifti(inner) else None
    if _is_nifti(head):
        return "nifti"
    if _looks_like_raw_dicom(head):
        return "dicom"
    return None


def detect(name: str, head: bytes) -> tuple[str | None, str | None]:
    """Decide what a file is: ``(file_type, error)``.

    ``file_type`` is ``None`` for a file that is not imaging. ``error`` is set when the suffix
    promises an imaging type the content does not have.

    Examples
    --------
    >>> detect("broken.dcm", b"not dicom at all")[0]
    'dicom'
    >>> detect("notes.txt", b"hello")
    (None, None)
    """
    found = sniff(head)
    if found is not None:
        return found, None
    hinted = suffix_type(name)
    if hinted is None:
        return None, None
    if not head:
        return hinted, f"The file is empty although its suffix says {hinted}."
    return hinted, (
        f"The content is not {hinted}: no {_MAGIC[hinted]} was found, although the suffix says "
        f"{hinted}. The file may be truncated, corrupt or misnamed."
    )


_MAGIC = {
    "dicom": "'DICM' marker at byte 128 and no DICOM element at the start",
    "nifti": "NIfTI header (sizeof_hdr 348/540 with its magic), plain or gzipped",
    "nrrd": "'NRRD' magic",
    "numpy": "'\\x93NUMPY' magic",
}
