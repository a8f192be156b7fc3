"""The facts of the report, from an :class:`~imgindex.Index`: one plain DataFrame per section.

Nothing here reads an imaging file. Columns that other steps may add (``volume_index``,
``tilt_angle`` of the objects; ``evidence``, ``candidates`` of the pairs) are shown when they are
there and skipped when they are not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..index import Index

__all__ = [
    "MODALITY_ORDER",
    "STATUS_ORDER",
    "cohort",
    "common_root",
    "geometry",
    "pairs",
    "roi_names",
    "short",
    "unpaired_masks",
    "unreadable",
    "worst",
]

#: Image modalities in the order of the cohort table's columns (others follow, alphabetically).
MODALITY_ORDER = ("ct", "pt", "mr", "adc", "dce", "rtdose", "cr", "dx", "mg", "generic")
#: Pair statuses, the ones to look at first.
STATUS_ORDER = ("ambiguous", "missing", "ok")
#: Optional columns shown when present (added by other steps of the data flow).
OBJECT_EXTRAS = ("volume_index", "volume_group", "tilt_angle")
PAIR_EXTRAS = ("evidence", "candidates")


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def common_root(files: Iterable[Any], folders: Iterable[Any] = ()) -> str | None:
    """The folder all absolute file paths and folders share (``None`` without any, or on different drives).

    Examples
    --------
    >>> common_root(["/data/sts/STS_001/ct.nii.gz", "/data/sts/STS_002/ct.nii.gz", None])
    '/data/sts'
    >>> common_root(["/data/sts/STS_001/ct.nii.gz"], ["/data"])
    '/data'
    """
    paths = [p for p in files if isinstance(p, str) and os.path.isabs(p)]
    dirs = [d for d in folders if isinstance(d, str) and os.path.isabs(d)]
    if not paths and not dirs:
        return None
    try:
        root = os.path.commonpath(paths + dirs)
    except ValueError:
        return None
    return os.path.dirname(root) if root in paths else root


def short(path: Any, root: str | None) -> str:
    """``path`` relative to ``root`` (as it is when it is not below it).

    Examples
    --------
    >>> short("/data/sts/STS_001/CT/image.nii.gz", "/data/sts"), short(None, "/data")
    ('STS_001/CT/image.nii.gz', '')
    """
    if not isinstance(path, str):
        return ""
    if root and (path == root or path.startswith(root.rstrip(os.sep) + os.sep)):
        return os.path.relpath(path, root)
    return path


def _where(objects: pd.DataFrame, root: str | None) -> pd.Series:
    """A short place of each object: its file, else its folder (a series), else its array."""
    place = objects["file_path"].where(objects["file_path"].notna(), objects["dir_path"])
    shown = [short(p, root) for p in place]
    arrays = objects["array_index"] if "array_index" in objects else pd.Series([None] * len(objects))
    return pd.Series(
        [s or (f"array {int(a)}" if pd.notna(a) else "") for s, a in zip(shown, arrays, strict=True)],
        index=objects.index,
    )


def _modalities(values: Iterable[Any]) -> list[str]:
    found = {str(v) for v in values if isinstance(v, str)}
    return [m for m in MODALITY_ORDER if m in found] + sorted(found - set(MODALITY_ORDER))


def worst(statuses: Iterable[str]) -> str:
    """The status to look at first among ``statuses`` (``""`` for none).

    Examples
    --------
    >>> worst(["ok", "missing", "ok"]), worst([])
    ('missing', '')
    """
    found = set(statuses)
    return next((s for s in STATUS_ORDER if s in found), "")


def cohort(index: Index) -> tuple[pd.DataFrame, list[str]]:
    """One row per sample: for each image modality the images, their masks and the worst pair status.

    Returns the table (columns ``sample_name``, then ``<modality>_images``, ``<modality>_masks`` and
    ``<modality>_status`` per modality, then ``unpaired_masks`` and ``geometry_warnings``) and the
    modalities in column order.
    """
    objects, pair_table = index.objects, index.pairs
    images = objects[objects["role"] == "image"]
    masks = objects[objects["role"] == "mask"]
    modalities = _modalities(images["modality"])
    samples = sorted({_text(s) or "?" for s in objects["sample_name"]})
    paired_masks = set(pair_table["mask_id"].dropna())
    warning = objects.get("geometry_warning", pd.Series([""] * len(objects), index=objects.index))
    warned = objects.assign(_w=warning.fillna("").astype(str).str.len() > 0)
    rows = []
    for sample in samples:
        row: dict[str, Any] = {"sample_name": sample}
        mine = images[images["sample_name"].fillna("?").astype(str) == sample]
        for modality in modalities:
            ids = set(mine.loc[mine["modality"] == modality, "object_id"])
            chosen = pair_table[pair_table["image_id"].isin(ids)]
            row[f"{modality}_images"] = len(ids)
            row[f"{modality}_masks"] = int(chosen["mask_id"].dropna().nunique())
            row[f"{modality}_status"] = worst(chosen["status"]) if len(chosen) else ("" if not ids else "none")
        own_masks = masks[masks["sample_name"].fillna("?").astype(str) == sample]
        row["unpaired_masks"] = int((~own_masks["object_id"].isin(paired_masks)).sum()) if len(pair_table) else 0
        row["geometry_warnings"] = int(warned.loc[warned["sample_name"].fillna("?").astype(str) == sample, "_w"].sum())
        rows.append(row)
    return pd.DataFrame(rows), modalities


def pairs(index: Index, root: str | None) -> pd.DataFrame:
    """The pairs with what decided them, the ones to look at (``ambiguous``, ``missing``) first."""
    objects = index.objects.set_index("object_id", drop=False)
    where = _where(objects, root)
    table = index.pairs
    out = pd.DataFrame(
        {
            "status": table["status"].astype(object),
            "sample_name": table["image_id"].map(objects["sample_name"]).map(_text),
            "image": table["image_id"].astype(object),
            "image_modality": table["image_id"].map(objects["modality"]).map(_text),
            "image_path": table["image_id"].map(where),
            "mask": table["mask_id"].map(_text),
            "mask_modality": table["mask_id"].map(objects["modality"]).map(_text),
            "rois": table["mask_id"].map(objects["roi_names"]).map(_text),
            "mask_path": table["mask_id"].map(where).map(_text),
            "rule": table["strategy"].map(_text),
        }
    )
    for extra in PAIR_EXTRAS:
        if extra in table:
            out[extra] = table[extra].map(_text)
    rank = {s: k for k, s in enumerate(STATUS_ORDER)}
    order = sorted(range(len(out)), key=lambda k: (rank.get(out["status"].iloc[k], 9), out["sample_name"].iloc[k]))
    return out.iloc[order].reset_index(drop=True)


def unpaired_masks(index: Index, root: str | None) -> pd.DataFrame:
    """Masks that went to no image (with a pairs table to go by)."""
    masks = index.objects[index.objects["role"] == "mask"]
    if index.pairs.empty:
        return masks.iloc[:0][["object_id"]]
    alone = masks[~masks["object_id"].isin(set(index.pairs["mask_id"].dropna()))]
    return pd.DataFrame(
        {
            "sample_name": alone["sample_name"].map(_text),
            "mask": alone["object_id"],
            "modality": alone["modality"].map(_text),
            "rois": alone["roi_names"].map(_text),
            "path": _where(alone, root),
        }
    ).reset_index(drop=True)


def geometry(index: Index, root: str | None) -> pd.DataFrame:
    """Objects whose geometry or slice order is doubtful, with the reason."""
    objects = index.objects
    column = "geometry_warning"
    if column not in objects:
        return pd.DataFrame(columns=["sample_name", "object", "warning"])
    text = objects[column].fillna("").astype(str)
    chosen = objects[text.str.len() > 0]
    out = pd.DataFrame(
        {
            "sample_name": chosen["sample_name"].map(_text),
            "object": chosen["object_id"],
            "role": chosen["role"].map(_text),
            "modality": chosen["modality"].map(_text),
            "path": _where(chosen, root),
        }
    )
    for extra in OBJECT_EXTRAS:
        if extra in chosen:
            out[extra] = chosen[extra].map(_text)
    out["warning"] = text[text.str.len() > 0]
    return out.reset_index(drop=True)


def unreadable(index: Index, root: str | None) -> pd.DataFrame:
    """Files that looked like imaging but could not be read, and why."""
    files = index.files
    bad = files[files["error"].notna()]
    return pd.DataFrame(
        {
            "path": [short(p, root) for p in bad["file_path"]],
            "file_type": bad["file_type"].map(_text),
            "error": bad["error"].map(_text),
        }
    )


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def roi_names(index: Index, found: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Every ROI name across the cohort: how many masks and samples have it, and its other spellings.

    ``found`` gives the regions read from the voxels of label maps (mask id: region names), which
    the headers do not name. ``similar`` lists the names that differ only in case, spaces or
    punctuation (``GTV_Mass``, ``gtv mass``): the names to harmonise with ``roi_name``.
    """
    masks = index.objects[index.objects["role"] == "mask"]
    objects = index.objects.set_index("object_id")
    image_of: dict[str, list[str]] = {}
    for image_id, mask_id in zip(index.pairs["image_id"], index.pairs["mask_id"], strict=True):
        if isinstance(mask_id, str):
            image_of.setdefault(mask_id, []).append(image_id)
    records = []
    given = zip(masks["object_id"], masks["roi_names"], masks["sample_name"], masks["modality"], strict=True)
    for mask_id, header, sample, modality in given:
        names = header if isinstance(header, (list, tuple)) else (found or {}).get(str(mask_id), [])
        for name in dict.fromkeys(str(n) for n in names):
            images = image_of.get(str(mask_id), [])
            records.append(
                {
                    "roi_name": name,
                    "mask": mask_id,
                    "sample_name": _text(sample) or "?",
                    "mask_modality": _text(modality),
                    "image_modality": ", ".join(sorted({_text(objects.loc[i, "modality"]) for i in images})),
                }
            )
    columns = ["roi_name", "masks", "samples", "mask_modalities", "image_modalities", "missing_from", "similar"]
    if not records:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(records)
    all_samples = sorted(set(table["sample_name"]))
    spellings: dict[str, set[str]] = {}
    for name in table["roi_name"]:
        spellings.setdefault(_key(str(name)), set()).add(str(name))
    rows = []
    for roi, group in table.groupby("roi_name", sort=False):
        samples = set(group["sample_name"])
        absent = [s for s in all_samples if s not in samples]
        rows.append(
            {
                "roi_name": roi,
                "masks": len(group),
                "samples": len(samples),
                "mask_modalities": ", ".join(sorted(set(group["mask_modality"]) - {""})),
                "image_modalities": ", ".join(
                    sorted({m for v in group["image_modality"] for m in v.split(", ")} - {""})
                ),
                "missing_from": absent if 2 * len(samples) >= len(all_samples) else [],
                "similar": sorted(spellings[_key(str(roi))] - {str(roi)}),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["samples", "masks", "roi_name"], ascending=[False, False, True]).reset_index(drop=True)
