"""Step 1: any accepted input → the raw file-reference frame (paths and in-memory arrays).

The raw frame has one row per candidate file, with ``file_path``, ``file_size``, ``mtime`` and
``array_index`` (for in-memory numpy arrays, which are returned beside the frame). Whether a file
is imaging is decided later, from its content, by :mod:`imgindex.scan`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import singledispatch
from operator import attrgetter

import numpy as np
import pandas as pd

from .errors import InputTypeError, NotFoundError
from .schema import TEXT


@dataclass
class Collected:
    """Candidate files (absolute paths with their size and mtime) and in-memory arrays."""

    paths: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes_ns: list[int] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add_file(self, path: str, stat: os.stat_result) -> None:
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


def walk(root: str, into: Collected) -> None:
    """Add every file below ``root`` to ``into``, sorted by name within each directory.

    Hidden files are included (content decides what they are); symbolic links to files are
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


_NAME = attrgetter("name")  # a directory entry's name, in C


@singledispatch
def collect(source, into: Collected | None = None) -> Collected:
    """Gather the candidate files and arrays of ``source``.

    ``source`` may be a directory, a file path (``str`` or :class:`pathlib.Path`), a numpy
    array, or a list/tuple of any of these (nested lists are flattened).

    Examples
    --------
    >>> import tempfile
    >>> collect(tempfile.mkdtemp()).paths
    []
    """
    raise InputTypeError(
        f"Unsupported input type: {type(source)!r}. imgindex accepts a directory or file path "
        "(str or pathlib.Path), a numpy array, or a list of these."
    )


@collect.register(str)
@collect.register(os.PathLike)
def _(source, into: Collected | None = None) -> Collected:
    into = Collected() if into is None else into
    path = os.path.abspath(os.fspath(source))
    if os.path.isdir(path):
        into.roots.append(path)
        walk(path, into)
    elif os.path.isfile(path):
        into.add_file(path, os.stat(path))
    else:
        raise NotFoundError(
            f"The path {os.fspath(source)!r} does not point to a file or a directory. "
            "Check the spelling, or pass an existing directory or imaging file."
        )
    return into


@collect.register(np.ndarray)
def _(source: np.ndarray, into: Collected | None = None) -> Collected:
    into = Collected() if into is None else into
    into.arrays.append(source)
    return into


@collect.register(list)
@collect.register(tuple)
def _(source, into: Collected | None = None) -> Collected:
    into = Collected() if into is None else into
    for item in source:
        collect(item, into)
    return into
