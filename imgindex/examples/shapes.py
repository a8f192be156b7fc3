"""Known-answer shapes (opt-in): a CT series with an RTSTRUCT and a SEG whose voxel masks are known exactly."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, RTStructureSetStorage

from ._dicom import _DATE, _TIME, _dataset, _dicom_bytes, _ds_text, _item, _Subject, _uid
from .phantom import MODALITIES
from .seg import TISSUE, segmentation

#: Shapes :func:`write_shapes_dataset` can draw; the first five are its default.
SHAPES = ("box", "cylinder", "ring", "overlap_a", "overlap_b", "lung_left", "lung_right")
_OBLIQUE = (25.0, 20.0)  # degrees about z, then about the rotated x

_Floats = NDArray[np.floating[Any]]
#: Slice number -> the shape's polygons on that slice ((n, 2) arrays of in-plane mm).
_Polygons = Callable[[int], list[_Floats]]
#: (slice number, in-plane u, in-plane v) -> whether each point is inside the shape.
_Inside = Callable[[int, _Floats, _Floats], NDArray[np.bool_]]


@dataclass(frozen=True)
class ShapesDataset:
    """What :func:`write_shapes_dataset` wrote, and the masks a reader must find.

    ``expected`` maps each ROI / segment name to a bool array (z, y, x) on the CT grid: the voxels
    whose centres lie inside the shape. On the default grid no centre lies within 0.01 mm of a box
    or circle boundary, so any reader that fills on voxel centres must find exactly these; on
    large grids, and for the lung-like outlines, the polygons of ``n_points`` vertices differ from
    the exact shapes in a few boundary voxels. ``size``, ``spacing``, ``origin`` are
    (x, y, z) and ``direction`` is SimpleITK's row-major matrix; ``values`` are the real-world CT
    values (z, y, x).
    """

    root: Path
    image_dir: Path
    rtstruct: Path
    seg: Path | None
    expected: dict[str, NDArray[np.bool_]]
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    values: NDArray[np.number[Any]]


def _rotation(oblique: bool) -> _Floats:
    """Columns: row direction, column direction, slice normal."""
    if not oblique:
        return np.eye(3)
    a, b = np.radians(_OBLIQUE)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rotation: _Floats = rz @ rx
    return rotation


def _clear_radius(r: float, centre: tuple[float, float], u: _Floats, v: _Floats, step: float) -> float:
    """A radius near ``r`` with no voxel centre within 0.01 mm of the circle (or the clearest one tried)."""
    d = np.hypot(u[None, :] - centre[0], v[:, None] - centre[1])
    tried = r + np.arange(400) * 0.0137 * step
    clearance = np.array([np.abs(d - rr).min() for rr in tried])
    good = np.flatnonzero(clearance > 0.01)
    return float(tried[good[0]] if good.size else tried[np.argmax(clearance)])


def _clear_edge(e: float, c: _Floats) -> float:
    """Move a box edge 0.3 voxel past the nearest voxel centre ``c`` so no centre lies on it."""
    step = float(c[1] - c[0])
    return float(c[np.argmin(np.abs(c - e))] + 0.3 * step)


@dataclass(frozen=True)
class _Shape:
    """One ROI: its slices, its polygons on slice k ((n, 2) in plane mm) and its inside test."""

    slices: range
    polygons: _Polygons
    inside: _Inside


def _shape_specs(names: Collection[str], u: _Floats, v: _Floats, nz: int, n_points: int) -> dict[str, _Shape]:
    """The shapes, in plane coordinates (mm from the slice centre along the row and column directions)."""
    hu, hv = float(u[-1]), float(v[-1])
    m, step = min(hu, hv), float(min(u[1] - u[0], v[1] - v[0]))
    theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False)

    def circle(c: tuple[float, float], r: float) -> _Floats:
        return np.column_stack([c[0] + r * np.cos(theta), c[1] + r * np.sin(theta)])

    def in_circle(c: tuple[float, float], r: float, uu: _Floats, vv: _Floats) -> NDArray[np.bool_]:
        within: NDArray[np.bool_] = np.hypot(uu - c[0], vv - c[1]) < r
        return within

    def box(slices: range, u0: float, u1: float, v0: float, v1: float) -> _Shape:
        u0, u1, v0, v1 = _clear_edge(u0, u), _clear_edge(u1, u), _clear_edge(v0, v), _clear_edge(v1, v)
        corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
        return _Shape(slices, lambda k: [corners], lambda k, uu, vv: (uu >= u0) & (uu <= u1) & (vv >= v0) & (vv <= v1))

    def cylinder(slices: range, c: tuple[float, float], r: float) -> _Shape:
        r = _clear_radius(r, c, u, v, step)
        return _Shape(slices, lambda k: [circle(c, r)], lambda k, uu, vv: in_circle(c, r, uu, vv))

    def ring(slices: range, c: tuple[float, float], r_out: float, r_in: float) -> _Shape:
        r_out, r_in = _clear_radius(r_out, c, u, v, step), _clear_radius(r_in, c, u, v, step)
        return _Shape(
            slices,
            lambda k: [circle(c, r_out), circle(c, r_in)],
            lambda k, uu, vv: in_circle(c, r_out, uu, vv) & ~in_circle(c, r_in, uu, vv),
        )

    def lung(sign: float) -> _Shape:
        c, ex, ey = (sign * 0.42 * hu, -0.05 * hv), 0.3 * hu, 0.62 * hv

        def radius(k: int, t: _Floats) -> _Floats:  # lobed outline, shrinking towards the first and last slices
            size = np.sqrt(max(1.0 - ((k - (nz - 1) / 2) / (0.55 * nz)) ** 2, 0.05))
            lobes: _Floats = size * (1 + 0.12 * np.cos(2 * t) + 0.06 * sign * np.sin(3 * t) + 0.03 * np.cos(7 * t))
            return lobes

        def polygons(k: int) -> list[_Floats]:
            r = radius(k, theta)
            return [np.column_stack([c[0] + ex * r * np.cos(theta), c[1] + ey * r * np.sin(theta)])]

        def inside(k: int, uu: _Floats, vv: _Floats) -> NDArray[np.bool_]:
            x, y = (uu - c[0]) / ex, (vv - c[1]) / ey
            within: NDArray[np.bool_] = np.hypot(x, y) < radius(k, np.arctan2(y, x))
            return within

        return _Shape(range(1, nz - 1), polygons, inside)

    makers: dict[str, Callable[[], _Shape]] = {
        "box": lambda: box(range(2, nz - 2), -0.7 * hu, -0.25 * hu, -0.6 * hv, 0.0),
        "cylinder": lambda: cylinder(range(1, nz - 1), (0.35 * hu, -0.4 * hv), 0.3 * m),
        "ring": lambda: ring(range(3, nz - 3), (0.45 * hu, 0.45 * hv), 0.35 * m, 0.15 * m),
        "overlap_a": lambda: cylinder(range(1, nz - 3), (-0.45 * hu, 0.5 * hv), 0.28 * m),
        "overlap_b": lambda: box(range(3, nz - 1), -0.35 * hu, 0.05 * hu, 0.3 * hv, 0.75 * hv),
        "lung_left": lambda: lung(1.0),
        "lung_right": lambda: lung(-1.0),
    }
    return {name: makers[name]() for name in names}


def write_shapes_dataset(
    root: str | Path,
    *,
    size: tuple[int, int] = (48, 56),
    n_slices: int = 12,
    spacing: tuple[float, float, float] = (0.9, 0.8, 2.5),
    oblique: bool = False,
    shapes: Collection[str] = SHAPES[:5],
    n_points: int = 256,
    slope: float = 1.0,
    seg: bool = True,
    seed: int = 0,
) -> ShapesDataset:
    """Write a CT series, an RTSTRUCT and a SEG of shapes whose voxel masks are known exactly.

    The shapes lie in the slice planes: ``box`` (a rectangular prism), ``cylinder`` (a circle of
    ``n_points`` vertices on consecutive slices), ``ring`` (an outer and an inner circle in the
    same ROI: a hole), ``overlap_a`` / ``overlap_b`` (a cylinder and a box that overlap) and the
    opt-in ``lung_left`` / ``lung_right`` (large lobed outlines of ``n_points`` vertices that
    shrink towards the ends, for benchmarks). Writes ``root/image/*.dcm`` (int16 stored values,
    RescaleIntercept -1024, RescaleSlope ``slope``), ``root/mask/RS.dcm`` and, with ``seg``,
    ``root/mask/SEG.dcm`` (binary, sparse, one segment per shape).

    Parameters
    ----------
    root : str or Path
        Directory to write to (created).
    size : tuple of int
        (rows, columns).
    n_slices : int
        Number of slices (at least 8).
    spacing : tuple of float
        (x, y, z) spacing in mm.
    oblique : bool
        Tilt the series: rotated 25 degrees about z, then 20 degrees about the new x axis.
    shapes : collection of str
        Names from :data:`SHAPES`.
    n_points : int
        Vertices of each round outline.
    slope : float
        RescaleSlope of the CT (not 1: real-world values are not integral).
    seg : bool
        Also write the SEG.
    seed : int
        Seed of the noise and the UIDs.

    Returns
    -------
    ShapesDataset

    Raises
    ------
    ValueError
        An unknown shape, or fewer than 8 slices.

    Examples
    --------
    >>> data = write_shapes_dataset(tmp_dir, oblique=True)
    >>> sorted(data.expected), int(data.expected["box"].sum())
    (['box', 'cylinder', 'overlap_a', 'overlap_b', 'ring'], 1456)
    """
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown or n_slices < 8:
        raise ValueError(f"Unknown shapes {unknown} (choose from {list(SHAPES)}) or fewer than 8 slices.")
    root = Path(root).absolute()
    ny, nx = int(size[0]), int(size[1])
    rot = _rotation(oblique)
    half = (np.array([nx, ny, n_slices]) - 1) / 2 * np.asarray(spacing)
    origin = np.round(np.array([12.5, -31.25, 47.0]) - rot @ half, 4)
    u = (np.arange(nx) - (nx - 1) / 2) * spacing[0]
    v = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
    specs = _shape_specs([s for s in SHAPES if s in set(shapes)], u, v, n_slices, n_points)
    uu, vv = np.meshgrid(u, v)
    expected = {}
    for name, spec in specs.items():
        mask = np.zeros((n_slices, ny, nx), bool)
        for k in spec.slices:
            mask[k] = spec.inside(k, uu, vv)
        expected[name] = mask
    any_shape = np.any(list(expected.values()), axis=0) if expected else np.zeros((n_slices, ny, nx), bool)
    noise = np.random.default_rng([seed, 7]).integers(-20, 21, any_shape.shape)
    stored = np.rint((np.where(any_shape, 40, -1000) + noise + 1024) / slope).astype(np.int16)
    real = stored * slope - 1024
    values = real.astype(np.int16) if float(slope).is_integer() else real.astype(np.float32)
    positions = origin + np.arange(n_slices)[:, None] * spacing[2] * rot[:, 2]
    iop = [float(x) for x in np.round(np.concatenate([rot[:, 0], rot[:, 1]]), 10)]
    subject = _Subject("SHAPES", _uid(seed, "shapes", "study"), {m: _uid(seed, "shapes", "for") for m in MODALITIES})
    series_uid = _uid(seed, "shapes", oblique, "series")
    sops = [_uid(seed, "shapes", oblique, k) for k in range(n_slices)]
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "mask").mkdir(parents=True, exist_ok=True)
    for k, sop in enumerate(sops):
        ds = _dataset(subject, CTImageStorage, sop, series_uid, "CT", 1, "CT shapes")
        ds.ImageType, ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = (
            ["ORIGINAL", "PRIMARY", "AXIAL"],
            subject.for_uids["CT"],
            "",
        )
        ds.InstanceNumber, ds.ImagePositionPatient, ds.ImageOrientationPatient = k + 1, _ds_text(positions[k]), iop
        ds.SliceThickness, ds.PixelSpacing = spacing[2], [spacing[1], spacing[0]]
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = ny, nx, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, format(slope, ".10g"), "HU"
        ds.PixelData = stored[k].tobytes()
        (root / "image" / f"{k:04d}.dcm").write_bytes(_dicom_bytes(ds))
    rs_uid = _uid(seed, "shapes", oblique, "rtstruct")
    rs = _dataset(subject, RTStructureSetStorage, _uid(rs_uid, "sop"), rs_uid, "RTSTRUCT", 200, "RTSTRUCT shapes")
    rs.StructureSetLabel, rs.StructureSetDate, rs.StructureSetTime = "SHAPES", _DATE, _TIME
    ref = [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=s) for s in sops]
    rs.ReferencedFrameOfReferenceSequence = [
        _item(
            FrameOfReferenceUID=subject.for_uids["CT"],
            RTReferencedStudySequence=[
                _item(
                    ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
                    ReferencedSOPInstanceUID=subject.study_uid,
                    RTReferencedSeriesSequence=[_item(SeriesInstanceUID=series_uid, ContourImageSequence=ref)],
                )
            ],
        )
    ]
    rs.StructureSetROISequence, rs.ROIContourSequence, rs.RTROIObservationsSequence = [], [], []
    for number, (name, spec) in enumerate(specs.items(), 1):
        rs.StructureSetROISequence.append(
            _item(
                ROINumber=number,
                ReferencedFrameOfReferenceUID=subject.for_uids["CT"],
                ROIName=name,
                ROIGenerationAlgorithm="MANUAL",
            )
        )
        contours: list[Dataset] = []
        for k in spec.slices:
            for polygon in spec.polygons(k):
                in_plane = polygon + np.array([(nx - 1) / 2 * spacing[0], (ny - 1) / 2 * spacing[1]])
                world = positions[k] + in_plane[:, :1] * rot[:, 0] + in_plane[:, 1:] * rot[:, 1]
                contours.append(
                    _item(
                        ContourImageSequence=[ref[k]],
                        ContourGeometricType="CLOSED_PLANAR",
                        NumberOfContourPoints=len(world),
                        ContourNumber=len(contours) + 1,
                        ContourData=_ds_text(world.ravel()),
                    )
                )
        rs.ROIContourSequence.append(
            _item(ROIDisplayColor=[255, 0, 0], ReferencedROINumber=number, ContourSequence=contours)
        )
        rs.RTROIObservationsSequence.append(
            _item(ObservationNumber=number, ReferencedROINumber=number, RTROIInterpretedType="ORGAN", ROIInterpreter="")
        )
    (root / "mask" / "RS.dcm").write_bytes(_dicom_bytes(rs))
    seg_path = None
    if seg and expected:
        seg_path = root / "mask" / "SEG.dcm"
        seg_ds = segmentation(
            subject,
            uid=_uid(seed, "shapes", oblique, "seg"),
            series_number=300,
            description="SEG shapes",
            label="SHAPES",
            source_series=series_uid,
            source_class=CTImageStorage,
            sops=sops,
            masks=expected,
            positions=[_ds_text(p) for p in positions],
            orientation=iop,
            spacing=spacing,
            frame_of_reference=subject.for_uids["CT"],
            algorithm="MANUAL",
            codes=TISSUE,
            overlap="UNDEFINED",
        )
        if seg_ds is None:
            raise ValueError("No shape covers a voxel centre of this grid: there is no SEG to write.")
        seg_path.write_bytes(_dicom_bytes(seg_ds))
    return ShapesDataset(
        root,
        root / "image",
        root / "mask" / "RS.dcm",
        seg_path,
        expected,
        (nx, ny, n_slices),
        (float(spacing[0]), float(spacing[1]), float(spacing[2])),
        (float(origin[0]), float(origin[1]), float(origin[2])),
        tuple(float(d) for d in rot.ravel()),
        values,
    )
