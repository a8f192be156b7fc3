"""Known-answer DICOM series: a sphere defined in patient coordinates, stored as the scanners store it.

:func:`write_series_dataset` writes one series of a sphere of known centre and radius, sampled by
axial, tilted (gantry tilt) or gapped slices, as one or several volumes at the same positions
(diffusion b-values, echoes, temporal positions, trigger times, acquisitions, content times, image
types, or nothing that tells them apart), as single-frame files or as one enhanced multi-frame
file, under shuffled, awkward file names. It returns the ground truth (:class:`SeriesDataset`):
where every slice is, what tells the volumes apart and the sphere's value in each volume, so that
tests can check volume counts, positions and voxels against it and against dcm2niix and SimpleITK.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage, EnhancedMRImageStorage, MRImageStorage

from ._dicom import _dataset, _dicom_bytes, _ds_text, _item, _Subject, _uid
from ._series_data import SeriesDataset
from ._series_rtstruct import structure_set

__all__ = ["SPLITS", "SeriesDataset", "write_series_dataset"]

#: What may tell the volumes of a series apart (``split_by``), and the modality each is written as.
SPLITS = {
    "diffusion": "MR",
    "echo": "MR",
    "temporal": "MR",
    "trigger": "CT",
    "acquisition": "CT",
    "content_time": "CT",
    "image_type": "MR",
    "none": "CT",
}
#: (DimensionIndexPointer, FunctionalGroupPointer) of the dimension that tells the volumes of an enhanced file apart.
_VOLUME_DIMENSION = {
    "diffusion": (0x00189087, 0x00189117),  # DiffusionBValue in MRDiffusionSequence
    "echo": (0x00189082, 0x00189114),  # EffectiveEchoTime in MREchoSequence
    "temporal": (0x00209128, 0x00209111),  # TemporalPositionIndex in FrameContentSequence
    "trigger": (0x00209153, 0x00189118),  # NominalCardiacTriggerDelayTime in CardiacSynchronizationSequence
}
#: Diffusion gradient directions of the volumes after the first (which is b = 0).
_GRADIENTS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.7071068, 0.7071068, 0.0))


def _vector(values: Any) -> tuple[float, float, float]:
    """Three floats (rounded to 12 decimals, so that cosines of 0 and 90 degrees come out exact)."""
    x, y, z = (float(v) for v in np.round(np.asarray(values, dtype=float), 12))
    return (x, y, z)


def _volume_keys(split_by: str, n_volumes: int) -> list[dict[str, Any] | None]:
    """The DICOM attributes of each volume that tell it apart (per-slice jitter is added later)."""
    keys: list[dict[str, Any] | None] = []
    for j in range(n_volumes):
        if split_by == "diffusion":
            b, g = (0.0, (0.0, 0.0, 0.0)) if j == 0 else (1000.0, _GRADIENTS[(j - 1) % len(_GRADIENTS)])
            keys.append({"DiffusionBValue": b, "DiffusionGradientOrientation": g})
        elif split_by == "echo":
            keys.append({"EchoNumbers": j + 1, "EchoTime": 10.0 * (j + 1)})
        elif split_by == "temporal":
            keys.append({"TemporalPositionIdentifier": j + 1, "NumberOfTemporalPositions": n_volumes})
        elif split_by == "trigger":
            keys.append({"TriggerTime": 100.0 * j})
        elif split_by == "acquisition":
            keys.append({"AcquisitionNumber": j + 1})
        elif split_by == "content_time":  # AcquisitionNumber 1, 2, 2, ...: only ContentTime tells 2 and 3 apart
            keys.append({"AcquisitionNumber": 1 if j == 0 else 2, "ContentTime": 43200.0 + 60.0 * j})
        elif split_by == "image_type":
            keys.append({"ImageType": ["ORIGINAL", "PRIMARY", f"M{j}" if j else "M"]})
        else:
            keys.append(None)
    return keys


def _tm(seconds: float) -> str:
    """A DICOM TM value (HHMMSS.FFFFFF) of ``seconds`` after midnight."""
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    return f"{int(hours):02d}{int(minutes):02d}{secs:09.6f}"


def _pixels(data: SeriesDataset, k: int, value: float) -> NDArray[np.float64]:
    """Real-world values of slice position ``k`` of a volume whose sphere has ``value``."""
    rows, cols = data.size
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    origin = data.all_positions[k]
    points = (
        origin
        + j[..., None] * data.spacing[0] * np.asarray(data.row)
        + i[..., None] * data.spacing[1] * np.asarray(data.column)
    )
    return data.background + (value - data.background) * data.truth(points)


def _slice_attributes(ds: Dataset, key: dict[str, Any] | None, k: int) -> None:
    """Write a volume's telling attributes into one slice (times jitter a little from slice to slice).

    As in a real DCE series, AcquisitionTime is that of the acquisition (the same for the volumes of
    one AcquisitionNumber) and ContentTime that of each slice.
    """
    key = key or {}
    for keyword, value in key.items():
        if keyword == "ContentTime":
            ds.ContentTime = _tm(value + 0.5 * k)
            ds.AcquisitionTime = _tm(43200.0 + 60.0 * (int(key.get("AcquisitionNumber", 1)) - 1))
        elif keyword == "TriggerTime":
            ds.TriggerTime = value + 0.1 * k
        else:
            setattr(ds, keyword, list(value) if isinstance(value, tuple) else value)


def write_series_dataset(
    root: str | Path,
    *,
    n_volumes: int = 1,
    split_by: str = "acquisition",
    n_slices: int = 20,
    size: tuple[int, int] = (40, 44),
    spacing: tuple[float, float] = (1.0, 1.0),
    slice_spacing: float = 2.5,
    tilt: float = 0.0,
    missing: Collection[int] = (),
    duplicates: int = 0,
    centre: tuple[float, float, float] = (3.0, -5.0, 2.0),
    radius: float = 11.0,
    multiframe: bool = False,
    shuffle: bool = True,
    seed: int = 0,
    rtstruct: int | str | None = None,
) -> SeriesDataset:
    """Write one DICOM series of a sphere phantom and return its ground truth.

    The sphere (``centre`` and ``radius`` in patient mm, with a 1 mm ramp at its surface) is
    sampled on ``n_slices`` slice positions of ``size`` (rows, columns) pixels of ``spacing``
    (x, y) mm, ``slice_spacing`` mm apart along the table (patient z). ``tilt`` (degrees) tilts the
    image plane about the patient x axis, as a gantry tilt does: the slices still progress along z,
    so the progression is no longer the image normal (GantryDetectorTilt is written too). Slice
    positions in ``missing`` are left out of every volume. Each of the ``n_volumes`` volumes repeats
    every position, told apart as ``split_by`` says (see :data:`SPLITS`; ``"none"``: by nothing but
    the instance order); the sphere of volume ``j`` has the value ``100 * (j + 1)``. ``duplicates``
    files are written twice under other names (same SOPInstanceUID). With ``multiframe`` the whole
    series is one enhanced multi-frame file (per-frame functional groups). File names are shuffled
    and awkward (spaces, no suffix for some) unless ``shuffle=False``. ``rtstruct`` adds an RTSTRUCT
    of the sphere (ROI ``sphere``, one contour per slice it cuts), ``rtstruct/RS.dcm``, that refers to
    the series and, with a volume number, to the slices of that volume (ContourImageSequence);
    ``"series"``: to the series only.

    Parameters
    ----------
    root : str or Path
        Folder to write into (created).
    n_volumes, split_by, n_slices, size, spacing, slice_spacing, tilt, missing, duplicates
        The series (see above).
    centre, radius : optional
        The sphere.
    multiframe : bool
        One enhanced multi-frame file instead of one file per slice.
    shuffle : bool
        Shuffle and vary the file names.
    seed : int
        Seed of the names and UIDs.
    rtstruct : int or "series", optional
        Write an RTSTRUCT that refers to the slices of this volume, or to the series only.

    Returns
    -------
    SeriesDataset
        The files and the ground truth.

    Raises
    ------
    ValueError
        For an unknown ``split_by`` or impossible sizes.

    Examples
    --------
    >>> data = write_series_dataset(tmp_dir, n_volumes=3, split_by="content_time", n_slices=6)
    >>> len(data.files), data.n_volumes, data.keys[2]["AcquisitionNumber"]
    (18, 3, 2)
    >>> tilted = write_series_dataset(tmp_dir + "/tilted", tilt=20.0, n_slices=6)
    >>> round(float(np.degrees(np.arccos(np.dot(tilted.normal, (0, 0, 1))))), 1)
    20.0
    """
    if split_by not in SPLITS:
        raise ValueError(f"Unknown split_by {split_by!r}; choose from {list(SPLITS)}.")
    if n_volumes < 1 or n_slices < 2 or min(size) < 2 or duplicates < 0:
        raise ValueError("n_volumes >= 1, n_slices >= 2, size >= 2 and duplicates >= 0 are needed.")
    bad = sorted(set(missing) - set(range(n_slices)))
    if bad:
        raise ValueError(f"missing names slice positions that do not exist: {bad}.")
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    modality = SPLITS[split_by]
    angle = np.radians(tilt)
    row = np.array([1.0, 0.0, 0.0])
    column = np.array([0.0, np.cos(angle), np.sin(angle)])
    normal = np.cross(row, column)
    step = np.array([0.0, 0.0, slice_spacing])
    rows, cols = size
    half = np.array([(cols - 1) * spacing[0], (rows - 1) * spacing[1]]) / 2
    first = np.asarray(centre) - half[0] * row - half[1] * column - (n_slices - 1) / 2 * step
    positions = np.round(first + np.arange(n_slices)[:, None] * step, 6)
    keys = _volume_keys(split_by, n_volumes)
    values = [100.0 * (j + 1) for j in range(n_volumes)]
    series_uid = _uid(seed, "series", split_by, n_volumes, tilt, tuple(missing), multiframe)
    sops = [[_uid(series_uid, j, k) for k in range(n_slices)] for j in range(n_volumes)]
    data = SeriesDataset(
        root=root,
        files=[],
        modality=modality,
        split_by=split_by,
        n_volumes=n_volumes,
        keys=keys,
        values=values,
        background=-1000.0 if modality == "CT" else 0.0,
        centre=_vector(centre),
        radius=float(radius),
        size=(rows, cols),
        spacing=(float(spacing[0]), float(spacing[1])),
        row=_vector(row),
        column=_vector(column),
        normal=_vector(normal),
        step=_vector(step),
        tilt=float(tilt),
        all_positions=positions,
        missing=tuple(sorted(set(missing))),
        multiframe=multiframe,
        series_uid=series_uid,
        sop_uids=sops,
    )
    subject = _Subject("PHANTOM", _uid(seed, "study", series_uid), {m: _uid(seed, "for") for m in ("CT", "MR", "PT")})
    kept = [k for k in range(n_slices) if k not in set(missing)]
    rng = np.random.default_rng(seed)
    if rtstruct is not None:
        if multiframe or not (rtstruct == "series" or (isinstance(rtstruct, int) and 0 <= rtstruct < n_volumes)):
            raise ValueError(f"rtstruct is a volume number (0 ... {n_volumes - 1}) or 'series', of single-frame files.")
        (root / "rtstruct").mkdir(exist_ok=True)
        path = root / "rtstruct" / "RS.dcm"
        path.write_bytes(_dicom_bytes(structure_set(data, subject, kept, rtstruct)))
        data = replace(data, rtstruct=path)
    if multiframe:
        path = root / ("enhanced" if shuffle else "enhanced.dcm")
        path.write_bytes(_dicom_bytes(_enhanced(data, subject, kept)))
        data.files.append(path)
        return data
    blobs = []
    for j in range(n_volumes):
        for number, k in enumerate(kept):
            ds = _single(data, subject, j, k, instance=j * len(kept) + number + 1)
            blobs.append(_dicom_bytes(ds))
    blobs += blobs[:duplicates]  # copies of the first files: same SOPInstanceUID, another name
    order = rng.permutation(len(blobs)) if shuffle else np.arange(len(blobs))
    for name_number, index in enumerate(order):
        name = f"IM {name_number:04d}" + ("" if shuffle and name_number % 3 == 0 else ".dcm")
        path = root / (name if shuffle else f"{index:04d}.dcm")
        path.write_bytes(blobs[index])
        data.files.append(path)
    return data


def _stored(data: SeriesDataset, real: NDArray[np.float64]) -> tuple[NDArray[Any], float]:
    """Stored values (int16 CT with intercept -1024, uint16 MR) and the intercept."""
    if data.modality == "CT":
        return np.rint(real + 1024.0).astype(np.int16), -1024.0
    return np.rint(real).astype(np.uint16), 0.0


def _common(ds: Dataset, data: SeriesDataset) -> None:
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = _uid("for", data.series_uid), ""
    ds.ImageOrientationPatient = _ds_text(np.r_[data.row, data.column])
    ds.PixelSpacing = [data.spacing[1], data.spacing[0]]
    ds.SliceThickness = float(np.dot(data.step, data.normal))
    ds.Rows, ds.Columns = data.size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1 if data.modality == "CT" else 0
    if data.tilt:
        ds.GantryDetectorTilt = data.tilt


def _single(data: SeriesDataset, subject: _Subject, j: int, k: int, *, instance: int) -> Dataset:
    """Slice position ``k`` of volume ``j`` as a single-frame file."""
    sop_class = CTImageStorage if data.modality == "CT" else MRImageStorage
    ds = _dataset(
        subject, sop_class, data.sop_uids[j][k], data.series_uid, data.modality, 7, f"{data.split_by} phantom"
    )
    _common(ds, data)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = _ds_text(data.all_positions[k])
    ds.SliceLocation = float(np.dot(data.all_positions[k], data.normal))
    _slice_attributes(ds, data.keys[j], k)
    stored, intercept = _stored(data, _pixels(data, k, data.values[j]))
    if data.modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = intercept, 1, "HU"
    ds.PixelData = stored.tobytes()
    return ds


def _frame_groups(data: SeriesDataset, j: int, k: int, number: int) -> Dataset:
    """The per-frame functional groups of slice position ``k`` of volume ``j``."""
    key = data.keys[j] or {}
    content = _item(
        FrameAcquisitionNumber=int(key.get("AcquisitionNumber", 1)),
        StackID="1",
        InStackPositionNumber=number + 1,
        DimensionIndexValues=[1, number + 1, j + 1],
        FrameAcquisitionDateTime="20200101" + _tm(float(key.get("ContentTime", 43200.0)) + 0.5 * number),
    )
    if "TemporalPositionIdentifier" in key:
        content.TemporalPositionIndex = key["TemporalPositionIdentifier"]
    group = _item(
        FrameContentSequence=[content],
        PlanePositionSequence=[_item(ImagePositionPatient=_ds_text(data.all_positions[k]))],
    )
    if "DiffusionBValue" in key:
        diffusion = _item(DiffusionBValue=key["DiffusionBValue"], DiffusionDirectionality="DIRECTIONAL")
        if key["DiffusionBValue"] == 0:
            diffusion.DiffusionDirectionality = "NONE"
        else:
            diffusion.DiffusionGradientDirectionSequence = [
                _item(DiffusionGradientOrientation=list(key["DiffusionGradientOrientation"]))
            ]
        group.MRDiffusionSequence = [diffusion]
    if "EchoTime" in key:
        group.MREchoSequence = [_item(EffectiveEchoTime=key["EchoTime"])]
    if "TriggerTime" in key:
        group.CardiacSynchronizationSequence = [_item(NominalCardiacTriggerDelayTime=key["TriggerTime"] + 0.1 * number)]
    frame_type = key.get("ImageType", ["ORIGINAL", "PRIMARY", "AXIAL"])
    if data.modality == "CT":
        group.CTImageFrameTypeSequence = [_item(FrameType=[*frame_type[:3], "NONE"][:4])]
        group.PixelValueTransformationSequence = [_item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")]
    else:
        group.MRImageFrameTypeSequence = [_item(FrameType=[*frame_type[:3], "NONE"][:4])]
    return group


def _enhanced(data: SeriesDataset, subject: _Subject, kept: Sequence[int]) -> Dataset:
    """Every slice of every volume as the frames of one enhanced CT or MR file (volume by volume)."""
    sop_class = EnhancedCTImageStorage if data.modality == "CT" else EnhancedMRImageStorage
    ds = _dataset(subject, sop_class, _uid(data.series_uid, "enhanced"), data.series_uid, data.modality, 7, "enhanced")
    _common(ds, data)
    del ds.ImageOrientationPatient, ds.PixelSpacing, ds.SliceThickness  # in the functional groups instead
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentQualification, ds.BurnedInAnnotation = "PRODUCT", "NO"
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[
                _item(
                    PixelSpacing=[data.spacing[1], data.spacing[0]],
                    SliceThickness=float(np.dot(data.step, data.normal)),
                    SpacingBetweenSlices=float(np.dot(data.step, data.normal)),
                )
            ],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=_ds_text(np.r_[data.row, data.column]))],
        )
    ]
    frames, groups = [], []
    for j in range(data.n_volumes):
        for number, k in enumerate(kept):
            stored, _intercept = _stored(data, _pixels(data, k, data.values[j]))
            frames.append(stored)
            groups.append(_frame_groups(data, j, k, number))
    ds.NumberOfFrames, ds.PerFrameFunctionalGroupsSequence = len(frames), groups
    dimensions = _uid(data.series_uid, "dimensions")
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dimensions)]
    volume_pointer = _VOLUME_DIMENSION.get(data.split_by, (0x00209156, 0x00209111))  # else FrameAcquisitionNumber
    ds.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=dimensions, DimensionIndexPointer=pointer, FunctionalGroupPointer=group)
        for pointer, group in ((0x00209056, 0x00209111), (0x00209057, 0x00209111), volume_pointer)
    ]
    ds.PixelData = np.stack(frames).tobytes()
    return ds
