"""Name patterns (``*``, ``?``, ``[seq]``, ``#``) as regular expressions over a column of names.

MIRP's ``image_name`` / ``mask_name`` patterns are shell patterns (:mod:`fnmatch` semantics,
case-sensitive) matched against the *bare* file name, the name without its imaging suffix. A
``#`` matches like ``*`` and marks where the sample name sits; :func:`extract_sample_names`
isolates it the way MIRP's ``isolate_sample_name`` does, for a whole column at once with
``Series.str.extract``.

Differences from MIRP 2.7.0, on purpose:

- ``#`` is found inside every element of a list of patterns (MIRP only noticed a list element
  that *equals* ``"#"``). Several ``#`` patterns are tried in order; the first one that yields a
  name wins.
- ``?`` and ``[seq]`` inside the fixed parts of a ``#`` pattern are wildcards when the sample
  name is isolated, as they are when matching. MIRP compares those parts literally and then
  crashes (before ``#``) or ignores the part (after ``#``). For patterns without ``?`` and
  ``[`` the result is MIRP's, character for character.
- Suffixes are removed case-insensitively, with the suffix list of :mod:`imgindex.formats`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from .errors import InputTypeError
from .formats import SUFFIXES
from .schema import TEXT

__all__ = ["bare_names", "extract_sample_names", "match", "sample_pattern", "sample_patterns", "to_regex"]

#: One imaging suffix at the end of a name (the leftmost match is the longest suffix).
_SUFFIX_RE = "(?i)(?:" + "|".join(re.escape(s) for s in SUFFIXES) + r")\Z"
_STAR, _HASH = "*", "#"  # token markers (regex atoms are never a bare "*" or "#")


def _as_strings(values: pd.Series) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise InputTypeError(
            f"Names are expected as a pandas Series. Found: {type(values).__name__}. Wrap them with pd.Series(...)."
        )
    return values.astype(TEXT)


def _pattern_list(patterns: str | Sequence[str]) -> list[str]:
    items = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(items, list | tuple) or not all(isinstance(p, str) for p in items):
        raise InputTypeError(
            f"Name patterns are expected to be a string or a list of strings. Found: {patterns!r}. "
            "Pass for example '#_CT_*' or ['#_CT_*', '#_PET_*']."
        )
    return list(items)


def bare_names(file_names: pd.Series) -> pd.Series:
    """File names without their imaging suffix (one suffix, case-insensitive).

    The suffixes are those of :data:`imgindex.formats.SUFFIXES` (``.nii.gz``, ``.dcm``,
    ``.dicom``, ``.nii``, ``.nrrd``, ``.nhdr``, ``.npy``); the result equals
    :func:`imgindex.formats.strip_suffix` on every name. Names without a suffix stay as they are.

    Parameters
    ----------
    file_names : pandas.Series
        File names (no directories). Missing values stay missing.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index.

    Examples
    --------
    >>> bare_names(pd.Series(["STS_001_CT_image.nii.gz", "IM0001", "a.npy.NII.GZ"])).tolist()
    ['STS_001_CT_image', 'IM0001', 'a.npy']
    """
    return _as_strings(file_names).str.replace(_SUFFIX_RE, "", n=1, regex=True)


def _class(pattern: str, i: int) -> tuple[str | None, int]:
    """Translate the ``[...]`` starting after position ``i - 1``; ``(None, i)`` if it is not closed."""
    n, j = len(pattern), i
    if j < n and pattern[j] == "!":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    while j < n and pattern[j] != "]":
        j += 1
    if j >= n:
        return None, i
    negate = pattern[i] == "!"
    body = pattern[i + 1 if negate else i : j]
    # Split into "a-z" ranges and single characters as fnmatch does; drop reversed (empty) ranges.
    items: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            if body[k] <= body[k + 2]:
                items.append((body[k], body[k + 2]))
            k += 3
        else:
            items.append((body[k], body[k]))
            k += 1
    esc: Callable[[str], str] = lambda c: "\\" + c if c in "\\]^-[&~|" else c
    inner = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in items)
    if not inner:
        return ("[\\s\\S]" if negate else "[^\\s\\S]"), j + 1  # any character / nothing
    return f"[{'^' if negate else ''}{inner}]", j + 1


def _tokens(pattern: str, *, keep_hash: bool = False) -> list[str]:
    """Regex atoms of a shell pattern; ``*`` (and ``#`` when ``keep_hash``) stay as markers."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c, i = pattern[i], i + 1
        if c == "#" and keep_hash:
            out.append(_HASH)
        elif c in "*#":
            out.append(_STAR)
        elif c == "?":
            out.append(".")
        elif c == "[":
            atom, i = _class(pattern, i)
            out.append(atom if atom is not None else "\\[")
        else:
            out.append(re.escape(c))
    return out


def to_regex(pattern: str) -> str:
    """The regular expression of a shell pattern, for a match of the whole name.

    ``*`` and ``#`` match any run of characters, ``?`` one character, ``[seq]`` / ``[!seq]`` a
    character (not) in ``seq``; everything else is literal and case-sensitive, as
    :func:`fnmatch.fnmatchcase`. The result has no anchors: use it with ``re.fullmatch`` or
    ``Series.str.fullmatch``. It uses only syntax that Python's ``re`` and RE2 (pyarrow) share.

    Parameters
    ----------
    pattern : str
        The shell pattern, matched against bare file names.

    Returns
    -------
    str
        The regular expression.

    Examples
    --------
    >>> to_regex("#_CT_*")
    '(?s:.*_CT_.*)'
    >>> bool(re.fullmatch(to_regex("STS_00[12]_?T_image"), "STS_001_CT_image"))
    True
    """
    if not isinstance(pattern, str):
        raise InputTypeError(f"A name pattern is expected to be a string. Found: {pattern!r}.")
    tokens = _tokens(pattern.replace("#", "*"))  # as MIRP: even inside [...]
    repeated = [t == _STAR and k > 0 and tokens[k - 1] == _STAR for k, t in enumerate(tokens)]
    atoms = [".*" if t == _STAR else t for t, skip in zip(tokens, repeated, strict=True) if not skip]
    return "(?s:" + "".join(atoms) + ")"


def match(names: pd.Series, patterns: str | Sequence[str]) -> pd.Series:
    """Whether each name matches any of the patterns (see :func:`to_regex`).

    Parameters
    ----------
    names : pandas.Series
        Bare file names (see :func:`bare_names`). Missing names never match.
    patterns : str or list of str
        One pattern or several; an empty list matches nothing.

    Returns
    -------
    pandas.Series
        ``bool`` dtype, same index.

    Examples
    --------
    >>> match(pd.Series(["STS_001_CT_image", "STS_001_PET_image"]), ["#_CT_*", "*_MR_*"]).tolist()
    [True, False]
    """
    items = _pattern_list(patterns)
    strings = _as_strings(names)
    if not items:
        return pd.Series(False, index=names.index, dtype=bool)
    combined = "(?:" + "|".join(f"(?:{to_regex(p)})" for p in items) + ")"
    return strings.str.fullmatch(combined).fillna(False).astype(bool)


def sample_patterns(patterns: str | Sequence[str] | None) -> list[str]:
    """The patterns that carry a sample name: those with exactly one ``#`` (not inside ``[...]``), in order.

    Examples
    --------
    >>> sample_patterns(["*_mask", "#_CT_*", "#_x_#", "#_PET_*"])
    ['#_CT_*', '#_PET_*']
    """
    if patterns is None:
        return []
    return [p for p in _pattern_list(patterns) if p.count("#") == 1 and _HASH in _tokens(p, keep_hash=True)]


def sample_pattern(patterns: str | Sequence[str] | None) -> str | None:
    """The first pattern that carries the sample name (exactly one ``#``), or ``None``.

    ``#`` is looked for inside every element of a list (MIRP only recognised an element equal
    to ``"#"``). When several elements carry one, :func:`extract_sample_names` tries them all,
    in order; see :func:`sample_patterns`.

    Examples
    --------
    >>> sample_pattern(["*_mask", "#_CT_*"]), sample_pattern("#_image_#"), sample_pattern(None)
    ('#_CT_*', None, None)
    """
    found = sample_patterns(patterns)
    return found[0] if found else None


def _extract_regex(pattern: str) -> str:
    """Regex whose group 1 is the sample name of MIRP's isolate_sample_name (section 7.3)."""
    tokens = _tokens(pattern, keep_hash=True)
    segments: list[str] = [""]  # fixed parts between the markers (* and #)
    n_before = 0  # how many fixed parts lie before #
    for t in tokens:
        if t in (_STAR, _HASH):
            if t == _HASH:
                n_before = len(segments)
            segments.append("")
        else:
            segments[-1] += t
    before = [s for s in segments[:n_before] if s]
    after = [s for s in segments[n_before:] if s]
    # Before #: drop through the first occurrence of each part, left to right (lazy).
    # After #: drop from the last occurrence, right to left (greedy capture).
    return "(?s)^" + "".join(f".*?{p}" for p in before) + "(.*)" + "".join(f"{p}.*" for p in after) + r"\Z"


def extract_sample_names(names: pd.Series, patterns: str | Sequence[str] | None) -> pd.Series:
    """Sample names isolated from bare file names by ``#`` patterns (MIRP's ``isolate_sample_name``).

    For one pattern with exactly one ``#``: the whole name must match the pattern with ``#`` read
    as ``*``; then, left to right, everything up to and including the *first* occurrence of each
    fixed part before ``#`` is dropped, and, right to left, everything from the *last* occurrence
    of each fixed part after ``#``. The rest is the sample name; an empty rest gives ``<NA>``.
    Patterns without exactly one ``#`` yield nothing. Several patterns are tried in order.

    Parameters
    ----------
    names : pandas.Series
        Bare file names (see :func:`bare_names`).
    patterns : str or list of str or None
        Name pattern(s); only those with exactly one ``#`` are used.

    Returns
    -------
    pandas.Series
        ``string`` dtype, ``<NA>`` where no sample name was found; same index.

    Examples
    --------
    >>> names = pd.Series(["STS_001_CT_image", "STS_001_MR_T1_image", "notes"])
    >>> extract_sample_names(names, "#_*_image").tolist()
    ['STS_001', 'STS_001_MR', <NA>]
    >>> extract_sample_names(names, ["STS_#_CT_*", "#_MR_*"]).tolist()
    ['001', 'STS_001', <NA>]
    """
    strings = _as_strings(names)
    result = pd.Series(pd.NA, index=names.index, dtype=TEXT)
    for pattern in sample_patterns(patterns):
        matched = strings.str.fullmatch(to_regex(pattern)).fillna(False).astype(bool)
        found = strings.str.extract(_extract_regex(pattern), expand=False).astype(TEXT)
        found = found.where(matched & found.ne("").fillna(False))
        result = result.fillna(found)
    return result
