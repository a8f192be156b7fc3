"""Shared fixtures: example datasets written once per session with imgindex.examples."""

from pathlib import Path

import pytest

import imgindex
from imgindex.examples import write_example_dataset

LAYOUTS = ("nested", "nested_flat", "flat")
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sts_images"


@pytest.fixture(scope="session", params=LAYOUTS)
def dataset(request, tmp_path_factory):
    """(root, manifest) of an example dataset with every awkward extra, per layout."""
    root = tmp_path_factory.mktemp(request.param)
    manifest = write_example_dataset(root, layout=request.param, extras=True)
    return root, manifest


@pytest.fixture(scope="session")
def scanned(dataset):
    """(root, manifest, files): the dataset and its scan."""
    root, manifest = dataset
    return root, manifest, imgindex.scan(root)


@pytest.fixture(scope="session")
def real_data():
    if not REAL_DATA.is_dir():
        pytest.skip(f"the real patient is not at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session", params=("nested", "nested_flat"))
def nested_scanned(request, tmp_path_factory):
    """(root, manifest, files) for the layouts with sample folders."""
    root = tmp_path_factory.mktemp(f"{request.param}_samples")
    manifest = write_example_dataset(root, layout=request.param, extras=True)
    return root, manifest, imgindex.scan(root)
