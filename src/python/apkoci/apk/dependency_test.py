from __future__ import annotations

import pickle
import tarfile

import pytest
from apkoci.apk.dependency import (
    Dependency,
    DependencyError,
    format_dependencies,
    parse_dependencies,
    parse_dependency,
)
from apkoci.errors import ApkociError
from apkoci.testing import shared_testdata


@pytest.mark.parametrize(
    "text, expected",
    [
        ("busybox", Dependency("busybox")),
        ("musl=1.2.3-r0", Dependency("musl", "=", "1.2.3-r0")),
        ("abuild>2.20.0", Dependency("abuild", ">", "2.20.0")),
        ("busybox>=1.28.2-r1", Dependency("busybox", ">=", "1.28.2-r1")),
        ("lua5.1-bit32<26", Dependency("lua5.1-bit32", "<", "26")),
        ("foo<=2", Dependency("foo", "<=", "2")),
        ("python3~3.10", Dependency("python3", "~", "3.10")),
        ("kubectl>~1.28", Dependency("kubectl", ">~", "1.28")),
        ("kubectl<~1.28", Dependency("kubectl", "<~", "1.28")),
        ("!openssh-client", Dependency("openssh-client", conflict=True)),
        ("!b>1", Dependency("b", ">", "1", conflict=True)),
        ("a@testing", Dependency("a", tag="testing")),
        ("a@testing=3", Dependency("a", "=", "3", tag="testing")),
        ("!a@testing<3", Dependency("a", "<", "3", conflict=True, tag="testing")),
        ("so:libc.musl-x86_64.so.1", Dependency("so:libc.musl-x86_64.so.1")),
        ("so:libcrypto.so.1.1=1.1", Dependency("so:libcrypto.so.1.1", "=", "1.1")),
        ("cmd:sh=1.35.0-r17", Dependency("cmd:sh", "=", "1.35.0-r17")),
        ("pc:zlib=1.2.12", Dependency("pc:zlib", "=", "1.2.12")),
        ("gtk+2.0>=2.24.31", Dependency("gtk+2.0", ">=", "2.24.31")),
        (
            "foo><Q1EyN5AdpAOBJWKMR89pp/C66o+OE=",
            Dependency("foo", "><", "Q1EyN5AdpAOBJWKMR89pp/C66o+OE="),
        ),
    ],
)
def test_parse_and_round_trip(text: str, expected: Dependency) -> None:
    parsed = parse_dependency(text)
    assert parsed == expected
    assert hash(parsed) == hash(expected)  # parsed values skip __init__; they must behave the same
    assert str(parsed) == text
    assert parse_dependency(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("foo=~1.2", "foo~1.2"),
        ("foo~=1.2", "foo~1.2"),
        ("foo=>1", "foo>=1"),
        ("foo<>Q1x=", "foo><Q1x="),
        # go-apk (apko) writes the tag after the version; apk-tools before it.
        ("foo=1.2@edge", "foo@edge=1.2"),
        ("  foo  ", "foo"),
    ],
)
def test_other_spellings_are_written_the_apk_way(text: str, canonical: str) -> None:
    assert str(parse_dependency(text)) == canonical


def test_constructed_dependencies_are_canonical_and_checked() -> None:
    assert Dependency("foo", "=~", "1") == Dependency("foo", "~", "1")
    with pytest.raises(DependencyError, match="needs a version"):
        Dependency("foo", "=")
    with pytest.raises(DependencyError, match="needs an operator"):
        Dependency("foo", version="1")
    with pytest.raises(DependencyError, match="unknown version operator"):
        Dependency("foo", "^", "1")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "name is missing"),
        ("!", "name is missing"),
        ("=1.0", "name is missing"),
        ("foo=", "needs a version"),
        ("foo><", "needs a package checksum"),
        ("foo=invalid", "'invalid' is not a valid apk version"),
        ("foo=1.0bc", "not a valid apk version"),
        ("foo@", "repository tag"),
        ("foo@a=1@b", "not a valid apk version"),
        ("foo<>=1", "unknown version operator"),
        ("!!foo", "contains one of the characters"),
        ("foo bar", "parse_dependencies"),
    ],
)
def test_malformed_dependencies_name_the_text(text: str, reason: str) -> None:
    with pytest.raises(DependencyError) as caught:
        parse_dependency(text)
    assert reason in str(caught.value)
    assert repr(text) in str(caught.value)
    assert isinstance(caught.value, ApkociError)


def test_errors_survive_pickling() -> None:
    with pytest.raises(DependencyError) as caught:
        parse_dependency("foo=")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.text, copy.reason) == (str(caught.value), "foo=", caught.value.reason)


def test_parse_dependencies() -> None:
    deps = parse_dependencies("nagios-plugins so:libc.musl-x86_64.so.1\nso:libcrypto.so.1.1 !foo<2")
    assert [d.name for d in deps] == [
        "nagios-plugins",
        "so:libc.musl-x86_64.so.1",
        "so:libcrypto.so.1.1",
        "foo",
    ]
    assert (
        format_dependencies(deps)
        == "nagios-plugins so:libc.musl-x86_64.so.1 so:libcrypto.so.1.1 !foo<2"
    )
    assert parse_dependencies("") == ()


@pytest.mark.parametrize(
    "text, version, expected",
    [
        ("foo", "1.0", True),
        ("foo", None, True),
        ("foo>=1.2", "1.2", True),
        ("foo>=1.2", "1.1-r9", False),
        ("foo>=1.2", None, False),  # a provides entry without a version satisfies no range
        ("foo<2", "1.9", True),
        ("foo=1.2-r0", "1.2-r0", True),
        ("foo=1.2-r0", "1.2-r1", False),
        ("foo~1.2", "1.2.9-r3", True),
        ("foo~1.2", "1.3", False),
        ("!foo<2", "1.0", True),  # the range the conflict forbids
        ("!foo<2", "2.0", False),
    ],
)
def test_matches_version(text: str, version: str, expected: bool) -> None:
    assert parse_dependency(text).matches_version(version) is expected


def test_checksum_dependency_matches_the_checksum_only() -> None:
    dep = parse_dependency("foo><Q1EyN5AdpAOBJWKMR89pp/C66o+OE=")
    assert dep.is_checksum
    assert dep.matches_version("1.0", checksum="Q1EyN5AdpAOBJWKMR89pp/C66o+OE=")
    assert not dep.matches_version("1.0", checksum="Q1EyN5AdpAOBJWKMR89pp/C66o+FE=")
    assert not dep.matches_version("1.0")


@pytest.mark.parametrize("index", ["v3.16-main-x86_64", "v3.17-main-aarch64"])
def test_every_dependency_of_a_real_index_parses_and_round_trips(index: str) -> None:
    with tarfile.open(shared_testdata("alpine", index, "APKINDEX.tar.gz")) as archive:
        member = archive.extractfile("APKINDEX")
        assert member is not None
        text = member.read().decode()
    words = [
        word
        for line in text.splitlines()
        if line[:2] in ("D:", "p:", "i:")
        for word in line[2:].split()
    ]
    assert len(words) > 20000
    spelled_differently = [word for word in words if str(parse_dependency(word)) != word]
    assert spelled_differently == []
    assert any(parse_dependency(word).conflict for word in words)
