"""NIfTI and NRRD headers through SimpleITK's ``ReadImageInformation`` (never the voxels).

**Detached data files.** A NRRD header may name its voxel data in other files (``data file:`` or
``datafile:``: one file, a ``LIST`` of files, or a ``%d`` pattern); a NIfTI ``.hdr`` keeps them
in the ``.img`` beside it. Every such file must exist and lie in the header's own folder or below
it, after symbolic links are resolved: an absolute path elsewhere, a ``..`` that climbs out, or a
link that leads out of the folder makes the header an error row saying so, and its voxels are
never read. (The header's folder is the narrowest dataset root there is: a header is read on its
own, in any worker, and never sees the folder the scan started from.)

**File names that are not UTF-8** (bytes from an old NAS share, which Python keeps as lone
surrogates) cannot be handed to SimpleITK, which would abort the process: such a file is read
through a symbolic link with a plain name in a temporary folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from .._lazy import SimpleITK
from ..errors import HeaderError

#: SimpleITK, typed as ``Any``: the package ships ``py.typed`` but its SWIG-generated functions carry
#: no annotations, so strict mypy would reject every call as untyped. The same lazy module object.
sitk: Any = SimpleITK

_IO = {"nifti": "NiftiImageIO", "nrrd": "NrrdImageIO"}

#: The numeric pixel types (scalar, or "Vector" + type), by SimpleITK's name without ``sitk``.
_NUMERIC = ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64")


@functools.cache
def _pixel_types() -> dict[int, str]:
    """SimpleITK pixel ID → numpy-style name (built at first use: SimpleITK is imported lazily)."""
    return {getattr(sitk, f"sitk{kind}{name}"): name.lower() for name in _NUMERIC for kind in ("", "Vector")}


def _pad3(values: Sequence[float], fill: float) -> list[float]:
    padded = [float(v) for v in values[:3]]
    return padded + [fill] * (3 - len(padded))


def read(path: str, file_type: str) -> dict[str, Any]:
    """Read the geometry and pixel type of a NIfTI or NRRD file from its header.

    Parameters
    ----------
    path
        The file.
    file_type
        ``"nifti"`` or ``"nrrd"``: which SimpleITK image IO reads it.

    Returns
    -------
    dict
        The geometry columns of the files table (``ndim``, ``size_x`` ... ``origin_z``,
        ``direction``), ``pixel_type`` and ``n_components``.

    Examples
    --------
    The example dataset's CT label map: 32 x 32 pixels, 8 slices, stored as uint8.

    >>> import os
    >>> info = read(os.path.join(example_dir, "STS_001", "CT", "nifti", "mask", "mask.nii.gz"), "nifti")
    >>> info["size_x"], info["size_z"], info["pixel_type"]
    (32, 8, 'uint8')
    """
    check_data_files(path, file_type)
    reader = sitk.ImageFileReader()
    reader.SetImageIO(_IO[file_type])
    with plain_path(path) as readable:
        reader.SetFileName(readable)
        reader.ReadImageInformation()
    dim = reader.GetDimension()
    size = list(reader.GetSize())
    pixel_id = reader.GetPixelID()
    direction = list(reader.GetDirection())
    # Embed the upper-left (up to 3x3) block of the direction matrix in a 3x3 identity.
    square = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    for i in range(min(dim, 3)):
        for j in range(min(dim, 3)):
            square[i][j] = float(direction[i * dim + j])
    sx, sy, sz = (size + [1, 1])[:3]
    spacing = _pad3(reader.GetSpacing(), 1.0)
    origin = _pad3(reader.GetOrigin(), 0.0)
    return {
        "ndim": dim,
        "size_x": sx,
        "size_y": sy,
        "size_z": sz,
        "spacing_x": spacing[0],
        "spacing_y": spacing[1],
        "spacing_z": spacing[2],
        "origin_x": origin[0],
        "origin_y": origin[1],
        "origin_z": origin[2],
        "direction": tuple(v for row in square for v in row),
        "pixel_type": _pixel_types().get(pixel_id) or sitk.GetPixelIDValueAsString(pixel_id),
        "n_components": reader.GetNumberOfComponents(),
    }


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def plain_path(path: str) -> Iterator[str]:
    """A path to ``path`` that SimpleITK can take: itself, or (a name that is not UTF-8) a temporary link.

    The link keeps the file's suffix; a NIfTI ``.hdr`` gets its ``.img`` linked beside it.

    Examples
    --------
    >>> with plain_path("/data/a.nii.gz") as p:
    ...     p
    '/data/a.nii.gz'
    """
    if _is_utf8(path):
        yield path
        return
    name = os.path.basename(path)
    suffix = "".join(re.findall(r"(\.[A-Za-z0-9]+)", name)[-2:])
    with tempfile.TemporaryDirectory(prefix="imgindex-link-") as folder:
        link = os.path.join(folder, "file" + suffix)
        os.symlink(os.path.abspath(path), link)
        if name.lower().endswith(".hdr"):
            for img in (path[:-4] + ".img", path[:-4] + ".IMG"):
                if os.path.exists(img):
                    os.symlink(os.path.abspath(img), link[:-4] + ".img")
                    break
        yield link


def _inside(folder: str, path: str) -> bool:
    base = os.path.realpath(folder)
    target = os.path.realpath(path)
    return os.path.commonpath([base, target]) == base and target != base


def _nrrd_fields(path: str) -> tuple[dict[str, str], list[str]]:
    """The fields of a NRRD header (lower-case names) and the lines after it (the names of a ``LIST``)."""
    with open(path, "rb") as handle:
        text = handle.read(1 << 16).decode("latin-1")
    header, _, rest = text.replace("\r\n", "\n").partition("\n\n")
    fields: dict[str, str] = {}
    lines = header.split("\n")
    for number, line in enumerate(lines[1:], start=1):
        key, colon, value = line.partition(": ")
        if colon and not line.startswith("#") and ":=" not in key:
            fields[key.strip().lower()] = value.strip()
            if key.strip().lower() in ("data file", "datafile") and value.strip().upper().startswith("LIST"):
                return fields, [v.strip() for v in lines[number + 1 :] + rest.split("\n") if v.strip()]
    return fields, []


def data_files(path: str, file_type: str) -> list[str]:
    """The detached data files a NIfTI or NRRD header names (empty when the voxels are in the file itself).

    Examples
    --------
    >>> import os
    >>> data_files(os.path.join(example_dir, "STS_001", "CT", "nifti", "image", "image.nii.gz"), "nifti")
    []
    """
    folder = os.path.dirname(os.path.abspath(path))
    if file_type == "nifti":
        lower = path.lower()
        if not (lower.endswith(".hdr") or lower.endswith(".hdr.gz")):
            return []
        stem = path[: -len(".hdr")] if lower.endswith(".hdr") else path[: -len(".hdr.gz")]
        found = [stem + s for s in (".img", ".IMG", ".img.gz") if os.path.lexists(stem + s)]
        return found[:1] or [stem + ".img"]
    fields, listed = _nrrd_fields(path)
    value = fields.get("data file", fields.get("datafile"))
    if value is None:
        return []
    if listed:
        return [os.path.join(folder, name) for name in listed]
    parts = value.split()
    if len(parts) >= 4 and "%" in parts[0]:  # a pattern: format min max step [subdim]
        start, stop, step = (int(p) for p in parts[1:4])
        if step == 0 or abs(stop - start) // abs(step) > 100_000:
            raise HeaderError(f"The NRRD header {path} names an unusable data file pattern {value!r}.")
        return [os.path.join(folder, parts[0] % i) for i in range(start, stop + (1 if step > 0 else -1), step)]
    return [os.path.join(folder, value)]


def check_data_files(path: str, file_type: str) -> None:
    r"""Raise :class:`~imgindex.errors.HeaderError` unless every detached data file exists inside the header's folder.

    Examples
    --------
    >>> import os, pathlib
    >>> nhdr = os.path.join(tmp_dir, "a.nhdr")
    >>> _ = pathlib.Path(nhdr).write_text("NRRD0004\ntype: uint8\ndimension: 1\nsizes: 4\n"
    ...                                   "encoding: raw\ndata file: /etc/passwd\n\n")
    >>> check_data_files(nhdr, "nrrd")
    Traceback (most recent call last):
    ...
    imgindex.errors.HeaderError: The header .../a.nhdr names the data file /etc/passwd, which is outside its folder ...
    """
    folder = os.path.dirname(os.path.abspath(path))
    for data in data_files(path, file_type):
        if not _inside(folder, data):
            raise HeaderError(
                f"The header {path} names the data file {os.path.normpath(data)}, which is outside its folder "
                f"{folder} (after symbolic links are resolved). imgindex reads detached data only from the "
                "header's folder or below it: move the data file there."
            )
        if not os.path.isfile(data):
            raise HeaderError(
                f"The header {path} names the data file {os.path.normpath(data)}, which does not exist. "
                "Put the data file beside its header."
            )
