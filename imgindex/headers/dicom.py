"""DICOM header reading: one parse per file, never the pixel data.

:meth:`DicomReader.read` returns a plain dict whose keys are columns of the files table
(:data:`imgindex.schema.FILES`): the DICOM keywords verbatim, the mask references
(``ReferencedSeriesInstanceUID``, ``ROIName``, ``SegmentLabel`` ...), and the geometry columns
derived from them (``size_x``, ``spacing_x``, ``origin_x``, ``direction`` ...).

Two readers fill the same dict: the fast pure-Python reader of the elements we need
(:mod:`imgindex.headers.dicom_fast`) and :mod:`pydicom` (:mod:`imgindex.headers.dicom_pydicom`),
used for anything the fast reader does not handle (big endian, deflated, no meta and odd
encodings). Both are compared on every test file. A :class:`DicomReader` owns the caches of one
worker: the fast reader's series templates and converted values, and the direction matrices.
"""

from __future__ import annotations

import struct
from typing import Any

from .dicom_cut import cut_message, where_it_ends
from .dicom_fast import FastReader, Unsupported
from .dicom_pydicom import read_with_pydicom
from .dicom_tags import FRAME_COLUMNS, SPECIFIC_TAGS, TOP_LEVEL
from .dicom_walk import Truncated

__all__ = ["SPECIFIC_TAGS", "TOP_LEVEL", "DicomReader", "geometry", "read", "read_with_pydicom"]


def _pixel_type(values: dict[str, Any]) -> str | None:
    bits = values.get("BitsAllocated")
    if bits is None:
        return None
    if bits == 1:
        return "bool"
    if bits not in (8, 16, 32, 64):
        return None
    signed = values.get("PixelRepresentation") == 1
    return f"{'int' if signed else 'uint'}{bits}"


def geometry(values: dict[str, Any], directions: dict[bytes, tuple[float, ...]] | None = None) -> dict[str, Any]:
    """Derive the files table's geometry columns from DICOM header values.

    x runs along a row (Columns), y down the columns (Rows), z along the slice normal. Without
    PixelSpacing, a projection image's ImagerPixelSpacing (at the detector) divided by its
    EstimatedRadiographicMagnificationFactor (when given) is the spacing in the patient plane.
    ``n_components`` is 3 for colour (RGB, YBR_*, and PALETTE COLOR, read as RGB), else 1.
    ``directions`` remembers the direction matrix of each orientation (a reader's own cache).

    Examples
    --------
    >>> g = geometry({"Rows": 2, "Columns": 3, "PixelSpacing": (0.5, 0.7),
    ...               "ImageOrientationPatient": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    ...               "ImagePositionPatient": (1.0, 2.0, 3.0)})
    >>> g["size_x"], g["spacing_x"], g["origin_z"], g["direction"][8]
    (3, 0.7, 3.0, 1.0)
    >>> g = geometry({"Rows": 2, "Columns": 3, "ImagerPixelSpacing": (0.15, 0.15),
    ...               "EstimatedRadiographicMagnificationFactor": 1.5, "PhotometricInterpretation": "MONOCHROME1"})
    >>> round(g["spacing_x"], 6), g["n_components"]
    (0.1, 1)
    """
    out = _plane(values, directions)
    _origin(values, out)
    return out


def _plane(values: dict[str, Any], directions: dict[bytes, tuple[float, ...]] | None = None) -> dict[str, Any]:
    """The geometry columns but the origin: read from no unique column (see :data:`.dicom_templates.Derive`)."""
    frames = values.get("NumberOfFrames")
    spacing = values.get("PixelSpacing")
    orientation = values.get("ImageOrientationPatient")
    out: dict[str, Any] = {
        "ndim": 3 if frames and frames > 1 else 2,
        "size_x": values.get("Columns"),
        "size_y": values.get("Rows"),
        "size_z": frames or 1,
        "pixel_type": _pixel_type(values),
        "spacing_z": values.get("SpacingBetweenSlices") or values.get("SliceThickness"),
    }
    if values.get("Rows") is None and values.get("Columns") is None:
        out.update(ndim=None, size_z=None)
    if spacing is not None and len(spacing) == 2:
        out["spacing_y"], out["spacing_x"] = spacing
    elif (imager := values.get("ImagerPixelSpacing")) is not None and len(imager) == 2:
        factor = values.get("EstimatedRadiographicMagnificationFactor")
        factor = factor if factor is not None and factor > 0 else 1.0
        out["spacing_y"], out["spacing_x"] = imager[0] / factor, imager[1] / factor
    photometric = values.get("PhotometricInterpretation")
    if photometric is not None:
        out["n_components"] = 3 if photometric in _COLOUR or photometric.startswith("YBR") else 1
    if orientation is not None and len(orientation) == 6:
        out["direction"] = _direction(orientation, {} if directions is None else directions)
    return out


def _origin(values: dict[str, Any], out: dict[str, Any]) -> None:
    """Set the origin columns of ``out`` from the ImagePositionPatient (a unique column) of ``values``."""
    position = values.get("ImagePositionPatient")
    if position is not None and len(position) == 3:
        out["origin_x"], out["origin_y"], out["origin_z"] = position


#: Columns most files do not have (the per-frame columns, projection and diffusion attributes):
#: :meth:`DicomReader.read` leaves them out of its dict when they are empty.
SPARSE = (
    *(name for name, *_rest in FRAME_COLUMNS),
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "ImagerPixelSpacing",
    "EstimatedRadiographicMagnificationFactor",
    "GantryDetectorTilt",
)
_SIX_DOUBLES = struct.Struct("<6d").pack
_COLOUR = frozenset({"RGB", "PALETTE COLOR", "HSV", "ARGB", "CMYK"})


def _direction(orientation: tuple[float, ...], cache: dict[bytes, tuple[float, ...]]) -> tuple[float, ...]:
    """SimpleITK's direction (columns are the axis directions, row-major) of an orientation.

    Remembered per orientation (keyed by the exact bits, so -0.0 and 0.0 stay apart): a series,
    and usually a whole archive, shares a few orientations, so their rows share one tuple.
    """
    key = _SIX_DOUBLES(*orientation) if set(map(type, orientation)) == {float} else None
    direction = cache.get(key) if key is not None else None
    if direction is None:
        rx, ry, rz, cx, cy, cz = orientation
        nx, ny, nz = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
        direction = (rx, cx, nx, ry, cy, ny, rz, cz, nz)
        if key is not None:
            if len(cache) >= 4096:
                cache.clear()
            cache[key] = direction
    return direction


class DicomReader:
    """Reads DICOM headers one file after another, with the caches of one worker.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm")
    >>> DicomReader().read(path, open(path, "rb").read(8192))["size_x"]
    128
    """

    __slots__ = ("directions", "fast")

    def __init__(self) -> None:
        # the geometry and the sparse columns are derived by the fast reader: its templates then derive
        # all but the origin once per group of a series' files
        self.fast = FastReader(derive=(self._derive_shared, _derive_origin))
        self.directions: dict[bytes, tuple[float, ...]] = {}

    def _derive_shared(self, values: dict[str, Any]) -> None:
        """The geometry columns but the origin, and the empty :data:`SPARSE` columns left out."""
        values.update(_plane(values, self.directions))
        for name in SPARSE:  # absent rather than None: a scan's chunks then carry no column of Nones
            if values[name] is None:
                del values[name]

    def read(self, path: str, head: bytes) -> dict[str, Any]:
        """Read a DICOM file's header values and geometry: the fast reader, else pydicom.

        ``head`` holds the first bytes of the file (see :data:`imgindex.formats.HEAD_SIZE`). The
        :data:`SPARSE` columns are left out when empty; a file cut short inside its header gives
        only an ``error``.
        """
        try:
            return self.fast.read(path, head)  # with the geometry, see _derive_shared
        except Truncated as exc:
            return {"error": cut_message(path, where_it_ends(path), str(exc))}
        except Unsupported:
            values = read_with_pydicom(path)
            cut = where_it_ends(path)  # pydicom reads a file cut short inside its header without a word
            if cut is not None:
                return {"error": cut_message(path, cut)}
        self._derive_shared(values)
        _derive_origin(values)
        return values


def _derive_origin(values: dict[str, Any]) -> None:
    _origin(values, values)


def read(path: str, head: bytes, reader: DicomReader | None = None) -> dict[str, Any]:
    """Read a DICOM file's header values and geometry (``reader`` keeps its caches between files).

    Parameters
    ----------
    path
        The DICOM file.
    head
        Its first bytes (see :data:`imgindex.formats.HEAD_SIZE`).
    reader
        A reader whose caches serve the files read one after another; default: a new one.

    Returns
    -------
    dict
        The header values (DICOM keywords and mask references) and the geometry columns.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm")
    >>> read(path, open(path, "rb").read(8192))["size_x"]
    128
    """
    return (reader or DicomReader()).read(path, head)
