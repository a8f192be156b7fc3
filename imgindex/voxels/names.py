"""Region names of a mask file: the caller's ``roi_name`` selection and unique output keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import NotFoundError
from ..filters import select_rois

#: A ``roi_name`` selection as the import functions take it (what :func:`~imgindex.filters.select_rois` accepts).
RoiName = str | Sequence[str] | Mapping[str, str] | None


def unique_names(names: Sequence[str]) -> list[str]:
    """Make names unique: a repeated name gets ``_2``, ``_3``, ... (skipping names already taken).

    Examples
    --------
    >>> unique_names(["GTV", "GTV", "GTV_2", "CTV"])
    ['GTV', 'GTV_3', 'GTV_2', 'CTV']
    """
    taken = set(names)
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name in seen:
            n = 2
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def choose(available: Sequence[str], roi_name: RoiName, *, source: str) -> dict[int, str]:
    """``{position in available: output key}`` for the regions the ``roi_name`` selection keeps.

    Every region keeps its own key, even when ``available`` repeats a name. Raises
    :class:`~imgindex.errors.NotFoundError` when a selection keeps nothing.

    Examples
    --------
    >>> choose(["GTV", "GTV", "Lung"], ["GTV"], source="RS.dcm")
    {0: 'GTV', 1: 'GTV_2'}
    >>> choose(["region_1", "region_2"], {"2": "tumour"}, source="mask.nii.gz")
    {1: 'tumour'}
    """
    picked: dict[int, str] = {}
    for position, name in enumerate(available):
        mapped = select_rois([name], roi_name)
        if name in mapped:
            picked[position] = mapped[name]
    if roi_name is not None and not picked:
        raise NotFoundError(
            f"None of the requested ROIs ({roi_name!r}) is in {source}; it holds "
            f"{list(available) or 'no regions'}. Check roi_name."
        )
    return dict(zip(picked, unique_names(list(picked.values())), strict=True))
