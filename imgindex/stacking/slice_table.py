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

#: Files columns the slice table reads.
READS = [
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "InstanceNumber",
    "SOPInstanceUID",
    "NumberOfFrames",
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "EchoNumbers",
    "EchoTime",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "AcquisitionNumber",
    "acquisition_time",
    "content_time",
    "ImageType",
    "frame_positions",
    "frame_b_values",
    "frame_gradients",
    "frame_echo_times",
    "frame_temporal_indices",
    "frame_trigger_delays",
    "frame_acquisition_numbers",
    "frame_acquisition_datetimes",
    "frame_types",
]


@dataclass
class Slices:
    """One entry per slice (a single-frame file, or a frame of an enhanced file)."""

    row: NDArray[np.intp]  #: position of the file in the files frame
    frame: NDArray[np.int64]  #: the frame (0-based), -1 for a single-frame file
    ipp: NDArray[np.float64]  #: (n, 3)
    iop: NDArray[np.float64]  #: (n, 6)
    instance: NDArray[np.float64]  #: InstanceNumber; for frames the frame number (1-based)
    sop: NDArray[np.object_]  #: SOPInstanceUID; None for frames (frames of one file are distinct)
    keys: dict[str, NDArray[np.float64]]  #: the :data:`~imgindex.stacking.volumes.KEYS` values
    image_types: NDArray[np.object_]  #: ImageType (frames: FrameType) as text, values joined by ``\\``


def _floats(column: pd.Series) -> NDArray[np.float64]:
    return np.asarray(column.astype("float64").to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)


def _diffusion(b: NDArray[np.float64], gradient: NDArray[np.float64]) -> NDArray[np.float64]:
    """b-value and gradient as one key: gradients only count where the b-value is not 0."""
    gradient = np.where((b == 0)[:, None], np.nan, gradient)
    return np.column_stack([b, gradient])


def _type_codes(text: NDArray[np.object_]) -> NDArray[np.float64]:
    """Image or frame types (text, None where missing) as codes, NaN where missing."""
    codes = pd.factorize(pd.Series(text, dtype=object))[0].astype(float)
    return np.where(codes < 0, np.nan, codes)


def _single(frame: pd.DataFrame, rows: NDArray[np.intp]) -> Slices:
    files = frame.iloc[rows]
    types = np.array(["\\".join(v) if isinstance(v, tuple) else None for v in files["ImageType"]], dtype=object)
    keys = {
        "diffusion": _diffusion(_floats(files["DiffusionBValue"]), as_array(files["DiffusionGradientOrientation"], 3)),
        "echo_number": _floats(files["EchoNumbers"]),
        "echo_time": _floats(files["EchoTime"]),
        "temporal": _floats(files["TemporalPositionIdentifier"]),
        "trigger": _floats(files["TriggerTime"]),
        "acquisition": _floats(files["AcquisitionNumber"]),
        "acquisition_time": _floats(files["acquisition_time"]),
        "content_time": _floats(files["content_time"]),
        "image_type": _type_codes(types),
    }
    sop = files["SOPInstanceUID"].astype(object).where(files["SOPInstanceUID"].notna(), None).to_numpy()
    return Slices(
        row=np.asarray(rows, dtype=np.intp),
        frame=np.full(len(rows), -1, dtype=np.int64),
        ipp=as_array(files["ImagePositionPatient"], 3),
        iop=as_array(files["ImageOrientationPatient"], 6),
        instance=_floats(files["InstanceNumber"]),
        sop=sop,
        keys=keys,
        image_types=types,
    )


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


def _enhanced(frame: pd.DataFrame, rows: NDArray[np.intp]) -> Slices:
    files = frame.iloc[rows]
    positions = files["frame_positions"].tolist()
    counts = np.array([len(p) // 3 for p in positions], dtype=np.int64)
    row = np.repeat(np.asarray(rows, dtype=np.intp), counts)
    number = np.concatenate([np.arange(n) for n in counts]) if len(counts) else np.zeros(0, np.int64)

    def column(name: str, width: int = 1) -> NDArray[np.float64]:
        return _per_frame(files[name].tolist(), counts, width)

    listed: list[str | None] = []
    for cell, n in zip(files["frame_types"].tolist(), counts, strict=True):
        listed += [t or None for t in cell] if isinstance(cell, tuple) and len(cell) == n else [None] * n
    types = np.array(listed, dtype=object)
    keys = {
        "diffusion": _diffusion(column("frame_b_values"), column("frame_gradients", 3)),
        "echo_number": np.full(len(row), np.nan),
        "echo_time": column("frame_echo_times"),
        "temporal": column("frame_temporal_indices"),
        "trigger": column("frame_trigger_delays"),
        "acquisition": column("frame_acquisition_numbers"),
        "acquisition_time": column("frame_acquisition_datetimes"),
        "content_time": np.full(len(row), np.nan),
        "image_type": _type_codes(types),
    }
    iop = as_array(files["ImageOrientationPatient"], 6)
    return Slices(
        row=row,
        frame=number.astype(np.int64),
        ipp=column("frame_positions", 3),
        iop=np.repeat(iop, counts, axis=0),
        instance=number.astype(float) + 1,
        sop=np.full(len(row), None, dtype=object),
        keys=keys,
        image_types=types,
    )


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
    parts = [_single(frame, single), _enhanced(frame, enhanced)]
    return Slices(
        row=np.concatenate([p.row for p in parts]),
        frame=np.concatenate([p.frame for p in parts]),
        ipp=np.concatenate([p.ipp for p in parts]),
        iop=np.concatenate([p.iop for p in parts]),
        instance=np.concatenate([p.instance for p in parts]),
        sop=np.concatenate([p.sop for p in parts]),
        keys={k: np.concatenate([p.keys[k] for p in parts]) for k in parts[0].keys},
        image_types=np.concatenate([p.image_types for p in parts]),
    )
