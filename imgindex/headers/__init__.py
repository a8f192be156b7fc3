"""Header readers, one per format; each returns a plain dict of files-table columns.

:class:`HeaderReader` is the one entry point the scan uses: its :meth:`~HeaderReader.read` opens a
file once, sniffs its type from the first bytes and hands those bytes to the format's reader. It
never raises for a file's content: a file that looks like imaging but cannot be read comes back
with an ``error``. A reader owns the caches of its worker (the DICOM series templates):
a scan makes one per process.
"""

from __future__ import annotations

import os
from typing import Any

from .. import formats
from . import itk
from . import numpy as npy
from .dicom import DicomReader

__all__ = ["HeaderReader", "read_file"]


class HeaderReader:
    """Reads the headers of files one after another, keeping the caches of one worker.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> reader = HeaderReader()
    >>> [reader.read(get_testdata_file(n))["Modality"] for n in ("CT_small.dcm", "MR_small.dcm")]
    ['CT', 'MR']
    """

    __slots__ = ("dicom",)

    def __init__(self) -> None:
        self.dicom = DicomReader()

    def read(self, path: str) -> dict[str, Any] | None:
        """Sniff and read one file's header; ``None`` when the file is not imaging."""
        return _read(path, self.dicom)[0]

    def read_with_stat(self, path: str) -> tuple[dict[str, Any] | None, os.stat_result | None]:
        """:meth:`read`, and the file's ``stat`` (``None``: the file is gone), taken when it is opened.

        The ``stat`` comes from the open file (:func:`os.fstat`), so the scan's walk need not stat
        every file: a cold scan learns the size and modification time of each file from the
        worker that reads it. A file that cannot be opened is stat'ed by its path.
        """
        return _read(path, self.dicom)


def read_file(path: str, reader: HeaderReader | None = None) -> dict[str, Any] | None:
    """Sniff and read one file's header; ``None`` when the file is not imaging.

    Parameters
    ----------
    path
        The file.
    reader
        A reader whose caches serve the files read one after another; default: a new one.

    Returns
    -------
    dict or None
        Columns of the files table (:data:`imgindex.schema.FILES`) with ``file_type``; an
        ``error`` instead of the header values when the file looks like imaging but cannot be read.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> read_file(get_testdata_file("CT_small.dcm"))["Modality"]
    'CT'
    >>> read_file(__file__) is None
    True
    """
    return (reader or HeaderReader()).read(path)


def _read(path: str, dicom: DicomReader) -> tuple[dict[str, Any] | None, os.stat_result | None]:
    """The header values of ``path`` (``None``: not imaging) and its ``stat`` (``None``: gone)."""
    name = os.path.basename(path)
    try:
        head, stat = _head_and_stat(path, formats.HEAD_SIZE)
    except OSError as exc:
        return {
            "file_type": formats.suffix_type(name),
            "error": f"The file could not be opened: {exc.strerror or exc}.",
        }, _stat(path)
    file_type, error = formats.detect(name, head)
    if file_type is None:
        return None, stat
    if error is not None:
        return {"file_type": file_type, "error": error}, stat
    return _values(path, name, head, file_type, dicom), stat


def _values(path: str, name: str, head: bytes, file_type: str, dicom: DicomReader) -> dict[str, Any]:
    """The header values of an imaging file of ``file_type`` whose first bytes are ``head``."""
    try:
        if file_type == "dicom":
            values = dicom.read(path, head)
        elif file_type == "numpy":
            values = npy.read(path)
        else:
            values = itk.read(path, file_type)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {
            "file_type": file_type,
            "error": f"The {file_type} header could not be read ({type(exc).__name__}: {message}).",
        }
    values["file_type"] = file_type
    return values


def _stat(path: str) -> os.stat_result | None:
    """``os.stat(path)``, ``None`` when it fails (the file is gone)."""
    try:
        return os.stat(path)
    except OSError:
        return None


def _head(path: str, size: int) -> bytes:
    """The first ``size`` bytes of a file (see :func:`_head_and_stat`)."""
    return _head_and_stat(path, size)[0]


def _head_and_stat(path: str, size: int) -> tuple[bytes, os.stat_result]:
    """The first ``size`` bytes of a file (fewer if it is shorter) and its ``stat``, with plain ``os`` calls.

    Half the cost of ``open(path, "rb").read(size)``, which builds a buffered file object.
    A regular file gives all its bytes up to ``size`` in one ``read`` (fewer: the end of the file,
    so a small file costs no second ``read``). Only a read of fewer than :data:`MIN_HEAD` bytes,
    where a short read would matter to sniffing, is followed by more reads; past the head, the
    DICOM reader reads what it needs from the file itself.
    """
    fd = os.open(path, _READ_ONLY)
    try:
        stat = os.fstat(fd)  # the file opened: what a stat of its path (links followed) gives
        head = os.read(fd, size)
        while 0 < len(head) < min(size, MIN_HEAD):  # a short read that may not be the end of the file
            more = os.read(fd, size - len(head))
            if not more:
                break
            head += more
        return head, stat
    finally:
        os.close(fd)


#: Enough bytes for :func:`imgindex.formats.sniff` (the largest header it looks at, NIfTI-1, is 348).
MIN_HEAD = 1024
#: The flags of :func:`os.open` for a head: read only, binary (Windows).
_READ_ONLY = os.O_RDONLY | getattr(os, "O_BINARY", 0)
