"""Helpers shared by the tests of the MIRP-compatible functions (test_api_*.py).

They translate between what the import returns (``ImageFile`` / ``MaskFile`` objects, the
objects and pairs tables) and the ground truth of :func:`imgindex.examples.write_example_dataset`
(one ``object_key`` per expected image or mask object).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd


def key_map(manifest: pd.DataFrame) -> dict[str, str]:
    """file_path -> object_key of every imaging file in the manifest."""
    rows = manifest[manifest["object_key"].notna()]
    return dict(zip(rows["file_path"], rows["object_key"], strict=True))


def key_of(paths: tuple[str, ...] | list[str], keys: dict[str, str]) -> str:
    """The one object_key shared by all member files of an object (fails if they disagree)."""
    found = {keys[p] for p in paths}
    assert len(found) == 1, f"one object mixes files of {sorted(found)}"
    return found.pop()


def expected_pairs(manifest: pd.DataFrame) -> dict[str, set[str]]:
    """image object_key -> object_keys of its masks (same sample, modality folder and format)."""
    keys = manifest.dropna(subset=["object_key"]).drop_duplicates("object_key")
    images = keys[keys["role"] == "image"]["object_key"]
    masks = keys[keys["role"] == "mask"]["object_key"]
    out = {}
    for image in images:
        prefix = image.rsplit("/", 1)[0] + "/"
        out[image] = {m for m in masks if m.startswith(prefix)}
    return out


def manifest_row(manifest: pd.DataFrame, key: str) -> pd.Series:
    """The first manifest row of an object (for sample name, modality, file type)."""
    return manifest[manifest["object_key"] == key].iloc[0]


def slice_order(manifest: pd.DataFrame, key: str) -> list[str]:
    """Member files of a stacked object in their true slice order."""
    rows = manifest[manifest["object_key"] == key]
    return rows.sort_values("slice_index")["file_path"].tolist()


def recorded(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Run ``call`` and return (result, messages of the warnings it emitted)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, [str(w.message) for w in caught]


def masks_by_image(index) -> dict[str, list[str]]:
    """image object_id -> mask object_ids (empty for a missing mask) from an index's pairs."""
    out: dict[str, list[str]] = {}
    for image_id, mask_id in zip(index.pairs["image_id"], index.pairs["mask_id"], strict=True):
        out.setdefault(image_id, [])
        if pd.notna(mask_id):
            out[image_id].append(mask_id)
    return out
