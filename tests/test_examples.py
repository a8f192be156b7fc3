"""Tests of the synthetic example dataset writer (imgindex.examples)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from imgindex.examples import (
    EXTRAS,
    LAYOUTS,
    MANIFEST_COLUMNS,
    ROI_NAMES,
    example_arrays,
    write_example_dataset,
)

FOLDERS = {"ct": "CT", "pt": "PET", "mr": "MR_T1"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("nested")
    return root, write_example_dataset(root)


def _on_disk(root: Path) -> set[str]:
    """Every file, and every empty directory, under root."""
    found = set()
    for directory, dirs, files in os.walk(root):
        found.update(str(Path(directory, f)) for f in files)
        if not dirs and not files:
            found.add(str(Path(directory)))
    return found


def _read(path: str) -> pydicom.Dataset:
    return pydicom.dcmread(path, force=True)


def _rows(manifest: pd.DataFrame, **where: str) -> pd.DataFrame:
    mask = np.ones(len(manifest), bool)
    for column, value in where.items():
        mask &= (manifest[column] == value).to_numpy()
    return manifest[mask]


def _label_map(manifest: pd.DataFrame, sample: str, modality: str) -> np.ndarray:
    path = _rows(manifest, object_key=f"{sample}/{FOLDERS[modality]}/numpy/mask")["file_path"]
    return np.load(path.item())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_manifest_lists_exactly_the_files_on_disk(tmp_path: Path, layout: str) -> None:
    manifest = write_example_dataset(tmp_path, layout=layout)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert manifest["file_path"].is_unique
    assert set(manifest["file_path"]) == _on_disk(tmp_path)
    assert set(manifest["extra"].dropna()) == set(EXTRAS)
    regular = manifest[manifest["extra"].isna()]
    assert set(regular["sample_name"]) == {"STS_001", "STS_002"}
    # 2 samples x 3 modalities x (8 slices + RTSTRUCT + 2 nifti + 2 nrrd + 2 npy + 16 slices), + 2 SEG
    assert len(regular) + (manifest["extra"] == "no_suffix").sum() == 2 * 3 * 31 + 2
    rel = [Path(p).relative_to(tmp_path) for p in regular["file_path"]]
    if layout == "flat":
        assert {r.parts[0] for r in rel} == {"dicom", "nifti", "nrrd", "numpy", "numpy_slice"}
        assert all(len(r.parts) == 2 and r.name.startswith(("STS_001_", "STS_002_")) for r in rel)
        assert str(tmp_path / "dicom" / "STS_002_MR_T1_007_image.dcm") in set(regular["file_path"])
        assert str(tmp_path / "dicom" / "STS_001_CT_SEG.dcm") in set(regular["file_path"])
    else:
        assert all(r.parts[0] == s for r, s in zip(rel, regular["sample_name"], strict=True))
        assert all(
            r.parts[1] in FOLDERS.values() and r.parts[2] == f for r, f in zip(rel, regular["format_dir"], strict=True)
        )
        depth = 5 if layout == "nested" else 4
        assert {len(r.parts) for r in rel} == {depth}
        if layout == "nested":
            assert all(
                r.parts[3] == ("image" if role == "image" else "mask")
                for r, role in zip(rel, regular["role"], strict=True)
            )


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    first = write_example_dataset(tmp_path / "a")
    second = write_example_dataset(tmp_path / "b")
    rel_a = [Path(p).relative_to(tmp_path / "a") for p in first["file_path"]]
    rel_b = [Path(p).relative_to(tmp_path / "b") for p in second["file_path"]]
    assert rel_a == rel_b
    for rel in rel_a:
        a, b = tmp_path / "a" / rel, tmp_path / "b" / rel
        assert a.is_dir() or a.read_bytes() == b.read_bytes(), rel
    columns = [c for c in MANIFEST_COLUMNS if c != "file_path"]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    other = write_example_dataset(tmp_path / "c", seed=1, extras=False)
    assert not set(other["series_instance_uid"].dropna()) & set(first["series_instance_uid"].dropna())


def test_dicom_files_carry_the_manifest_uids(dataset: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = dataset
    dicom = manifest[(manifest["file_type"] == "dicom") & (manifest["expected"] == "imaging")]
    assert len(dicom) == 2 * 3 * 8 + 2 * 3 + 2 + 2
    for row in dicom.itertuples():
        ds = _read(row.file_path)
        if row.extra is None:  # the normal case: preamble, DICM, explicit VR little endian
            assert Path(row.file_path).read_bytes()[128:132] == b"DICM"
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert ds.file_meta.MediaStorageSOPInstanceUID == row.sop_instance_uid
        assert ds.SeriesInstanceUID == row.series_instance_uid
        assert ds.SOPInstanceUID == row.sop_instance_uid
        assert ds.StudyInstanceUID == row.study_instance_uid
        assert ds.PatientID == ds.PatientName == ds.StudyID == row.sample_name
        assert ds.Modality.lower() == row.modality
        if row.modality == "rtstruct":
            assert ds.SOPClassUID == pydicom.uid.RTStructureSetStorage
            for_uid = ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
        else:
            for_uid = ds.FrameOfReferenceUID
        assert for_uid == row.frame_of_reference_uid
        if row.role == "image":
            assert ds.InstanceNumber == row.slice_index + 1
            assert ds.ImageOrientationPatient == [1, 0, 0, 0, 1, 0]
            assert tuple(float(v) for v in ds.ImagePositionPatient) == row.origin
            assert (ds.Columns, ds.Rows) == row.size[:2]
            assert tuple(float(v) for v in ds.PixelSpacing) == row.spacing[1::-1]
            assert float(ds.SliceThickness) == row.spacing[2]
            assert ds.PhotometricInterpretation == "MONOCHROME2"
    images = dicom[dicom["role"] == "image"]
    assert images["sop_instance_uid"].is_unique
    per_sample = images.groupby("sample_name")
    assert (per_sample["study_instance_uid"].nunique() == 1).all()
    assert (per_sample["frame_of_reference_uid"].nunique() == 1).all()
    # CT, PT, MR, plus the two single-slice no_preamble series of the first sample
    assert per_sample["series_instance_uid"].nunique().to_dict() == {"STS_001": 5, "STS_002": 3}
    assert images.groupby("series_instance_uid")["study_instance_uid"].nunique().eq(1).all()
    assert manifest["study_instance_uid"].dropna().nunique() == 2


def test_frames_of_reference_can_differ_per_series(tmp_path: Path) -> None:
    manifest = write_example_dataset(
        tmp_path, shared_frame_of_reference=False, formats=["dicom"], n_samples=1, extras=False
    )
    images = manifest[manifest["role"] == "image"]
    assert images["frame_of_reference_uid"].nunique() == 3
    for row in manifest[manifest["modality"].isin(["rtstruct", "seg"])].itertuples():
        image_for = _rows(manifest, object_key=row.object_key.rsplit("/", 1)[0] + "/image")
        assert row.frame_of_reference_uid == image_for["frame_of_reference_uid"].iloc[0]


def test_pixel_values_agree_across_formats(dataset: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = dataset
    for sample in ("STS_001", "STS_002"):
        for modality, folder in FOLDERS.items():
            key = f"{sample}/{folder}"
            volume = np.load(_rows(manifest, object_key=f"{key}/numpy/image")["file_path"].item())
            assert volume.dtype == (np.int16 if modality == "ct" else np.float32)
            slices = _rows(manifest, object_key=f"{key}/numpy_slice/image").sort_values("slice_index")
            np.testing.assert_array_equal(np.stack([np.load(p) for p in slices["file_path"]]), volume)
            dicom = _rows(manifest, object_key=f"{key}/dicom/image").sort_values("slice_index")
            datasets = [_read(p) for p in dicom["file_path"]]
            real = np.stack(
                [
                    d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))
                    for d in datasets
                ]
            )
            np.testing.assert_allclose(real, volume, rtol=1e-6)
    ct = _read(_rows(manifest, object_key="STS_001/CT/dicom/image")["file_path"].iloc[0])
    assert (ct.RescaleIntercept, ct.RescaleSlope, ct.pixel_array.dtype) == (-1024, 1, np.int16)
    pet = _read(_rows(manifest, object_key="STS_001/PET/dicom/image")["file_path"].iloc[0])
    assert float(pet.RescaleSlope) % 1 != 0 and pet.pixel_array.dtype == np.uint16
    hu = np.load(_rows(manifest, object_key="STS_001/CT/numpy/image")["file_path"].item())
    labels = _label_map(manifest, "STS_001", "ct")
    assert abs(np.median(hu[labels == 1]) - 60) < 10 and np.median(hu) < -900


@pytest.mark.parametrize("fmt", ["nifti", "nrrd"])
def test_itk_files_have_the_series_geometry(dataset: tuple[Path, pd.DataFrame], fmt: str) -> None:
    _, manifest = dataset
    for sample in ("STS_001", "STS_002"):
        for modality, folder in FOLDERS.items():
            key = f"{sample}/{folder}"
            files = _rows(manifest, object_key=f"{key}/dicom/image").sort_values("slice_index")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(list(files["file_path"]))
            series = reader.Execute()
            for role in ("image", "mask"):
                row = _rows(manifest, object_key=f"{key}/{fmt}/{role}").iloc[0]
                image = sitk.ReadImage(row.file_path)
                assert image.GetSize() == series.GetSize() == row["size"]
                np.testing.assert_allclose(image.GetSpacing(), series.GetSpacing(), atol=1e-5)
                np.testing.assert_allclose(image.GetSpacing(), row["spacing"], atol=1e-5)
                np.testing.assert_allclose(image.GetOrigin(), series.GetOrigin(), atol=1e-4)
                np.testing.assert_allclose(image.GetOrigin(), row["origin"], atol=1e-4)
                np.testing.assert_allclose(image.GetDirection(), np.eye(3).ravel())
                array = sitk.GetArrayFromImage(image)
                if role == "mask":
                    assert array.dtype == np.uint8
                    assert set(np.unique(array).tolist()) == {0, 1, 2}
                    np.testing.assert_array_equal(array, _label_map(manifest, sample, modality))
                    assert row["roi_names"] == ROI_NAMES


def _rtstruct_slices(rs: pydicom.Dataset, roi_number: int, sop_to_z: dict[str, float]) -> list[str]:
    (roi,) = [r for r in rs.ROIContourSequence if r.ReferencedROINumber == roi_number]
    sops = []
    for contour in roi.get("ContourSequence", []):
        assert contour.ContourGeometricType == "CLOSED_PLANAR"
        points = np.asarray(contour.ContourData, float).reshape(-1, 3)
        assert len(points) == contour.NumberOfContourPoints >= 4
        sop = contour.ContourImageSequence[0].ReferencedSOPInstanceUID
        np.testing.assert_allclose(points[:, 2], sop_to_z[sop])
        sops.append(sop)
    return sops


def test_rtstruct_references_its_series_and_agrees_with_label_map(
    dataset: tuple[Path, pd.DataFrame],
) -> None:
    _, manifest = dataset
    rtstructs = manifest[manifest["modality"] == "rtstruct"]
    assert len(rtstructs) == 6
    for row in rtstructs.itertuples():
        images = _rows(manifest, object_key=row.object_key.replace("rtstruct", "image"))
        images = images.sort_values("slice_index")
        rs = _read(row.file_path)
        assert rs.SOPClassUID == pydicom.uid.RTStructureSetStorage
        assert row.series_instance_uid not in set(images["series_instance_uid"])
        frame = rs.ReferencedFrameOfReferenceSequence[0]
        study = frame.RTReferencedStudySequence[0]
        assert study.ReferencedSOPInstanceUID == rs.StudyInstanceUID == row.study_instance_uid
        series = study.RTReferencedSeriesSequence[0]
        assert series.SeriesInstanceUID == images["series_instance_uid"].iloc[0]
        assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == list(images["sop_instance_uid"])
        assert tuple(r.ROIName for r in rs.StructureSetROISequence) == ROI_NAMES == row.roi_names
        assert all(r.ReferencedFrameOfReferenceUID == frame.FrameOfReferenceUID for r in rs.StructureSetROISequence)
        assert len(rs.RTROIObservationsSequence) == 2
        sop_to_z = dict(zip(images["sop_instance_uid"], (o[2] for o in images["origin"]), strict=True))
        sop_to_k = dict(zip(images["sop_instance_uid"], images["slice_index"], strict=True))
        labels = _label_map(manifest, row.sample_name, images["modality"].iloc[0])
        for number in (1, 2):
            sops = _rtstruct_slices(rs, number, sop_to_z)
            assert sops, "every ROI has contours"
            assert sorted(sop_to_k[s] for s in sops) == list(np.flatnonzero((labels == number).any(axis=(1, 2))))


def test_seg_has_segments_and_sparse_frames_on_the_series_slices(
    dataset: tuple[Path, pd.DataFrame],
) -> None:
    _, manifest = dataset
    segs = manifest[manifest["modality"] == "seg"]
    assert list(segs["object_key"]) == ["STS_001/CT/dicom/seg", "STS_002/CT/dicom/seg"]
    for row in segs.itertuples():
        images = _rows(manifest, object_key=row.object_key.replace("seg", "image"))
        z_to_k = {o[2]: k for o, k in zip(images["origin"], images["slice_index"], strict=True)}
        seg = _read(row.file_path)
        assert seg.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert (seg.SOPClassUID, seg.SegmentationType) == (pydicom.uid.SegmentationStorage, "BINARY")
        assert (seg.BitsAllocated, seg.BitsStored) == (1, 1)
        assert tuple(s.SegmentLabel for s in seg.SegmentSequence) == ROI_NAMES == row.roi_names
        assert [s.SegmentNumber for s in seg.SegmentSequence] == [1, 2]
        referenced = seg.ReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == images["series_instance_uid"].iloc[0]
        assert {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence} == set(
            images["sop_instance_uid"]
        )
        assert seg.FrameOfReferenceUID == images["frame_of_reference_uid"].iloc[0]
        labels = _label_map(manifest, row.sample_name, "ct")
        pixels = seg.pixel_array
        frames = seg.PerFrameFunctionalGroupsSequence
        assert seg.NumberOfFrames == len(frames) == len(pixels)
        assert seg.NumberOfFrames == sum((labels == n).any(axis=(1, 2)).sum() for n in (1, 2))
        assert seg.NumberOfFrames < 2 * len(images), "frames are sparse"
        for group, frame in zip(frames, pixels, strict=True):
            number = group.SegmentIdentificationSequence[0].ReferencedSegmentNumber
            z = float(group.PlanePositionSequence[0].ImagePositionPatient[2])
            assert z in z_to_k, "frame position lies on a slice of the series"
            k = z_to_k[z]
            np.testing.assert_array_equal(frame, labels[k] == number)
            source = group.DerivationImageSequence[0].SourceImageSequence[0]
            assert source.ReferencedSOPInstanceUID == images["sop_instance_uid"].iloc[k]


def test_seg_is_valid_for_highdicom(dataset: tuple[Path, pd.DataFrame]) -> None:
    hd = pytest.importorskip("highdicom")
    _, manifest = dataset
    path = manifest.loc[manifest["modality"] == "seg", "file_path"].iloc[0]
    seg = hd.seg.segread(path)
    assert seg.number_of_segments == 2


def test_no_preamble_and_no_meta_files(dataset: tuple[Path, pd.DataFrame]) -> None:
    root, manifest = dataset
    rows = manifest[manifest["extra"] == "no_preamble"].set_index("object_key")
    assert set(rows.index) == {"extras/no_preamble/nopreamble.dcm", "extras/no_preamble/nometa"}
    with_meta = root / "extras" / "no_preamble" / "nopreamble.dcm"
    no_meta = root / "extras" / "no_preamble" / "nometa"
    for path in (with_meta, no_meta):
        data = path.read_bytes()
        assert data[128:132] != b"DICM" and b"DICM" not in data[:200]
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(path)
        ds = pydicom.dcmread(path, force=True)
        row = rows.loc[f"extras/no_preamble/{path.name}"]
        assert ds.SOPInstanceUID == row["sop_instance_uid"]
        assert ds.SeriesInstanceUID == row["series_instance_uid"]
        if "TransferSyntaxUID" not in ds.file_meta:  # no meta: the reader must supply it
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        assert ds.pixel_array.shape == (32, 32)
    assert with_meta.read_bytes()[:2] == b"\x02\x00"
    assert no_meta.read_bytes()[:2] == b"\x08\x00"
    assert "TransferSyntaxUID" not in pydicom.dcmread(no_meta, force=True).file_meta
    images = manifest[(manifest["role"] == "image") & (manifest["file_type"] == "dicom")]
    assert rows["series_instance_uid"].nunique() == 2
    assert images["series_instance_uid"].value_counts()[list(rows["series_instance_uid"])].eq(1).all()


def test_other_extras(dataset: tuple[Path, pd.DataFrame]) -> None:
    root, manifest = dataset
    no_suffix = manifest[manifest["extra"] == "no_suffix"]
    assert set(no_suffix["object_key"]) == {"STS_001/MR_T1/dicom/image"} and len(no_suffix) == 8
    assert all("." not in Path(p).name for p in no_suffix["file_path"])
    assert all(pydicom.dcmread(p).Modality == "MR" for p in no_suffix["file_path"])
    junk = manifest[manifest["extra"] == "junk"]
    assert set(junk["expected"]) == {"not_imaging"} and junk["file_type"].isna().all()
    names = {str(Path(p).relative_to(root)) for p in junk["file_path"]}
    assert {"README.txt", ".DS_Store", "notes.md", "STS_001/.DS_Store"} <= names
    (empty,) = manifest.loc[manifest["expected"] == "empty_dir", "file_path"]
    assert Path(empty).is_dir() and not any(Path(empty).iterdir())
    upper = manifest[manifest["extra"] == "upper_suffix"].iloc[0]
    assert Path(upper["file_path"]).name == "IMAGE.NII.GZ"
    image = sitk.ReadImage(upper["file_path"], imageIO="NiftiImageIO")
    assert image.GetSize() == upper["size"]
    ct = np.load(_rows(manifest, object_key="STS_001/CT/numpy/image")["file_path"].item())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), ct)


def test_broken_files_cannot_be_read(dataset: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = dataset
    broken = manifest[manifest["extra"] == "broken"].set_index("file_type")["file_path"]
    assert set(manifest.loc[manifest["extra"] == "broken", "expected"]) == {"error"}
    assert Path(broken["dicom"]).read_bytes()[128:132] != b"DICM"
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(broken["dicom"])
    assert "SOPClassUID" not in pydicom.dcmread(broken["dicom"], force=True)
    for key in ("dicom", "nifti"):
        with pytest.raises(RuntimeError):
            sitk.ReadImage(broken[key])
    assert Path(broken["numpy"]).read_bytes()[:6] == b"\x93NUMPY"
    with pytest.raises(ValueError):
        np.load(broken["numpy"])


def test_options_select_what_is_written(tmp_path: Path) -> None:
    manifest = write_example_dataset(
        tmp_path,
        n_samples=3,
        modalities=["ct", "MR"],
        formats=["dicom", "nifti"],
        seg=False,
        extras=["junk"],
        n_slices=5,
        size=(20, 24),
    )
    assert set(manifest["sample_name"].dropna()) == {"STS_001", "STS_002", "STS_003"}
    assert set(manifest["modality"].dropna()) == {"ct", "mr", "rtstruct"}
    assert set(manifest["format_dir"].dropna()) == {"dicom", "nifti"}
    assert set(manifest["extra"].dropna()) == {"junk"}
    assert set(manifest["file_path"]) == _on_disk(tmp_path)
    nifti = _rows(manifest, object_key="STS_003/MR_T1/nifti/image").iloc[0]
    assert sitk.ReadImage(nifti["file_path"]).GetSize() == nifti["size"] == (24, 20, 5)
    assert len(_rows(manifest, object_key="STS_002/CT/dicom/image")) == 5
    plain = write_example_dataset(tmp_path / "plain", extras=False, formats=["numpy"])
    assert plain["extra"].isna().all() and not (tmp_path / "plain" / "extras").exists()
    for bad in (
        {"layout": "tree"},
        {"formats": ["png"]},
        {"modalities": ["US"]},
        {"extras": ["nope"]},
        {"n_samples": 0},
    ):
        with pytest.raises(ValueError):
            write_example_dataset(tmp_path / "bad", **bad)


def test_example_arrays_match_the_written_ct(dataset: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = dataset
    images, masks = example_arrays(2)
    assert len(images) == len(masks) == 2
    for sample, image, mask in zip(("STS_001", "STS_002"), images, masks, strict=True):
        assert image.shape == mask.shape == (8, 32, 32) and mask.dtype == np.uint8
        written = np.load(_rows(manifest, object_key=f"{sample}/CT/numpy/image")["file_path"].item())
        np.testing.assert_array_equal(image, written)
        np.testing.assert_array_equal(mask, _label_map(manifest, sample, "ct"))
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(example_arrays(1, seed=3)[1][0], masks[0])
