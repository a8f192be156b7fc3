"""The scan on a dask cluster gives the local scan's table (a LocalCluster on loopback)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

import imgindex  # noqa: E402
from imgindex import distributed as dist  # noqa: E402
from imgindex.errors import InputError  # noqa: E402

pytestmark = pytest.mark.slow  # a dask cluster


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # the scheduler's and workers' dask-scratch-space under tmp_path_factory, not in the temporary directory
    with dask.config.set({"temporary-directory": str(tmp_path_factory.mktemp("dask"))}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
        )
        with cluster, distributed.Client(cluster, set_as_default=False) as c:
            yield c


@pytest.mark.parametrize("partition_size", [1, 7, 10_000])
def test_distributed_scan_equals_the_local_scan(scanned, client, partition_size):
    root, _manifest, files = scanned
    got = dist.scan(root, client=client, partition_size=partition_size)
    pd.testing.assert_frame_equal(got, files)
    assert got.attrs["scan"] == files.attrs["scan"]


def test_distributed_scan_reuses_a_previous_index(scanned, client):
    root, _manifest, files = scanned
    got = dist.scan(root, client=client, previous=files, partition_size=5)
    pd.testing.assert_frame_equal(got, files)
    assert got.attrs["scan"]["n_reused"] == len(files)
    assert got.attrs["scan"]["n_read"] == files.attrs["scan"]["n_not_imaging"]


def test_partitioned_parquet_output_reads_back_as_the_local_scan(scanned, client, tmp_path):
    root, _manifest, files = scanned
    out = dist.scan(root, client=client, partition_size=9, output=tmp_path / "ds")
    assert out == str(tmp_path / "ds")
    parts = sorted(p for p in os.listdir(out) if p.endswith(".parquet"))
    n_paths = files.attrs["scan"]["n_paths"]
    assert len(parts) == -(-n_paths // 9)
    back = imgindex.read_files(out)
    pd.testing.assert_frame_equal(back, files)
    report = dist.read_report(out)
    assert {k: report[k] for k in files.attrs["scan"]} == files.attrs["scan"]
    assert report["n_parts"] == len(parts)
    # every part is an ordinary imgindex parquet file, readable on its own
    first = imgindex.read_files(os.path.join(out, parts[0]))
    assert first.attrs["part"] == 0 and len(first) <= 9


def test_output_with_a_previous_dataset_and_rewriting_a_folder(scanned, client, tmp_path):
    root, _manifest, files = scanned
    first = dist.scan(root, client=client, partition_size=4, output=tmp_path / "ds")
    again = dist.scan(root, client=client, partition_size=50, previous=first, output=tmp_path / "ds")
    assert dist.read_report(again)["n_reused"] == len(files)
    assert len([p for p in os.listdir(again) if p.endswith(".parquet")]) == -(-files.attrs["scan"]["n_paths"] // 50)
    pd.testing.assert_frame_equal(imgindex.read_files(again), files)


def test_arrays_and_missing_client_are_refused(scanned, client):
    root, _manifest, _files = scanned
    with pytest.raises(InputError, match="in-memory arrays"):
        dist.scan([root, np.zeros((2, 2))], client=client)
    if distributed.client._get_global_client() is None:
        with pytest.raises(InputError, match="No dask client"):
            dist.scan(root)


def test_a_folder_without_parts_is_not_a_dataset(tmp_path):
    with pytest.raises(imgindex.NotFoundError, match="part-"):
        imgindex.read_files(tmp_path)
