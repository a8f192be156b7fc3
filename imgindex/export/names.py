r"""Names of exported files and folders: safe, readable, unique, and always inside the output folder.

One function, :func:`safe_name`, makes every sample, series, object, ROI and file name an export
writes: printable ASCII (accents dropped, ``Müller`` gives ``Muller``), only letters, digits and
``._-`` (``/``, ``\\``, NUL, newlines and spaces become ``_``), no leading dot or dash (so never
``.`` or ``..``, never a hidden file or an option), at most :data:`MAX_LENGTH` characters, and
never a name Windows reserves (``CON``, ``NUL``, ``COM1`` ...). :func:`unique_names` gives
different sources different names, ignoring case: names that come out alike (``Müller`` and
``Mäller`` written in a script with no Latin letters, two ROIs ``GTV 1`` and ``GTV/1``) each get
a short hash of their original text, so a name does not depend on which other names an export
holds. :func:`inside` is the last check before anything is written.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from ..errors import InputError

__all__ = ["MAX_LENGTH", "inside", "safe_name", "unique_names"]

_Key = TypeVar("_Key", bound=Hashable)

#: The longest name :func:`safe_name` gives (file systems allow 255 bytes; suffixes are added).
MAX_LENGTH = 64

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)


def _digest(text: str) -> str:
    """Eight hex digits of the text's SHA-1 (its bytes as the file system holds them)."""
    return hashlib.sha1(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()[:8]


def safe_name(text: object, *, max_length: int = MAX_LENGTH) -> str:
    r"""A readable file-name-safe version of ``text`` (a sample, series, ROI or file name).

    Parameters
    ----------
    text
        Any value; ``None`` and text with nothing usable give ``"unnamed"``.
    max_length
        The longest result; a longer name is cut and ends with a hash of the whole text.

    Returns
    -------
    str
        Letters, digits and ``._-`` only; never empty, ``.`` or ``..``, never starting with a dot
        or a dash, never a Windows-reserved name.

    Examples
    --------
    >>> safe_name("Müller"), safe_name(".."), safe_name("a/b\x00c\nd"), safe_name("CON")
    ('Muller', 'unnamed', 'a_b_c_d', 'CON_')
    >>> len(safe_name("x" * 300))
    64
    """
    raw = "" if text is None else str(text)
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("_", ascii_text).strip("._- ") or "unnamed"
    if len(name) > max_length:
        name = name[: max_length - 9].rstrip("._-") + "-" + _digest(raw)
    if name.split(".")[0].upper() in _RESERVED:
        name = name[: max_length - 1] + "_" if "." not in name else "_" + name[: max_length - 1]
    return name


def unique_names(
    texts: Iterable[_Key], *, name: Callable[[_Key], str] | None = None, max_length: int = MAX_LENGTH
) -> dict[_Key, str]:
    """A safe name for each distinct text, different texts never getting names equal ignoring case.

    Texts whose safe names collide each get ``-`` and eight hex digits of their own text appended,
    whatever order they come in; equal texts share one name. ``name`` makes the first candidate
    of a text (default: :func:`safe_name`); it must give safe names.

    Examples
    --------
    >>> names = unique_names(["Müller", "Mäller", "王", "李", "STS_001"])
    >>> names["Müller"], names["Mäller"], names["STS_001"]
    ('Muller', 'Maller', 'STS_001')
    >>> names["王"] != names["李"] and names["王"].startswith("unnamed-")
    True
    """
    distinct = list(dict.fromkeys(texts))
    make = name if name is not None else functools.partial(safe_name, max_length=max_length)
    first = {text: make(text) for text in distinct}
    groups: dict[str, list[_Key]] = {}
    for text, made in first.items():
        groups.setdefault(made.lower(), []).append(text)
    names: dict[_Key, str] = {}
    for members in groups.values():
        for text in members:
            made = first[text]
            if len(members) > 1:
                made = made[: max_length - 9] + "-" + _digest(repr(text) if text is None else str(text))
            names[text] = made
    taken: set[str] = set()
    for text in distinct:  # a hashed name may equal another text's plain name: count up, in order
        made, n = names[text], 1
        while made.lower() in taken:
            n += 1
            made = f"{names[text][: max_length - len(str(n)) - 1]}-{n}"
        names[text] = made
        taken.add(made.lower())
    return names


def inside(out: str, path: str) -> str:
    """``path`` made absolute, after checking that it lies inside the folder ``out``.

    Symbolic links are resolved on both sides (a link inside ``out`` pointing elsewhere is outside).

    Raises
    ------
    InputError
        ``path`` would be written outside ``out``.

    Examples
    --------
    >>> inside("/data/out", "/data/out/a/b.nii.gz")
    '/data/out/a/b.nii.gz'
    >>> inside("/data/out", "/data/out/../b.nii.gz")
    Traceback (most recent call last):
    ...
    imgindex.errors.InputError: Refusing to write /data/b.nii.gz: it is outside the output folder /data/out. ...
    """
    base = os.path.realpath(out)
    target = os.path.realpath(path)
    if os.path.commonpath([base, target]) != base or target == base:
        raise InputError(
            f"Refusing to write {os.path.normpath(os.path.abspath(path))}: it is outside the output folder "
            f"{os.path.abspath(out)}. This is a bug in the names imgindex made; please report it."
        )
    return os.path.abspath(path)
