"""Step 1, second half: the sources of a scan → the raw file-reference frame (a walk of the file system).

:func:`collect` walks the directories of the sources (sorted by name within each directory,
symbolic links to files followed, to directories not), stats the files given one by one, and
keeps in-memory arrays; :meth:`Collected.frame` is the raw frame the scan reads. Whether a file is
imaging is decided later, from its content, by :mod:`imgindex.scan`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .errors import InputTypeError, NotFoundError
from .inputs import Source
from .persist import TEMPORARY_PREFIX
from .schema import TEXT

__all__ = ["Collected", "collect", "walk"]


@dataclass
class Collected:
    """Candidate files (absolute paths with their size and mtime) and in-memory arrays."""

    paths: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes_ns: list[int] = field(default_factory=list)
    arrays: list[NDArray[Any]] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add_file(self, path: str, stat: os.stat_result) -> None:
        """Add one file with its ``stat`` result."""
        directory, name = os.path.split(path)
        self.paths.append(path)
        self.sizes.append(stat.st_size)
        self.mtimes_ns.append(stat.st_mtime_ns)
        self.dirs.append(directory)
        self.names.append(name)

    def frame(self) -> pd.DataFrame:
        """The raw frame: files first (in walk order, duplicates removed), then arrays.

        Columns: ``file_path``, ``dir_path``, ``file_name`` (text), ``file_size`` (int64),
        ``mtime`` (UTC timestamps) and ``array_index``.
        """
        text = TEXT  # object storage: each folder's path stays one shared object
        files = pd.DataFrame(
            {
                "file_path": pd.array(self.paths, dtype=text),
                "dir_path": pd.array(self.dirs, dtype=text),
                "file_name": pd.array(self.names, dtype=text),
                "file_size": np.asarray(self.sizes, dtype="int64"),
                "mtime": pd.to_datetime(np.asarray(self.mtimes_ns, dtype="int64"), unit="ns", utc=True),
            }
        )
        if len(files) and files["file_path"].duplicated().any():
            files = files.drop_duplicates("file_path", ignore_index=True)
        files["array_index"] = pd.NA
        if not self.arrays:
            return files
        arrays = pd.DataFrame({"array_index": range(len(self.arrays))})
        return pd.concat([files, arrays], ignore_index=True)


_NAME = attrgetter("name")  # a directory entry's name, in C


def walk(root: str, into: Collected) -> None:
    """Add every file below ``root`` to ``into``, sorted by name within each directory.

    Hidden files are included (content decides what they are), except imgindex's own temporary
    files and folders (names starting with ``.imgindex-tmp-``); symbolic links to files are
    followed, links to directories are not (no loops). Unreadable directories are skipped.
    Sizes and times come from the directory entries (one ``stat`` per file, none per directory).
    """
    paths, sizes, mtimes, dirs, names = into.paths, into.sizes, into.mtimes_ns, into.dirs, into.names
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=_NAME)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith(TEMPORARY_PREFIX):  # half-written saves and exports of imgindex
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    paths.append(entry.path)
                    sizes.append(stat.st_size)
                    mtimes.append(stat.st_mtime_ns)
                    dirs.append(directory)
                    names.append(entry.name)
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def collect(items: list[Source], into: Collected | None = None) -> Collected:
    """Gather the candidate files and arrays of ``items``: directories are walked, files stat'ed.

    Examples
    --------
    >>> from imgindex.inputs import sources
    >>> collect(sources([np.zeros((2, 3))], "input")).arrays[0].shape
    (2, 3)
    """
    into = Collected() if into is None else into
    for item in items:
        if item.array is not None:
            into.arrays.append(item.array)
        elif item.files is not None:
            raise InputTypeError(
                "A files table is already scanned: pass it as previous= to scan again only what changed, or to "
                "imgindex.build_index to curate it."
            )
        elif item.path is not None:
            path = item.path
            if os.path.isdir(path):
                into.roots.append(path)
                walk(path, into)
            elif os.path.isfile(path):
                into.add_file(path, os.stat(path))
            else:
                raise NotFoundError(
                    f"The path {path!r} does not point to a file or a directory. "
                    "Check the spelling, or pass an existing directory or imaging file."
                )
    return into
