"""ImportOptions and the argument checks: every argument checked and normalised once, with MIRP's error phrases."""

import os
import pathlib

import numpy as np
import pandas as pd
import pytest

import imgindex
from imgindex import InputError, InputTypeError, arguments
from imgindex.arguments import RoiSelection
from imgindex.options import ImportOptions, RoleOptions


# ---------------------------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize(
    ("value", "role", "expected"),
    [
        *[(m, "image", m) for m in arguments.IMAGE_MODALITIES],
        *[(m.upper(), "image", m) for m in arguments.IMAGE_MODALITIES],
        ("pet", "image", "pt"),
        ("PET", "image", "pt"),
        ("mri", "image", "mr"),
        ("MRI", "image", "mr"),
        ("computed_radiography", "image", "cr"),
        ("digital_xray", "image", "dx"),
        ("mammography", "image", "mg"),
        ("digital_mammography", "image", "mg"),
        *[(m, "mask", m) for m in arguments.MASK_MODALITIES],
        ("RTSTRUCT", "mask", "rtstruct"),
        (None, "image", None),
        (None, "mask", None),
    ],
)
def test_validate_modality(value, role, expected):
    assert arguments.validate_modality(value, role) == expected


@pytest.mark.parametrize(
    ("value", "role", "error", "phrase"),
    [
        (3, "image", InputTypeError, "expected to be a single character string or None"),
        (["ct"], "mask", InputTypeError, "expected to be a single character string or None"),
        (
            "xray",
            "image",
            InputError,
            "Encountered an unknown image modality: xray. The following image modalities "
            "are supported: ct, pt, mr, rtdose, cr, dx, mg, generic, adc, dce",
        ),
        (
            "ct",
            "mask",
            InputError,
            "Encountered an unknown mask modality: ct. The following mask modalities are "
            "supported: rtstruct, seg, generic_mask",
        ),
        ("rtstruct", "image", InputError, "unknown image modality: rtstruct"),
        ("ct", "both", InputError, "role is expected to be 'image' or 'mask'"),
    ],
)
def test_validate_modality_errors(value, role, error, phrase):
    with pytest.raises(error, match=phrase):
        arguments.validate_modality(value, role)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CT", "ct"),
        ("pet", "pt"),
        ("Mri", "mr"),
        ("adc", "adc"),
        ("seg", "seg"),
        ("generic_mask", "generic_mask"),
        ("digital_mammography", "mg"),
    ],
)
def test_canonical_modality(value, expected):
    assert arguments.canonical_modality(value) == expected


def test_canonical_modality_unknown():
    with pytest.raises(InputError, match="Encountered an unknown modality: US"):
        arguments.canonical_modality("US")
    with pytest.raises(InputTypeError):
        arguments.canonical_modality(None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dicom", "dicom"),
        ("NIFTI", "nifti"),
        ("nrrd", "nrrd"),
        ("numpy", "numpy"),
        ("ITK", "itk"),
        (None, None),
    ],
)
def test_validate_file_type(value, expected):
    assert arguments.validate_file_type(value) == expected


@pytest.mark.parametrize(("value", "error"), [(".nii", InputError), ("mha", InputError), (3, InputTypeError)])
def test_validate_file_type_errors(value, error):
    with pytest.raises(
        error,
        match=r"Encountered an unknown file type argument: .*The following file types are "
        r"supported: dicom, nifti, nrrd, numpy, itk\.",
    ):
        arguments.validate_file_type(value)


@pytest.mark.parametrize("value", ["yes", "auto", "no"])
def test_validate_stack(value):
    assert arguments.validate_stack(value, "stack_masks") == value


@pytest.mark.parametrize(
    ("value", "argument"),
    [("Yes", "stack_images"), ("maybe", "stack_masks"), (True, "stack_masks"), (None, "stack_images")],
)
def test_validate_stack_errors(value, argument):
    with pytest.raises(
        InputError, match=f"The {argument} argument is expected to be one of yes, auto, or no. Found: {value}."
    ):
        arguments.validate_stack(value, argument)


# ---------------------------------------------------------------------------------------------- ROI names
@pytest.mark.parametrize(
    ("roi_name", "expected"),
    [
        (None, None),
        ("GTV", {"GTV": "GTV"}),
        (["GTV", "CTV"], {"GTV": "GTV", "CTV": "CTV"}),
        ({"GTV": "tumour"}, {"GTV": "tumour"}),
        (("a",), {"a": "a"}),
    ],
)
def test_roi_selection(roi_name, expected):
    assert arguments.roi_selection(roi_name) == expected


@pytest.mark.parametrize(
    ("roi_name", "error"),
    [
        (1, InputTypeError),
        (["GTV", 2], InputTypeError),
        ({"GTV": 1}, InputTypeError),
        ({1: "a"}, InputTypeError),
        ({"GTV"}, InputTypeError),
        ([], InputError),
        ({}, InputError),
    ],
)
def test_roi_selection_errors(roi_name, error):
    with pytest.raises(
        error,
        match=r"ROI names are expected to be a string, a list of strings, or a dictionary of "
        r"strings\. Found",
    ):
        arguments.roi_selection(roi_name)


# ---------------------------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    ("arguments", "field", "expected"),
    [
        ({"image_sub_folder": "CT\\nifti/./image/"}, lambda o: o.image.sub_folder, "CT/nifti/image"),
        ({"mask_sub_folder": "/d/STS_001/mask"}, lambda o: o.mask.sub_folder, "/d/STS_001/mask"),
        ({"image_sub_folder": "CT/nifti/"}, lambda o: o.image.sub_folder_text, "CT/nifti/"),
        ({"image_modality": "PET"}, lambda o: o.image.modality, "pt"),
        ({"image_modality": "PET"}, lambda o: o.image.modality_text, "PET"),
        ({"mask_modality": "RTSTRUCT"}, lambda o: o.mask.modality, "rtstruct"),
        ({"image_file_type": "ITK"}, lambda o: o.image.file_types, ("nifti", "nrrd")),
        ({}, lambda o: o.mask.file_types, ("dicom", "nifti", "nrrd", "numpy")),
        ({"image_name": "#_CT_image"}, lambda o: o.image.name, ("#_CT_image",)),
        ({"mask_name": ("a", "b")}, lambda o: o.mask.name, ("a", "b")),
        ({"sample_name": "STS_001"}, lambda o: (o.sample_name, o.single_sample), (("STS_001",), True)),
        ({"sample_name": ["STS_001"]}, lambda o: (o.sample_name, o.single_sample), (("STS_001",), False)),
        ({"roi_name": "GTV"}, lambda o: o.roi_name.mapping, {"GTV": "GTV"}),
        ({"roi_name": {"GTV": "t"}}, lambda o: o.roi_name.value, {"GTV": "t"}),
        ({"association_strategy": "sample_name"}, lambda o: o.association_strategy, ("sample_name",)),
        ({"association_strategy": ["position", "position"]}, lambda o: o.association_strategy, ("position",)),
        ({"stack_masks": "no"}, lambda o: o.mask.stack, "no"),
        ({"workers": 3}, lambda o: o.workers, 3),
        ({"previous": pathlib.Path("/x/index")}, lambda o: o.previous, "/x/index"),
        ({}, lambda o: (o.selects, o.mask_arguments), (False, False)),
        ({"roi_name": "GTV"}, lambda o: (o.selects, o.mask_arguments), (True, True)),
        ({"image_modality": "ct"}, lambda o: (o.selects, o.mask_arguments), (True, False)),
    ],
)
def test_normalised_values(arguments, field, expected):
    assert field(ImportOptions.from_arguments(**arguments)) == expected


def test_previous_takes_an_index_or_a_files_table():
    files = imgindex.schema.empty("files")
    index = imgindex.Index(files, imgindex.schema.empty("objects"), imgindex.schema.empty("pairs"))
    assert ImportOptions.from_arguments(previous=index).previous is files
    assert ImportOptions.from_arguments(previous=files).previous is files


def test_options_are_frozen_and_compare_by_value():
    a = ImportOptions.from_arguments(image_modality="PET", roi_name=["GTV"])
    b = ImportOptions.from_arguments(image_modality="pt", roi_name=("GTV",))
    assert a.image.modality == b.image.modality and a.roi_name.mapping == b.roi_name.mapping
    with pytest.raises(AttributeError):
        a.workers = 2  # type: ignore[misc]
    assert ImportOptions.from_arguments(workers=2) == ImportOptions.from_arguments(workers=2)


ROUND_TRIPS = [
    {},
    {"sample_name": "STS_001", "image_modality": "PET", "roi_name": {"GTV_Mass": "tumour"}},
    {"sample_name": ["A", "B"], "image_name": ["#_CT", "#_PET"], "mask_sub_folder": "mask/", "stack_images": "no"},
    {"association_strategy": ["frame_of_reference", "position"], "mask_file_type": "itk", "roi_name": ["a", "b"]},
]


@pytest.mark.parametrize("arguments", ROUND_TRIPS)
def test_arguments_round_trip(arguments):
    """What an index saves (arguments()) gives the same options back, through JSON."""
    import json

    options = ImportOptions.from_arguments(**arguments)
    again = ImportOptions.from_saved(json.loads(json.dumps(options.arguments())))
    assert again == options
    assert again.image.sub_folder_text == options.image.sub_folder_text


def test_merge_checks_the_row_and_names_it():
    base = ImportOptions.from_arguments(image_modality="ct", workers=2, association_strategy="sample_name")
    merged = base.merge({"mask_sub_folder": "mask", "image_modality": None}, where="row 3 of /d/c.csv")
    assert merged.image.modality == "ct" and merged.mask.sub_folder == "mask"
    assert merged.workers == 2 and merged.association_strategy == ("sample_name",)
    assert base.merge({}, where="row 1") is base
    with pytest.raises(InputError, match=r"^In row 3 of /d/c.csv: Encountered an unknown image modality: xray"):
        base.merge({"image_modality": "xray"}, where="row 3 of /d/c.csv")
    with pytest.raises(InputTypeError, match=r"^In <data> element 2 of /d/x.xml: ROI names are expected"):
        base.merge({"roi_name": 3}, where="<data> element 2 of /d/x.xml")
    with pytest.raises(InputError, match="which a request cannot set"):
        base.merge({"workers": 1}, where="row 1")


def test_roi_selection_object():
    selection = RoiSelection.parse(["GTV", "GTV", "CTV"])
    assert selection.names == ("GTV", "CTV") and selection.value == ["GTV", "CTV"]
    assert RoiSelection.parse("GTV").value == "GTV" and RoiSelection.parse(None) is None
    assert RoiSelection.parse(selection) is selection


def test_role_options_of_an_unknown_role():
    with pytest.raises(InputError, match="role is expected to be 'image' or 'mask'"):
        RoleOptions.of("both")
    with pytest.raises(InputError, match="role is expected"):
        ImportOptions().role("both")


# ---------------------------------------------------------------------------------------------- every argument error
BAD = [
    # (id, arguments, exception, builtin, phrases)
    (
        "sample_name int",
        {"sample_name": 3},
        InputTypeError,
        TypeError,
        ["The sample_name argument is expected to be a string or a list of strings. Found: 3 (int)", "'STS_001'"],
    ),
    ("sample_name list of int", {"sample_name": ["A", 2]}, InputTypeError, TypeError, ["sample_name argument"]),
    ("sample_name empty", {"sample_name": []}, InputError, ValueError, ["sample_name argument holds an empty name"]),
    ("sample_name blank", {"sample_name": " "}, InputError, ValueError, ["holds an empty name"]),
    ("image_name int", {"image_name": 5}, InputTypeError, TypeError, ["The image_name argument is expected"]),
    ("mask_name dict", {"mask_name": {"a": 1}}, InputTypeError, TypeError, ["The mask_name argument is expected"]),
    ("image_name empty", {"image_name": ""}, InputError, ValueError, ["image_name argument holds an empty name"]),
    ("image_modality", {"image_modality": "xray"}, InputError, ValueError, ["unknown image modality: xray"]),
    ("mask_modality type", {"mask_modality": 1}, InputTypeError, TypeError, ["mask_modality argument is expected"]),
    ("image_file_type", {"image_file_type": "png"}, InputError, ValueError, ["unknown file type argument: png"]),
    ("mask_file_type type", {"mask_file_type": 3}, InputTypeError, TypeError, ["unknown file type argument: 3"]),
    (
        "image_sub_folder type",
        {"image_sub_folder": 3},
        InputTypeError,
        TypeError,
        ["The image_sub_folder argument is expected to be a string or None. Found: 3 (int)"],
    ),
    ("mask_sub_folder empty", {"mask_sub_folder": "/"}, InputError, ValueError, ["has no directory names"]),
    ("mask_sub_folder blank", {"mask_sub_folder": ""}, InputError, ValueError, ["has no directory names"]),
    ("roi_name", {"roi_name": 3}, InputTypeError, TypeError, ["ROI names are expected to be a string"]),
    (
        "strategy unknown",
        {"association_strategy": "nearest"},
        InputError,
        ValueError,
        ["Unknown association strategy ['nearest']", "Valid strategies are"],
    ),
    ("strategy type", {"association_strategy": 3}, InputTypeError, TypeError, ["association strategy must be"]),
    ("strategy empty", {"association_strategy": []}, InputError, ValueError, ["An empty list of association"]),
    (
        "stack_images",
        {"stack_images": "Yes"},
        InputError,
        ValueError,
        ["The stack_images argument is expected to be one of yes, auto, or no. Found: Yes."],
    ),
    ("stack_masks", {"stack_masks": True}, InputError, ValueError, ["The stack_masks argument"]),
    ("workers negative", {"workers": -1}, InputError, ValueError, ["workers argument is expected to be at least 1"]),
    ("workers float", {"workers": 2.0}, InputTypeError, TypeError, ["workers argument is expected to be a whole"]),
    ("workers bool", {"workers": True}, InputTypeError, TypeError, ["workers argument"]),
    (
        "previous int",
        {"previous": 5},
        InputTypeError,
        TypeError,
        ["The previous argument is expected to be an earlier index", "Found: 5 (int)"],
    ),
    ("previous empty", {"previous": ""}, InputError, ValueError, ["The previous argument is an empty path"]),
    ("progress", {"progress": "yes"}, InputTypeError, TypeError, ["The progress argument is expected"]),
]


@pytest.mark.parametrize(("arguments", "error", "builtin", "phrases"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_argument_errors(arguments, error, builtin, phrases):
    with pytest.raises(error) as caught:
        ImportOptions.from_arguments(**arguments)
    assert isinstance(caught.value, imgindex.ImgIndexError) and isinstance(caught.value, builtin)
    for phrase in phrases:
        assert phrase in str(caught.value)


# ---------------------------------------------------------------------------------------------- before any file
class FileAccess(Exception):
    """Raised by every file-system call while an argument error is expected."""


_FS = [
    (os, "open"),
    (os, "stat"),
    (os, "lstat"),
    (os, "scandir"),
    (os, "listdir"),
    (os.path, "exists"),
    (os.path, "isdir"),
    (os.path, "isfile"),
    (os.path, "getsize"),
    ("builtins", "open"),
    (pd, "read_csv"),
    (pd, "read_parquet"),
]


@pytest.fixture
def no_file_access(monkeypatch):
    """Every file access fails: an argument error must come first."""
    import builtins

    def refuse(*args, **kwargs):
        raise FileAccess(f"a file was touched: {args!r}")

    def block():
        for owner, name in _FS:
            monkeypatch.setattr(builtins if owner == "builtins" else owner, name, refuse)

    return block


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """Every input form, on disk where it needs to be."""
    root = tmp_path_factory.mktemp("forms")
    data = root / "data"
    imgindex.examples.write_example_dataset(data, n_samples=1, modalities=("CT",), formats=("nifti",), extras=False)
    image = data / "STS_001" / "CT" / "nifti" / "image" / "image.nii.gz"
    csv = root / "requests.csv"
    csv.write_text(f"image,mask\n{data},{data}\n")
    imgindex.get_data_xml(root / "xml")
    xml = root / "xml" / "data.xml"
    index = imgindex.build_index(data, mask=data)
    index.save(root / "index.parquet")
    arrays = imgindex.examples.example_arrays(1)
    return {
        "directory": str(data),
        "path": pathlib.Path(image),
        "list": [str(image), str(image)],
        "array": arrays[0][0],
        "arrays": arrays[0],
        "csv": str(csv),
        "xml": str(xml),
        "table": pd.DataFrame({"image": [str(data)]}),
        "files table": index.files,
        "saved index": str(root / "index.parquet"),
        "Index": index,
    }


_BAD_CALLS = [
    ("import_image_and_mask", {"image_modality": "xray"}, InputError),
    ("import_image_and_mask", {"sample_name": 3}, InputTypeError),
    ("import_image_and_mask", {"association_strategy": "nearest"}, InputError),
    ("build_index", {"mask_sub_folder": 7}, InputTypeError),
    ("build_index", {"workers": 0}, InputError),
    ("build_index", {"previous": 5}, InputTypeError),
    ("build_index", {"roi_name": ["GTV", 1]}, InputTypeError),
    ("import_image", {"stack_images": "maybe"}, InputError),
    ("import_image", {"image_name": []}, InputError),
    ("import_mask", {"mask_file_type": "png"}, InputError),
    ("import_mask", {"roi_name": {}}, InputError),
    ("extract_mask_labels", {"mask_modality": "ct"}, InputError),
    ("extract_mask_labels", {"progress": "yes"}, InputTypeError),
]


@pytest.mark.parametrize(
    "form",
    ["directory", "path", "list", "array", "arrays", "csv", "xml", "table", "files table", "saved index", "Index"],
)
@pytest.mark.parametrize(("function", "arguments", "error"), _BAD_CALLS, ids=[f"{c[0]}-{c[1]}" for c in _BAD_CALLS])
def test_every_argument_error_comes_before_any_file_is_read(forms, no_file_access, form, function, arguments, error):
    source = forms[form]
    block = no_file_access
    block()
    call = getattr(imgindex, function)
    with pytest.raises(error):
        call(source, **arguments)


def test_csv_row_and_xml_values_are_checked_before_any_imaging_file_is_read(tmp_path, monkeypatch):
    """A bad value in a csv row or a <data> element stops the import before the scan, naming the row."""
    monkeypatch.setattr(imgindex.scanner, "scan_with", lambda *a, **k: pytest.fail("scanned despite a bad value"))
    csv = tmp_path / "requests.csv"
    csv.write_text(f"image,image_modality\n{tmp_path},ct\n{tmp_path},xray\n")
    with pytest.raises(InputError, match=rf"^In row 2 of {csv}: Encountered an unknown image modality: xray"):
        imgindex.import_image(str(csv))
    table = pd.DataFrame({"image": [str(tmp_path)], "mask_sub_folder": ["/"]})
    with pytest.raises(InputError, match=r"^In row 1 of the DataFrame: The sub-folder '/' has no directory names"):
        imgindex.import_image_and_mask(table)
    imgindex.get_data_xml(tmp_path)
    xml = tmp_path / "data.xml"
    text = xml.read_text()
    import re

    text = re.sub(r"<image>[^<]*</image>", f"<image>{tmp_path}</image>", text, count=1)
    text = re.sub(r"<mask>[^<]*</mask>", f"<mask>{tmp_path}</mask>", text, count=1)
    text = re.sub(r"<image_modality>[^<]*</image_modality>", "<image_modality>xray</image_modality>", text, count=1)
    xml.write_text(text)
    with pytest.raises(InputError, match=rf"^In <data> element 1 of {xml}: Encountered an unknown image modality"):
        imgindex.import_image_and_mask(str(xml))


# ---------------------------------------------------------------------------------------------- signatures
PUBLIC = ["build_index", "import_image_and_mask", "import_image", "import_mask", "extract_mask_labels"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_functions_declare_their_arguments(name):
    import inspect

    function = getattr(imgindex, name)
    parameters = inspect.signature(function).parameters.values()
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters)
    with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'image_nmae'"):
        function("/no/such/data", image_nmae="x")


def test_import_image_refuses_mask_arguments_as_mirp_does():
    with pytest.raises(TypeError, match=r"import_image\(\) got an unexpected keyword argument 'roi_name'"):
        imgindex.import_image(np.zeros((2, 2)), roi_name="GTV")
