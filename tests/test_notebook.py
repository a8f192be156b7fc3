"""The example notebook runs top to bottom without a cell error (nbclient)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "explore_dataset.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def _run(folder: Path) -> list:
    """Run the notebook with ``folder`` as its current directory; its code cells' outputs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    return outputs


def _written_outside(before: set[Path]) -> set[Path]:
    return {p for p in NOTEBOOK.parent.rglob("*") if p not in before} | {
        p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("imgindex-notebook-*")
    }


@pytest.mark.slow  # starts a kernel
def test_notebook_runs_top_to_bottom_and_writes_only_below_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("IMGINDEX_DATA", raising=False)
    before = set(NOTEBOOK.parent.rglob("*"))
    outputs = _run(tmp_path)
    html = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert html, "the index and tables render as HTML"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the plots and the overview grid are drawn"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgindex-notebook"]
    saved = tmp_path / "imgindex-notebook" / "index"
    assert sorted(p.name for p in saved.iterdir()) == ["files.parquet", "objects.parquet", "pairs.parquet"]
    assert not _written_outside(before)


@pytest.mark.slow
def test_notebook_explores_the_folder_its_first_cell_names(tmp_path, monkeypatch):
    real = Path(__file__).parents[2] / "shared" / "data" / "sts_images"
    if not real.is_dir():
        pytest.skip("the real patient (../shared/data/sts_images) is not here")
    monkeypatch.setenv("IMGINDEX_DATA", str(real))  # what setting DATA in the first cell does
    outputs = _run(tmp_path)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"exploring {real.resolve()}" in text
    assert "STS_001" in text  # the real patient's nnU-Net dataset.json lists its case
    assert not (tmp_path / "imgindex-notebook" / "data").exists()  # no example data written
