"""MIRP's data XML (``config_data.xml``): the template and its parser.

A data file holds one or more ``<config>``; each has ``<paths>`` (image and mask roots, sample
names) and zero or more ``<data>`` elements, each one independent set of import arguments.
Tag aliases, comma lists and deprecated tags follow MIRP 2.7.0 (spec section 4.6).
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ElementTree
from importlib import resources

from .errors import InputError, NotFoundError, warn

#: argument -> (tags, first existing wins; how the text is parsed)
PATH_TAGS = {
    "image": ("project_folder", "image"),
    "mask": ("project_folder", "mask"),
    "sample_name": ("sample_name", "subject_include"),
}
DATA_TAGS = {
    "image_name": ("image_name", "image_filename_pattern"),
    "image_file_type": ("image_file_type",),
    "image_sub_folder": ("image_sub_folder", "image_folder"),
    "image_modality": ("image_modality", "modality"),
    "mask_name": ("mask_name",),
    "mask_file_type": ("mask_file_type",),
    "mask_sub_folder": ("mask_sub_folder", "roi_folder"),
    "mask_modality": ("mask_modality",),
    "roi_name": ("roi_name", "roi_names"),
}
LISTS = {"sample_name": "list", "image_name": "unwrap", "mask_name": "unwrap", "roi_name": "list"}
DEPRECATED = {
    "paths": ("subject_exclude", "write_folder", "provide_diagnostics", "cohort"),
    "data": (
        "registration_image_folder",
        "registration_image_filename_pattern",
        "roi_list_path",
        "divide_disconnected_roi",
        "extraction_config",
    ),
}


def _text(parent: ElementTree.Element, tags: tuple[str, ...]) -> str | None:
    for tag in tags:
        node = parent.find(tag)
        if node is not None:  # the first tag that exists wins, even when empty
            text = (node.text or "").strip()
            return text or None
    return None


#: A parsed tag: its text, a comma list, or ``None`` when absent or empty.
Value = str | list[str] | None


def _parse(argument: str, text: str | None) -> Value:
    if text is None or argument not in LISTS:
        return text
    items = [item.strip() for item in text.split(",") if item.strip()]
    if LISTS[argument] == "unwrap" and len(items) == 1:
        return items[0]
    return items or None


def _warn_deprecated(parent: ElementTree.Element, section: str) -> None:
    for tag in DEPRECATED[section]:
        if parent.find(tag) is not None:
            name = "write_path" if tag == "write_folder" else tag
            warn(f"The {name} tag was deprecated in version 2.0, and will not be parsed.", DeprecationWarning)


def read_data_xml(path: str | os.PathLike[str]) -> list[dict[str, Value]]:
    """Parse a data XML file into one argument dict per ``<data>`` element.

    Each dict has ``image``, ``mask``, ``sample_name`` and the ``image_*``/``mask_*``/``roi_name``
    arguments (``None`` where not given). Relative paths are resolved against the XML's folder.

    Examples
    --------
    >>> from pathlib import Path
    >>> path = Path(tmp_dir, "data.xml")
    >>> _ = path.write_text("<root><config><paths><image>/d</image><mask>/d</mask>"
    ...     "<sample_name>A, B</sample_name></paths><data><image_modality>CT</image_modality>"
    ...     "<roi_name>GTV</roi_name></data></config></root>")
    >>> args = read_data_xml(path)[0]
    >>> args["sample_name"], args["image_modality"], args["roi_name"]
    (['A', 'B'], 'CT', ['GTV'])
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NotFoundError(f"The {path} data settings file does not exist. Please check spelling of the file path.")
    if not path.endswith(".xml"):
        raise InputError(f"The {path} data settings file is not an xml file. Rename it to end in .xml.")
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as exc:
        raise InputError(
            f"The {path} data settings file is not valid XML ({exc}). Fix it, or start again "
            "from imgindex.get_data_xml()."
        ) from exc
    base = os.path.dirname(os.path.abspath(path))
    requests: list[dict[str, Value]] = []
    for config in tree.getroot().iter("config"):
        paths = config.find("paths")
        if paths is None:
            raise InputError(f"A <config> in {path} has no <paths> element; add <paths><image>...</image></paths>.")
        _warn_deprecated(paths, "paths")
        common = {arg: _parse(arg, _text(paths, tags)) for arg, tags in PATH_TAGS.items()}
        for key in ("image", "mask"):
            value = common[key]
            if isinstance(value, str):  # never a list: image and mask are not in LISTS
                common[key] = os.path.normpath(os.path.join(base, value))
        for data in config.iter("data"):
            _warn_deprecated(data, "data")
            args = dict(common)
            args.update({arg: _parse(arg, _text(data, tags)) for arg, tags in DATA_TAGS.items()})
            requests.append(args)
    if not requests:  # MIRP: a <config> without <data> contributes nothing; nothing at all finds no images
        found = "no <data> element" if tree.getroot().find(".//config") is not None else "no <config> element"
        raise InputError(
            f"No images were found: the {path} data settings file has {found}, so it asks for nothing "
            f"(its root is <{tree.getroot().tag}>). Each <config> needs <paths> and one or more <data> elements; "
            "imgindex.get_data_xml() writes a template."
        )
    return requests


def get_data_xml(target_dir: str | os.PathLike[str]) -> None:
    """Write the data XML template to ``<target_dir>/data.xml`` (never overwriting one).

    The tags are the argument names of :func:`imgindex.import_image_and_mask`, each with a
    comment that explains it. If the file exists, a ``UserWarning`` says so and it is kept.

    Examples
    --------
    >>> import os
    >>> get_data_xml(tmp_dir)
    >>> os.listdir(tmp_dir)
    ['data.xml']
    """
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(os.fspath(target_dir), "data.xml")
    if os.path.exists(target):
        warn(f"A data xml file already exists at {target}.")
        return
    with resources.as_file(resources.files("imgindex") / "data" / "data.xml") as template:
        shutil.copyfile(template, target)
