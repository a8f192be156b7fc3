"""pydicom's own test files: only those installed with the package, never a download.

``pydicom.data.get_testdata_files(pattern)`` lists the files under ``pydicom/data/test_files`` and
then, in pydicom 3, tries to download every file of its ``urls.json`` whose name matches the pattern
(and asks any installed external data source). Without network each of those downloads fails after
a wait, so collecting the tests could stall for minutes, and with network the tests would depend on
what was downloaded. These helpers do only the local part of what pydicom does
(``pydicom.data.data_manager``):

* the bundled files live in ``DATA_ROOT / "test_files"`` and ``DATA_ROOT / "charset_files"``;
* ``get_testdata_files(pattern)`` is ``base.glob(pattern)`` there, without ``*.py`` files;
* ``get_testdata_file(name)`` for a bundled name is the first match of ``base.rglob(name)``.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.data.data_manager import DATA_ROOT

TEST_FILES = Path(DATA_ROOT) / "test_files"
CHARSET_FILES = Path(DATA_ROOT) / "charset_files"


def _files(base: Path, pattern: str) -> list[str]:
    return sorted(str(p) for p in base.glob(pattern) if p.is_file() and p.suffix != ".py")


def bundled_files(pattern: str = "**/*") -> list[str]:
    """The bundled files under ``pydicom/data/test_files`` that match ``pattern`` (sorted)."""
    return _files(TEST_FILES, pattern)


def bundled_charset_files(pattern: str = "**/*") -> list[str]:
    """The bundled files under ``pydicom/data/charset_files`` that match ``pattern`` (sorted)."""
    return _files(CHARSET_FILES, pattern)


def bundled_file(name: str) -> str:
    """The path ``pydicom.data.get_testdata_file(name)`` gives for a bundled file; never downloads.

    Raises :class:`FileNotFoundError` for a name that is not installed with pydicom (pydicom would
    download it).
    """
    for match in TEST_FILES.rglob(name):
        return str(match)
    raise FileNotFoundError(f"{name} is not one of the test files installed with pydicom (in {TEST_FILES})")
