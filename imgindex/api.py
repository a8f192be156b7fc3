"""The MIRP-compatible functions, each a short pipe of the steps.

``build_index`` reads like the data flow: options → input requests → curation (scan, roles,
filters, sample names) → stacking → object names → association → :class:`~imgindex.index.Index`.
``import_image_and_mask`` is ``build_index`` followed by materialising ``ImageFile`` objects.

Differences from MIRP 2.7.0 (spec section 18), on purpose:

- Every argument is checked before any file is read (MIRP checks some after crawling).
- Every input form works: ``pathlib.Path`` and tuples, csv files and DataFrames (one request per
  group of rows; a ``mask`` column asks for masks), imgindex files tables and saved indexes.
- Images and masks are told apart by DICOM Modality or by evidence, so with ``mask=None`` no
  mask file becomes an image, and RTSTRUCT/SEG are never images (a lone RTSTRUCT passed as
  image gives "No images were found", not a crash).
- Unreadable files are error rows of the files table; they never stop an import.
- Objects come back in input order (list order, then sorted directory walk), images first.
- Sample names are found before association; a ``sample_name`` list filters the union of a list
  of inputs (MIRP: every element); files and arrays that nothing names take a list of names by
  position, and a list of another length is an error for files ("could not be linked").
- A ``#`` pattern that names no file raises (E13) instead of falling back silently.
- ``roi_name`` drops RTSTRUCT/SEG masks that hold none of the ROIs (header only), and a csv row or
  xml ``<data>`` element may carry its own ``roi_name``.
- In-memory arrays have no position: they pair by list order or single image, never by their
  default grid; arrays left over in a list that mixes files and arrays pair by list order.
- An image whose masks were asked for but not found keeps ``associated_masks=None`` and is
  flagged ``missing`` (with a warning); the whole-image placeholder is only for ``mask=None``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from . import association, curate, filters, inputs, samples, schema, stacking
from .arguments import ProgressCallback
from .errors import InputError, NoMasksError, NotFoundError
from .files import ImageFile, MaskFile
from .index import Index, read_index
from .options import ImportOptions

__all__ = ["build_index", "extract_mask_labels", "import_image", "import_image_and_mask", "import_mask"]

Names = str | Sequence[str] | None
RoiName = str | Sequence[str] | Mapping[str, str] | None
Previous = Index | pd.DataFrame | str | os.PathLike[str] | None


#: The objects columns the steps after stacking write (stacking coerced the others): in-input-order
#: numbering, naming by list or file name, masks named after their images.
_NAMED = ("object_id", "sample_name", "sample_name_source")


def _keywords(arguments: dict[str, Any], *other: str) -> dict[str, Any]:
    """The import arguments of a public function (its ``locals()`` on entry), without its sources."""
    return {k: v for k, v in arguments.items() if k not in ("image", "mask", *other)}


def _build(image: object, mask: object, options: ImportOptions, *, want_images: bool, want_masks: bool | None) -> Index:
    """The pipe every public function runs: inputs → curation → stacking → names → association."""
    if want_images and (isinstance(image, Index) or inputs.is_saved_index(image)):
        saved = image if isinstance(image, Index) else read_index(image)
        if not saved.objects.empty and not options.selects and mask is None:
            return saved
        image = saved.files
    if not want_images and mask is None:
        raise InputError("No mask source was given. Pass mask=<folder, file, list or array>.")
    requests = inputs.expand(image, mask, options, want_images=want_images, want_masks=want_masks)
    want_masks = any(r.masks is not None for r in requests)
    found = curate.curate(
        requests, options, want_images=want_images, want_masks=want_masks, columns=stacking.USED_COLUMNS
    )
    objects = stacking.stack(found.selected, options, headers=found.files)
    found.selected = found.selected.iloc[:0]  # free the copies: the files table holds their curation
    objects = stacking.in_input_order(objects, found.files)
    found.files = stacking.volume_of_files(found.files, objects)  # issue 12: the files' volumes
    objects = samples.name_objects(objects, options)
    selections = {r.number: r.options.roi_name for r in requests}
    is_image = (objects["role"] == "image").to_numpy(dtype=bool, na_value=False)
    is_mask = (objects["role"] == "mask").to_numpy(dtype=bool, na_value=False)
    images = objects[is_image]
    masks = filters.by_roi_name(objects[is_mask], selections)
    if want_images and images.empty:
        raise NotFoundError(
            "No images were found. Possible reasons are lack of images with the preferred modality. "
            "Check image_modality, image_sub_folder and image_name, or scan the folder with "
            "imgindex.scan() to see which modalities it holds."
        )
    if want_masks and masks.empty:
        raise NoMasksError(
            "No masks were found. Possible reasons are lack of masks with the preferred modality "
            "or ROI names. Check mask_modality, mask_sub_folder, mask_name and roi_name."
        )
    n_images = len(images)
    if len(masks) == int(is_mask.sum()) and is_image[:n_images].all() and is_mask[n_images:].all():
        objects = objects.reset_index(drop=True)  # images then every mask already: no concatenated copy
    else:
        objects = pd.concat([images, masks], ignore_index=True)
    if want_images and want_masks:
        positioned = association.without_array_geometry
        pairs = association.associate(positioned(images), positioned(masks), options, coerced=True)
        objects = samples.inherit_mask_names(objects, pairs)
    else:
        pairs = schema.empty("pairs")
    return Index(
        found.files,
        schema.coerce(objects, "objects", only=_NAMED),
        schema.coerce(pairs, "pairs"),
        options=options,
        requests=tuple(r.options for r in requests),
        arrays=found.arrays,
    )


def build_index(
    image: object = None,
    mask: object = None,
    *,
    sample_name: Names = None,
    image_name: Names = None,
    image_file_type: str | None = None,
    image_modality: str | None = None,
    image_sub_folder: str | None = None,
    mask_name: Names = None,
    mask_file_type: str | None = None,
    mask_modality: str | None = None,
    mask_sub_folder: str | None = None,
    roi_name: RoiName = None,
    association_strategy: str | Sequence[str] | None = None,
    stack_images: str = "auto",
    stack_masks: str = "auto",
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
) -> Index:
    """Index images and masks: files, stacked objects and image-mask pairs, as DataFrames.

    Every argument is checked before any file is read.

    Parameters
    ----------
    image : path, list, numpy array, DataFrame, Index or None
        Where the images are: a directory (walked), a file, a list of these or of numpy arrays,
        a data xml or csv path, a DataFrame of requests (columns ``image``, ``mask``, ...), an
        imgindex files table, a saved index or an :class:`~imgindex.index.Index`.
    mask : same as image, optional
        Where the masks are; default: the images' source when a mask argument is given.
    sample_name : str or list of str, optional
        Samples to import (a filter), or the names of files and arrays that nothing names.
    image_name, mask_name : str or list of str, optional
        File name patterns (``*``, ``?``, ``[seq]``; ``#`` marks the sample name).
    image_file_type, mask_file_type : str, optional
        ``dicom``, ``nifti``, ``nrrd``, ``numpy`` or ``itk`` (NIfTI and NRRD).
    image_modality : str, optional
        ``ct``, ``pt`` (``pet``), ``mr`` (``mri``), ``adc``, ``dce``, ``rtdose``, ``cr``, ``dx``, ``mg``,
        ``generic``.
    mask_modality : str, optional
        ``rtstruct``, ``seg`` or ``generic_mask``.
    image_sub_folder, mask_sub_folder : str, optional
        The last directory names of the folders that hold the files (``CT/dicom/image``).
    roi_name : str, list of str or dict, optional
        ROIs to keep; a dict renames them (``{"GTV_Mass": "tumour"}``).
    association_strategy : str or list of str, optional
        Strategies of :data:`imgindex.arguments.STRATEGIES`; ``None`` narrows step by step.
    stack_images, stack_masks : {"auto", "yes", "no"}
        Whether 2D slices are stacked into volumes.
    previous : Index, DataFrame or path, optional
        An earlier index or files table: its unchanged files are not read again.
    workers : int, optional
        Processes to read headers with (default: one per CPU for large scans).
    progress : bool or callable
        A progress bar on stderr, or ``callback(done, total)``.

    Returns
    -------
    Index
        ``files``, ``objects`` and ``pairs`` tables and the options.

    Raises
    ------
    InputTypeError, InputError
        A bad argument (before any file is read).
    NotFoundError
        Nothing matched (MIRP's errors, with what was found instead).

    Examples
    --------
    The CT series of every sample, with the DICOM masks found beside them:

    >>> import imgindex
    >>> index = imgindex.build_index(example_dir, mask=example_dir, image_file_type="dicom", image_modality="ct",
    ...                              mask_file_type="dicom")
    >>> index.summary()  # the RTSTRUCTs of CT, PET and MR, the SEG of the CT; each CT pairs with its own two
      sample_name  images ct  masks rtstruct  masks seg  pairs ok
    0     STS_001          1               3          1         2
    1     STS_002          1               3          1         2
    >>> index.images[["object_id", "sample_name", "n_files", "size_z"]].values.tolist()  # 8 slices, stacked
    [['image_0', 'STS_001', 8, 8], ['image_1', 'STS_002', 8, 8]]
    >>> index.pairs.head(2)[["image_id", "mask_id", "strategy", "status", "evidence"]].values.tolist()[0]
    ['image_0', 'mask_0', 'reference', 'ok', 'refers to instances of this image']
    """
    options = ImportOptions.from_arguments(**_keywords(locals()))
    return _build(image, mask, options, want_images=True, want_masks=None)


def import_image_and_mask(
    image: object,
    mask: object = None,
    *,
    sample_name: Names = None,
    image_name: Names = None,
    image_file_type: str | None = None,
    image_modality: str | None = None,
    image_sub_folder: str | None = None,
    mask_name: Names = None,
    mask_file_type: str | None = None,
    mask_modality: str | None = None,
    mask_sub_folder: str | None = None,
    roi_name: RoiName = None,
    association_strategy: str | Sequence[str] | None = None,
    stack_images: str = "auto",
    stack_masks: str = "auto",
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
) -> list[ImageFile]:
    """Import images and their masks: :func:`build_index` then ``ImageFile`` objects.

    Takes MIRP's arguments (described in :func:`build_index`) plus ``previous``, ``workers`` and
    ``progress``. Every image has ``associated_masks`` (a whole-image placeholder when no mask
    was asked for).

    Parameters
    ----------
    image, mask
        The image and mask sources (see :func:`build_index`).
    sample_name, image_name, image_file_type, image_modality, image_sub_folder
        The image arguments (see :func:`build_index`).
    mask_name, mask_file_type, mask_modality, mask_sub_folder, roi_name
        The mask arguments (see :func:`build_index`).
    association_strategy, stack_images, stack_masks, previous, workers, progress
        See :func:`build_index`.

    Returns
    -------
    list of ImageFile
        In input order, each with its ``associated_masks``.

    Examples
    --------
    >>> import imgindex
    >>> images = imgindex.import_image_and_mask(example_dir, image_sub_folder="CT/nifti/image", image_modality="ct",
    ...                                         mask_sub_folder="CT/nifti/mask")
    >>> [(i.sample_name, i.modality, i.file_name, [m.file_name for m in i.associated_masks]) for i in images]
    [('STS_001', 'ct', 'image.nii.gz', ['mask.nii.gz']), ('STS_002', 'ct', 'image.nii.gz', ['mask.nii.gz'])]
    """
    options = ImportOptions.from_arguments(**_keywords(locals()))
    return _build(image, mask, options, want_images=True, want_masks=None).materialise()


def import_image(
    image: object,
    *,
    sample_name: Names = None,
    image_name: Names = None,
    image_file_type: str | None = None,
    image_modality: str | None = None,
    image_sub_folder: str | None = None,
    stack_images: str = "auto",
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
) -> list[ImageFile]:
    """Import images only (no association): a list of ``ImageFile`` with ``associated_masks=None``.

    Parameters
    ----------
    image
        The image source (see :func:`build_index`).
    sample_name, image_name, image_file_type, image_modality, image_sub_folder, stack_images
        MIRP's image arguments (see :func:`build_index`).
    previous, workers, progress
        See :func:`build_index`.

    Returns
    -------
    list of ImageFile
        In input order.

    Examples
    --------
    >>> import imgindex
    >>> images = imgindex.import_image(example_dir, image_sub_folder="PET/dicom/image")
    >>> [(i.sample_name, i.modality, i.image_dimension) for i in images]  # 8 slices of 32 x 32, stacked
    [('STS_001', 'pt', (8, 32, 32)), ('STS_002', 'pt', (8, 32, 32))]
    """
    options = ImportOptions.from_arguments(**_keywords(locals()))
    images = _build(image, None, options, want_images=True, want_masks=False).materialise()
    for item in images:
        item.associated_masks = None
    return images


def import_mask(
    mask: object,
    *,
    sample_name: Names = None,
    mask_name: Names = None,
    mask_file_type: str | None = None,
    mask_modality: str | None = None,
    mask_sub_folder: str | None = None,
    roi_name: RoiName = None,
    stack_masks: str = "auto",
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
) -> list[MaskFile]:
    """Import masks only: a list of ``MaskFile``.

    Parameters
    ----------
    mask
        The mask source (see :func:`build_index`).
    sample_name, mask_name, mask_file_type, mask_modality, mask_sub_folder, roi_name, stack_masks
        MIRP's mask arguments (see :func:`build_index`).
    previous, workers, progress
        See :func:`build_index`.

    Returns
    -------
    list of MaskFile
        In input order.

    Examples
    --------
    >>> import imgindex
    >>> masks = imgindex.import_mask(example_dir, mask_sub_folder="CT/dicom/mask")
    >>> [(m.sample_name, m.modality) for m in masks]
    [('STS_001', 'rtstruct'), ('STS_001', 'seg'), ('STS_002', 'rtstruct'), ('STS_002', 'seg')]
    >>> masks[0].file_name, masks[0].roi_names
    ('RS.dcm', ('GTV_Mass', 'GTV_2'))
    """
    options = ImportOptions.from_arguments(**_keywords(locals()))
    return _build(None, mask, options, want_images=False, want_masks=True).materialise_masks()


#: The columns of :func:`extract_mask_labels`, as MIRP names them.
LABEL_COLUMNS = (
    "sample_name",
    "modality",
    "dir_path",
    "file_name",
    "series_instance_uid",
    "frame_of_reference_uid",
    "roi_label",
    "mask_index",
)


def extract_mask_labels(
    mask: object = None,
    *,
    sample_name: Names = None,
    mask_name: Names = None,
    mask_file_type: str | None = None,
    mask_modality: str | None = None,
    mask_sub_folder: str | None = None,
    stack_masks: str = "auto",
    write_dir: str | os.PathLike[str] | None = None,
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
) -> pd.DataFrame | None:
    """One row per ROI label of every mask (MIRP's ``extract_mask_labels``).

    Columns: ``sample_name``, ``modality``, ``dir_path``, ``file_name``, ``series_instance_uid``,
    ``frame_of_reference_uid``, ``roi_label``, ``mask_index``. RTSTRUCT labels are ROI names, SEG
    labels segment labels; label maps give their distinct non-zero voxel values (this reads the
    voxels). Columns that are empty for every mask are left out.

    Parameters
    ----------
    mask
        The mask source (see :func:`build_index`).
    sample_name, mask_name, mask_file_type, mask_modality, mask_sub_folder, stack_masks
        MIRP's mask arguments (see :func:`build_index`).
    write_dir : str or path, optional
        Write the table to ``<write_dir>/mask_labels.csv`` and return ``None``.
    previous, workers, progress
        See :func:`build_index`.

    Returns
    -------
    pandas.DataFrame or None
        The labels, or ``None`` with ``write_dir``.

    Examples
    --------
    >>> import imgindex, os
    >>> labels = imgindex.extract_mask_labels(example_dir, mask_sub_folder="CT/dicom/mask", sample_name="STS_001")
    >>> labels[["sample_name", "modality", "roi_label", "mask_index"]]
      sample_name  modality roi_label  mask_index
    0     STS_001  rtstruct  GTV_Mass           0
    1     STS_001  rtstruct     GTV_2           0
    2     STS_001       seg  GTV_Mass           1
    3     STS_001       seg     GTV_2           1

    Label maps give their voxel values; with ``write_dir`` the table goes to a csv file:

    >>> imgindex.extract_mask_labels(example_dir, mask_sub_folder="CT/nifti/mask", write_dir=tmp_dir)
    >>> os.listdir(tmp_dir)
    ['mask_labels.csv']
    """
    if write_dir is not None and not isinstance(write_dir, (str, os.PathLike)):
        raise InputError(f"write_dir is expected to be a folder path or None. Found: {write_dir!r}.")
    options = ImportOptions.from_arguments(**_keywords(locals(), "write_dir"))
    index = _build(None, mask, options, want_images=False, want_masks=True)
    from .voxels import label_values  # here: the voxel readers are needed by this function alone

    rows = []
    for mask_index, item in enumerate(index.materialise_masks(roi_name=False)):
        base = {
            "sample_name": item.sample_name,
            "modality": item.modality,
            "dir_path": item.dir_path,
            "file_name": item.file_name,
            "series_instance_uid": item.series_instance_uid,
            "frame_of_reference_uid": item.frame_of_reference_uid,
        }
        rows += [{**base, "roi_label": label, "mask_index": mask_index} for label in label_values(item)]
    table = pd.DataFrame(rows, columns=list(LABEL_COLUMNS)).dropna(axis=1, how="all")
    if write_dir is None:
        return table
    os.makedirs(write_dir, exist_ok=True)
    table.to_csv(os.path.join(write_dir, "mask_labels.csv"))
    return None
