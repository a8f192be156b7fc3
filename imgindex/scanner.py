"""Step 3's sources: each path scanned once per import, given files tables and arrays numbered.

:class:`Scanner` is what :func:`imgindex.curate.curate` reads its requests' sources through: a
folder that holds images and masks is scanned once and both roles share its table.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import schema
from .errors import NotFoundError
from .inputs import Source
from .options import ImportOptions
from .scan import scan_with

__all__ = ["Scanner"]


class Scanner:
    """Scans each source once per import (images and masks share the table) and numbers arrays."""

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.cache: dict[str, pd.DataFrame] = {}
        self.reports: list[dict[str, Any]] = []
        self.arrays: list[NDArray[Any]] = []
        self.array_ids: dict[int, int] = {}
        self.tables: dict[tuple[tuple[str | None, int, int, str | None], ...], pd.DataFrame] = {}

    def _path(self, path: str, role: str) -> pd.DataFrame:
        if path not in self.cache:
            if not os.path.exists(path):
                raise NotFoundError(
                    f"The {role} path {path!r} does not point to a xml file, a csv file, a valid {role} file or "
                    "a directory containing imaging. Check the path."
                )
            files = scan_with(path, self.options)
            if os.path.isdir(path) and files.attrs["scan"]["n_paths"] == 0:
                raise NotFoundError(
                    f"All directories within the {path} directory are empty, and no {role}s could "
                    "be found. Point imgindex at the folder that holds the files."
                )
            self.reports.append(files.attrs.get("scan", {}))
            root = np.empty(len(files), dtype=object)
            root.fill(path if os.path.isdir(path) else pd.NA)  # one shared str (np.full would copy it per row)
            self.cache[path] = files.assign(root=pd.array(root, dtype=schema.TEXT))
        return self.cache[path]

    def report(self) -> dict[str, Any]:
        """The scan reports of every scanned path, added up."""
        total: dict[str, Any] = {}
        for report in self.reports:
            for key, value in report.items():
                if isinstance(value, list):
                    total[key] = (total.get(key, []) + value)[:100]
                elif isinstance(value, (int, float)):
                    total[key] = total.get(key, 0) + value
        return total

    def _array(self, array: NDArray[Any]) -> pd.DataFrame:
        index = self.array_ids.setdefault(id(array), len(self.arrays))
        if index == len(self.arrays):
            self.arrays.append(array)
        return scan_with(array, self.options).assign(array_index=index)

    def files(self, sources: list[Source], role: str) -> pd.DataFrame:
        """The files table of ``sources`` (scanned, or given as a files table), duplicates once.

        The same sources (images and masks in one folder) give the same frame object, once.
        """
        key = tuple((s.path, id(s.files), id(s.array), s.sample_name) for s in sources)
        if key not in self.tables:
            files = self._files(sources, role)
            if files.attrs:  # the scan report is kept in self.reports: pandas deep-copies attrs on every operation
                files = files.copy(deep=False)
                files.attrs = {}
            self.tables[key] = files
        return self.tables[key]

    def _files(self, sources: list[Source], role: str) -> pd.DataFrame:
        parts = []
        for source in sources:
            if source.files is not None:
                part = schema.coerce(source.files, "files")
            elif source.array is not None:
                part = self._array(source.array)
            else:
                assert source.path is not None
                part = self._path(source.path, role)
            parts.append(part.assign(_source_sample=source.sample_name))
        if not parts:
            return schema.empty("files").assign(_source_sample=pd.Series([], dtype=object))
        if len(parts) == 1 and sources[0].path is not None:  # one scan: its paths are unique already
            return parts[0]
        files = pd.concat(parts, ignore_index=True)
        return files[~files.duplicated("file_path") | files["file_path"].isna()]
