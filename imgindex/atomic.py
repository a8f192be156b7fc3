"""An index folder saved atomically: written whole beside the old one, then swapped into place.

:func:`write_folder` writes every table into a fresh ``.imgindex-tmp-...`` folder beside the
target and then puts it in place: on Linux in one atomic step (``renameat2`` with
``RENAME_EXCHANGE``), elsewhere by moving the old folder aside and the new one in. Every table
of one save carries the same ``save_id``; :func:`read_folder` opens the tables together and
checks their ids, retrying while a writer swaps the folder, so a reader sees the old index or the
new one, never a mix.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from .errors import InputError, NotFoundError
from .persist import TEMPORARY_PREFIX, read_table, temporary_name, to_arrow

__all__ = ["FOLDER_TABLES", "read_folder", "write_folder"]

#: The tables of a saved index folder, each as ``NAME.parquet``.
FOLDER_TABLES = ("files", "objects", "pairs")
_RENAME_EXCHANGE = 2  # renameat2(2) flag of Linux: swap two paths atomically
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2``); ``False`` where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, f"Could not swap {b} with the new index {a}: {os.strerror(code)}", b)


def _check_folder(folder: str) -> None:
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise InputError(
            f"{folder!r} exists and is not a folder; an index is saved as a folder of parquet files. "
            "Choose another path."
        )
    if os.path.isdir(folder):
        others = sorted(set(os.listdir(folder)) - {f"{t}.parquet" for t in FOLDER_TABLES})
        if others:
            raise InputError(
                f"{folder!r} holds files that are not part of an imgindex index ({', '.join(others[:5])}); saving "
                "replaces the whole folder, so imgindex will not save there. Choose a new or empty folder."
            )


def _place(new: str, folder: str) -> None:
    """Put the folder ``new`` at ``folder``, replacing what is there in one step where the system can."""
    for _attempt in range(50):
        try:
            os.rename(new, folder)  # nothing there (or an empty folder): done
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                raise
        if _exchange(new, folder):  # `new` now holds the old index
            shutil.rmtree(new, ignore_errors=True)
            return
        aside = temporary_name(folder)  # no atomic swap: the old index moves aside, the new one in
        try:
            os.rename(folder, aside)
        except FileNotFoundError:
            continue  # another writer moved it meanwhile: try again
        try:
            os.rename(new, folder)
        except OSError:
            continue  # another writer's index came in between: swap again
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return
    raise OSError(errno.EBUSY, f"Could not put the new index in place at {folder}: other writers kept replacing it")


def write_folder(folder: str | os.PathLike[str], tables: dict[str, tuple[pd.DataFrame, dict[str, Any]]]) -> None:
    """Save tables as ``folder/NAME.parquet`` atomically: written whole beside it, then swapped in.

    Every table gets one ``save_id``, so a reader can tell tables of different saves apart. The
    folder, if it exists, must hold nothing but an index (it is replaced whole). A writer that
    fails or is killed leaves the old index as it was (and at most a ``.imgindex-tmp-`` folder
    beside it, which scans skip); two writers at once leave one complete index.

    Examples
    --------
    >>> from imgindex import schema
    >>> write_folder(os.path.join(tmp_dir, "ix"), {"pairs": (schema.empty("pairs"), {})})
    >>> sorted(os.listdir(os.path.join(tmp_dir, "ix")))
    ['pairs.parquet']
    """
    target = os.path.abspath(os.fspath(folder))
    _check_folder(target)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    new = tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", dir=parent)
    try:
        save_id = uuid.uuid4().hex
        for name, (df, extra) in tables.items():
            arrow = to_arrow(df, name, extra={**extra, "save_id": save_id})
            pq.write_table(arrow, os.path.join(new, f"{name}.parquet"))
        _place(new, target)
    finally:
        if os.path.isdir(new):
            shutil.rmtree(new, ignore_errors=True)


def read_folder(folder: str | os.PathLike[str], names: tuple[str, ...] = FOLDER_TABLES) -> dict[str, pd.DataFrame]:
    """Read the tables of an index folder, all of one save (retried while a writer swaps the folder).

    The files are opened together first, so a save that replaces the folder meanwhile cannot mix
    old and new tables; tables of different saves (an index written in place by an older
    imgindex and torn) raise :class:`~imgindex.errors.InputError`.
    """
    path = os.fspath(folder)
    problem: Exception | None = None
    for attempt in range(40):
        if attempt:
            time.sleep(0.025)
        try:
            handles = [open(os.path.join(path, f"{n}.parquet"), "rb") for n in names]  # noqa: SIM115
        except FileNotFoundError as exc:
            problem = exc
            continue
        try:
            frames = {
                n: read_table(os.path.join(path, f"{n}.parquet"), n, handle=h)
                for n, h in zip(names, handles, strict=True)
            }
        finally:
            for h in handles:
                h.close()
        ids = {n: f.attrs.get("save_id") for n, f in frames.items()}
        if len(set(ids.values())) == 1:
            for frame in frames.values():
                frame.attrs.pop("save_id", None)
            return frames
        problem = InputError(
            f"The tables of the index {path!r} come from different saves "
            f"({', '.join(f'{n}: {i}' for n, i in ids.items())}): it was torn by a save that did not finish. "
            "Build and save the index again."
        )
    if isinstance(problem, FileNotFoundError):
        raise NotFoundError(
            f"{path!r} is not a saved imgindex index: {os.path.basename(problem.filename or '')} missing."
        )
    raise problem if problem is not None else NotFoundError(f"No index at {path!r}.")
