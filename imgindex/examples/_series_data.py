"""The ground truth :func:`imgindex.examples.write_series_dataset` returns (a module of its own for length)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SeriesDataset"]


@dataclass(frozen=True)
class SeriesDataset:
    """What :func:`write_series_dataset` wrote, and what a reader must find in it.

    ``positions`` are the ImagePositionPatient of the slices of one volume that were written, in
    slice order (the left-out ones excluded); ``all_positions`` those of every slice position of the
    design, ``missing`` the indices left out. ``row``, ``column`` and ``normal`` are unit vectors
    (patient LPS); ``step`` the vector from one slice position to the next (along ``normal``
    unless tilted); ``spacing`` the in-plane (x, y) spacing in mm. Volume ``j`` holds the sphere
    with value ``values[j]`` (real-world units) on a background of ``background``; ``keys[j]`` is
    what tells it apart (the DICOM keyword and value written, ``None`` for ``split_by="none"``).
    ``rtstruct`` is the RTSTRUCT of the sphere (ROI ``sphere``) when one was written.
    """

    root: Path
    files: list[Path]
    modality: str
    split_by: str
    n_volumes: int
    keys: list[dict[str, Any] | None]
    values: list[float]
    background: float
    centre: tuple[float, float, float]
    radius: float
    size: tuple[int, int]
    spacing: tuple[float, float]
    row: tuple[float, float, float]
    column: tuple[float, float, float]
    normal: tuple[float, float, float]
    step: tuple[float, float, float]
    tilt: float
    all_positions: NDArray[np.float64]
    missing: tuple[int, ...]
    multiframe: bool
    series_uid: str
    sop_uids: list[list[str]] = field(repr=False)
    rtstruct: Path | None = None

    @property
    def positions(self) -> NDArray[np.float64]:
        """ImagePositionPatient of the written slices of one volume, in slice order."""
        keep = [k for k in range(len(self.all_positions)) if k not in set(self.missing)]
        return self.all_positions[keep]

    def truth(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """The sphere's profile (0 outside, 1 inside, a 1 mm ramp at the surface) at patient ``points`` (n, 3)."""
        distance = np.linalg.norm(np.asarray(points, dtype=float) - np.asarray(self.centre), axis=-1)
        return np.asarray(np.clip(0.5 + (self.radius - distance), 0.0, 1.0), dtype=np.float64)
