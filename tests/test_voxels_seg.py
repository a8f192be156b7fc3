"""DICOM SEG: binary and fractional, sparse frames, placement on the reference grid, errors."""

import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import MaskFile
from imgindex.errors import InputError
from imgindex.examples import write_shapes_dataset
from imgindex.voxels import Grid, read_seg

hd = pytest.importorskip("highdicom")
pytestmark = pytest.mark.filterwarnings("ignore:The string")


def arrays(masks: dict) -> dict:
    return {k: sitk.GetArrayFromImage(v).astype(bool) for k, v in masks.items()}


@pytest.fixture(scope="module", params=[False, True], ids=["axial", "oblique"])
def shapes(request, tmp_path_factory):
    data = write_shapes_dataset(tmp_path_factory.mktemp("seg_shapes"), size=(21, 27), oblique=request.param)
    image = imgindex.import_image_and_mask(str(data.root), mask=str(data.seg))[0]
    return data, image


def test_shapes_seg_on_the_reference(shapes):
    data, image = shapes
    mask = image.associated_masks[0]
    assert mask.modality == "seg"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masks = mask.read(reference=image)
    reference = image.read()
    for name, region in masks.items():
        assert region.GetSize() == reference.GetSize() and region.GetOrigin() == reference.GetOrigin()
        assert region.GetDirection() == reference.GetDirection()
        assert np.array_equal(sitk.GetArrayFromImage(region).astype(bool), data.expected[name]), name


def test_shapes_seg_on_its_own_geometry(shapes):
    data, _ = shapes
    masks = MaskFile(file_path=str(data.seg), modality="seg").read()
    for name, region in masks.items():
        expected = data.expected[name]
        assert sitk.GetArrayFromImage(region).sum() == expected.sum()
        np.testing.assert_allclose(region.GetDirection(), data.direction, atol=1e-9)
        np.testing.assert_allclose(region.GetSpacing(), data.spacing, atol=1e-9)


def source_images(shapes):
    data, image = shapes
    return [pydicom.dcmread(p) for p in image.file_paths], data


def make_seg(sources, pixels, labels, *, kind="BINARY", maximum=255, omit_empty=True):
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=label,
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
            algorithm_type="MANUAL",
        )
        for n, label in enumerate(labels, 1)
    ]
    return hd.seg.Segmentation(
        sources,
        pixels,
        kind,
        descriptions,
        hd.UID(),
        5,
        hd.UID(),
        1,
        "imgindex",
        "tests",
        "1",
        "0",
        max_fractional_value=maximum,
        omit_empty_frames=omit_empty,
    )


def test_highdicom_binary_multi_segment_sparse(shapes, tmp_path):
    sources, data = source_images(shapes)
    names = list(data.expected)[:3]
    stack = np.stack([data.expected[n] for n in names], axis=-1).astype(np.uint8)
    seg = make_seg(sources, stack, names)
    assert seg.NumberOfFrames < len(sources) * len(names)  # sparse
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    image = imgindex.import_image_and_mask(str(data.image_dir), mask=str(path))[0]
    got = arrays(image.associated_masks[0].read(reference=image))
    assert list(got) == names
    for name in names:
        assert np.array_equal(got[name], data.expected[name])
    # voxel counts equal the SEG's own frames
    frames = pydicom.dcmread(path).pixel_array
    numbers = [f.SegmentIdentificationSequence[0].ReferencedSegmentNumber for f in seg.PerFrameFunctionalGroupsSequence]
    for n, name in enumerate(names, 1):
        assert got[name].sum() == frames[np.asarray(numbers) == n].sum()


def test_highdicom_fractional_binarised_at_half(shapes, tmp_path):
    sources, data = source_images(shapes)
    expected = data.expected["cylinder"]
    rng = np.random.default_rng(0)
    fraction = np.where(expected, rng.uniform(0.5, 1.0, expected.shape), rng.uniform(0.0, 0.49, expected.shape))
    fraction[~expected & (rng.uniform(size=expected.shape) < 0.7)] = 0.0
    seg = make_seg(sources, fraction.astype(np.float32), ["cylinder"], kind="FRACTIONAL", maximum=200)
    path = tmp_path / "fractional.dcm"
    seg.save_as(path)
    stored = pydicom.dcmread(path).pixel_array
    assert stored.max() <= 200 and ((stored > 0) & (stored < 100)).any()
    got = arrays(MaskFile(file_path=str(path), modality="seg").read(reference=shapes[1]))
    assert np.array_equal(got["cylinder"], expected)


def test_repeated_labels_keep_their_own_keys(shapes, tmp_path):
    sources, data = source_images(shapes)
    stack = np.stack([data.expected["box"], data.expected["ring"]], axis=-1).astype(np.uint8)
    path = tmp_path / "repeated.dcm"
    make_seg(sources, stack, ["lesion", "lesion"]).save_as(path)
    got = arrays(MaskFile(file_path=str(path), modality="seg").read(reference=shapes[1]))
    assert list(got) == ["lesion", "lesion_2"]
    assert np.array_equal(got["lesion"], data.expected["box"])
    assert np.array_equal(got["lesion_2"], data.expected["ring"])
    only = MaskFile(file_path=str(path), modality="seg", roi_name={"lesion": "tumour"}).read(reference=shapes[1])
    assert list(only) == ["tumour", "tumour_2"]


def test_frames_placed_by_source_sop_without_positions(shapes, tmp_path):
    data, image = shapes
    ds = pydicom.dcmread(data.seg)
    for group in ds.PerFrameFunctionalGroupsSequence:
        del group.PlanePositionSequence
    path = tmp_path / "no_position.dcm"
    ds.save_as(path)
    got = arrays(MaskFile(file_path=str(path), modality="seg").read(reference=image))
    assert all(np.array_equal(got[k], data.expected[k]) for k in data.expected)
    with pytest.raises(InputError, match="no PlanePositionSequence"):
        MaskFile(file_path=str(path), modality="seg").read()
    with pytest.raises(InputError, match="no PlanePositionSequence"):
        MaskFile(file_path=str(path), modality="seg").read(reference=image.read())


def test_other_grid_is_resampled_with_a_warning(shapes):
    data, image = shapes
    grid = Grid.of(image.read())
    coarse = Grid(
        (grid.size[0] // 2, grid.size[1] // 2, grid.size[2]),
        (grid.spacing[0] * 2, grid.spacing[1] * 2, grid.spacing[2]),
        grid.to_world(np.array([[0.6, 0.6, 0.0]]))[0],
        grid.direction,
    )
    with pytest.warns(UserWarning, match="not on the reference grid"):
        got = arrays(MaskFile(file_path=str(data.seg), modality="seg").read(reference=coarse.image()))
    expected = data.expected["box"][:, 1::2, 1::2][:, : coarse.size[1], : coarse.size[0]]
    assert got["box"].shape == coarse.shape
    assert 2 * (got["box"] & expected).sum() / (got["box"].sum() + expected.sum()) > 0.9


def test_frames_outside_the_reference_are_dropped_with_a_warning(shapes):
    data, image = shapes
    grid = Grid.of(image.read())
    short = Grid((grid.size[0], grid.size[1], 4), grid.spacing, grid.origin, grid.direction)
    with pytest.warns(UserWarning, match="frame.*outside the reference grid dropped"):
        got = arrays(read_seg(str(data.seg), short))
    assert np.array_equal(got["box"], data.expected["box"][:4])


def test_example_dataset_seg_equals_its_label_map(tmp_path):
    imgindex.examples.write_example_dataset(
        tmp_path, n_samples=1, modalities=["CT"], formats=["dicom", "nifti"], extras=False
    )
    image = imgindex.import_image_and_mask(str(tmp_path / "STS_001" / "CT" / "dicom"), mask_modality="seg")[0]
    got = arrays(image.associated_masks[0].read(reference=image))
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "STS_001" / "CT" / "nifti" / "mask" / "mask.nii.gz")))
    assert list(got) == ["GTV_Mass", "GTV_2"]
    assert np.array_equal(got["GTV_Mass"], label == 1) and np.array_equal(got["GTV_2"], label == 2)


def test_not_a_seg(shapes):
    data, _ = shapes
    with pytest.raises(InputError, match="not a DICOM SEG"):
        read_seg(str(data.rtstruct))
