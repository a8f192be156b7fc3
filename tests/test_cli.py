"""The command line, through a subprocess as a user runs it."""

import subprocess
import sys

import imgindex


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "imgindex", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_demo_writes_data_index_and_summary(tmp_path):
    out = tmp_path / "demo.parquet"
    result = _run("demo", "--dir", str(tmp_path / "data"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    files = imgindex.read_files(out)
    assert len(files) > 0
    assert f"{len(files)} imaging rows" in result.stdout
    assert "index written to" in result.stdout
    assert files["file_path"].str.startswith(str(tmp_path / "data")).all()


def test_scan_update_reuses_rows(tmp_path, dataset):
    root, _manifest = dataset
    out = tmp_path / "i.parquet"
    assert _run("scan", str(root), "-o", str(out)).returncode == 0
    result = _run("scan", str(root), "-o", str(out), "--update", str(out))
    assert result.returncode == 0
    n = len(imgindex.read_files(out))
    assert f"{n} reused from the previous index" in result.stdout


def test_errors_are_one_line_and_exit_1(tmp_path):
    result = _run("scan", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("imgindex: error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    debug = _run("--debug", "scan", str(tmp_path / "missing"))
    assert "Traceback" in debug.stderr


def test_bad_usage_exits_2():
    result = _run("scan")
    assert result.returncode == 2
    assert "usage" in result.stderr
    assert "example:" in _run("scan", "--help").stdout
