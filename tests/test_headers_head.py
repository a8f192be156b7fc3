"""How :func:`imgindex.headers.read_file` reads the first bytes of a file: one ``read`` for a small file,
more reads only after a short read that could hide what the file is."""

from __future__ import annotations

import os

import pytest

from imgindex import formats, headers


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """The sizes ``os.read`` was asked for, in ``headers``; each read gives at most 100 bytes at first."""
    asked: list[int] = []
    real = os.read

    def read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real(fd, min(n, 100) if len(asked) == 1 else n)

    monkeypatch.setattr(headers.os, "read", read)
    return asked


def test_a_short_first_read_is_followed_by_more(tmp_path, reads):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 40)
    head = headers._head(str(path), formats.HEAD_SIZE)
    assert head == path.read_bytes()[: formats.HEAD_SIZE]
    assert len(reads) == 2


def test_a_small_file_is_read_once(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3000)
    asked: list[int] = []
    real = os.read
    monkeypatch.setattr(headers.os, "read", lambda fd, n: asked.append(n) or real(fd, n))
    assert headers._head(str(path), formats.HEAD_SIZE) == b"x" * 3000
    assert asked == [formats.HEAD_SIZE]
    path.write_bytes(b"")
    assert headers._head(str(path), formats.HEAD_SIZE) == b""


@pytest.mark.parametrize("size", [0, 1, 131, 132, headers.MIN_HEAD - 1, headers.MIN_HEAD, 5000])
def test_files_shorter_than_the_head(tmp_path, size):
    path = tmp_path / "f.bin"
    path.write_bytes(b"\1" * size)
    assert headers._head(str(path), formats.HEAD_SIZE) == b"\1" * size
