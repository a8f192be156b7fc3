"""``Index``: the files, objects and pairs tables of one curation, saved and loaded as parquet.

A saved index is a folder with ``files.parquet``, ``objects.parquet`` and ``pairs.parquet``, each
with imgindex metadata (schema and library version; the import options are kept with the
objects). Loading it reads no imaging file.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import atomic, saved, schema
from .errors import NotFoundError, warn
from .files import ImageFile, MaskFile, _column
from .options import ImportOptions

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TABLE_FILES = ("files", "objects", "pairs")
#: A ``roi_name`` as the caller wrote it (the ``roi_name`` of a ``MaskFile``).
RoiName = str | list[str] | dict[str, str] | None


@dataclass(eq=False)
class Index:
    """The result of :func:`imgindex.build_index`: three plain DataFrames and the options used.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per file (schema ``files``), with the curation columns filled.
    objects : pandas.DataFrame
        One row per image or mask after stacking (schema ``objects``).
    pairs : pandas.DataFrame
        Which mask belongs to which image, and how it was decided (schema ``pairs``).
    options : ImportOptions
        The import options the index was built with.
    requests : tuple of ImportOptions
        The options of each request (csv row group, xml ``<data>`` element), by request number.
    arrays : list of numpy.ndarray
        In-memory arrays referenced by ``array_index`` (not saved to parquet).
    """

    files: pd.DataFrame
    objects: pd.DataFrame
    pairs: pd.DataFrame
    options: ImportOptions = field(default_factory=ImportOptions)
    requests: tuple[ImportOptions, ...] = ()
    arrays: list[NDArray[Any]] = field(default_factory=list, repr=False)

    @property
    def images(self) -> pd.DataFrame:
        """The image rows of :attr:`objects`."""
        return self.objects[self.objects["role"] == "image"]

    @property
    def masks(self) -> pd.DataFrame:
        """The mask rows of :attr:`objects`."""
        return self.objects[self.objects["role"] == "mask"]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the three tables into the folder ``path`` (created if needed), atomically.

        The folder holds ``files.parquet``, ``objects.parquet`` and ``pairs.parquet``, one table
        each (query each file on its own with DuckDB, Spark or polars); :func:`read_index` and
        every function that takes an input read it back. Name it as a folder (``sts-index``), not
        ``*.parquet``: SQL engines take such a name for one table. Folders saved under such names
        by older versions still read.

        The folder is written whole under a temporary name beside ``path`` and swapped into place
        when complete: a reader sees the old index or the new one, never a mix, and a save that
        fails (or two saves at once) never leaves an unreadable index. ``path``, if it exists,
        must be an index folder (it is replaced whole).

        Examples
        --------
        >>> import imgindex, os
        >>> index = imgindex.build_index(example_dir, image_sub_folder="CT/nifti/image",
        ...                              mask_sub_folder="CT/nifti/mask")
        >>> index.save(os.path.join(tmp_dir, "index"))
        >>> sorted(os.listdir(os.path.join(tmp_dir, "index")))
        ['files.parquet', 'objects.parquet', 'pairs.parquet']
        """
        if os.fspath(path).lower().rstrip("/").endswith(".parquet") and not os.path.isdir(path):
            warn(
                f"The index is saved as a folder of three parquet files; {os.fspath(path)!r} reads like one "
                "parquet file, which DuckDB, Spark and polars would take it for. Name index folders without "
                "'.parquet' (e.g. 'sts-index')."
            )
        options = {"options": self.options.arguments(), "requests": [r.arguments() for r in self.requests]}
        atomic.write_folder(
            path,
            {
                "files": (self.files, {"scan": self.files.attrs.get("scan", {})}),
                "objects": (self.objects, options),
                "pairs": (self.pairs, {}),
            },
        )

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Deprecated name of :meth:`save` (it writes a folder, not one parquet file); warns.

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     Index(schema.empty("files"), schema.empty("objects"), schema.empty("pairs")).to_parquet(
        ...         os.path.join(tmp_dir, "old"))
        >>> "Index.save" in str(caught[0].message)
        True
        """
        warn("Index.to_parquet is now Index.save (it writes a folder of three parquet files).")
        self.save(path)

    def roi_name_of(self, row: Mapping[str, Any], default: RoiName = None) -> RoiName:
        """The ``roi_name`` that applies to a mask row, as the caller wrote it.

        Its request's (a csv row, an xml ``<data>`` element), else the import's, else ``default``.
        """
        request = row.get("request")
        selection = self.options.roi_name
        if request is not None and not pd.isna(request) and 0 <= int(request) < len(self.requests):
            selection = self.requests[int(request)].roi_name
        return selection.value if selection is not None else default

    def _positions(self, role: str) -> list[int]:
        """The positions in :attr:`objects` of the rows of ``role`` (those :attr:`images` or :attr:`masks` holds)."""
        return np.flatnonzero((self.objects["role"] == role).to_numpy(bool, na_value=False)).tolist()

    def materialise_masks(self, *, roi_name: RoiName | Literal[False] = None) -> list[MaskFile]:
        """``MaskFile`` objects of every mask (no file is read).

        ``roi_name`` is used where the import asked for no ROIs; ``False`` leaves every mask
        without a selection.
        """
        # Column by column over the objects table: no frame of the mask rows.
        rows = self._positions("mask")
        if roi_name is False:
            return MaskFile.from_table(self.objects, arrays=self.arrays, rows=rows)
        requests = _column(self.objects, "request", rows)
        of_request = {r: self.roi_name_of({"request": r}, roi_name) for r in dict.fromkeys(requests)}
        selections = [of_request[r] for r in requests]
        return MaskFile.from_table(self.objects, roi_name=selections, arrays=self.arrays, rows=rows)

    def materialise(self, *, roi_name: RoiName = None) -> list[ImageFile]:
        """``ImageFile`` objects with their ``associated_masks`` (no file is read).

        When no masks were imported (:attr:`pairs` is empty), every image gets MIRP's whole-image
        placeholder mask. Images whose masks were asked for but not found (status ``missing``)
        keep ``associated_masks=None``, as in MIRP (spec 13.6).
        """
        masks = {m.object_id: m for m in self.materialise_masks(roi_name=roi_name)}
        by_image: dict[str, list[MaskFile]] = {}
        paired = self.pairs["mask_id"].notna().to_numpy(bool)
        image_ids, mask_ids = self.pairs["image_id"].tolist(), self.pairs["mask_id"].tolist()
        for image_id, mask_id, found in zip(image_ids, mask_ids, paired, strict=True):
            if found:
                by_image.setdefault(image_id, []).append(masks[mask_id])
        rows = self._positions("image")
        ids = _column(self.objects, "object_id", rows)
        masks_of = [by_image.get(i) for i in ids]
        images = ImageFile.from_table(self.objects, arrays=self.arrays, masks=masks_of, rows=rows)
        if self.pairs.empty:
            for image in images:
                if not image.associated_masks:
                    image.associated_masks = [MaskFile.full_image(image)]
        return images

    def summary(self) -> pd.DataFrame:
        """One row per sample: images per modality, masks per type, pairs by status, file errors.

        Examples
        --------
        >>> Index(schema.empty("files"), schema.empty("objects"), schema.empty("pairs")).summary().empty
        True
        """
        objects = self.objects
        if objects.empty:
            return pd.DataFrame(columns=["sample_name"])
        kind = objects["role"] + "s " + objects["modality"].fillna("?")
        table = pd.crosstab(objects["sample_name"].fillna("?"), kind)
        sample_of = objects.set_index("object_id")["sample_name"].fillna("?")
        pairs = self.pairs.assign(sample_name=self.pairs["image_id"].map(sample_of))
        if len(pairs):
            table = table.join(pd.crosstab(pairs["sample_name"], "pairs " + pairs["status"]), how="left")
        errors = self.files[self.files["error"].notna()]
        if len(errors):
            counts = errors.groupby(errors["sample_name"].fillna("?")).size().rename("files with errors")
            table = table.join(counts, how="outer")
        table = table.fillna(0).astype(int)
        table.index.name = "sample_name"
        table.columns.name = None
        return table.reset_index()

    def _repr_html_(self) -> str:
        """A compact HTML summary for notebooks."""
        scan = self.files.attrs.get("scan", {})
        status = self.pairs["status"].value_counts().to_dict() if len(self.pairs) else {}
        head = (
            f"<b>imgindex.Index</b>: {len(self.files)} files ({int(self.files['error'].notna().sum())} unreadable, "
            f"{scan.get('n_not_imaging', 0)} not imaging), {len(self.images)} images, {len(self.masks)} masks, "
            f"{self.objects['sample_name'].nunique()} samples; pairs: "
            + (", ".join(f"{k} {v}" for k, v in status.items()) or "none")
        )
        return f"<div>{head}</div>" + self.summary().to_html(index=False, max_rows=50)

    def plot_overview(self, *, columns: int = 4, roi_name: RoiName = None) -> Figure:
        """A matplotlib Figure of every image's mid-mask slice with mask outlines (needs matplotlib)."""
        from .plot import plot_overview

        figure: Figure = plot_overview(self.materialise(roi_name=roi_name), columns=columns, roi_name=roi_name)
        return figure


def read_index(path: object) -> Index:
    """Load a saved index (no imaging file is read); an :class:`Index` is returned as it is.

    ``path`` is a folder written by :meth:`Index.save` (also one named ``*.parquet`` by an older
    version). A files table alone (a parquet file of :func:`imgindex.write_files`, a dataset
    folder, or the DataFrame) is accepted too: its objects and pairs tables are then empty until
    it is curated with ``build_index`` (the command line and :func:`imgindex.export` do that).

    Examples
    --------
    >>> import imgindex, os
    >>> index = imgindex.build_index(example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask")
    >>> index.save(os.path.join(tmp_dir, "index"))
    >>> again = imgindex.read_index(os.path.join(tmp_dir, "index"))
    >>> again.objects.equals(index.objects), again.pairs.equals(index.pairs), again.options == index.options
    (True, True, True)
    """
    if isinstance(path, Index):
        return path
    if isinstance(path, (str, os.PathLike)) and Path(path).is_dir():
        folder = Path(path)
        missing = [name for name in TABLE_FILES if not (folder / f"{name}.parquet").exists()]
        if "objects" not in missing:
            if missing:
                raise NotFoundError(
                    f"{os.fspath(path)!r} is not a saved imgindex index: "
                    f"{', '.join(m + '.parquet' for m in missing)} missing."
                )
            tables = atomic.read_folder(folder, TABLE_FILES)
            files, objects, pairs = tables["files"], tables["objects"], tables["pairs"]
            options, requests = _saved_options(objects.attrs)
            return Index(files, objects, pairs, options=options, requests=requests)
        if not saved.dataset_parts(folder) and "files" in missing:
            raise NotFoundError(
                f"{os.fspath(path)!r} is not a saved imgindex index: "
                f"{', '.join(m + '.parquet' for m in missing)} missing."
            )
    files = saved.read_files(path)
    return Index(files, schema.empty("objects"), schema.empty("pairs"))


def _saved_options(attrs: Mapping[Hashable | None, Any]) -> tuple[ImportOptions, tuple[ImportOptions, ...]]:
    """The options saved with an objects table (and those of indexes saved before ``requests`` existed)."""
    saved = attrs.get("options") or {}
    options = ImportOptions.from_saved(saved)
    if "requests" in attrs:
        return options, tuple(ImportOptions.from_saved(r) for r in attrs["requests"] or [])
    per_request = saved.get("request_roi_name") or {}  # the first saved format: roi_name by request number
    numbers = sorted(int(k) for k in per_request)
    requests = (
        tuple(
            options.merge({"roi_name": per_request.get(str(n))}, where=f"request {n}") for n in range(max(numbers) + 1)
        )
        if numbers
        else ()
    )
    return options, requests
