"""RTSTRUCT rasterisation: known answers (never skipped), plastimatch agreement, warnings and errors."""

import shutil
import subprocess
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import MaskFile
from imgindex.errors import InputError, NotFoundError
from imgindex.examples import write_shapes_dataset
from imgindex.voxels import Grid, rasterise, read_grid

PLASTIMATCH = shutil.which("plastimatch")
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum()) if a.any() or b.any() else 1.0


def arrays(masks: dict) -> dict:
    return {k: sitk.GetArrayFromImage(v).astype(bool) for k, v in masks.items()}


@pytest.fixture(scope="module", params=[False, True], ids=["axial", "oblique"])
def shapes(request, tmp_path_factory):
    data = write_shapes_dataset(tmp_path_factory.mktemp("rt_shapes"), oblique=request.param, seg=False)
    image = imgindex.import_image_and_mask(str(data.root), mask=str(data.rtstruct))[0]
    return data, image


def test_known_shapes_exact(shapes):
    data, image = shapes
    mask = image.associated_masks[0]
    assert mask.modality == "rtstruct"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masks = mask.read(reference=image)
    assert list(masks) == list(data.expected)
    reference = image.read()
    for name, region in masks.items():
        assert region.GetPixelIDTypeAsString() == "8-bit unsigned integer"
        assert region.GetSize() == reference.GetSize()
        assert region.GetSpacing() == reference.GetSpacing() and region.GetOrigin() == reference.GetOrigin()
        assert region.GetDirection() == reference.GetDirection()
        values = sitk.GetArrayFromImage(region)
        assert set(np.unique(values)) <= {0, 1}
        assert np.array_equal(values.astype(bool), data.expected[name]), name
    ring = data.expected["ring"]
    assert ring.sum() > 0 and not ring[data.size[2] // 2, :, :].all()  # a real hole
    both = data.expected["overlap_a"] & data.expected["overlap_b"]
    assert both.any() and (data.expected["overlap_a"] & ~data.expected["overlap_b"]).any()


def test_reference_as_simpleitk_image_and_numpy(shapes):
    data, image = shapes
    mask = image.associated_masks[0]
    from_image = arrays(mask.read(reference=image.read()))
    assert all(np.array_equal(from_image[k], data.expected[k]) for k in data.expected)
    as_numpy = mask.to_numpy(reference=image)
    assert all(v.dtype == bool and np.array_equal(v, data.expected[k]) for k, v in as_numpy.items())


def run_plastimatch(rtstruct, image_dir, out, *extra) -> dict:
    subprocess.run(
        [
            PLASTIMATCH,
            "convert",
            "--input",
            str(rtstruct),
            "--referenced-ct",
            str(image_dir),
            "--output-prefix",
            str(out),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return {p.stem: sitk.GetArrayFromImage(sitk.ReadImage(str(p))).astype(bool) for p in out.glob("*.mha")}


@pytest.mark.slow  # runs plastimatch
@pytest.mark.skipif(PLASTIMATCH is None, reason="plastimatch is not installed")
def test_known_shapes_agree_with_plastimatch(shapes, tmp_path):
    data, image = shapes
    ours = arrays(image.associated_masks[0].read(reference=image))
    theirs = run_plastimatch(data.rtstruct, data.image_dir, tmp_path / "xor", "--xor-contours")
    for name in data.expected:
        assert dice(ours[name], theirs[name]) >= 0.995, name
        assert abs(int(ours[name].sum()) - int(theirs[name].sum())) <= 0.005 * theirs[name].sum()
    # plastimatch's default ORs the contours of an ROI: the ring's hole is filled
    filled = run_plastimatch(data.rtstruct, data.image_dir, tmp_path / "or")["ring"]
    assert filled.sum() > ours["ring"].sum()


def test_real_patient_matches_plastimatch_nifti(real_data):
    for folder in ("CT", "PET", "MR_T1"):
        base = real_data / "STS_001" / folder
        image = imgindex.import_image_and_mask(str(base / "dicom" / "image"), mask=str(base / "dicom" / "mask"))[0]
        ((name, region),) = image.associated_masks[0].read(reference=image).items()
        assert name == f"GTV_Mass_{folder}"
        ours = sitk.GetArrayFromImage(region).astype(bool)
        theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(base / "nifti" / "mask" / "mask.nii.gz"))).astype(bool)
        assert dice(ours, theirs) >= 0.995
        assert abs(int(ours.sum()) - int(theirs.sum())) <= 0.005 * theirs.sum()


@pytest.mark.slow  # runs plastimatch
@pytest.mark.skipif(PLASTIMATCH is None, reason="plastimatch is not installed")
def test_real_patient_agrees_with_plastimatch_run(real_data, tmp_path):
    base = real_data / "STS_001" / "PET"
    image = imgindex.import_image_and_mask(str(base / "dicom" / "image"), mask=str(base / "dicom" / "mask"))[0]
    ours = arrays(image.associated_masks[0].read(reference=image))
    theirs = run_plastimatch(base / "dicom" / "mask" / "RS.dcm", base / "dicom" / "image", tmp_path / "pet")
    assert dice(ours["GTV_Mass_PET"], theirs["GTV_Mass_PET"]) >= 0.995


GRID = Grid((8, 6, 3), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), AXIAL)


def square(x0, x1, y0, y1, z=2.0):
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


@pytest.mark.parametrize(
    ("contour", "columns", "rows"),
    [
        (square(1.0, 4.0, 1.0, 3.0), [1, 2, 3], [1, 2]),  # centres on the left/lower edges inside, right/upper outside
        (square(0.5, 3.5, 0.5, 2.5), [1, 2, 3], [1, 2]),
        (square(-5.0, 2.5, 4.2, 9.0), [0, 1, 2], [5]),  # clipped at the grid's edges
        (square(0.2, 0.8, 0.2, 0.8), [], []),  # no centre inside
    ],
)
def test_voxel_centre_convention(contour, columns, rows):
    mask, counts = rasterise([contour], GRID)
    expected = np.zeros(GRID.shape, np.uint8)
    expected[1][np.ix_(rows, columns)] = 1
    assert np.array_equal(mask, expected)
    assert counts == {"outside": 0, "not_planar": 0}


def test_even_odd_across_contours_and_slices():
    outer, inner, apart = square(0.5, 6.5, 0.5, 4.5), square(2.5, 4.5, 1.5, 3.5), square(0.5, 1.5, 0.5, 1.5, z=0.4)
    mask, _ = rasterise([outer, inner, apart], GRID)
    assert mask[1].sum() == 6 * 4 - 2 * 2 and mask[1, 2:4, 3:5].sum() == 0
    assert mask[0].sum() == 1 and mask[2].sum() == 0
    twice, _ = rasterise([outer, outer], GRID)  # the same contour twice cancels out (XOR)
    assert twice.sum() == 0


def test_contours_outside_the_grid_and_not_planar():
    below = square(1, 3, 1, 3, z=-1.2)  # 0.6 slice below the first slice
    edge = square(1, 3, 1, 3, z=-0.9)  # within half a slice: slice 0
    tilted = np.array([[1, 1, 0.0], [4, 1, 2.0], [4, 4, 2.0], [1, 4, 0.0]])
    mask, counts = rasterise([below, edge, tilted], GRID)
    assert counts == {"outside": 1, "not_planar": 1}
    assert mask[0].sum() == 4 and mask[1].sum() > 0


@pytest.fixture()
def awkward(tmp_path):
    """The axial shapes with a POINT, an OPEN_PLANAR, a far-away contour, an ROI without contours and
    a repeated ROI name."""
    data = write_shapes_dataset(tmp_path / "awkward", shapes=["box", "cylinder", "ring"], seg=False)
    ds = pydicom.dcmread(data.rtstruct)
    box = ds.ROIContourSequence[0].ContourSequence
    point, opened, far = (pydicom.Dataset() for _ in range(3))
    for item, kind, points in (
        (point, "POINT", box[0].ContourData[:3]),
        (opened, "OPEN_PLANAR", box[0].ContourData),
        (far, "CLOSED_PLANAR", [v + 500.0 if i % 3 == 2 else v for i, v in enumerate(box[0].ContourData)]),
    ):
        item.ContourGeometricType, item.NumberOfContourPoints, item.ContourData = kind, len(points) // 3, points
        box.append(item)
    del ds.ROIContourSequence[1].ContourSequence  # cylinder: no contours
    ds.StructureSetROISequence[2].ROIName = "box"  # the ring is now a second "box"
    ds.save_as(data.rtstruct)
    return data


def test_warnings_for_skipped_and_empty(awkward):
    image = imgindex.import_image_and_mask(str(awkward.image_dir), mask=str(awkward.rtstruct))[0]
    with pytest.warns(UserWarning) as caught:
        masks = image.associated_masks[0].read(reference=image)
    text = " | ".join(str(w.message) for w in caught)
    assert "1 POINT contour(s) skipped" in text and "1 OPEN_PLANAR contour(s) skipped" in text
    assert "1 contour(s) dropped: more than half a slice outside" in text
    assert "ROI 'cylinder'" in text and "no contours: its mask is empty" in text
    assert list(masks) == ["box", "cylinder", "box_2"]
    got = arrays(masks)
    assert np.array_equal(got["box"], awkward.expected["box"])
    assert not got["cylinder"].any()
    assert np.array_equal(got["box_2"], awkward.expected["ring"])


def test_roi_name_selection_and_renaming(awkward):
    image = imgindex.import_image_and_mask(
        str(awkward.image_dir), mask=str(awkward.rtstruct), roi_name={"box": "target"}
    )[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = image.associated_masks[0].read(reference=image)
    assert list(masks) == ["target", "target_2"]
    mask = MaskFile(file_path=str(awkward.rtstruct), modality="rtstruct", roi_name="nothing")
    with pytest.raises(NotFoundError, match="None of the requested ROIs"):
        mask.read(reference=image)


def test_rtstruct_needs_a_reference(shapes):
    _, image = shapes
    with pytest.raises(InputError, match=r"RTSTRUCT.*reference=image"):
        image.associated_masks[0].read()
    unknown = MaskFile(file_path=image.associated_masks[0].file_path)  # modality from the file itself
    with pytest.raises(InputError, match="RTSTRUCT"):
        unknown.read()
    assert read_grid(image).size == image.read().GetSize()


def test_other_frame_of_reference_warns(shapes):
    _, image = shapes
    mask = image.associated_masks[0]
    stranger = MaskFile(file_path=mask.file_path, modality="rtstruct", frame_of_reference_uid="1.2.3.999")
    with pytest.warns(UserWarning, match="frame of reference 1.2.3.999"):
        stranger.read(reference=image)
