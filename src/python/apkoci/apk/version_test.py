from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple, Union

import pytest
from apkoci.apk import version
from apkoci.apk.version import (
    PLAIN_VERSION_PATTERN,
    VersionError,
    canonical_operator,
    compare_versions,
    is_valid_version,
    version_matches,
)
from apkoci.errors import ApkociError
from apkoci.testing import shared_testdata

_SYMBOL = {-1: "<", 0: "=", 1: ">"}
_REVERSED = {"<": ">", ">": "<", "=": "="}

# The lines of apk-tools 3's version.data whose answer differs in apk-tools 2.14, with the 2.14
# answer (see the module docstring of apkoci.apk.version for why): comparisons map to the comparison
# symbol, fuzzy lines to whether they match, validity lines to whether the version is valid.
V3_LINES_WHERE_2_14_DIFFERS: Dict[str, Union[str, bool]] = {
    "8.2.0 < 8.2.001": ">",
    "8.2.0015 < 8.2.002": ">",
    "1.0~1234 < 1.0~2345": "=",
    "1.0~1234-r1 < 1.0~2345-r0": "=",
    "1.0~1234-r1 > 1.0~1234-r0": "=",
    "3.8 !~ 3.8.1": True,
    "0.1_pre2~1234abcd": False,
    "!": True,
    "!0.1a1": True,
    "!0.1-r": True,
    "!0.1-r2-r3": True,
    "!.1": True,
    "!a": True,
    "!_pre1": True,
    "!-r1": True,
    "!0.1_": True,
}


def _vector_lines(path: Path) -> List[Tuple[int, str]]:
    """The non-blank lines of a version.data file, comments stripped, with their line numbers."""
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append((number, line))
    return lines


def _check_line(line: str) -> Tuple[Union[str, bool], Union[str, bool]]:
    """(what the line claims, what we answer) for one vector line, in the line's own terms."""
    fields = line.split()
    if len(fields) == 3:
        a, op, b = fields
        if op in _REVERSED:
            ours = _SYMBOL[compare_versions(a, b)]
            # The order must be antisymmetric as well: b compared with a gives the mirror answer.
            mirrored = _REVERSED[_SYMBOL[compare_versions(b, a)]]
            return op, ours if ours == mirrored else f"{ours} but reversed {mirrored}"
        negated = op.startswith("!")
        matches = version_matches(a, op.lstrip("!"), b)
        return (not negated), matches
    if len(fields) == 1:
        version = fields[0]
        claimed_valid = not version.startswith("!")
        return claimed_valid, is_valid_version(version if claimed_valid else version[1:])
    raise AssertionError(f"cannot read vector line {line!r}")


def _mismatches(
    path: Path, expected_overrides: Optional[Dict[str, Union[str, bool]]] = None
) -> List[str]:
    overrides = dict(expected_overrides or {})
    mismatches = []
    for number, line in _vector_lines(path):
        claimed, ours = _check_line(line)
        expected = overrides.pop(line, claimed)
        if ours != expected:
            mismatches.append(
                f"{path.name}:{number}: {line!r}: expected {expected!r}, got {ours!r}"
            )
    mismatches.extend(f"override for {line!r} matched no line of {path.name}" for line in overrides)
    return mismatches


def test_every_apk_tools_2_14_vector() -> None:
    path = shared_testdata("apk-tools-vectors", "version-v2.14.data")
    lines = _vector_lines(path)
    assert len(lines) == 733
    mismatches = _mismatches(path)
    assert not mismatches, f"{len(mismatches)} of {len(lines)} vectors disagree:\n" + "\n".join(
        mismatches
    )


def test_every_apk_tools_3_vector_agrees_or_differs_as_documented() -> None:
    path = shared_testdata("apk-tools-vectors", "version-v3.data")
    lines = _vector_lines(path)
    assert len(lines) == 785
    mismatches = _mismatches(path, V3_LINES_WHERE_2_14_DIFFERS)
    assert not mismatches, f"{len(mismatches)} of {len(lines)} vectors disagree:\n" + "\n".join(
        mismatches
    )


@pytest.mark.parametrize(
    "smaller, larger",
    [
        ("1.0", "1.0.1"),
        ("1.0", "1.0-r0"),
        ("1.0-r1", "1.0.1"),
        ("1.0-r9", "1.0-r10"),
        ("1.2_rc1", "1.2"),
        ("1.2_alpha", "1.2_beta"),
        ("1.2", "1.2_p1"),
        ("1.2_p1", "1.2a"),
        ("1.2_git20240101", "1.2_p0"),
        ("1.005", "1.05"),
        ("1.05", "1.5"),
        ("1.00", "1.0"),
        ("6.0_pre1", "6.0"),
        ("9.2", "10"),
        ("1_p99999999999", "1_p100000000000"),  # beyond a C int: compared by value
    ],
)
def test_order(smaller: str, larger: str) -> None:
    assert compare_versions(smaller, larger) == -1
    assert compare_versions(larger, smaller) == 1
    assert compare_versions(larger, larger) == 0


def test_equal_spellings() -> None:
    # The first number is read without the leading-zero rule, so these are one version to apk.
    assert compare_versions("01.2", "1.2") == 0
    # An unknown suffix word turns both invalid at the same place: apk calls that equal.
    assert compare_versions("1.0_foo", "1.0_bar") == 0


@pytest.mark.parametrize(
    "version", ["1", "1.2.3", "1.2.3b", "1.2_rc1_p2-r3", "2.14.0-r5", "0.1a1", ""]
)
def test_valid(version: str) -> None:
    assert is_valid_version(version)


@pytest.mark.parametrize(
    "version", ["1.0bc", "1.2-3", "1.2_foo", "1.2-r1.3", "1.2-r1_p1", "1.2a.3", "1 .2"]
)
def test_invalid(version: str) -> None:
    assert not is_valid_version(version)


@pytest.mark.parametrize(
    "version, op, wanted, expected",
    [
        ("1.2-r0", "=", "1.2-r0", True),
        ("1.2-r1", "=", "1.2-r0", False),
        ("1.2", "<", "1.3", True),
        ("1.3", "<", "1.3", False),
        ("1.3", "<=", "1.3", True),
        ("1.3", "=<", "1.3", True),
        ("1.4", ">", "1.3", True),
        ("1.3", ">=", "1.3", True),
        ("1.2", ">=", "1.3", False),
        ("3.6.9-r2", "~", "3.6", True),
        ("3.6.9-r2", "=~", "3.6", True),
        ("3.7", "~", "3.6", False),
        ("3.6", "~", "3.6.1", True),  # apk 2.14's fuzzy match is symmetric
        ("3.6.0", "~", "3.6.1", False),
        ("3.7", ">~", "3.6", True),
        ("3.6.2", ">~", "3.6", True),
        ("3.5", ">~", "3.6", False),
        ("3.5", "<~", "3.6", True),
        ("3.6.2", "<~", "3.6", True),
        ("3.7", "<~", "3.6", False),
    ],
)
def test_version_matches(version: str, op: str, wanted: str, expected: bool) -> None:
    assert version_matches(version, op, wanted) is expected


@pytest.mark.parametrize(
    "op, canonical",
    [
        ("=", "="),
        ("==", "="),
        ("=~", "~"),
        ("~=", "~"),
        ("=<", "<="),
        ("=>", ">="),
        ("~>", ">~"),
        ("<>", "><"),
    ],
)
def test_canonical_operator(op: str, canonical: str) -> None:
    assert canonical_operator(op) == canonical


@pytest.mark.parametrize("op", ["", "!", "<>=", "<>~", "=!", "^"])
def test_unknown_operators_are_refused(op: str) -> None:
    with pytest.raises(VersionError, match="unknown version operator"):
        canonical_operator(op)


def test_checksum_operator_is_no_version_comparison() -> None:
    with pytest.raises(VersionError, match="checksum") as caught:
        version_matches("1.0", "><", "Q1abc=")
    assert isinstance(caught.value, ApkociError)


def test_the_quick_validity_check_only_accepts_what_apk_accepts() -> None:
    # is_valid_version says yes at once to versions PLAIN_VERSION_PATTERN matches; each of those
    # must be one apk's token walk accepts too. Checked on every version of the vectors and of an
    # index.
    corpus: Set[str] = set()
    for name in ("version-v2.14.data", "version-v3.data"):
        for _, line in _vector_lines(shared_testdata("apk-tools-vectors", name)):
            corpus.update(
                field.lstrip("!") for field in line.split() if field.lstrip("!")[:1].isdigit()
            )
    with tarfile.open(shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")) as archive:
        member = archive.extractfile("APKINDEX")
        assert member is not None
        corpus.update(
            line[2:] for line in member.read().decode().splitlines() if line.startswith("V:")
        )
    plain = [v for v in corpus if re.fullmatch(PLAIN_VERSION_PATTERN, v)]
    assert len(plain) > 1500
    walked_invalid = [v for v in plain if version._tokens(v)[-1][1] != version._END]
    assert walked_invalid == []
