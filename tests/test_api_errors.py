"""Spec section 17: every error case, with MIRP's key phrase and what to do next.

Each error is an ImgIndexError that also is the builtin MIRP raised (ValueError / TypeError;
MIRP's NotImplementedError for an unsupported type became a TypeError). The cases where MIRP
crashes (E23-E25, E32, E35, E37) either work or fail with a clear error.
"""

import os
import pathlib
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import imgindex
from imgindex.errors import ImgIndexError, InputError, InputTypeError, NotFoundError
from imgindex.examples import example_arrays, write_example_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Paths of a small nested and a small flat dataset, plus an empty and a junk folder."""
    base = tmp_path_factory.mktemp("errors")
    nested, flat = base / "nested", base / "flat"
    write_example_dataset(
        nested,
        n_samples=2,
        modalities=("CT", "PT"),
        formats=("dicom", "nifti"),
        n_slices=4,
        size=(16, 16),
        extras=("broken",),
    )
    write_example_dataset(
        flat,
        layout="flat",
        n_samples=2,
        modalities=("CT",),
        formats=("nifti",),
        n_slices=4,
        size=(16, 16),
        extras=False,
    )
    (base / "empty" / "sub").mkdir(parents=True)
    (base / "junk").mkdir()
    (base / "junk" / "notes.txt").write_text("not imaging")
    (base / "DATA.XML").write_text("<root/>")
    xml = base / "empty_mask.xml"
    imgindex.get_data_xml(base / "template")
    tree = ElementTree.parse(base / "template" / "data.xml")
    tree.getroot().find("config/paths/image").text = str(nested)
    tree.write(xml)
    ct = nested / "STS_001" / "CT"
    return {
        "nested": str(nested),
        "flat": str(flat),
        "empty": str(base / "empty"),
        "junk": str(base / "junk"),
        "upper_xml": str(base / "DATA.XML"),
        "empty_mask_xml": str(xml),
        "missing": str(base / "missing"),
        "ct_dir": str(ct / "dicom"),
        "ct_slice": str(ct / "dicom" / "image" / "000000.dcm"),
        "rtstruct": str(ct / "dicom" / "mask" / "RS.dcm"),
        "nifti": str(ct / "nifti" / "image" / "image.nii.gz"),
        "ct_nifti": str(ct / "nifti"),
    }


IMG, IM, M = imgindex.import_image, imgindex.import_image_and_mask, imgindex.import_mask

ERRORS = [
    # (id, call(data), exception, builtin, phrases the message must contain)
    (
        "E1 image_modality not a str",
        lambda d: IMG(d["nested"], image_modality=1),
        InputTypeError,
        TypeError,
        ["image_modality argument is expected to be a single character string or None", "Pass for example 'ct'"],
    ),
    (
        "E1 mask_modality not a str",
        lambda d: M(d["nested"], mask_modality=["seg"]),
        InputTypeError,
        TypeError,
        ["mask_modality argument is expected to be a single character string or None"],
    ),
    (
        "E2 unknown image modality",
        lambda d: IMG(d["nested"], image_modality="xray"),
        InputError,
        ValueError,
        ["Encountered an unknown image modality: xray", "ct, pt, mr", "Pass one of these"],
    ),
    (
        "E2 unknown mask modality",
        lambda d: M(d["nested"], mask_modality="ct"),
        InputError,
        ValueError,
        ["Encountered an unknown mask modality: ct", "rtstruct, seg, generic_mask"],
    ),
    (
        "E3 unknown file type",
        lambda d: IMG(d["nested"], image_file_type="jpeg"),
        InputError,
        ValueError,
        ["Encountered an unknown file type argument: jpeg", "dicom, nifti, nrrd, numpy, itk"],
    ),
    (
        "E3 file type not a str",
        lambda d: M(d["nested"], mask_file_type=3),
        InputTypeError,
        TypeError,
        ["Encountered an unknown file type argument: 3"],
    ),
    (
        "E4 stack_images",
        lambda d: IMG(d["nested"], stack_images="Yes"),
        InputError,
        ValueError,
        ["The stack_images argument is expected to be one of yes, auto, or no. Found: Yes."],
    ),
    (
        "E4 stack_masks names itself",
        lambda d: IM(d["nested"], mask=d["nested"], stack_masks=True),
        InputError,
        ValueError,
        ["The stack_masks argument is expected to be one of yes, auto, or no. Found: True."],
    ),
    (
        "E5 unsupported type",
        lambda d: IMG(42),
        InputTypeError,
        TypeError,
        ["Unsupported image type: <class 'int'>", "pathlib.Path"],
    ),
    (
        "E5 unsupported type in a list",
        lambda d: IM([d["nested"], {"a": 1}]),
        InputTypeError,
        TypeError,
        ["Unsupported image type: <class 'dict'>"],
    ),
    (
        "E6 path does not exist",
        lambda d: IMG(d["missing"]),
        NotFoundError,
        ValueError,
        [
            "does not point to a xml file, a csv file, a valid image file or a directory containing imaging",
            "Check the path",
        ],
    ),
    (
        "E6 mask path does not exist",
        lambda d: IM(d["nested"], mask=d["missing"]),
        NotFoundError,
        ValueError,
        ["The mask path", "does not point to"],
    ),
    (
        "E8 xml does not exist",
        lambda d: IM(d["missing"] + ".xml"),
        NotFoundError,
        ValueError,
        ["data settings file does not exist. Please check spelling of the file path."],
    ),
    (
        "E8 xml suffix not lower case",
        lambda d: IM(d["upper_xml"]),
        InputError,
        ValueError,
        ["data settings file is not an xml file", "Rename it to end in .xml"],
    ),
    (
        "E8 empty <mask>",
        lambda d: IM(d["empty_mask_xml"]),
        InputError,
        ValueError,
        ["The <mask> path in", "is empty; fill it in"],
    ),
    (
        "E8 csv does not exist",
        lambda d: IM(d["missing"] + ".csv"),
        NotFoundError,
        ValueError,
        ["The csv file", "does not exist"],
    ),
    (
        "E9 empty directories",
        lambda d: IMG(d["empty"]),
        NotFoundError,
        ValueError,
        ["All directories within the", "directory are empty, and no images could be found"],
    ),
    (
        "E10 sub-folder not found",
        lambda d: IMG(d["nested"], image_sub_folder="CT/nrrd/image"),
        NotFoundError,
        ValueError,
        [
            "No directories were found in the",
            "that contained the directory substructure CT/nrrd/image",
            "Directories found:",
        ],
    ),
    (
        "E10 sub-folder is matched by components",
        lambda d: IMG(d["nested"], image_sub_folder="T/dicom/image"),
        NotFoundError,
        ValueError,
        ["directory substructure T/dicom/image"],
    ),
    (
        "E11 no imaging files",
        lambda d: IMG(d["junk"]),
        NotFoundError,
        ValueError,
        ["did not contain any supported image files", "imgindex.scan"],
    ),
    (
        "E11 no files of the type",
        lambda d: M(d["ct_nifti"], mask_file_type="dicom"),
        NotFoundError,
        ValueError,
        ["did not contain any supported mask files (.dcm", "File types found: nifti", "mask_file_type"],
    ),
    (
        "E12 name pattern",
        lambda d: IMG(d["flat"], image_name="*_PET_image"),
        NotFoundError,
        ValueError,
        [
            "that contain the name pattern (*_PET_image)",
            "Use wildcard symbol (*) for partial matching",
            "names found: STS_001_CT_image",
        ],
    ),
    (
        "E12 list of name patterns",
        lambda d: M(d["flat"], mask_name=["a_*", "b"]),
        NotFoundError,
        ValueError,
        ["mask files", "that contain the name pattern (a_*, b)", "e.g. *a_*"],
    ),
    (
        "E13 # yields no sample name",
        lambda d: IMG(d["ct_nifti"], image_name="#image"),
        NotFoundError,
        ValueError,
        ["The file name pattern did not yield any sample names: #image", "Put # where the sample name sits"],
    ),
    (
        "E14 # names do not match",
        lambda d: IMG(d["flat"], image_name="#_CT_image", sample_name="STS_003"),
        NotFoundError,
        ValueError,
        ["specified sample names (STS_003)", "Sample names found: STS_001, STS_002"],
    ),
    (
        "E15 no file of the sample",
        lambda d: IMG(d["nested"], sample_name="STS_999"),
        NotFoundError,
        ValueError,
        ["did not contain any images with the specified sample names (STS_999)", "Sample names found: STS_001"],
    ),
    (
        "E16 file not linked to a sample name",
        lambda d: IMG(d["nifti"], sample_name=["A", "B"]),
        NotFoundError,
        ValueError,
        ["could not be linked to a sample name", "image_name = '#_*_image'"],
    ),
    (
        "E16 files of a crawl not linked",
        lambda d: IMG(d["ct_nifti"], sample_name=["A", "B"]),
        NotFoundError,
        ValueError,
        ["could not be linked to a sample name", "these sample names were not found: A, B"],
    ),
    (
        "E17 a requested sample is missing",
        lambda d: IMG(d["nested"], sample_name=["STS_001", "STS_003"]),
        NotFoundError,
        ValueError,
        ["did not contain all the images with the required sample names. Missing: STS_003"],
    ),
    (
        "E18 image modality",
        lambda d: IMG(d["ct_dir"], image_modality="mri"),
        NotFoundError,
        ValueError,
        ["did not contain any images with the required modality (mri)", "Modalities found: ct"],
    ),
    (
        "E18 mask modality",
        lambda d: M(d["ct_dir"], mask_name="RS", mask_modality="seg"),
        NotFoundError,
        ValueError,
        ["did not contain any masks with the required modality (seg)", "Modalities found: rtstruct"],
    ),
    (
        "E19 single file that is not imaging",
        lambda d: IMG(os.path.join(d["junk"], "notes.txt")),
        NotFoundError,
        ValueError,
        ["did not contain any supported image files"],
    ),
    (
        "E22 DICOM file of another sample",
        lambda d: IMG(d["ct_slice"], sample_name="P9"),
        NotFoundError,
        ValueError,
        ["did not contain any images with the specified sample names (P9)", "Sample names found: STS_001"],
    ),
    (
        "E23 RTSTRUCT passed as an image",
        lambda d: IMG(d["rtstruct"]),
        NotFoundError,
        ValueError,
        ["No images were found", "image_modality"],
    ),
    (
        "E23 CT slice passed as a mask",
        lambda d: M(d["ct_slice"]),
        NotFoundError,
        ValueError,
        ["No masks were found", "mask_modality"],
    ),
    (
        "E27 roi_name type",
        lambda d: IM(d["nested"], roi_name=3),
        InputTypeError,
        TypeError,
        ["ROI names are expected to be a string, a list of strings, or a dictionary of strings. Found: 3"],
    ),
    (
        "E27 roi_name list of non-str",
        lambda d: M(d["nested"], roi_name=["GTV", 1]),
        InputTypeError,
        TypeError,
        ["ROI names are expected to be a string, a list of strings, or a dictionary of strings"],
    ),
    (
        "E29 no images",
        lambda d: IM(os.path.join(d["ct_dir"], "mask")),
        NotFoundError,
        ValueError,
        ["No images were found. Possible reasons are lack of images with the preferred modality.", "imgindex.scan()"],
    ),
    (
        "E29 no masks",
        lambda d: IM(d["ct_dir"], mask=os.path.join(d["ct_dir"], "image")),
        NotFoundError,
        ValueError,
        ["No masks were found. Possible reasons are lack of masks with the preferred modality"],
    ),
    (
        "E29 no mask holds the ROI",
        lambda d: IM(d["ct_dir"], mask=d["ct_dir"], roi_name="Spinal-Cord"),
        NotFoundError,
        ValueError,
        ["No masks were found", "roi_name"],
    ),
    (
        "E30 strategy not available",
        lambda d: IM(d["ct_nifti"], mask=d["ct_nifti"], association_strategy="frame_of_reference"),
        InputError,
        ValueError,
        [
            "One or more strategies for associating images and masks are not available",
            "frame_of_reference",
            "Only the following strategies are available: ",
            "frame_of_reference needs a DICOM image",
        ],
    ),
    (
        "E30 unknown strategy",
        lambda d: IM(d["ct_dir"], mask=d["ct_dir"], association_strategy="nearest"),
        InputError,
        ValueError,
        ["Unknown association strategy ['nearest']", "Valid strategies are"],
    ),
    (
        "E31 no strategy",
        lambda d: IM(example_arrays(2)[0], mask=example_arrays(3)[1]),
        InputError,
        ValueError,
        ["No strategies for associating images and masks are available", "pass as many masks as images"],
    ),
]


@pytest.mark.parametrize(("call", "error", "builtin", "phrases"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_messages(data, call, error, builtin, phrases):
    with pytest.raises(error) as caught:
        call(data)
    assert isinstance(caught.value, ImgIndexError) and isinstance(caught.value, builtin)
    message = str(caught.value)
    for phrase in phrases:
        assert phrase in message


def test_errors_are_raised_before_any_file_is_read(data, monkeypatch):
    """Argument checks (E1-E4, E27) run before scanning: nothing is read for a bad argument."""
    monkeypatch.setattr(imgindex.scanner, "scan_with", lambda *a, **k: pytest.fail("scanned despite a bad argument"))
    for kwargs in ({"image_modality": 1}, {"stack_images": "x"}, {"roi_name": 3}, {"mask_file_type": "png"}):
        with pytest.raises(ImgIndexError):
            IM(data["nested"], **kwargs)


# ------------------------------------------ where MIRP crashes: it works, or a clear error


def test_garbage_files_are_error_rows_and_the_import_works(data):
    """E24/E25: broken .dcm, .nii.gz and .npy stay in the files table with their error."""
    index = imgindex.build_index(data["nested"], mask=data["nested"])
    broken = index.files[index.files["file_path"].str.contains(os.sep + "broken" + os.sep, regex=False)]
    assert sorted(broken["file_name"]) == ["broken.dcm", "broken.nii.gz", "broken.npy"]
    assert broken["error"].notna().all() and broken["role"].isna().all()
    assert len(index.images) == 8 and set(index.pairs["status"]) == {"ok"}


def test_pathlib_and_tuple_inputs_work(data):
    """E5 in MIRP for Path and tuple; both are accepted here."""
    as_path = IMG(pathlib.Path(data["ct_dir"]))
    as_tuple = IMG((data["ct_dir"],))
    assert [i.file_paths for i in as_path] == [i.file_paths for i in as_tuple] and len(as_path) == 1


def test_array_with_object_dtype_is_an_error_row_not_a_crash():
    index_error = None
    try:
        imgindex.import_image(np.array([object()], dtype=object))
    except ImgIndexError as exc:
        index_error = exc
    assert index_error is not None and "did not contain any supported image files" in str(index_error)


def test_arrays_with_more_than_three_dimensions_are_refused():
    with pytest.raises(ImgIndexError, match="3 dimensions"):
        imgindex.import_image(np.zeros((2, 2, 3, 4), np.float32))


def test_no_masks_is_its_own_error(tmp_path):
    """An import that finds no masks raises NoMasksError (a NotFoundError, a ValueError, as MIRP's);
    a roi_name matching no ROI raises NotFoundError but not NoMasksError: only the first falls back."""
    import shutil

    from imgindex.errors import NoMasksError
    from imgindex.examples import write_example_dataset

    data = tmp_path / "data"
    write_example_dataset(data, modalities=("CT",), formats=("dicom",), extras=False)
    for folder in data.glob("*/*/*/mask"):  # images only
        shutil.rmtree(folder)
    with pytest.raises(NoMasksError, match="No masks were found") as found:
        imgindex.build_index(data, mask=data)
    assert isinstance(found.value, imgindex.NotFoundError) and isinstance(found.value, ValueError)
    dicom = tmp_path / "dicom"
    write_example_dataset(dicom, modalities=("CT",), formats=("dicom",), extras=False)
    with pytest.raises(imgindex.NotFoundError, match="requested ROIs") as wrong:
        imgindex.build_index(dicom, mask=dicom, roi_name="NO_SUCH_ROI")
    assert not isinstance(wrong.value, NoMasksError)
