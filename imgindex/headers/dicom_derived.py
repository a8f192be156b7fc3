"""Values both DICOM header readers derive the same way: times as numbers, per-frame columns.

The fast reader and the pydicom reference turn the text of a TM or DT element into a float with
:func:`tm_seconds` (seconds since midnight) and :func:`dt_seconds` (seconds since 1970), and the
per-frame values of an enhanced multi-frame file into a column with :func:`frame_column`, so that
they agree exactly. Text that is not a valid time gives ``None``: a bad time never costs the row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

__all__ = ["dt_seconds", "frame_column", "frame_value", "tm_seconds"]

_DT = re.compile(r"(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?(?:\.(\d+))?(?:[+-]\d{4})?")
_EPOCH = date(1970, 1, 1).toordinal()


def _clock(hours: str, minutes: str | None, seconds: str | None, fraction: str | None) -> float | None:
    h, m, s = int(hours), int(minutes or 0), int(seconds or 0)
    if h > 23 or m > 59 or s > 60:  # 60: a leap second
        return None
    return h * 3600.0 + m * 60.0 + s + (float("0." + fraction) if fraction else 0.0)


def tm_seconds(text: str | None) -> float | None:
    """Seconds since midnight of a DICOM TM value (``HH``, ``HHMM``, ``HHMMSS.FFFFFF``; ACR-NEMA ``HH:MM:SS``).

    Examples
    --------
    >>> tm_seconds("120130.5"), tm_seconds("0930"), tm_seconds("12:01:30"), tm_seconds("25")
    (43290.5, 34200.0, 43290.0, None)
    """
    if not text:
        return None
    clock, _, fraction = text.strip().replace(":", "").partition(".")  # read for every file: no regex
    n = len(clock)
    if n not in (2, 4, 6) or not clock.isdigit() or not clock.isascii() or (fraction and not fraction.isdigit()):
        return None
    h, m, s = int(clock[:2]), int(clock[2:4] or 0), int(clock[4:6] or 0)
    if h > 23 or m > 59 or s > 60 or not fraction.isascii():
        return None
    return h * 3600.0 + m * 60.0 + s + (float("0." + fraction) if fraction else 0.0)


def dt_seconds(text: str | None) -> float | None:
    """Seconds since 1970-01-01 of a DICOM DT value (``YYYYMMDDHHMMSS.FFFFFF``, an offset ``&ZZXX`` ignored).

    Examples
    --------
    >>> dt_seconds("19700102000001.25"), dt_seconds("20200101120000+0100") - dt_seconds("20200101")
    (86401.25, 43200.0)
    >>> dt_seconds("20201341") is None
    True
    """
    if not text:
        return None
    found = _DT.fullmatch(text.strip())
    if not found:
        return None
    year, month, day, hours, minutes, seconds, fraction = found.groups()
    try:
        days = date(int(year), int(month or 1), int(day or 1)).toordinal() - _EPOCH
    except ValueError:
        return None
    clock = _clock(hours or "0", minutes, seconds, fraction)
    return None if clock is None else days * 86400.0 + clock


_NAN3 = (math.nan, math.nan, math.nan)


def frame_value(value: Any, kind: str) -> Any:
    r"""One frame's converted value as it goes into its column: missing values as NaN, None or "".

    ``value`` is what the column conversion gave (a tuple for ``xyz`` and ``text``, a number, or
    the text of a DT); ``kind`` as in :data:`imgindex.headers.dicom_tags.FRAME_COLUMNS`.

    Examples
    --------
    >>> frame_value((1.0, 2.0), "xyz"), frame_value(None, "float"), frame_value(("A", "B"), "text")
    ((nan, nan, nan), nan, 'A\\B')
    """
    if kind == "xyz":
        return tuple(value) if isinstance(value, tuple) and len(value) == 3 else _NAN3
    if kind == "float":
        return math.nan if value is None else value
    if kind == "int":
        return value
    if kind == "dt":
        seconds = dt_seconds(value)
        return math.nan if seconds is None else seconds
    return "\\".join(value) if value else ""


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def frame_column(values: Sequence[Any], kind: str) -> tuple[Any, ...] | None:
    """The per-frame column of the frames' :func:`frame_value` values (``xyz`` flattened); None when all miss.

    Examples
    --------
    >>> frame_column([(0.0, 0.0, 1.0), (0.0, 0.0, 2.0)], "xyz")
    (0.0, 0.0, 1.0, 0.0, 0.0, 2.0)
    >>> frame_column([math.nan, math.nan], "float") is None
    True
    """
    if kind == "xyz":
        if all(all(map(_missing, v)) for v in values):
            return None
        return tuple(x for v in values for x in v)
    if all(map(_missing, values)):
        return None
    return tuple(values)
