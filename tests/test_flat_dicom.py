"""Issue 14 on files: flat DICOM exports, SEG source references, names across file types.

The truth is what the files were made from: the example dataset's manifest (which mask was drawn
on which series) or, for the real patient, the folder each file was copied from.
"""

import os
import shutil
import warnings

import pydicom
import pytest
from pydicom.uid import generate_uid

import imgindex
from imgindex.examples import write_example_dataset


def index_of(*args, **kwargs):
    """build_index and the messages of its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = imgindex.build_index(*args, **kwargs)
    return index, [str(w.message) for w in caught]


def pairs_by_file(index):
    """{image's first file name: sorted mask file names}, and the pairs rows by the same key."""
    objects = index.objects.set_index("object_id")
    first = {i: os.path.basename(objects.at[i, "file_paths"][0]) for i in index.images["object_id"]}
    out = {}
    for image_id, mask_id in zip(index.pairs["image_id"], index.pairs["mask_id"], strict=True):
        out.setdefault(first[image_id], [])
        if isinstance(mask_id, str):
            out[first[image_id]].append(os.path.basename(objects.at[mask_id, "file_path"]))
    return {k: sorted(v) for k, v in out.items()}


def break_references(path):
    """Point an RTSTRUCT's or SEG's references at series and instances that are nowhere (real exports do)."""
    ds = pydicom.dcmread(path)
    for item in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in item.get("RTReferencedStudySequence", []):
            for series in study.RTReferencedSeriesSequence:
                series.SeriesInstanceUID = generate_uid()
                for image in series.get("ContourImageSequence", []):
                    image.ReferencedSOPInstanceUID = generate_uid()
    for roi in ds.get("ROIContourSequence", []):
        for contour in roi.get("ContourSequence", []):
            for image in contour.get("ContourImageSequence", []):
                image.ReferencedSOPInstanceUID = generate_uid()
    if "ReferencedSeriesSequence" in ds:
        del ds.ReferencedSeriesSequence
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame.get("DerivationImageSequence", []):
            for source in derivation.SourceImageSequence:
                source.ReferencedSOPInstanceUID = generate_uid()
    ds.save_as(path)


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """The example's flat layout, DICOM and NIfTI of one patient, every file in one folder."""
    src = tmp_path_factory.mktemp("flat_src")
    manifest = write_example_dataset(
        src, layout="flat", n_samples=1, formats=("dicom", "nifti"), n_slices=4, size=(16, 16), extras=False
    )
    folder = tmp_path_factory.mktemp("flat") / "STS_001"
    folder.mkdir()
    for path in manifest["file_path"]:
        shutil.copy(path, folder / os.path.basename(path))
    return folder


EXPECTED_DICOM = {
    "STS_001_CT_000_image.dcm": ["STS_001_CT_RS.dcm", "STS_001_CT_SEG.dcm"],
    "STS_001_PET_000_image.dcm": ["STS_001_PET_RS.dcm"],
    "STS_001_MR_T1_000_image.dcm": ["STS_001_MR_T1_RS.dcm"],
}
EXPECTED_NIFTI = {f"STS_001_{m}_image.nii.gz": [f"STS_001_{m}_mask.nii.gz"] for m in ("CT", "PET", "MR_T1")}


def test_flat_dicom_with_broken_references_is_told_apart_by_names(flat, tmp_path):
    """Item 3 / 9: all series and RTSTRUCTs of a patient in one folder, one frame of reference,
    references that match no series: names and descriptions decide, and the pairs table says so."""
    folder = tmp_path / "STS_001"
    folder.mkdir()
    for name in os.listdir(flat):
        if name.endswith(".dcm"):
            shutil.copy(flat / name, folder / name)
            if "_RS" in name or "_SEG" in name:
                break_references(folder / name)
    index, messages = index_of(str(tmp_path), mask=str(tmp_path))
    assert pairs_by_file(index) == EXPECTED_DICOM
    assert set(index.pairs["status"]) == {"ok"} and not messages
    assert set(index.pairs["strategy"]) == {"file_name_similarity"}
    assert index.pairs["evidence"].str.contains("the names and descriptions decided").all()


def test_explicit_file_name_similarity_keeps_file_types_apart(flat):
    """Item 3: DICOM series keep their RTSTRUCTs; NIfTI images their NIfTI masks (one folder)."""
    index, _ = index_of(str(flat.parent), mask=str(flat.parent), association_strategy="file_name_similarity")
    assert pairs_by_file(index) == {**EXPECTED_DICOM, **EXPECTED_NIFTI}


def test_default_association_of_the_mixed_flat_folder(flat):
    index, messages = index_of(str(flat.parent), mask=str(flat.parent))
    assert pairs_by_file(index) == {**EXPECTED_DICOM, **EXPECTED_NIFTI}
    assert set(index.pairs["status"]) == {"ok"} and not messages


@pytest.mark.parametrize("where", ["top-level SourceImageSequence", "per-frame DerivationImageSequence"])
def test_seg_is_linked_through_its_source_images(flat, tmp_path, where):
    """Item 4: a SEG that names its source images only in SourceImageSequence goes to that series,
    not 'ambiguous' to every series of its frame of reference."""
    folder = tmp_path / "STS_001"
    folder.mkdir()
    for name in os.listdir(flat):
        if name.endswith(".dcm") and "_RS" not in name:
            shutil.copy(flat / name, folder / name)
    seg = folder / "STS_001_CT_SEG.dcm"
    ds = pydicom.dcmread(seg)
    sources = [
        s for f in ds.PerFrameFunctionalGroupsSequence for d in f.DerivationImageSequence for s in d.SourceImageSequence
    ]
    del ds.ReferencedSeriesSequence
    if where.startswith("top-level"):
        ds.SourceImageSequence = sources[:1]
        for frame in ds.PerFrameFunctionalGroupsSequence:
            del frame.DerivationImageSequence
    ds.save_as(folder / "segmentation.dcm")  # a neutral name: only the references can tell
    seg.unlink()
    index, messages = index_of(str(tmp_path), mask=str(tmp_path))
    assert pairs_by_file(index) == {
        "STS_001_CT_000_image.dcm": ["segmentation.dcm"],
        "STS_001_PET_000_image.dcm": [],
        "STS_001_MR_T1_000_image.dcm": [],
    }
    seg_pair = index.pairs.dropna(subset=["mask_id"]).iloc[0]
    assert seg_pair["strategy"] == "reference" and seg_pair["status"] == "ok"
    assert [m for m in messages if "ambiguous" in m] == []


def test_real_patient_flat_copy(real_data, tmp_path):
    """Item 9: all DICOM of STS_001 in one folder (its RTSTRUCTs' references match none of the shipped
    series): each series gets the RTSTRUCT of its own folder, by names and descriptions."""
    folder = tmp_path / "STS_001"
    folder.mkdir()
    truth = {}
    for modality in ("CT", "PET", "MR_T1"):
        source = real_data / "STS_001" / modality / "dicom"
        for path in sorted((source / "image").iterdir()):
            shutil.copy(path, folder / f"STS_001_{modality}_{path.name}")
        shutil.copy(source / "mask" / "RS.dcm", folder / f"STS_001_{modality}_RS.dcm")
        truth[f"STS_001_{modality}_000000.dcm"] = [f"STS_001_{modality}_RS.dcm"]
    index, messages = index_of(str(tmp_path), mask=str(tmp_path))
    assert pairs_by_file(index) == truth
    assert set(index.pairs["status"]) == {"ok"} and not messages
    assert set(index.pairs["strategy"]) == {"file_name_similarity"}
    # an explicit file_name_similarity gives the same
    index, _ = index_of(str(tmp_path), mask=str(tmp_path), association_strategy="file_name_similarity")
    assert pairs_by_file(index) == truth
