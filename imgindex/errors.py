"""The exceptions imgindex raises.

Every error derives from :class:`ImgIndexError` *and* from the builtin that fits, so code
written for MIRP (``except ValueError``) keeps working.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Any


class ImgIndexError(Exception):
    """Base class of every error raised by imgindex."""


class InputError(ImgIndexError, ValueError):
    """An argument has the right type but a value imgindex cannot use."""


class InputTypeError(ImgIndexError, TypeError):
    """An argument has a type imgindex does not accept."""


class NotFoundError(ImgIndexError, ValueError):
    """A path, or the files a filter asks for, could not be found."""


class NoMasksError(NotFoundError):
    """An import asked for masks and found none; the images alone may still make an index."""


class SchemaVersionError(ImgIndexError, ValueError):
    """A saved index was written with a schema version this imgindex cannot read."""


class HeaderError(ImgIndexError, ValueError):
    """A file looked like imaging but its header could not be read."""


class DecodeError(ImgIndexError, ValueError):
    """The pixel data of a file could not be decoded.

    The message names the file, its transfer syntax and every decoder that was tried, with what
    each of them said.
    """


class AllocationError(ImgIndexError, ValueError):
    """The voxels a header claims were not allocated: more than the read limit, or than the file holds.

    Raised before any voxel memory is allocated; the message names the file, the size claimed and
    the limit (see :mod:`imgindex.voxels.limits`).
    """


class ExportError(ImgIndexError, RuntimeError):
    """Some samples of an export failed (the others were written); ``failures`` says which and why.

    Each failure is a dict with ``sample_name``, ``image_id`` and ``error``; ``table`` is the
    table of what was written.
    """

    def __init__(self, message: str, failures: list[dict[str, str]], table: Any = None) -> None:
        super().__init__(message)
        self.failures = failures
        self.table = table


class ImgIndexWarning(UserWarning):
    """The category of the warnings imgindex gives (a ``UserWarning``, so existing filters still apply).

    Silence them all with ``warnings.simplefilter("ignore", imgindex.ImgIndexWarning)``.
    """


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = ImgIndexWarning) -> None:
    """Warn, pointing at the caller's line: the frame that called into imgindex.

    The stack is walked up to the outermost imgindex frame; the warning is attributed to the frame
    that called it (so code that calls pandas or a process pool in between is skipped too).

    Examples
    --------
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("the files of one series disagree")
    >>> caught[0].category.__name__
    'ImgIndexWarning'
    """
    frame: FrameType | None = sys._getframe(1)
    level, outermost = 2, 1  # stacklevel 1 is this function, 2 its caller
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PACKAGE):
            outermost = level
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=outermost + 1)
