"""Series templates: a file read through a template gives exactly what walking it gives.

:mod:`imgindex.headers.dicom_fast` learns the layout of the files it walks (runs of constant
bytes between the elements that vary within a series) and reads a file that follows a layout
without walking it. Every test here compares :func:`read_fast` (templates on, learning as it
goes, with a reader of its own per test) with :meth:`FastReader.walk` (the walk alone) on the same
bytes: same keys in the same order and the same values, or :class:`Unsupported` from both. Each
runs twice: with the plain fast reader, and with the scan's (:class:`DicomReader`'s), whose
templates derive the geometry once per group of a series' files; that one is compared with the
walk's values with the geometry derived from them file by file.
"""

from __future__ import annotations

import random
import struct
import threading
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from test_dicom_fast import _BASE, UID, _ct, _element, _raw_file, _same, _save, _sequence, agrees

from imgindex.headers import dicom, dicom_templates
from imgindex.headers.dicom import DicomReader
from imgindex.headers.dicom_fast import FastReader, Unsupported

HEAD = 8192


class CountingReader(FastReader):
    """A fast reader that records the paths of the files it walked (not read through a template)."""

    __slots__ = ("walked",)

    def __init__(self, derive=None) -> None:
        super().__init__(derive)
        self.walked: list[str] = []

    def walk(self, path, head):
        self.walked.append(path)
        return super().walk(path, head)


_READER: list[CountingReader] = []


@pytest.fixture(autouse=True, params=["plain", "derived"])
def reader(request) -> CountingReader:
    """A new reader per test: no templates from earlier tests; plain, or with the scan's geometry."""
    _READER[:] = [CountingReader(DicomReader().fast.derive if request.param == "derived" else None)]
    return _READER[0]


@pytest.fixture
def walks(reader) -> list[str]:
    """The paths of the files the test's reader walked."""
    return reader.walked


def read_fast(path: str, head: bytes) -> dict:
    """Read through the test's reader (templates on, learning as it goes)."""
    return _READER[0].read(path, head)


def _WALK(path: str, head: bytes):
    """The walk's values (with the geometry the test's reader derives, derived from them file by file)."""
    values, walked = FastReader().walk(path, head)
    derive = _READER[0].derive
    if derive is not None:  # the plain computation, as the scan's reader did it for every file
        values = values.copy()
        values.update(dicom.geometry(values))
        for name in dicom.SPARSE:
            if values[name] is None:
                del values[name]
    return values, walked


def _outcome(read, path: str, head: bytes):
    try:
        return read(path, head)
    except Unsupported:
        return Unsupported


def same_as_walk(path: str | Path, head: bytes) -> bool:
    """read_fast(path, head) equals the walk's result (or both are Unsupported); True if it read the file."""
    path = str(path)
    got = _outcome(read_fast, path, head)
    want = _outcome(lambda p, h: _WALK(p, h)[0], path, head)
    if want is Unsupported or got is Unsupported:
        assert got is want, f"read_fast gave {got!r}, the walk {want!r}"
        return False
    if _READER[0].derive is None:
        assert list(got) == list(want)
    else:  # the derived columns come in another order
        assert sorted(got) == sorted(want)
    bad = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
    assert not bad, f"the template and the walk differ in {path}: {bad}"
    return True


def _series(folder: Path, n: int, implicit: bool) -> list[Path]:
    """A CT series written by pydicom: UIDs of random lengths, positions and private data per slice."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        ds = _ct(k)
        sop = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.ImagePositionPatient = [-250.0 + 0.5 * (k % 3), -250.5, round(-1.3 * k, 2)]
        ds.SliceLocation = round(-1.3 * k, 2)
        ds.WindowCenter = str(40 + k)
        ds.add_new(0x00290010, "LO", "ACME")
        ds.add_new(0x00291010, "OB", bytes([k % 7]) * (64 + 2 * (k % 5)))
        path = folder / f"IM{k:04d}.dcm"
        path.write_bytes(_save(ds, implicit))
        paths.append(path)
    return paths


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_a_series_is_read_through_its_template(tmp_path, walks, implicit):
    paths = _series(tmp_path, 40, implicit)
    for path in paths:
        head = path.read_bytes()[:HEAD]
        assert same_as_walk(path, head)
        assert agrees(path)
    assert len(set(walks)) <= 5, "the files after the first few should follow the series' template"


def test_derived_series_with_source_images_keep_their_template(tmp_path, walks):
    """A SourceImageSequence that differs per slice (derived images) is read only in SEGs (issue 14):
    elsewhere it is a variable element like any other, and the series still follows its template."""
    from test_dicom_fast import _item

    paths = _series(tmp_path, 30, False)
    for k, path in enumerate(paths):
        ds = __import__("pydicom").dcmread(path)
        ds.SourceImageSequence = [_item(ReferencedSOPInstanceUID=f"{UID}.77.{k + 100}")]
        path.write_bytes(_save(ds, False))
    for path in paths:
        head = path.read_bytes()[:HEAD]
        assert same_as_walk(path, head)
        assert agrees(path)
    assert len(set(walks)) <= 5


def test_templates_of_interleaved_series(tmp_path, walks):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = _series(tmp_path / "a", 20, False), _series(tmp_path / "b", 20, True)
    for x, y in zip(a, b, strict=True):
        for path in (x, y):
            assert same_as_walk(path, path.read_bytes()[:HEAD])
    assert len(set(walks)) <= 10


# --- a series, then one file changed in one way: it follows the template or is walked, same values ---


def _file(instance: int, changes: dict | None = None) -> dict[int, tuple[str, bytes]]:
    elements = {
        **_BASE,
        0x00080018: ("UI", f"{UID}.40.{instance * 7919}".encode()),
        0x00200013: ("IS", str(instance).encode()),
        0x00200032: ("DS", f"-1\\-2.5\\{instance * 1.5}".encode()),
        0x00290010: ("LO", b"ACME"),
        0x00291010: ("OB", bytes(20 + 2 * (instance % 4))),
        0x00081140: ("SQ", _sequence([b""], undefined=False)),
    }
    elements.update(changes or {})
    return {tag: value for tag, value in elements.items() if value is not None}


_UNDEFINED_SQ = ("SQ", ("undefined", _sequence([b""], undefined=True)))
_CHANGES = {
    "nothing": {},
    "patient name (a constant)": {0x00100010: ("PN", b"Roe^Richard")},
    "longer variable value": {0x00200032: ("DS", b"-1.0000001\\-2.5000001\\3.0000001")},
    "empty variable value": {0x00200013: ("IS", b"")},
    "malformed variable value": {0x00200013: ("IS", b"x\\1.5\\y")},
    "variable value with another VR": {0x00200013: ("US", b"\x01\x00")},
    "odd-length US variable value": {0x00200013: ("IS", b"1"), 0x00280010: ("US", b"\x10\x00\x20")},
    "undefined-length private value": {0x00291010: ("OB", ("undefined", b"\xfe\xff\xdd\xe0\0\0\0\0"))},
    "undefined-length sequence": {0x00081140: _UNDEFINED_SQ},
    "charset": {0x00080005: ("CS", b"ISO_IR 192"), 0x00100010: ("PN", "Müller".encode())},
    "no charset": {0x00080005: None},
    "modality": {0x00080060: ("CS", b"RTSTRUCT")},
    "element removed": {0x00180050: None},
    "element added": {0x00181030: ("LO", b"protocol")},
    "no pixel data": {0x7FE00010: None},
    "another tag after the last needed": {0x7FE00010: None, 0x7FE10010: ("OB", b"xy")},
}


#: Changes of the variable elements only (SOP instance UID, instance number, position, private data).
_FOLLOWS = {"nothing", "longer variable value", "empty variable value", "malformed variable value"}


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("change", list(_CHANGES))
def test_one_changed_file_after_a_series(tmp_path, reader, walks, implicit, change):
    path = tmp_path / "f.dcm"
    for k in range(6):
        data = _raw_file(_file(k), implicit)
        path.write_bytes(data)
        assert same_as_walk(path, data)
    assert reader.templates.templates
    data = _raw_file(_file(9, _CHANGES[change]), implicit)
    path.write_bytes(data)
    walked = len(walks)
    same_as_walk(path, data)
    follows = change in _FOLLOWS or (implicit and change == "variable value with another VR")  # no VR in the file
    assert (len(walks) == walked) == follows
    for cut in (len(data), HEAD, 600, 400, 300, 200, 140):  # heads shorter than the file, too
        same_as_walk(path, data[:cut])
    same_as_walk(path, data)
    agrees(path)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_transfer_syntax_changed(tmp_path, implicit):
    path = tmp_path / "f.dcm"
    for k in range(4):
        path.write_bytes(_raw_file(_file(k), implicit))
        same_as_walk(path, path.read_bytes())
    path.write_bytes(_raw_file(_file(5), not implicit))
    assert same_as_walk(path, path.read_bytes())


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_files_cut_after_the_last_needed_tag(tmp_path, walks, implicit):
    """The file (not only the head) ends inside the header of the first tag not needed."""
    path = tmp_path / "f.dcm"
    for k in range(6):
        path.write_bytes(_raw_file(_file(k), implicit))
        same_as_walk(path, path.read_bytes())
    data = _raw_file(_file(9), implicit)
    stop = data.rindex(b"\xe0\x7f\x10\x00")
    for cut in range(stop, stop + 14):
        path.write_bytes(data[:cut])
        same_as_walk(path, data[:cut])


def test_character_set_is_never_variable(tmp_path):
    """Text whose decoding depends on (0008,0005): the same bytes are 'MÃ¼ller' or 'Müller'."""
    path = tmp_path / "f.dcm"
    for k in range(12):
        charset = b"ISO_IR 100" if k % 3 else b"ISO_IR 192"
        data = _raw_file(_file(k, {0x00080005: ("CS", charset), 0x00100010: ("PN", "Müller".encode())}))
        path.write_bytes(data)
        assert same_as_walk(path, data)
        assert read_fast(str(path), data)["PatientName"] == ("Müller" if charset == b"ISO_IR 192" else "MÃ¼ller")


def test_modality_is_never_variable(tmp_path):
    """An RTSTRUCT's walk stops at its contours; another modality's walk goes on to the groups after them."""
    groups = _sequence(
        [_element(0x00289110, "SQ", _sequence([_element(0x00280030, "DS", b"0.5\\0.25")], False))], undefined=False
    )
    path = tmp_path / "f.dcm"
    for k in range(12):
        modality = (b"RTRECORD", b"RTDOSE  ", b"RTSTRUCT")[k % 3]
        data = _raw_file(
            _file(
                k,
                {0x00080060: ("CS", modality), 0x30060039: _UNDEFINED_SQ, 0x52009229: ("SQ", groups), 0x00280030: None},
            )
        )
        path.write_bytes(data)
        assert same_as_walk(path, data)
        assert read_fast(str(path), data)["PixelSpacing"] == (None if modality == b"RTSTRUCT" else (0.5, 0.25))


def test_first_element_of_an_implicit_data_set_is_never_variable(tmp_path):
    """Its length's first bytes may look like a VR ('BA'): the walk then refuses the file."""
    path = tmp_path / "f.dcm"
    for k, size in enumerate([22, 24, 22, 26, 0x4142, 22]):
        data = _raw_file(_file(k, {0x00080005: None, 0x00080008: ("CS", b"A" * size)}), implicit=True)
        path.write_bytes(data)
        assert same_as_walk(path, data) == (size != 0x4142)


# --- random files: series of related layouts, mutated, in any order ---

_PER_FILE = (0x00080018, 0x00200013, 0x00200032, 0x00291010, 0x00080008)
_VALUES = {
    "UI": [
        b"1.2.3",
        b"1.2.840.10008.5.1.4.1.1.2",
        b"1.2.826.0.1.3680043.8.498.77.123456789.1",
        b"1.2.3.4.5.6.7",
        b"",
        b"1.2\\3.4",
    ],
    "IS": [b"1", b"12", b"123456", b"-3", b"1.5", b"x", b"", b" 7 ", b"2\\3"],
    "DS": [b"1", b"-1\\-2.5\\30", b"0.5\\0.5", b"1e3", b"nan", b"abc", b"", b" 2.5 \\ 3"],
    "CS": [b"ORIGINAL\\PRIMARY\\AXIAL", b"DERIVED", b"", b"CT", b"MR", b"ISO_IR 100", b"ISO_IR 192", b"GB18030"],
    "LO": [b"Series", b"s\xe9rie", "série".encode(), b"", b"a\\b", b"x" * 63],
    "PN": [b"Doe^John", b"M\xfcller", "Müller".encode(), b"", b"A=B="],
    "SH": [b"1", b"ABC", b""],
    "US": [b"\x08\x00", b"\x00\x02", b"", b"\x01"],
    "OB": [b"", b"\x00" * 6, b"\x01" * 40],
    "OW": [bytes(16), bytes(128)],
}


def _random_layout(rng: random.Random) -> dict[int, tuple[str, object]]:
    elements = dict(_BASE)
    if rng.random() < 0.5:
        elements[0x00290010], elements[0x00291010] = ("LO", b"ACME"), ("OB", bytes(rng.randrange(0, 40, 2)))
    if rng.random() < 0.4:
        elements[0x00081140] = ("SQ", _sequence([b""] * rng.randrange(3), undefined=False))
    if rng.random() < 0.2:
        elements[0x00082112] = _UNDEFINED_SQ
    if rng.random() < 0.3:
        del elements[0x00080005]
    if rng.random() < 0.1:
        del elements[0x7FE00010]
    return elements


def _mutate(rng: random.Random, elements: dict, disrupt: bool) -> dict:
    """Other values for a few per-file elements; or, ``disrupt``, any element changed or removed."""
    elements = dict(elements)
    tags = [t for t in (list(elements) if disrupt else _PER_FILE) if t in elements]
    for tag in rng.sample(tags, min(len(tags), rng.randint(1, 3))):
        vr, _value = elements[tag]
        if vr in _VALUES and (not disrupt or rng.random() < 0.6):
            elements[tag] = (vr, rng.choice(_VALUES[vr]))
        elif rng.random() < 0.5:
            del elements[tag]
        else:
            elements[tag] = ("UN", ("undefined", _sequence([b""], undefined=True)))
    return elements


def _corrupt(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(132, len(data))] = rng.randrange(256)
    return bytes(data)


@pytest.mark.parametrize("seed", range(6))
def test_random_series_agree_with_the_walk(tmp_path, walks, seed):
    rng = random.Random(seed)
    files = []
    for s in range(8):
        layout, implicit = _random_layout(rng), rng.random() < 0.4
        for _ in range(rng.randint(5, 25)):
            elements = _mutate(rng, layout, disrupt=rng.random() < 0.15)
            data = _raw_file(elements, implicit)
            if rng.random() < 0.05:
                data = _corrupt(rng, data)
            cut = rng.randrange(132, len(data) + 1) if rng.random() < 0.15 else rng.choice([len(data), HEAD])
            files.append((tmp_path / f"s{s}_{len(files)}.dcm", data, cut))
    order = list(range(len(files)))
    if seed % 2:  # series interleaved in places
        for _ in range(len(order) // 4):
            i, j = rng.randrange(len(order)), rng.randrange(len(order))
            order[i], order[j] = order[j], order[i]
    read = 0
    for i in order + order:
        path, data, cut = files[i]
        path.write_bytes(data)
        read += same_as_walk(path, data[:cut])
    assert read > len(files)
    print(f"{len(files)} files read twice, {len(walks)} walked")
    assert len(walks) < 0.8 * 2 * len(files), "many files should follow a template"


def test_varying_shared_values_give_each_file_its_derived_columns(tmp_path, reader, walks):
    """Spacing, orientation and trigger time (a sparse column, empty in some files) vary between the
    files of one layout: each file has the geometry of its own values, wherever they come from."""
    path = tmp_path / "f.dcm"
    spacings, orientations = (b"0.5\\0.5", b"0.7\\0.7"), (b"1\\0\\0\\0\\1\\0", b"0\\1\\0\\0\\0\\-1")
    for k in range(60):
        changes = {
            0x00181060: ("DS", b"" if k % 3 == 0 else str(10 + k % 4).encode()),
            0x00280030: ("DS", spacings[k % 2]),
            0x00200037: ("DS", orientations[k // 7 % 2]),
        }
        data = _raw_file(_file(k, changes))
        path.write_bytes(data)
        assert same_as_walk(path, data)
        got = read_fast(str(path), data)
        assert got["TriggerTime"] == float(10 + k % 4) if k % 3 else got.get("TriggerTime") is None
        if reader.derive is not None:
            assert ("TriggerTime" in got) == bool(k % 3)  # absent, not None, where empty
            assert got["spacing_x"] == (0.5, 0.7)[k % 2] and got["origin_z"] == k * 1.5
            assert got["direction"][:3] == ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))[k // 7 % 2]
    assert len(walks) <= 10, "the files should follow the layout's template"


# --- streams without shared layouts, and threads ---


def test_files_without_a_shared_layout_then_a_series(tmp_path, reader, walks):
    path = tmp_path / "f.dcm"
    for k in range(3 * dicom_templates._COLD + 5):  # every file has a tag of its own: no template fits another
        data = _raw_file({**_file(k), 0x00090010: ("LO", b"X"), 0x00091000 + k: ("LO", b"y")})
        path.write_bytes(data)
        assert same_as_walk(path, data)
    assert reader.templates.misses > dicom_templates._COLD
    n = 2 * dicom_templates._COLD + 10
    for k in range(n):
        data = _raw_file(_file(k))
        path.write_bytes(data)
        walked = len(walks)
        assert same_as_walk(path, data)
        if k >= n - 10:
            assert len(walks) == walked, "after the stream, the series gets a template again"


def test_threads(tmp_path):
    paths = _series(tmp_path, 30, False)
    heads = [p.read_bytes() for p in paths]
    expected = [_WALK(str(p), h)[0] for p, h in zip(paths, heads, strict=True)]
    errors = []

    def read(offset: int) -> None:
        try:
            for _ in range(3):
                for i in range(len(paths)):
                    j = (i + offset) % len(paths)
                    assert read_fast(str(paths[j]), heads[j]) == expected[j]
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(k * 7,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_template_values_are_not_shared_with_callers(tmp_path):
    paths = _series(tmp_path, 5, False)
    first = [read_fast(str(p), p.read_bytes()) for p in paths]
    for values in first:
        values["Modality"] = "changed"
        values["file_type"] = "dicom"
    again = read_fast(str(paths[-1]), paths[-1].read_bytes())
    assert again["Modality"] == "CT" and "file_type" not in again


def test_element_header_layouts():
    """The three header layouts a template reads a variable element's length with."""
    explicit_short = struct.pack("<HH2sH", 0x20, 0x13, b"IS", 2) + b"12"
    explicit_long = struct.pack("<HH2sHL", 0x29, 0x1010, b"OB", 0, 2) + b"xy"
    implicit = struct.pack("<HHL", 0x20, 0x13, 2) + b"12"
    for data, kind in (
        (explicit_short, dicom_templates._SHORT_KIND),
        (explicit_long, dicom_templates._LONG_KIND),
        (implicit, dicom_templates._IMPLICIT_KIND),
    ):
        assert kind.unpack(data, kind.prefix + kind.length_at)[0] == 2
        assert data[kind.prefix + kind.value_at :] in (b"12", b"xy")
