"""Series templates: the walk of a series' files replaced by a few comparisons.

The files of a series usually have the same elements in the same order, with the same bytes but
for a few elements (instance UIDs, instance number, position ...). A template is the layout of
one file, from the file meta to the first tag after the last one needed: runs of constant bytes
and, between them, the "variable" elements, those that differed between two files of the same
tags. A variable element must be plain: of a defined length, not a sequence the walk parses, not
the character set, modality or transfer syntax. A file *follows* a template when it has the
bytes of every run, in order, a variable element of the same tag and VR (and a defined length)
between them, and the first tag not needed at the end, all inside its head.

That is exact, not a guess: the walks of two such files read the same bytes in the same state
(same tags before, same character set, nothing past the head, so nothing read from the file),
except the value of a variable element, which the walk only keeps (a wanted one) or skips. So
they give the same elements, and the same values but for the variable elements; those are taken
from the file, and converted like the walk's. Every template is checked on its own file when it
is made. Files that follow none (RTSTRUCTs, headers longer than the head, ...) are walked.

A reader keeps its templates in a :class:`Templates` object of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from .dicom_tags import (
    _CHARSET,
    _DELIM,
    _ENC,
    _EXPLICIT,
    _IMPLICIT,
    _LAST_TOP,
    _LONG_VRS,
    _META,
    _MODALITY,
    _PER_FRAME_SEQ,
    _PLAIN,
    _SCALARS,
    _SHARED_SEQ,
    _SOURCE_SEQ,
    _TOP,
    _TRANSFER_SYNTAX,
    _U32,
    _UNDEFINED,
)
from .dicom_values import _UNIQUE, ValueCache, _column, _values
from .dicom_walk import Unsupported, _sequence, _Source


class _Kind:
    """How an element header of one kind is laid out: bytes compared, where the length is."""

    __slots__ = ("length_at", "prefix", "unpack", "value_at")

    def __init__(self, prefix: int, unpack: _Unpack, length_at: int, value_at: int) -> None:
        # prefix: the bytes of tag (and VR) a variable element must repeat; length_at and
        # value_at: offsets of its length and value after the prefix
        self.prefix, self.unpack, self.length_at, self.value_at = prefix, unpack, length_at, value_at


#: A ``struct.Struct(...).unpack_from``: the numbers at an offset of a buffer.
_Unpack = Callable[[bytes, int], tuple[Any, ...]]
#: What a reader does to the values of each file after the fast reader (its derived columns), in two
#: parts that change a values dict in place: the first reads no column of :data:`_UNIQUE` (so a
#: template runs it once per group of shared values, not per file), the second reads only those.
Derive = tuple[Callable[[dict[str, Any]], None], Callable[[dict[str, Any]], None]]
#: A step of a template: (run of constant bytes, its length, the unpacker of the variable element's
#: length after it, where the length is, where the value is, whether the value is wanted). The last
#: step has no unpacker: its run ends with the tag after the last one needed.
_Step = tuple[bytes, int, _Unpack | None, int, int, bool]
#: A top-level element of a walked file: (start, end, kind of header, plain), see :func:`_layout`.
_Element = tuple[int, int, _Kind, bool]

_U16 = struct.Struct("<H").unpack_from
_SHORT_KIND, _LONG_KIND, _IMPLICIT_KIND = _Kind(6, _U16, 0, 2), _Kind(6, _U32, 2, 6), _Kind(4, _U32, 0, 4)
_SCALAR_OF = {tag: (name, vr, kind) for name, tag, vr, kind in _SCALARS}
#: Elements a template never lets vary: they change what the walk does with later elements.
_NEVER_VARIABLE = frozenset({_CHARSET, _MODALITY, _TRANSFER_SYNTAX})
_MAX_TEMPLATES = 8
#: Groups of shared values remembered per template (a series' files come together, and a group,
#: the values of a file but the unique ones, is a dict of every column: a few kB).
_TEMPLATE_GROUPS = 64
#: After this many files in a row that followed no template, templates are tried and made only on
#: a few files (:data:`_BURST` in a row, enough to learn a layout) in this many: a stream of files
#: that share no layout then costs next to nothing.
_COLD = 32
_BURST = 3


class _Template:
    """The layout of the files of a series (see above), with the values of its constant part."""

    __slots__ = (
        "chunks",
        "columns",
        "constant",
        "derive",
        "groups",
        "key",
        "out",
        "shape",
        "shared",
        "steps",
        "tags",
        "transfer_syntax",
        "variable",
    )

    def __init__(
        self,
        shape: tuple[bytes, ...],
        chunks: list[bytes],
        variable: frozenset[int],
        steps: tuple[_Step, ...],
        tags: tuple[int, ...],
        constant: dict[int, Any],
        transfer_syntax: str | None,
        out: dict[str, Any] | None,
        derive: Derive | None = None,
    ) -> None:
        self.shape, self.chunks, self.variable, self.steps = shape, chunks, variable, steps
        self.tags, self.constant, self.transfer_syntax, self.out = tags, constant, transfer_syntax, out
        self.derive = derive
        # the variable columns: (position in the values, name, VR, kind), the shared ones apart
        columns = [(i, *_SCALAR_OF[tag]) for i, tag in enumerate(tags)]
        self.columns = tuple(c for c, tag in zip(columns, tags, strict=True) if tag in _UNIQUE)
        self.shared = tuple(c for c, tag in zip(columns, tags, strict=True) if tag not in _UNIQUE)
        #: the key of a file's group in ``groups``: the raw values of its shared columns
        self.key: Callable[[list[bytes]], Any] = itemgetter(*[c[0] for c in self.shared]) if self.shared else _no_key
        #: the values of a file but its unique columns (``out``, the converted shared columns, the first
        #: part of ``derive``) by the raw values of its shared columns (a series' files share them)
        self.groups: dict[tuple[bytes, ...], dict[str, Any]] = {}


def _no_key(values: list[bytes]) -> tuple[()]:
    """The group key of a template without shared variable columns: one group."""
    return ()


class Templates:
    """The series templates of one reader, most recently used first, and its run of misses.

    ``misses`` counts the files in a row that followed no template; ``learnt`` says whether the
    last of them made one. A reader's own: never shared between processes.
    """

    __slots__ = ("learnt", "misses", "templates")

    def __init__(self) -> None:
        self.templates: list[_Template] = []  # replaced, never changed in place
        self.misses = 0
        self.learnt = False

    def use(self, template: _Template) -> None:
        """Move ``template`` to the front of the templates."""
        self.store([template, *(t for t in self.templates if t is not template)])

    def store(self, templates: list[_Template]) -> None:
        """Replace the templates (by a new list: another thread may be iterating over the old one)."""
        self.templates = templates


def _follow(steps: tuple[_Step, ...], head: bytes) -> list[bytes] | None:
    """The values of a template's wanted variable elements in ``head``, or None: ``head`` does not follow it."""
    values: list[bytes]
    p, size, values = 132, len(head), []
    try:
        for run, n, unpack, length_at, value_at, wanted in steps:
            if not head.startswith(run, p):
                return None
            p += n
            if unpack is None:  # the run ended with the tag after the last one needed
                return values if p + 8 <= size else None
            start = p + value_at  # inside the head when the length before it is (else unpack raises)
            p = start + unpack(head, p + length_at)[0]
            if p > size:  # also an undefined length
                return None
            if wanted:
                values.append(head[start:p])
    except struct.error:  # the head ends inside the length of a variable element
        return None
    return None  # pragma: no cover - every template ends with a run without unpack


def _from_template(template: _Template, values: list[bytes], cache: ValueCache) -> dict[str, Any]:
    """What :func:`_values` gives for a file that follows ``template`` with these variable values.

    With the template's ``derive``: what it gives then, both parts run on it.
    """
    derive = template.derive
    if template.out is None:  # functional groups: variable values may fill in nested geometry
        ds = template.constant.copy()
        ds.update(zip(template.tags, values, strict=True))
        out = _values(ds, template.transfer_syntax, cache)
        if derive is not None:
            derive[0](out)
            derive[1](out)
        return out
    # every other column depends on the constant elements only: all but the unique ones are a group's
    enc = template.constant[_ENC]
    key = template.key(values)  # C-level (a single value's bytes when one column is shared)
    group = template.groups.get(key)
    if group is None:
        group = template.out.copy()
        group.update([(name, _column(values[i], vr, kind, enc)) for i, name, vr, kind in template.shared])
        if derive is not None:
            derive[0](group)
        if len(template.groups) >= _TEMPLATE_GROUPS:
            template.groups.clear()
        template.groups[key] = group
    out = group.copy()
    for i, name, vr, kind in template.columns:
        out[name] = _column(values[i], vr, kind, enc)
    if derive is not None:
        derive[1](out)
    return out


_TOP_NOT_SEG = _TOP - {_SOURCE_SEQ}


def _is_seg(ds: dict[int, Any]) -> bool:
    modality = ds.get(_MODALITY, b"")
    return isinstance(modality, bytes) and modality.strip(b" \x00") == b"SEG"


def _layout(src: _Source, pos: int, end: int, implicit: bool, wanted: frozenset[int]) -> list[_Element] | None:
    """The top-level elements from ``pos`` to ``end``: (start, end, kind, plain), as the walk went."""
    elements: list[_Element]
    data, elements = src.data, []
    while pos < end:
        if implicit:
            group, elem, length = _IMPLICIT(data, pos)
            kind, header = _IMPLICIT_KIND, 8
        else:
            group, elem, vr, length = _EXPLICIT(data, pos)
            kind, header = _SHORT_KIND, 8
            if vr in _LONG_VRS:
                length, kind, header = _U32(data, pos + 8)[0], _LONG_KIND, 12
        tag = group << 16 | elem
        if length == _UNDEFINED:
            stop, plain = _sequence(src, pos + header, _DELIM, implicit, False, None)[1], False
        else:
            stop = pos + header + length
            plain = tag not in wanted or (tag in _PLAIN and tag not in _NEVER_VARIABLE and tag in _SCALAR_OF)
        elements.append((pos, stop, kind, plain))
        pos = stop
    return elements if pos == end else None


def _learn(
    known: Templates,
    cache: ValueCache,
    src: _Source,
    meta_end: int,
    end: int,
    implicit: bool,
    ds: dict[int, Any],
    transfer_syntax: str | None,
    out: dict[str, Any],
    derive: Derive | None = None,
) -> None:
    """Make (or widen) the template of the file just walked: meta from 132, data set to ``end``.

    ``out`` are the walk's values (before ``derive``, which the template's files then get).
    """
    head = src.data
    if src.handle is not None or src.base or end + 12 > len(head):
        return  # part of the header was read from the file
    group, elem, _length = _IMPLICIT(head, end)
    if group << 16 | elem <= _LAST_TOP:
        return  # not stopped by a tag after the last one needed (an RTSTRUCT's contours)
    # Only a SEG's top-level SourceImageSequence is read: elsewhere (derived images) it may vary.
    top = _TOP if _is_seg(ds) else _TOP_NOT_SEG
    try:
        meta = _layout(src, 132, meta_end, False, _META)
        data = _layout(src, meta_end, end, implicit, top)
    except (Unsupported, OSError, RecursionError, struct.error):
        meta = data = None
    if src.handle is not None or meta is None or data is None:
        src.close()
        return
    elements = meta + data
    shape = (*(head[start : start + kind.prefix] for start, _end, kind, _plain in elements), head[end : end + 4])
    chunks = [head[start:stop] for start, stop, _kind, _plain in elements]
    templates = known.templates
    variable: frozenset[int] = frozenset()
    for old in templates:
        if old.shape == shape:
            variable = old.variable | {i for i, (a, b) in enumerate(zip(chunks, old.chunks, strict=True)) if a != b}
            break
    if any(not elements[i][3] for i in variable) or (implicit and len(meta) in variable):
        variable = frozenset()  # a non-plain element varies (or the first of an implicit data set, whose
        # length bytes read-ahead checks look at): this layout can only match identical headers
    steps: list[_Step]
    tags: list[int]
    steps, tags, run_start = [], [], 132
    for i in sorted(variable):
        start, stop, kind, _plain = elements[i]
        group, elem, _length = _IMPLICIT(head, start)
        tag = group << 16 | elem
        wanted = i >= len(meta) and tag in top
        run = head[run_start : start + kind.prefix]
        steps.append((run, len(run), kind.unpack, kind.length_at, kind.value_at, wanted))
        if wanted:
            tags.append(tag)
        run_start = stop
    run = head[run_start : end + 4]
    steps.append((run, len(run), None, 0, 0, False))
    constant = {k: v for k, v in ds.items() if k not in tags and (k in top or k not in _TOP)}
    groups = _PER_FRAME_SEQ in ds or _SHARED_SEQ in ds
    template = _Template(
        shape,
        chunks,
        variable,
        tuple(steps),
        tuple(tags),
        constant,
        transfer_syntax,
        None if groups else out.copy(),
        derive,
    )
    values = _follow(template.steps, head)
    if values is None or _from_template(template, values, cache) != _derived(out, derive):  # pragma: no cover
        return  # a safety net
    known.store([template, *(t for t in templates if t.shape != shape)][:_MAX_TEMPLATES])


def _derived(values: dict[str, Any], derive: Derive | None) -> dict[str, Any]:
    """``values`` with both parts of ``derive`` run on them (a copy; ``values`` itself without ``derive``)."""
    if derive is None:
        return values
    out = values.copy()
    derive[0](out)
    derive[1](out)
    return out
