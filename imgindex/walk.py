"""Step 1, second half: the sources of a scan → the raw file-reference frame (a walk of the file system).

:func:`collect` walks the directories of the sources (sorted by name within each directory,
symbolic links to files followed, to directories not), stats the files given one by one, and
keeps in-memory arrays; :meth:`Collected.frame` is the raw frame the scan reads. Whether a file is
imaging is decided later, from its content, by :mod:`imgindex.scan`.

A DICOMDIR (a file named ``DICOMDIR``, given as a path or found in a walked folder) is followed
with :class:`pydicom.fileset.FileSet`: the files it lists are added (a walked folder holds them
already), and each record that points at a missing file becomes an error row
(:meth:`Collected.missing_frame`) that says where the file should be and which DICOMDIR lists it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import schema
from .errors import InputTypeError, NotFoundError, warn
from .inputs import Source
from .persist import TEMPORARY_PREFIX
from .schema import TEXT

__all__ = ["DICOMDIR", "Collected", "collect", "follow_dicomdir", "is_dicomdir", "walk"]


@dataclass
class Collected:
    """Candidate files (absolute paths, with their size and mtime when ``stat``) and in-memory arrays.

    ``stat=False`` leaves the size and mtime out (the columns of :meth:`frame` are then null): a cold
    scan takes them from the workers that open the files, which costs the walk no ``stat`` per file.
    """

    paths: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes_ns: list[int] = field(default_factory=list)
    arrays: list[NDArray[Any]] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: (path, error) of each file a DICOMDIR lists that is not there
    missing: list[tuple[str, str]] = field(default_factory=list)
    #: whether the files' sizes and mtimes are collected (``sizes`` and ``mtimes_ns`` stay empty if not)
    stat: bool = True
    #: how many walks and single files added the paths: one walk lists each path once
    sources: int = 0

    def add_file(self, path: str, stat: os.stat_result | None = None) -> None:
        """Add one file with its ``stat`` result (default: stat'ed here, if this collects stats)."""
        self.sources += 1
        directory, name = os.path.split(path)
        self.paths.append(path)
        if self.stat:
            stat = os.stat(path) if stat is None else stat
            self.sizes.append(stat.st_size)
            self.mtimes_ns.append(stat.st_mtime_ns)
        self.dirs.append(directory)
        self.names.append(sys.intern(name))

    def frame(self) -> pd.DataFrame:
        """The raw frame: files first (in walk order, duplicates removed), then arrays.

        Columns: ``file_path``, ``dir_path``, ``file_name`` (text), ``file_size`` (int64),
        ``mtime`` (UTC timestamps) and ``array_index``; ``file_size`` and ``mtime`` are null
        (``Int64``, ``NaT``) without ``stat``.
        """
        text = TEXT  # object storage: each folder's path stays one shared object
        n = len(self.paths)
        if self.stat:
            sizes: Any = np.asarray(self.sizes, dtype="int64")
            mtimes = np.asarray(self.mtimes_ns, dtype="int64")
        else:
            sizes = pd.arrays.IntegerArray(np.zeros(n, dtype="int64"), np.ones(n, dtype=bool))
            mtimes = np.full(n, np.iinfo(np.int64).min, dtype="int64")  # NaT
        files = pd.DataFrame(
            {
                "file_path": pd.array(self.paths, dtype=text),
                "dir_path": pd.array(self.dirs, dtype=text),
                "file_name": pd.array(self.names, dtype=text),
                "file_size": sizes,
                "mtime": pd.to_datetime(mtimes, unit="ns", utc=True),
            }
        )
        # a path given twice, or a file in a walked folder and given (or listed in a DICOMDIR) too
        if self.sources > 1 and len(files) and files["file_path"].duplicated().any():
            files = files.drop_duplicates("file_path", ignore_index=True)
        files["array_index"] = pd.NA
        if not self.arrays:
            return files
        arrays = pd.DataFrame({"array_index": range(len(self.arrays))})
        return pd.concat([files, arrays], ignore_index=True)

    def missing_frame(self) -> pd.DataFrame:
        """The error rows of the files that DICOMDIRs list but that are missing (files schema columns).

        Examples
        --------
        >>> found = Collected(missing=[("/cd/IMAGES/IM1", "missing")])
        >>> found.missing_frame()[["file_name", "file_type", "error"]].values.tolist()
        [['IM1', 'dicom', 'missing']]
        """
        paths = list(dict.fromkeys(p for p, _ in self.missing))
        errors = dict(self.missing[::-1])  # the first DICOMDIR that lists a file names it
        return pd.DataFrame(
            {
                "file_path": pd.array(paths, dtype=TEXT),
                "dir_path": pd.array([os.path.dirname(p) for p in paths], dtype=TEXT),
                "file_name": pd.array([os.path.basename(p) for p in paths], dtype=TEXT),
                "file_type": pd.array(["dicom"] * len(paths), dtype=TEXT),
                "error": pd.array([errors[p] for p in paths], dtype=TEXT),
            }
        )


def with_missing(files: pd.DataFrame, missing: pd.DataFrame | None) -> pd.DataFrame:
    """A files table with the error rows of :meth:`Collected.missing_frame` appended (when there are any).

    Examples
    --------
    >>> files = with_missing(schema.empty("files"), Collected(missing=[("/cd/IM1", "missing")]).missing_frame())
    >>> files[["file_path", "error"]].values.tolist()
    [['/cd/IM1', 'missing']]
    """
    if missing is None or missing.empty:
        return files
    return schema.coerce(pd.concat([files, missing], ignore_index=True), "files")[schema.names("files")]


_NAME = attrgetter("name")  # a directory entry's name, in C
#: The name of a DICOM file set's directory file (PS3.10: upper case; compared ignoring case).
DICOMDIR = "DICOMDIR"


def is_dicomdir(path: str) -> bool:
    """Whether ``path`` names a DICOMDIR (by its name, as PS3.10 fixes it).

    Examples
    --------
    >>> is_dicomdir("/cd/DICOMDIR"), is_dicomdir("/cd/dicomdir"), is_dicomdir("/cd/IM0001")
    (True, True, False)
    """
    return os.path.basename(path).upper() == DICOMDIR


def follow_dicomdir(path: str, into: Collected, *, add_files: bool = True) -> None:
    """Add the files the DICOMDIR ``path`` lists to ``into`` (``add_files``), and its missing files as errors.

    The records are read with :class:`pydicom.fileset.FileSet`; a record whose file does not exist
    (which FileSet leaves out with a warning) is found among the DICOMDIR's directory records
    and added to ``into.missing``. A DICOMDIR that pydicom cannot read is reported with a warning
    (and, given as a path, its folder is walked instead).
    """
    import warnings

    import pydicom
    from pydicom.fileset import FileSet

    base = os.path.dirname(path)
    try:
        with warnings.catch_warnings():  # FileSet warns about each missing file: we report them
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            if "DirectoryRecordSequence" not in ds:  # pydicom reads garbage as an empty dataset
                raise ValueError("it has no DirectoryRecordSequence")
            listed = [os.path.join(*_file_id(r)) for r in ds.get("DirectoryRecordSequence", []) if _file_id(r)]
            file_set = FileSet(ds)
            try:
                found = [os.path.join(*_file_id(instance)) for instance in file_set]
            finally:  # FileSet stages changes in a temporary folder, even when it only reads: remove it now
                stage = getattr(file_set, "_stage", {}).get("t")
                if stage is not None:
                    stage.cleanup()
    except Exception as exc:  # not a DICOMDIR pydicom can read
        folder = "the folder that holds it is walked instead" if add_files else "its records are not checked"
        warn(f"The DICOMDIR {path} could not be read ({type(exc).__name__}: {exc}); {folder}.")
        if add_files:
            walk(base, into)
        return
    present = set(found)
    for file_id in dict.fromkeys([*found, *listed]):
        full = os.path.normpath(os.path.join(base, file_id))
        if os.path.commonpath([base, full]) != base:
            continue  # outside the file set (FileSet refuses these too)
        if file_id in present and os.path.isfile(full):
            if add_files:
                into.add_file(full)
        else:
            into.missing.append(
                (
                    full,
                    f"The file {full} is listed in the DICOMDIR {path} but is missing. Copy the whole file set "
                    "again (the DICOMDIR and the folders beside it), or remove the DICOMDIR's record.",
                )
            )


def _file_id(record: Any) -> list[str]:
    """The components of a directory record's (or FileSet instance's) ReferencedFileID (empty: none)."""
    value = record.get("ReferencedFileID") if hasattr(record, "get") else record.ReferencedFileID
    if value is None or value == "":
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def walk(root: str, into: Collected) -> None:
    """Add every file below ``root`` to ``into``, sorted by name within each directory.

    Hidden files are included (content decides what they are), except imgindex's own temporary
    files and folders (names starting with ``.imgindex-tmp-``); symbolic links to files are
    followed, links to directories are not (no loops). Unreadable directories are skipped.
    Sizes and times come from the directory entries (one ``stat`` per file, none per directory),
    when ``into`` collects them (``into.stat``).
    """
    paths, sizes, mtimes, dirs, names = into.paths, into.sizes, into.mtimes_ns, into.dirs, into.names
    stat_files = into.stat
    into.sources += 1
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=_NAME)
        except OSError:
            continue
        subdirs = []
        dicomdir = None
        for entry in entries:
            if entry.name.startswith(TEMPORARY_PREFIX):  # half-written saves and exports of imgindex
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                elif entry.is_file():
                    if stat_files:
                        stat = entry.stat()
                        sizes.append(stat.st_size)
                        mtimes.append(stat.st_mtime_ns)
                    paths.append(entry.path)
                    dirs.append(directory)
                    names.append(sys.intern(entry.name))  # names repeat across folders: one str each
                    if len(entry.name) == 8 and entry.name.upper() == DICOMDIR:
                        dicomdir = entry.path
            except OSError:
                continue
        if dicomdir is not None:  # its files are below this folder: walked anyway; only the missing ones
            follow_dicomdir(dicomdir, into, add_files=False)
        stack.extend(reversed(subdirs))


def collect(items: list[Source], into: Collected | None = None, *, stat: bool = True) -> Collected:
    """Gather the candidate files and arrays of ``items``: directories are walked, files stat'ed.

    ``stat=False`` (a new ``into`` only) collects no sizes and mtimes (see :class:`Collected`).

    Examples
    --------
    >>> from imgindex.inputs import sources
    >>> collect(sources([np.zeros((2, 3))], "input")).arrays[0].shape
    (2, 3)
    """
    into = Collected(stat=stat) if into is None else into
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
                into.add_file(path)
                if is_dicomdir(path):
                    follow_dicomdir(path, into)
            else:
                raise NotFoundError(
                    f"The path {path!r} does not point to a file or a directory. "
                    "Check the spelling, or pass an existing directory or imaging file."
                )
    return into
