"""DICOM SEG segments → binary masks on a reference grid (or on the SEG's own frame geometry).

BINARY and FRACTIONAL segmentations (a fractional value counts when it is at least half of
MaximumFractionalValue), one or many segments, sparse frames (only the slices where a segment
is present). Each frame goes where its PlanePositionSequence puts it in the reference's index
space; frames without a position go to the slice of the source image they reference
(DerivationImageSequence), when the reference is an ``ImageFile`` that knows its
SOPInstanceUIDs. Frames that do not lie on the reference grid (another spacing, orientation or
an in-plane offset that is not a whole voxel) are resampled with nearest neighbour and a warning.

The file is read with pydicom (which unpacks 1-bit frames); highdicom is not needed at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom

from .._lazy import SimpleITK as sitk
from ..errors import InputError, warn
from .frames import Frames, Plane
from .frames import frames_of as _frames
from .frames import item as _item
from .grid import Grid
from .names import RoiName, choose

#: Frames whose origin lies within this many voxels of a voxel centre are placed without resampling.
ON_GRID_TOLERANCE = 0.01


def _segment_numbers(ds: pydicom.Dataset) -> npt.NDArray[np.int64]:
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    numbers = []
    for group in ds.get("PerFrameFunctionalGroupsSequence", []):
        ident = _item(group, "SegmentIdentificationSequence") or _item(shared, "SegmentIdentificationSequence")
        numbers.append(int(ident.ReferencedSegmentNumber) if ident is not None else 1)
    return np.asarray(numbers, dtype=np.int64)


def _source_sops(ds: pydicom.Dataset) -> list[str | None]:
    out: list[str | None] = []
    for group in ds.get("PerFrameFunctionalGroupsSequence", []):
        derivation = _item(group, "DerivationImageSequence")
        source = _item(derivation, "SourceImageSequence") if derivation is not None else None
        out.append(str(source.ReferencedSOPInstanceUID) if source is not None else None)
    return out


def _binary_frames(ds: pydicom.Dataset) -> npt.NDArray[np.uint8]:
    frames = ds.pixel_array.reshape(int(ds.get("NumberOfFrames") or 1), int(ds.Rows), int(ds.Columns))
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        maximum = int(ds.get("MaximumFractionalValue") or 255)
        return (frames.astype(np.int64) * 2 >= maximum).astype(np.uint8)
    return (frames > 0).astype(np.uint8)


def _own_grid(
    ds: pydicom.Dataset,
    position: npt.NDArray[np.float64],
    orientation: npt.NDArray[np.float64],
    pixel_spacing: npt.NDArray[np.float64],
    thickness: float,
) -> Grid:
    """The grid the SEG's frames span: their slice positions, spacing SpacingBetweenSlices or the smallest gap."""
    row, col = orientation[0, :3], orientation[0, 3:]
    normal = np.cross(row, col)
    along = position @ normal
    distinct = np.unique(np.round(along, 4))
    gaps = np.diff(distinct)
    spacing_between = _item(_item(ds, "SharedFunctionalGroupsSequence"), "PixelMeasuresSequence")
    step = spacing_between.get("SpacingBetweenSlices") if spacing_between is not None else None
    step = float(step) if step else (float(gaps.min()) if gaps.size else (thickness if np.isfinite(thickness) else 1.0))
    first = int(np.argmin(along))
    n = int(np.rint((distinct[-1] - distinct[0]) / step)) + 1 if distinct.size else 1
    spacing = np.nan_to_num(pixel_spacing[0], nan=1.0)
    return Grid(
        (int(ds.Columns), int(ds.Rows), n),
        (spacing[1], spacing[0], step),
        position[first],
        np.column_stack([row, col, normal]).ravel(),
    )


def _place(
    frames: npt.NDArray[np.uint8], index: npt.NDArray[np.float64], grid: Grid
) -> tuple[npt.NDArray[np.uint8], int]:
    """Paste frames whose origins are at whole voxel ``index`` (n, 3) into a volume on ``grid``."""
    volume = np.zeros(grid.shape, dtype=np.uint8)
    nz, ny, nx = grid.shape
    rows, cols = frames.shape[1:]
    dropped = 0
    for frame, (i, j, k) in zip(frames, np.rint(index).astype(np.int64), strict=True):
        if not 0 <= k < nz or i >= nx or j >= ny or i + cols <= 0 or j + rows <= 0:
            dropped += int(frame.any())
            continue
        y0, x0 = max(j, 0), max(i, 0)
        y1, x1 = min(j + rows, ny), min(i + cols, nx)
        volume[k, y0:y1, x0:x1] |= frame[y0 - j : y1 - j, x0 - i : x1 - i]
    return volume, dropped


def _on_grid(
    index: npt.NDArray[np.float64],
    orientation: npt.NDArray[np.float64],
    pixel_spacing: npt.NDArray[np.float64],
    grid: Grid,
) -> bool:
    axes = grid.matrix
    same_axes = np.allclose(orientation[:, :3], axes[:, 0], atol=1e-4) and np.allclose(
        orientation[:, 3:], axes[:, 1], atol=1e-4
    )
    same_spacing = np.allclose(pixel_spacing[:, ::-1], grid.spacing[:2], rtol=1e-4)
    return bool(same_axes and same_spacing and np.all(np.abs(index - np.rint(index)) <= ON_GRID_TOLERANCE))


def _planes_from_sources(ds: pydicom.Dataset, info: Frames, planes: Mapping[str, Plane]) -> bool:
    """Give frames without a position the plane of the source slice they reference; whether all have one now."""
    missing = np.asarray(np.isnan(info.position).any(axis=1) | np.isnan(info.orientation).any(axis=1), dtype=bool)
    sops = _source_sops(ds)
    if not missing.any() or len(sops) != len(missing) or any(sops[k] not in planes for k in np.flatnonzero(missing)):
        return not missing.any()
    for k in np.flatnonzero(missing):
        position, orientation, spacing = planes[str(sops[k])]
        info.position[k], info.orientation[k] = position, orientation
        if np.isnan(info.pixel_spacing[k]).any():
            info.pixel_spacing[k] = spacing
    return True


def read_seg(
    path: str,
    grid: Grid | None = None,
    roi_name: RoiName = None,
    *,
    reference_sops: Sequence[str] | None = None,
    reference_planes: Mapping[str, Plane] | None = None,
) -> dict[str, sitk.Image]:
    """One binary image per selected segment of a DICOM SEG, on ``grid`` (default: the SEG's own).

    Keys are SegmentLabels, made unique when the file repeats one. Frames without a
    PlanePositionSequence take the plane of the source slice they reference when
    ``reference_planes`` (SOPInstanceUID → position, orientation, spacing of the reference's
    slices) has it; else they go to the slice of that index in ``reference_sops``.

    Examples
    --------
    >>> import os
    >>> ct = os.path.join(example_dir, "STS_001", "CT")
    >>> masks = read_seg(os.path.join(ct, "dicom", "mask", "SEG.dcm"))  # on the SEG's own frame geometry
    >>> {name: mask.GetSize() for name, mask in masks.items()}  # its frames cover 3 of the 8 CT slices
    {'GTV_Mass': (32, 32, 3), 'GTV_2': (32, 32, 3)}

    On the grid of the CT, the segments are the values 1 and 2 of the label map beside it:

    >>> label = sitk.ReadImage(os.path.join(ct, "nifti", "mask", "mask.nii.gz"))
    >>> masks = read_seg(os.path.join(ct, "dicom", "mask", "SEG.dcm"), Grid.of(label))
    >>> [bool((sitk.GetArrayFromImage(masks[name]) == (sitk.GetArrayFromImage(label) == value)).all())
    ...  for name, value in [("GTV_Mass", 1), ("GTV_2", 2)]]
    [True, True]
    """
    ds = pydicom.dcmread(path, force=True)
    if ds.get("Modality") != "SEG":
        raise InputError(f"{path} is not a DICOM SEG (Modality {ds.get('Modality')!r}).")
    segments = list(ds.get("SegmentSequence", []))
    numbers = [int(s.SegmentNumber) for s in segments]
    labels = [str(s.get("SegmentLabel") or f"segment_{n}") for s, n in zip(segments, numbers, strict=True)]
    chosen = choose(labels, roi_name, source=path)
    frames = _binary_frames(ds)
    frame_segment = _segment_numbers(ds) if "PerFrameFunctionalGroupsSequence" in ds else np.ones(len(frames), int)
    info = _frames(ds, [])
    problems: list[str] = []
    positioned = _planes_from_sources(ds, info, reference_planes or {})
    # place(frame numbers) -> (the volume of those frames on the target grid, non-empty frames dropped)
    place: Callable[[npt.NDArray[np.intp]], tuple[npt.NDArray[Any], int]]
    if positioned:
        own = _own_grid(ds, info.position, info.orientation, info.pixel_spacing, info.thickness)
        target = grid or own
        index = target.to_index(info.position)
        if _on_grid(index, info.orientation, info.pixel_spacing, target):
            place = lambda chosen_frames: _place(frames[chosen_frames], index[chosen_frames], target)
        else:
            problems.append(
                f"its frames are not on the reference grid ({target.describe()}): resampled with nearest neighbour"
            )
            own_index = own.to_index(info.position)
            place = lambda chosen_frames: _resampled(frames[chosen_frames], own_index[chosen_frames], own, target)
    else:
        sops = _source_sops(ds)
        lookup: dict[str | None, int] = {uid: k for k, uid in enumerate(reference_sops or ())}
        if grid is None or not lookup or any(s not in lookup for s in sops):
            raise InputError(
                f"The frames of {path} have no PlanePositionSequence, so they can only be placed by the "
                "source images they reference: pass reference=<the ImageFile of that series>."
            )
        if grid.size[:2] != (int(ds.Columns), int(ds.Rows)):
            raise InputError(
                f"The frames of {path} ({ds.Columns} x {ds.Rows}) do not match the reference slices "
                f"({grid.size[0]} x {grid.size[1]})."
            )
        target = grid
        index = np.array([[0, 0, lookup[s]] for s in sops], dtype=float)
        place = lambda chosen_frames: _place(frames[chosen_frames], index[chosen_frames], target)
    out: dict[str, sitk.Image] = {}
    dropped = 0
    for position, key in chosen.items():
        hit = frame_segment == numbers[position]
        if not hit.any():
            problems.append(f"segment {labels[position]!r} has no frames: its mask is empty")
        volume, lost = place(np.flatnonzero(hit))
        dropped += lost
        out[key] = target.image(volume)
    if dropped:
        problems.append(f"{dropped} non-empty frame(s) outside the reference grid dropped")
    if problems:
        warn(f"DICOM SEG {path}: {'; '.join(problems)}.")
    return out


def _resampled(
    frames: npt.NDArray[np.uint8], index: npt.NDArray[np.float64], own: Grid, target: Grid
) -> tuple[npt.NDArray[Any], int]:
    volume, dropped = _place(frames, index, own)
    moved = sitk.Resample(
        own.image(volume), target.image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    return sitk.GetArrayFromImage(moved), dropped
