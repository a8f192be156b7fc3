"""Name patterns: bare names, shell patterns as regexes, MIRP's sample-name isolation."""

import fnmatch
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgindex import InputTypeError
from imgindex.formats import strip_suffix
from imgindex.patterns import bare_names, extract_sample_names, match, sample_pattern, sample_patterns, to_regex


def isolate_sample_name(name: str, pattern: str) -> str | None:
    """Spec 7.3, step by step, on a bare name (the reference the regex version must equal)."""
    if pattern.count("#") != 1:
        return None
    n_stars_before = pattern[: pattern.index("#")].count("*")
    pattern = pattern.replace("#", "*")
    if not fnmatch.fnmatchcase(name, pattern):
        return None
    parts = pattern.split("*")
    for part in parts[: n_stars_before + 1]:
        if part:
            name = name.split(part, 1)[1]
    for part in reversed(parts[n_stars_before + 1 :]):
        if part:
            name = name.rsplit(part, 1)[0]
    return name or None


def _one(name: str, pattern) -> str | None:
    value = extract_sample_names(bare_names(pd.Series([name])), pattern).iloc[0]
    return None if pd.isna(value) else value


# ---------------------------------------------------------------------------------------------- bare names
@pytest.mark.parametrize(
    ("name", "bare"),
    [
        ("STS_001_CT_image.nii.gz", "STS_001_CT_image"),
        ("a.nii", "a"),
        ("a.npy.nii.gz", "a.npy"),
        ("a.NII.GZ", "a"),
        ("x.DCM", "x"),
        ("slice.dicom", "slice"),
        ("volume.nhdr", "volume"),
        ("volume.nrrd", "volume"),
        ("image.npy", "image"),
        ("IM0001", "IM0001"),
        ("1.2.840.1", "1.2.840.1"),
        ("a.gz", "a.gz"),
        ("a.nii.gz.bak", "a.nii.gz.bak"),
        (".nii.gz", ""),
        ("a.dcm.dcm", "a.dcm"),
    ],
)
def test_bare_names(name, bare):
    assert bare_names(pd.Series([name])).tolist() == [bare]
    assert strip_suffix(name) == bare


def test_bare_names_keeps_index_and_missing_values():
    names = pd.Series(["a.dcm", None], index=[7, 7])
    out = bare_names(names)
    assert out.index.tolist() == [7, 7]
    assert out.iloc[0] == "a" and pd.isna(out.iloc[1])
    assert str(out.dtype) == "string"


_NAME_CHARS = st.text(st.sampled_from(list("aAnN.iIgGzZdDcCmMpPyYrRhH_\n")), max_size=14)
_SUFFIX = st.sampled_from(["", ".nii.gz", ".NII.GZ", ".dcm", ".Dicom", ".nii", ".nrrd", ".nhdr", ".npy", ".gz"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAME_CHARS, _SUFFIX).map("".join), min_size=1, max_size=8))
def test_bare_names_equal_strip_suffix(names):
    assert bare_names(pd.Series(names)).tolist() == [strip_suffix(n) for n in names]


# ---------------------------------------------------------------------------------------------- to_regex / match
@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("#_CT_*", "STS_001_CT_image", True),
        ("*_CT_*", "STS_001_CT_image", True),
        ("STS_00?_CT_image", "STS_001_CT_image", True),
        ("STS_00[12]_CT_image", "STS_002_CT_image", True),
        ("STS_00[12]_CT_image", "STS_003_CT_image", False),
        ("STS_00[!12]_CT_image", "STS_003_CT_image", True),
        ("STS_00[0-2]_CT_image", "STS_002_CT_image", True),
        ("*IMAGE", "STS_001_CT_image", False),  # case-sensitive
        ("#_CT_image.nii.gz", "STS_001_CT_image", False),  # the suffix is already gone
        ("#_CT_image*", "STS_001_CT_image", True),
        ("image", "STS_001_CT_image", False),  # whole name
        ("*", "", True),
        ("a[", "a[", True),  # unclosed class: literal
        ("a.b", "axb", False),  # dots are literal
        ("[z-a]", "m", False),  # reversed range: matches nothing
        ("[!]]", "a", True),
        ("(x)+", "(x)+", True),
        ("a*b*c", "a\nb\nc", True),
    ],
)
def test_to_regex_and_match(pattern, name, expected):
    assert bool(re.fullmatch(to_regex(pattern), name)) is expected
    assert match(pd.Series([name]), pattern).tolist() == [expected]


def test_match_lists_missing_values_and_index():
    names = pd.Series(["STS_001_CT_image", "STS_001_PET_image", None, "x"], index=[3, 3, 1, 0])
    out = match(names, ["*_CT_*", "#_PET_image"])
    assert out.tolist() == [True, True, False, False]
    assert out.dtype == bool and out.index.tolist() == [3, 3, 1, 0]
    assert not match(names, []).any()


@pytest.mark.parametrize("patterns", [3, ["a", 3], None, {"a": "b"}])
def test_match_rejects_other_types(patterns):
    with pytest.raises(InputTypeError, match="string or a list of strings"):
        match(pd.Series(["a"]), patterns)


_PATTERN_CHARS = st.text(st.sampled_from(list("ab?*[]!-^\\#")), max_size=8)
_NAMES = st.text(st.sampled_from(list("ab-^]\\![#\n")), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_PATTERN_CHARS, st.lists(_NAMES, min_size=1, max_size=6))
def test_match_equals_fnmatchcase(pattern, names):
    expected = [fnmatch.fnmatchcase(n, pattern.replace("#", "*")) for n in names]
    assert [bool(re.fullmatch(to_regex(pattern), n)) for n in names] == expected
    # through pandas, which may use pyarrow's RE2 engine
    assert match(pd.Series(names, dtype="string"), pattern).tolist() == expected
    assert match(pd.Series(names, dtype=object), pattern).tolist() == expected


# ---------------------------------------------------------------------------------------------- sample patterns
@pytest.mark.parametrize(
    ("patterns", "first", "every"),
    [
        ("#_CT_*", "#_CT_*", ["#_CT_*"]),
        ("*_CT_*", None, []),
        ("#_image_#", None, []),
        (["#_CT_*"], "#_CT_*", ["#_CT_*"]),  # MIRP 18.7: found inside a list element
        (["*_mask", "#_CT_*", "#_PET_*"], "#_CT_*", ["#_CT_*", "#_PET_*"]),
        (["#"], "#", ["#"]),
        ("[#]_*", None, []),  # inside a character class (MIRP crashed on it)
        ([], None, []),
        (None, None, []),
    ],
)
def test_sample_pattern(patterns, first, every):
    assert sample_pattern(patterns) == first
    assert sample_patterns(patterns) == every


# ---------------------------------------------------------------------------------------------- isolation (7.3)
_STS = "STS_001_CT_image.nii.gz"
_SAMPLE = "Sample-Name_CT.image.npy"


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        (_STS, "#_CT_*", "STS_001"),
        (_STS, "*_#_image", "001_CT"),
        (_STS, "STS_#_CT_image", "001"),
        (_STS, "#", "STS_001_CT_image"),
        (_STS, "*#*", "STS_001_CT_image"),
        (_STS, "S#_image", "TS_001_CT"),
        (_STS, "#_image_#", None),
        (_STS, "*image", None),
        (_STS, "#_PET*image", None),
        (_STS, "Item_#_*_*", None),
        (_SAMPLE, "*-Name#_*.*", None),
        (_SAMPLE, "*-#_*.*", "Name"),
        ("STS_001_MR_T1_image.nii.gz", "#_*_image", "STS_001_MR"),  # right-to-left greediness
    ],
)
def test_extract_sample_names_spec_table(name, pattern, expected):
    assert _one(name, pattern) == expected
    assert isolate_sample_name(strip_suffix(name), pattern) == expected


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("STS_001_CT_image", ["#_PET_*", "#_CT_*"], "STS_001"),  # tried in order, first that yields wins
        ("STS_001_CT_image", ["STS_#_*", "#_CT_*"], "001_CT"),
        ("STS_001_CT_image", ["*_CT_*", "#_x_#"], None),  # no element carries exactly one #
        ("STS_001_CT_image", [], None),
        ("STS_001_CT_image", None, None),
        ("STS_001_CT_image", "STS_00?_#_image", "CT"),  # divergence: ? is a wildcard here too
        ("STS_001_CT_image", "[A-Z]TS_#_image", "001_CT"),
        ("STS_001_CT_image", "#_[CP]T_*", "STS_001"),
        ("aXa", "a#a", "X"),
        ("aa", "a#a", None),  # empty rest
    ],
)
def test_extract_sample_names_lists_and_classes(name, patterns, expected):
    assert _one(name, patterns) == expected


def test_extract_sample_names_column():
    names = pd.Series(["STS_001_CT_image", None, "STS_002_CT_mask", "notes"], index=[9, 9, 2, 1])
    before = names.copy()
    out = extract_sample_names(names, "#_CT_*")
    assert out.tolist()[0] == "STS_001" and out.tolist()[2] == "STS_002"
    assert out.isna().tolist() == [False, True, False, True]
    assert out.index.tolist() == [9, 9, 2, 1] and str(out.dtype) == "string"
    pd.testing.assert_series_equal(names, before)


@settings(max_examples=600, deadline=None)
@given(
    st.text(st.sampled_from(list("ab_#*")), max_size=7),
    st.lists(st.text(st.sampled_from(list("ab_")), max_size=9), min_size=1, max_size=6),
)
def test_extract_sample_names_equals_reference(pattern, names):
    out = extract_sample_names(pd.Series(names, dtype="string"), pattern)
    got = [None if pd.isna(v) else v for v in out]
    assert got == [isolate_sample_name(n, pattern) for n in names]
