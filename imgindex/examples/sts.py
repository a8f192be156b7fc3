"""The soft-tissue-sarcoma-like example dataset: samples with CT, PET and MR in every format and layout."""

from __future__ import annotations

import gzip
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from .._lazy import SimpleITK
from ._dicom import _dicom_bytes, _Subject, _uid
from .phantom import MODALITIES, ROI_NAMES, _image_slice, _Params, _params, _rtstruct, _seg, _Volume, _volume

#: Directory layouts :func:`write_example_dataset` can write.
LAYOUTS = ("nested", "nested_flat", "flat")
#: Format directories (``file_type`` is ``numpy`` for both numpy forms).
FORMATS = ("dicom", "nifti", "nrrd", "numpy", "numpy_slice")
#: Names of the awkward extras (``extras=True`` writes all of them).
EXTRAS = ("no_suffix", "no_preamble", "junk", "empty_dir", "upper_suffix", "broken")
#: Columns of the manifest returned by :func:`write_example_dataset`, in order.
MANIFEST_COLUMNS = (
    "file_path",
    "sample_name",
    "modality",
    "role",
    "file_type",
    "format_dir",
    "object_key",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "frame_of_reference_uid",
    "slice_index",
    "roi_names",
    "extra",
    "expected",
    "size",
    "spacing",
    "origin",
)

_SITK_EXT = {"nifti": ".nii.gz", "nrrd": ".nrrd"}

#: SimpleITK, typed as ``Any``: the package ships ``py.typed`` but its SWIG-generated functions carry
#: no annotations, so strict mypy would reject every call as untyped. The same lazy module object.
sitk: Any = SimpleITK


def _write_sitk(path: Path, array: NDArray[Any], vol: _Volume) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(vol.spec.spacing)
    image.SetOrigin(vol.origin)
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(path))


class _Writer:
    """Places files according to the layout and records manifest rows."""

    def __init__(self, root: Path, layout: str) -> None:
        self.root, self.layout = root, layout
        self.rows: list[dict[str, object]] = []

    def dest(self, sample: str, folder: str, fmt: str, sub: str, name: str, flat_name: str | None = None) -> Path:
        """The path of a file in the layout (its folder is created)."""
        if self.layout == "flat":
            directory, name = self.root / fmt, f"{sample}_{folder}_{flat_name or name}"
        else:
            directory = self.root / sample / folder / fmt
            directory = directory / sub if self.layout == "nested" else directory
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def add(self, path: Path, **fields: object) -> None:
        """Record the manifest row of ``path``."""
        self.rows.append({**dict.fromkeys(MANIFEST_COLUMNS), "file_path": str(path), **fields})

    def put(self, path: Path, data: bytes, **fields: object) -> None:
        """Write ``data`` to ``path`` and record its manifest row."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.add(path, **fields)


def _write_sample(
    w: _Writer,
    subject: _Subject,
    p: _Params,
    vols: dict[str, _Volume],
    formats: Iterable[str],
    seg: bool,
    no_suffix: bool,
    seed: int,
) -> None:
    """Write every modality and format of one sample."""
    name = subject.name
    for mod, vol in vols.items():
        folder = vol.spec.folder
        for_uid = subject.for_uids[mod]
        base = {"sample_name": name, "study_instance_uid": subject.study_uid, "expected": "imaging"}
        for fmt in formats:
            key, ftype = f"{name}/{folder}/{fmt}", "numpy" if fmt == "numpy_slice" else fmt
            img: dict[str, object] = {
                **base,
                "modality": mod.lower(),
                "role": "image",
                "file_type": ftype,
                "format_dir": fmt,
                "object_key": f"{key}/image",
            }
            msk: dict[str, object] = {**img, "role": "mask", "object_key": f"{key}/mask", "roi_names": ROI_NAMES}
            if fmt == "dicom":
                series_uid = _uid(seed, name, mod, "image")
                sops = [_uid(seed, name, mod, "image", k) for k in range(len(vol.zs))]
                uids = {"series_instance_uid": series_uid, "frame_of_reference_uid": for_uid}
                extra = "no_suffix" if no_suffix and mod == "MR" else None
                for k, sop in enumerate(sops):
                    nested, flat = (f"IM{k + 1:04d}",) * 2 if extra else (f"{k:06d}.dcm", f"{k:03d}_image.dcm")
                    w.put(
                        w.dest(name, folder, fmt, "image", nested, flat),
                        _dicom_bytes(_image_slice(subject, vol, series_uid, sop, k)),
                        **img,
                        **uids,
                        sop_instance_uid=sop,
                        slice_index=k,
                        extra=extra,
                        **vol.geometry(k),
                    )
                masks: list[tuple[str, str, Dataset | None]] = [
                    (
                        "rtstruct",
                        "RS.dcm",
                        _rtstruct(subject, vol, p, series_uid, sops, _uid(seed, name, mod, "rtstruct")),
                    )
                ]
                if seg and mod == "CT":
                    masks.append(("seg", "SEG.dcm", _seg(subject, vol, series_uid, sops, _uid(seed, name, mod, "seg"))))
                for kind, fname, ds in masks:
                    if ds is None:
                        continue
                    w.put(
                        w.dest(name, folder, fmt, "mask", fname),
                        _dicom_bytes(ds),
                        **{**msk, "modality": kind, "object_key": f"{key}/{kind}"},
                        series_instance_uid=ds.SeriesInstanceUID,
                        sop_instance_uid=ds.SOPInstanceUID,
                        frame_of_reference_uid=for_uid,
                    )
            elif fmt in _SITK_EXT:
                for role, fields, array in (("image", img, vol.real), ("mask", msk, vol.label)):
                    path = w.dest(name, folder, fmt, role, role + _SITK_EXT[fmt])
                    _write_sitk(path, array, vol)
                    w.add(path, **fields, **vol.geometry())
            elif fmt == "numpy":
                for role, fields, array in (("image", img, vol.real), ("mask", msk, vol.label)):
                    path = w.dest(name, folder, fmt, role, role + ".npy")
                    np.save(path, array)
                    w.add(path, **fields, size=vol.size)
            else:
                for k in range(len(vol.zs)):
                    for role, fields, array in (("image", img, vol.real), ("mask", msk, vol.label)):
                        path = w.dest(name, folder, fmt, role, f"{name}_{k:02d}_{role}.npy", f"{k:02d}_{role}.npy")
                        np.save(path, array[k])
                        w.add(path, **fields, slice_index=k, size=vol.size[:2])


def _write_extras(w: _Writer, extras: set[str], subject: _Subject, ct: _Volume, seed: int, first_format: str) -> None:
    """Write the awkward extras (see :func:`write_example_dataset`)."""
    root, rng = w.root, np.random.default_rng([seed, 999])
    person = {"sample_name": subject.name, "study_instance_uid": subject.study_uid}
    if "no_preamble" in extras:
        k = len(ct.zs) // 2
        for fname, variant in (("nopreamble.dcm", "no_preamble"), ("nometa", "no_meta")):
            series, sop = _uid(seed, subject.name, variant), _uid(seed, subject.name, variant, k)
            ds = _image_slice(subject, ct, series, sop, k, series_number=90)
            ds.InstanceNumber = 1
            w.put(
                root / "extras" / "no_preamble" / fname,
                _dicom_bytes(ds, variant),
                **person,
                modality="ct",
                role="image",
                file_type="dicom",
                object_key=f"extras/no_preamble/{fname}",
                series_instance_uid=series,
                sop_instance_uid=sop,
                frame_of_reference_uid=subject.for_uids["CT"],
                slice_index=0,
                extra="no_preamble",
                expected="imaging",
                **{**ct.geometry(k), "size": (*ct.size[:2], 1)},
            )
    if "junk" in extras:
        folder = root / (first_format if w.layout == "flat" else subject.name)
        store = b"\x00\x00\x00\x01Bud1" + rng.integers(0, 256, 256, np.uint8).tobytes()
        readme = b"Synthetic example dataset written by imgindex.examples.\n"
        notes = b"# Notes\n\nNothing to see here: this file is not imaging.\n"
        for path, data in (
            (root / "README.txt", readme),
            (root / ".DS_Store", store),
            (root / "notes.md", notes),
            (folder / ".DS_Store", store),
            (folder / "notes.md", notes),
        ):
            w.put(path, data, extra="junk", expected="not_imaging")
    if "empty_dir" in extras:
        (root / "extras" / "empty").mkdir(parents=True, exist_ok=True)
        w.add(root / "extras" / "empty", extra="empty_dir", expected="empty_dir")
    if "upper_suffix" in extras:
        tmp, path = root / "extras" / "upper" / "tmp.nii.gz", root / "extras" / "upper" / "IMAGE.NII.GZ"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _write_sitk(tmp, ct.real, ct)
        tmp.replace(path)
        w.add(
            path,
            **person,
            modality="ct",
            role="image",
            file_type="nifti",
            object_key="extras/upper/IMAGE",
            extra="upper_suffix",
            expected="imaging",
            **ct.geometry(),
        )
    if "broken" in extras:
        broken = root / "extras" / "broken"
        header = b"{'descr': '<f4', 'shape': (8, 32, 32), }".ljust(53) + b"\n"  # no fortran_order
        npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
        noise = rng.integers(0, 256, 2048, np.uint8).tobytes()
        for fname, ftype, data in (
            ("broken.dcm", "dicom", b"\xde\xad\xbe\xef" + noise[:1020]),  # no DICM, no element
            ("broken.nii.gz", "nifti", gzip.compress(noise[1024:], mtime=0)),
            ("broken.npy", "numpy", npy),
        ):
            w.put(broken / fname, data, file_type=ftype, extra="broken", expected="error")


def _options(value: Collection[str], allowed: tuple[str, ...], what: str, upper: bool = False) -> list[str]:
    chosen = [v.upper() if upper else v for v in ([value] if isinstance(value, str) else value)]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose from {list(allowed)}.")
    return [v for v in allowed if v in chosen]


def write_example_dataset(
    root: str | Path,
    *,
    layout: str = "nested",
    n_samples: int = 2,
    modalities: Collection[str] = MODALITIES,
    formats: Collection[str] = FORMATS,
    n_slices: int = 8,
    size: tuple[int, int] = (32, 32),
    seg: bool = True,
    extras: bool | Collection[str] = True,
    seed: int = 0,
    shared_frame_of_reference: bool = True,
) -> pd.DataFrame:
    """Write a small synthetic multi-modality, multi-format dataset and return its manifest.

    Each sample (``STS_001``, ``STS_002``, ...) is one patient with one study holding a CT, PET
    and MR T1 series (folders ``CT``, ``PET``, ``MR_T1``) of a phantom: a body ellipse, a
    spherical tumour ``GTV_Mass`` and a small box ``GTV_2`` whose positions depend on the sample.
    Each modality has its own grid (CT 0.9x0.9x3 mm, PET 2x2x3 mm, MR 0.8x0.8x4 mm; axial,
    centred on the origin) and is written in every requested format: DICOM slices plus an
    RTSTRUCT (and, for CT with ``seg=True``, a sparse two-segment SEG); NIfTI and NRRD image and
    label map (CT as int16 HU, PET/MR as float32; mask uint8 with 1 = GTV_Mass, 2 = GTV_2); a 3D
    ``.npy`` (z, y, x) and one 2D ``.npy`` per slice (slice numbers start at 0).

    Layouts (``MOD`` is the modality folder):

    - ``"nested"``: ``root/STS_001/MOD/{fmt}/image/...`` and ``.../{fmt}/mask/...``;
    - ``"nested_flat"``: ``root/STS_001/MOD/{fmt}/`` with images and masks side by side;
    - ``"flat"``: ``root/{fmt}/STS_001_MOD_image.nii.gz``, ``STS_001_MOD_007_image.dcm``, ...

    Extras: ``no_suffix`` (first sample's MR DICOM named ``IM0001``...), ``no_preamble``
    (``extras/no_preamble/nopreamble.dcm`` without preamble and ``nometa``, implicit VR without
    file meta), ``junk`` (``README.txt``, ``.DS_Store``, ``notes.md``), ``empty_dir``
    (``extras/empty/``), ``upper_suffix`` (``extras/upper/IMAGE.NII.GZ``) and ``broken``
    (unreadable ``extras/broken/broken.{dcm,nii.gz,npy}``). Existing files under ``root`` are
    left alone (files of the same name are overwritten).

    Parameters
    ----------
    root : str or Path
        Directory to write to; created if missing.
    layout : {"nested", "nested_flat", "flat"}
        Directory layout.
    n_samples : int
        Number of samples (patients).
    modalities : collection of {"CT", "PT", "MR"}
        Image modalities to write.
    formats : collection of {"dicom", "nifti", "nrrd", "numpy", "numpy_slice"}
        Formats to write.
    n_slices : int
        Slices per volume.
    size : tuple of int
        In-plane size ``(rows, columns)``.
    seg : bool
        Write a DICOM SEG for each CT series (needs ``"dicom"`` in ``formats``).
    extras : bool or collection of str
        ``True`` for all of :data:`EXTRAS`, ``False`` for none, or the names to write.
    seed : int
        Seed of phantom positions, noise and UIDs.
    shared_frame_of_reference : bool
        Whether the series of one sample share one FrameOfReferenceUID.

    Returns
    -------
    pandas.DataFrame
        The manifest, one row per file (or empty directory) written, columns
        :data:`MANIFEST_COLUMNS`: ``modality`` is ct/pt/mr (rtstruct/seg for DICOM masks, None
        for non-imaging), ``role`` image/mask, ``expected`` imaging/not_imaging/error/empty_dir,
        ``size``/``spacing``/``origin`` are ``(x, y, z)`` tuples (a DICOM slice has its own
        origin; numpy files have only a size).

    Raises
    ------
    ValueError
        An unknown layout, modality, format or extra, or a count or size below 1.

    Examples
    --------
    >>> manifest = write_example_dataset(tmp_dir, n_samples=1, extras=False)
    >>> sorted(manifest["modality"].unique())
    ['ct', 'mr', 'pt', 'rtstruct', 'seg']
    >>> manifest.query("role == 'mask' and format_dir == 'nifti'")["roi_names"].iloc[0]
    ('GTV_Mass', 'GTV_2')
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose from {list(LAYOUTS)}.")
    if n_samples < 1 or n_slices < 1 or min(size) < 1:
        raise ValueError("n_samples, n_slices and size must be positive.")
    mods = _options(modalities, MODALITIES, "modalities", upper=True)
    fmts = _options(formats, FORMATS, "formats")
    chosen = set(EXTRAS if extras is True else _options(extras or (), EXTRAS, "extras"))
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    size = (int(size[0]), int(size[1]))
    w = _Writer(root, layout)
    for index in range(n_samples):
        name = f"STS_{index + 1:03d}"
        shared = _uid(seed, name, "frame_of_reference")
        subject = _Subject(
            name,
            _uid(seed, name, "study"),
            {m: shared if shared_frame_of_reference else _uid(seed, name, m, "frame_of_reference") for m in MODALITIES},
        )
        p = _params(seed, index, n_slices, size)
        vols = {m: _volume(m, p, seed, index, n_slices, size) for m in mods}
        _write_sample(w, subject, p, vols, fmts, seg, index == 0 and "no_suffix" in chosen, seed)
        if index == 0 and chosen:
            ct = vols.get("CT") or _volume("CT", p, seed, index, n_slices, size)
            _write_extras(w, chosen, subject, ct, seed, fmts[0] if fmts else "dicom")
    return pd.DataFrame({c: pd.Series([r[c] for r in w.rows], dtype=object) for c in MANIFEST_COLUMNS})


def example_arrays(n: int = 2, *, seed: int = 0) -> tuple[list[NDArray[np.number[Any]]], list[NDArray[np.uint8]]]:
    """In-memory CT phantoms and their label maps, as written by :func:`write_example_dataset`.

    Parameters
    ----------
    n : int
        Number of samples.
    seed : int
        Seed, as in :func:`write_example_dataset`.

    Returns
    -------
    images : list of numpy.ndarray
        ``(8, 32, 32)`` int16 CT volumes in HU, axes (z, y, x).
    masks : list of numpy.ndarray
        Matching uint8 label maps (0 background, 1 GTV_Mass, 2 GTV_2).

    Examples
    --------
    >>> images, masks = example_arrays(2)
    >>> images[0].shape, images[0].dtype.name, sorted(set(masks[0].ravel().tolist()))
    ((8, 32, 32), 'int16', [0, 1, 2])
    """
    vols = [_volume("CT", _params(seed, i, 8, (32, 32)), seed, i, 8, (32, 32)) for i in range(n)]
    return [v.real for v in vols], [v.label for v in vols]
