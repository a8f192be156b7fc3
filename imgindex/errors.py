"""The exceptions imgindex raises.

Every error derives from :class:`ImgIndexError` *and* from the builtin that fits, so code
written for MIRP (``except ValueError``) keeps working.
"""

from __future__ import annotations


class ImgIndexError(Exception):
    """Base class of every error raised by imgindex."""


class InputError(ImgIndexError, ValueError):
    """An argument has the right type but a value imgindex cannot use."""


class InputTypeError(ImgIndexError, TypeError):
    """An argument has a type imgindex does not accept."""


class NotFoundError(ImgIndexError, ValueError):
    """A path, or the files a filter asks for, could not be found."""


class SchemaVersionError(ImgIndexError, ValueError):
    """A saved index was written with a schema version this imgindex cannot read."""


class HeaderError(ImgIndexError, ValueError):
    """A file looked like imaging but its header could not be read."""
