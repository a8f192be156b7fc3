"""The slices of DICOM stacks as arrays: one row per single-frame file, or per frame of an enhanced file.

:func:`slice_table` gathers what stacking needs to order slices and to tell volumes apart: the
file's row, the frame (-1 for a single-frame file), ImagePositionPatient, ImageOrientationPatient,
InstanceNumber (for frames: the frame number) and the value of every
:data:`imgindex.stacking.volumes.KEYS` attribute. The frames of an enhanced multi-frame file take
their positions and keys from the per-frame columns of the files table (``frame_positions``,
``frame_b_values``, ...), so that one enhanced file is stacked and split like a series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..geometry import as_array

#: Files columns the slice table reads (the keys that tell volumes apart are read by
#: :func:`slice_keys`, from :data:`imgindex.schema.VOLUME_COLUMNS`, only where positions repeat).
READS = ["ImageOrientationPatient", "ImagePositionPatient", "InstanceNumber", "SOPInstanceUID", "frame_positions"]


@dataclass
class Slices:
    """One entry per slice (a single-frame file, or a frame of an enhanced file)."""

    row: NDArray[np.intp]  #: position of the file in the files frame
    frame: NDArray[np.int64]  #: the frame (0-based), -1 for a single-frame file
    ipp: NDArray[np.float64]  #: (n, 3)
    iop: NDArray[np.float64]  #: (n, 6)
    instance: NDArray[np.float64]  #: InstanceNumber; for frames the frame number (1-based)
    sop: NDArray[np.object_]  #: SOPInstanceUID; None for frames (frames of one file are distinct)


def _floats(column: pd.Series, rows: NDArray[np.intp]) -> NDArray[np.float64]:
    """The rows of a numeric column as floats (NaN where missing), without copying the others."""
    return np.asarray(column.iloc[rows].astype("float64").to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)


def _objects(column: pd.Series, rows: NDArray[np.intp]) -> NDArray[np.object_]:
    values = column.iloc[rows]
    return np.asarray(values.astype(object).where(values.notna(), None).to_numpy(), dtype=object)


def _per_frame(cells: list[Any], counts: NDArray[np.int64], width: int = 1) -> NDArray[np.float64]:
    """Concatenate per-frame tuples (None items and missing cells as NaN) into an ``(n, width)`` array."""
    parts = []
    for cell, n in zip(cells, counts, strict=True):
        if isinstance(cell, tuple) and len(cell) == n * width:
            parts.append(np.asarray([np.nan if v is None else v for v in cell], dtype=float).reshape(n, width))
        else:
            parts.append(np.full((n, width), np.nan))
    out = np.concatenate(parts) if parts else np.empty((0, width))
    return out if width > 1 else out[:, 0]


def _frame_counts(frame: pd.DataFrame, rows: NDArray[np.intp]) -> NDArray[np.int64]:
    return np.array([len(p) // 3 for p in frame["frame_positions"].iloc[rows]], dtype=np.int64)


def slice_table(frame: pd.DataFrame, single: NDArray[np.intp], enhanced: NDArray[np.intp]) -> Slices:
    """The slices of the single-frame files at ``single`` and the frames of the enhanced files at ``enhanced``.

    Examples
    --------
    >>> files = pd.DataFrame({c: [None] for c in READS}).assign(
    ...     ImagePositionPatient=[(0.0, 0.0, 2.0)], ImageOrientationPatient=[(1.0, 0, 0, 0, 1, 0)], InstanceNumber=[3])
    >>> table = slice_table(files, np.array([0]), np.array([], dtype=np.intp))
    >>> table.ipp.tolist(), table.frame.tolist(), table.instance.tolist()
    ([[0.0, 0.0, 2.0]], [-1], [3.0])
    """
    counts = _frame_counts(frame, enhanced)
    frames = np.concatenate([np.arange(n) for n in counts]) if len(counts) else np.zeros(0, np.int64)
    return Slices(
        row=np.r_[single, np.repeat(enhanced, counts)].astype(np.intp),
        frame=np.r_[np.full(len(single), -1), frames].astype(np.int64),
        ipp=np.concatenate(
            [
                as_array(frame["ImagePositionPatient"].iloc[single], 3),
                _per_frame(frame["frame_positions"].iloc[enhanced].tolist(), counts, 3),
            ]
        ),
        iop=np.concatenate(
            [
                as_array(frame["ImageOrientationPatient"].iloc[single], 6),
                np.repeat(as_array(frame["ImageOrientationPatient"].iloc[enhanced], 6), counts, axis=0),
            ]
        ),
        instance=np.r_[_floats(frame["InstanceNumber"], single), frames + 1.0],
        sop=np.r_[_objects(frame["SOPInstanceUID"], single), np.full(len(frames), None, dtype=object)],
    )


def _diffusion(b: NDArray[np.float64], gradient: NDArray[np.float64]) -> NDArray[np.float64]:
    """b-value and gradient as one key: gradients only count where the b-value is not 0."""
    gradient = np.where((b == 0)[:, None], np.nan, gradient)
    return np.column_stack([b, gradient])


def _type_codes(text: NDArray[np.object_]) -> NDArray[np.float64]:
    """Image or frame types (text, None where missing) as codes, NaN where missing."""
    codes = pd.factorize(pd.Series(text, dtype=object))[0].astype(float)
    return np.where(codes < 0, np.nan, codes)


def slice_keys(
    frame: pd.DataFrame, table: Slices, picked: NDArray[np.intp], headers: pd.DataFrame | None = None
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.object_]]:
    """The :data:`~imgindex.stacking.volumes.KEYS` values and the image types of the slices ``picked``.

    Single-frame slices read the files columns (DiffusionBValue, EchoNumbers, ...), frames the
    per-frame columns of their file (``frame_b_values``, ...); only the rows picked are read, from
    ``headers`` (a files table holding the rows of ``frame``, found by ``file_path``) when given,
    else from ``frame``.
    """
    frame_of = table.frame[picked]
    rows = table.row[picked]
    if headers is not None:  # the same files in the files table
        at = pd.Index(headers["file_path"].astype(object)).get_indexer(frame["file_path"].iloc[rows].astype(object))
        found = at >= 0
        there = Slices(at[found], frame_of[found], *_empty(int(found.sum())))
        values, texts = slice_keys(headers, there, np.arange(int(found.sum())))
        out = {k: np.full((len(picked), *v.shape[1:]), np.nan) for k, v in values.items()}
        names = np.full(len(picked), None, dtype=object)
        for k, v in values.items():
            out[k][found] = v
        names[found] = texts
        return out, names
    single = frame_of < 0
    keys: dict[str, NDArray[np.float64]] = {
        "diffusion": np.full((len(picked), 4), np.nan),
        **{k: np.full(len(picked), np.nan) for k in _SINGLE if k != "diffusion"},
    }
    types = np.full(len(picked), None, dtype=object)
    if single.any():
        at, r = np.flatnonzero(single), rows[single]
        for key, name in _SINGLE.items():
            if key == "diffusion":
                gradient = as_array(frame["DiffusionGradientOrientation"].iloc[r], 3)
                keys[key][at] = _diffusion(_floats(frame[name], r), gradient)
            elif key != "image_type":
                keys[key][at] = _floats(frame[name], r)
        types[at] = ["\\".join(v) if isinstance(v, tuple) else None for v in frame["ImageType"].iloc[r]]
    if (~single).any():
        at = np.flatnonzero(~single)
        files, inverse = np.unique(rows[~single], return_inverse=True)
        counts = _frame_counts(frame, files)
        offsets = np.r_[0, np.cumsum(counts)[:-1]]
        where = offsets[inverse] + frame_of[~single]  # each picked frame among the files' frames

        def per_frame(name: str, width: int = 1) -> NDArray[np.float64]:
            return np.asarray(_per_frame(frame[name].iloc[files].tolist(), counts, width)[where], dtype=np.float64)

        keys["diffusion"][at] = _diffusion(per_frame("frame_b_values"), per_frame("frame_gradients", 3))
        for key, name in _FRAMES.items():
            keys[key][at] = per_frame(name)
        listed: list[str | None] = []
        for cell, n in zip(frame["frame_types"].iloc[files].tolist(), counts, strict=True):
            listed += [t or None for t in cell] if isinstance(cell, tuple) and len(cell) == n else [None] * n
        types[at] = np.array(listed, dtype=object)[where]
    keys["image_type"] = _type_codes(types)
    return keys, types


def _empty(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.object_]]:
    """Placeholder geometry of a :class:`Slices` whose keys only are read."""
    return np.empty((n, 3)), np.empty((n, 6)), np.empty(n), np.empty(n, dtype=object)


#: The files column of each key of a single-frame slice.
_SINGLE = {
    "diffusion": "DiffusionBValue",
    "echo_number": "EchoNumbers",
    "echo_time": "EchoTime",
    "temporal": "TemporalPositionIdentifier",
    "trigger": "TriggerTime",
    "acquisition": "AcquisitionNumber",
    "acquisition_time": "acquisition_time",
    "content_time": "content_time",
    "image_type": "ImageType",
}
#: The per-frame column of each key of a frame (those without one stay NaN).
_FRAMES = {
    "echo_time": "frame_echo_times",
    "temporal": "frame_temporal_indices",
    "trigger": "frame_trigger_delays",
    "acquisition": "frame_acquisition_numbers",
    "acquisition_time": "frame_acquisition_datetimes",
}
