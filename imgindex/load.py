"""``load_index``: the index of any input that holds one, as the command line and the exports need it.

An :class:`~imgindex.Index` or a saved index folder is taken as it is; a files table (or its
parquet file, or a dataset folder) or a data folder is curated with :func:`imgindex.build_index`.
"""

from __future__ import annotations

import os

from . import inputs, saved
from .errors import NoMasksError
from .index import Index, read_index

__all__ = ["load_index"]


def load_index(source: object, *, progress: bool = False) -> Index:
    """The index of any input that holds one, curated with the default options if it is not yet.

    What the command line and :func:`imgindex.export` take: an :class:`~imgindex.Index` or a saved
    index folder as they are (no imaging file is read); a files table (a DataFrame, a parquet file
    of :func:`imgindex.write_files`, a dataset folder of ``part-*.parquet``) or a data folder is
    curated with :func:`build_index` (images and masks; images only when it holds no mask).

    Parameters
    ----------
    source
        An index, a saved index or files-table path, a files table, or a data folder.
    progress
        A progress bar on stderr while a data folder is scanned.

    Returns
    -------
    Index
        The index, with its objects and pairs.

    Examples
    --------
    >>> import imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT", "nifti"))
    >>> index = load_index(files)  # a files table: curated, images and masks
    >>> len(index.images), index.pairs["status"].tolist()
    (1, ['ok'])
    """
    if isinstance(source, Index) or inputs.is_saved_index(source):
        index = read_index(source)
        if not index.objects.empty or index.files.empty:
            return index
        source = index.files
    elif isinstance(source, (str, os.PathLike)) and os.path.isdir(source) and saved.dataset_parts(source):
        source = saved.read_files(source)
    from .api import build_index  # here: a saved index is read without the readers and the curation (pydicom ...)

    try:
        return build_index(source, mask=source, progress=progress)
    except NoMasksError:  # a folder of images without masks is still an index
        return build_index(source, progress=progress)
