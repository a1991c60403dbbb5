from __future__ import annotations

import tarfile
from typing import Dict, Iterable

import pytest
from apkoci.apk.dependency import Dependency, parse_dependencies
from apkoci.apk.index import IndexFormatError, Package, format_index_text, parse_index_text
from apkoci.errors import ApkociError
from apkoci.testing import shared_testdata

_REAL_INDEXES = {"v3.16-main-x86_64": 4929, "v3.17-main-aarch64": 5004}


def _real_index_text(name: str) -> str:
    # Only the APKINDEX member: verifying the archive's signature is apkoci.apk.repository's job.
    with tarfile.open(shared_testdata("alpine", name, "APKINDEX.tar.gz")) as archive:
        member = archive.extractfile("APKINDEX")
        assert member is not None
        return member.read().decode("utf-8")


def _by_name(packages: Iterable[Package]) -> Dict[str, Package]:
    return {package.name: package for package in packages}


@pytest.mark.parametrize("name, count", sorted(_REAL_INDEXES.items()))
def test_real_index_parses_and_round_trips_byte_for_byte(name: str, count: int) -> None:
    text = _real_index_text(name)
    packages = parse_index_text(text, source=name)
    assert len(packages) == count
    assert all(package.installable for package in packages)
    assert format_index_text(packages) == text
    assert parse_index_text(format_index_text(packages)) == packages


def test_real_index_fields_x86_64() -> None:
    packages = _by_name(parse_index_text(_real_index_text("v3.16-main-x86_64")))
    busybox = packages["busybox"]
    assert busybox == Package(
        name="busybox",
        version="1.35.0-r17",
        arch="x86_64",
        size=507831,
        installed_size=962560,
        description="Size optimized toolbox of many common UNIX utilities",
        url="https://busybox.net/",
        license="GPL-2.0-only",
        origin="busybox",
        maintainer="Sören Tempel <soeren+alpine@soeren-tempel.net>",
        build_time=1659366884,
        commit="2bf6ec48e526113f87216683cd341a78af5f0b3f",
        checksum="Q1iZ+C2JJdBlm2KKtAOkSkM7zZegY=",
        depends=(Dependency("so:libc.musl-x86_64.so.1"),),
        provides=(
            Dependency("/bin/sh"),
            Dependency("cmd:busybox", "=", "1.35.0-r17"),
            Dependency("cmd:sh", "=", "1.35.0-r17"),
        ),
    )
    assert busybox.filename == "busybox-1.35.0-r17.apk"
    musl = packages["musl"]
    assert (musl.version, musl.maintainer, musl.depends) == (
        "1.2.3-r2",
        "Timo Teräs <timo.teras@iki.fi>",
        (),
    )
    assert musl.provides == (Dependency("so:libc.musl-x86_64.so.1", "=", "1"),)
    assert musl.provider_priority is None
    git_zsh = packages["git-zsh-completion"]
    assert git_zsh.install_if == (Dependency("zsh", "=", "5.8.1-r4"), Dependency("git"))
    assert packages["alpine-baselayout-data"].depends == ()


def test_real_index_fields_aarch64() -> None:
    packages = _by_name(parse_index_text(_real_index_text("v3.17-main-aarch64")))
    client = packages["postgresql14-client"]
    assert (client.version, client.arch, client.provider_priority) == ("14.8-r0", "aarch64", 14)
    assert client.checksum == "Q1rIu84Xc1CIOPPrAlFmpbDV/Q4y4="
    assert client.depends[0] == Dependency("postgresql-common")
    assert Dependency("so:libpq.so.5") in client.depends
    assert Dependency("cmd:psql") in client.provides
    assert len(client.provides) == 19


def test_every_apk_tools_solver_repo_parses_and_round_trips() -> None:
    repos = sorted(shared_testdata("apk-tools-solver").glob("*.repo"))
    assert len(repos) == 9
    for repo in repos:
        packages = parse_index_text(repo.read_text(), source=str(repo))
        assert packages, repo
        assert all(package.checksum.startswith("Q1") for package in packages), repo
        assert parse_index_text(format_index_text(packages)) == packages, repo
    provides = _by_name(parse_index_text((repos[0].parent / "provides.repo").read_text()))
    assert provides["app"].depends == (Dependency("so:foo.so.1"),)
    assert provides["mymailreader"].provides == (Dependency("mail-reader"),)


_STANZA = "C:Q1abc=\nP:foo\nV:1.0-r0\nS:10\nI:20\n"


def test_minimal_stanza_defaults() -> None:
    (package,) = parse_index_text(_STANZA)
    assert package == Package(
        name="foo", version="1.0-r0", size=10, installed_size=20, checksum="Q1abc="
    )
    assert format_index_text([package]) == _STANZA + "T:\nU:\nL:\n\n"


def test_repeated_fields() -> None:
    (package,) = parse_index_text(_STANZA + "V:2.0\nD:a b\nD:c\np:x=1\np:y=2\n")
    assert package.version == "2.0"  # the last value wins...
    assert package.depends == parse_dependencies(
        "a b c"
    )  # ...but dependency lists add up, as in apk
    assert package.provides == parse_dependencies("x=1 y=2")


def test_stanzas_end_at_any_line_shorter_than_two_characters() -> None:
    text = "P:a\nV:1\n\nP:b\nV:2\nx\nP:c\nV:3"  # and the last one needs no blank line after it
    assert [(p.name, p.version) for p in parse_index_text(text)] == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
    ]
    assert parse_index_text("\n\n\n") == []


def test_values_are_kept_as_written() -> None:
    (package,) = parse_index_text("P:a\nV:1\nT: two  spaces: and a colon \nm:\n")
    assert package.description == " two  spaces: and a colon "
    assert package.maintainer == ""


def test_unknown_lower_case_fields_are_ignored() -> None:
    (package,) = parse_index_text(_STANZA + "g:some tag\nx:future\n")
    assert package.installable
    assert package == parse_index_text(_STANZA)[0]


@pytest.mark.parametrize("line", ["X:needs a newer apk", "Y:", "1:digit", "#:not a letter"])
def test_unknown_upper_case_fields_make_the_package_not_installable(line: str) -> None:
    first, second = parse_index_text(_STANZA + line + "\n\n" + _STANZA)
    assert not first.installable
    assert second.installable


def test_installed_database_fields_are_accepted_and_ignored() -> None:
    (package,) = parse_index_text(
        _STANZA + "F:usr/bin\nM:0:0:755\nR:file\nZ:Q1xyz=\na:0:0:644\ns:x\nf:y\n"
    )
    assert package.installable
    assert package == parse_index_text(_STANZA)[0]


def test_replaces_and_priorities() -> None:
    (package,) = parse_index_text(_STANZA + "k:0\nr:busybox bar<2\nq:10\n")
    assert package.provider_priority == 0
    assert package.replaces == parse_dependencies("busybox bar<2")
    assert package.replaces_priority == 10
    assert parse_index_text(format_index_text([package])) == [package]
    assert "k:0\n" in format_index_text([package])


@pytest.mark.parametrize(
    "text, message",
    [
        ("P:a\nV:1\nbogus line\n", "APKINDEX, line 3: expected a field like 'P:name'"),
        ("C:Q1x=\nV:1\n", "package at line 1: the name field (P:) is missing"),
        ("P:a\nV:1\n\nP:b\n", "package at line 4: the version field (V:) is missing"),
        ("P:a\nV:1\nS:12k\n", "line 3 (package 'a'): size (S:) must be a whole number, got '12k'"),
        ("P:a\nV:1\nt:-5\n", "build time (t:) must be a whole number"),
        (
            "P:a\nV:1\nD:ok\nD:bad=1.0bc\n",
            "line 4 (package 'a'): dependencies (D:) invalid dependency 'bad=1.0bc'",
        ),
        ("P:a\nV:1\np:so:x=\n", "provides (p:) invalid dependency 'so:x='"),
    ],
)
def test_malformed_indexes_name_the_line_and_package(text: str, message: str) -> None:
    with pytest.raises(IndexFormatError) as caught:
        parse_index_text(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ApkociError)


def test_errors_name_the_source() -> None:
    with pytest.raises(
        IndexFormatError, match=r"^https://example.org/x86_64/APKINDEX.tar.gz, line 1:"
    ):
        parse_index_text("garbage\n", source="https://example.org/x86_64/APKINDEX.tar.gz")


def test_a_line_break_in_a_value_cannot_be_written() -> None:
    package = Package(name="a", version="1", description="two\nlines")
    with pytest.raises(IndexFormatError, match=r"'a' .* description \(T:\) contains a line break"):
        format_index_text([package])


# --- PackageCatalog: the lazy reading must give the careful reading's answers --------------------
# A catalog made from an index text reads a stanza only when asked; what it reports (packages,
# positions by name, provided name and install_if condition, first mentions) and the errors it
# raises must be exactly those of parse_index_text and of a catalog of the packages read in full.


def _assert_catalog_reads_as_parse_index_text(text: str, source: str = "idx") -> None:
    from apkoci.apk.index import PackageCatalog

    try:
        packages = parse_index_text(text, source)
    except IndexFormatError as error:
        with pytest.raises(IndexFormatError) as caught:
            PackageCatalog.from_index_text(text, source)
        assert str(caught.value) == str(error)
        return
    lazy = PackageCatalog.from_index_text(text, source)
    eager = PackageCatalog.from_packages(packages)
    assert len(lazy) == len(packages)
    names = {name for package in packages for name in _names_of(package)} | {"nowhere"}
    for name in sorted(names):
        assert list(lazy.named(name)) == list(eager.named(name)), name
        assert list(lazy.providing(name)) == list(eager.providing(name)), name
        assert list(lazy.triggered_by(name)) == list(eager.triggered_by(name)), name
        assert lazy.first_mention(name) == eager.first_mention(name), name
    assert list(lazy.checksums) == [package.checksum for package in packages]
    assert [lazy.name(i) for i in range(len(lazy))] == [package.name for package in packages]
    assert lazy.packages() == packages
    assert all(lazy.package(i) is lazy.packages()[i] for i in range(len(lazy)))


def _names_of(package: Package) -> Iterable[str]:
    yield package.name
    for dependency in package.depends + package.provides + package.install_if + package.replaces:
        yield dependency.name


@pytest.mark.parametrize("name", sorted(_REAL_INDEXES))
def test_catalog_of_a_real_index_reads_as_parse_index_text(name: str) -> None:
    from apkoci.apk.index import PackageCatalog

    text = _real_index_text(name)
    lazy = PackageCatalog.from_index_text(text, name)
    packages = parse_index_text(text, name)
    eager = PackageCatalog.from_packages(packages)
    assert sum(package is not None for package in lazy._packages) < 10  # read lazily indeed
    every = sorted({name for package in packages for name in _names_of(package)})
    for other in every:
        assert list(lazy.named(other)) == list(eager.named(other)), other
        assert list(lazy.providing(other)) == list(eager.providing(other)), other
        assert list(lazy.triggered_by(other)) == list(eager.triggered_by(other)), other
    for other in every[::40]:  # (searching stanzas is the slow question: a sample)
        assert lazy.first_mention(other) == eager.first_mention(other), other
    assert lazy.packages() == packages


_LAYOUTS = [
    "",
    "\n\n\n",
    _STANZA,
    _STANZA + "\n" + _STANZA,
    "\n\n" + _STANZA + "\n\n\n\n" + _STANZA + "\n\n",  # blank lines before, between and after
    _STANZA.rstrip("\n"),
    "P:a\nV:1\nC:Q1abc=\np:x\n\nC:Q1abd=\nP:b\nV:2\n",  # C: not first, then no D/p/i at all
    "C:Q1a=\nP:a\nV:1\ni:x y\np:z\n\n",  # install_if before provides
    "C:Q1a=\nP:a\nV:1\np:x\np:y=1\ni:q\ni:r\nD:k\nD:l\n\n",  # repeated lists add up
    "C:Q1a=\nP:a\nV:1\np:\ni:\nD:\n\n",  # empty lists
    "C:Q1a=\nP:a\nP:b\nV:1\nV:2\nC:Q1b=\n\n",  # the last value wins
    "C:Q1a=\nP:a\nV:1\nX:future\n\nC:Q1b=\nP:b\nV:1\n#:?\n",  # not installable
    "C:Q1a=\nP:a\nV:1\nD:x  y \tz\np:q=1 r>2 !s t@tag u><Q1abc=\n\n",  # odd but valid spelling
    "C:Q1a=\nP:a\nV:6.8.0p2-r4\np:cmd:a=6.8.0p2-r4 pc:b=v2.4\nD:é ü=1\n\n",  # lax versions
    "C:Q1a=\nP:a\nV:1\nD:x\r\nT:crlf\r\n\n",
    "C:Q1a=\nP:a\nV:1\nx\nD:y\n\n",  # a one-character line: a stanza break for apk
    "C:Q1a=\nP:a\nV:1\nS:12k\n\n",
    "C:Q1a=\nP:a\nV:1\nD:bad=1.0bc\n\n",
    "C:Q1a=\nP:\nV:1\n\n",
    "C:Q1a=\nP:a\nV:\n\n",
    "C:Q1a=\nV:1\nP:a\n\n",
    "C:Q1a=\nP:a\nV:1\nno colon\n\n",
    "C:Q1a=\nP:a\nV:1\nS:1\nI:2\nt:3\nk:4\nq:5\nr:x y<2\nA:x86_64\nT:t\nU:u\nL:l\no:o\nm:m\nc:c\n",
]


@pytest.mark.parametrize("text", _LAYOUTS)
def test_catalog_of_unusual_layouts_reads_as_parse_index_text(text: str) -> None:
    _assert_catalog_reads_as_parse_index_text(text)
    _assert_catalog_reads_as_parse_index_text(text + "\n" + _STANZA)
    _assert_catalog_reads_as_parse_index_text(_STANZA + "\n" + text)


def test_catalog_reads_as_parse_index_text_through_random_damage() -> None:
    # Lines of real stanzas duplicated, dropped, swapped, emptied and mangled, many times over.
    import random

    stanzas = [stanza + "\n" for stanza in _real_index_text("v3.16-main-x86_64").split("\n\n")]
    generator = random.Random(20240601)
    for _ in range(300):
        lines = "".join(generator.sample(stanzas[:400], 3)).split("\n")
        for _ in range(generator.randrange(1, 4)):
            where = generator.randrange(len(lines))
            action = generator.randrange(6)
            if action == 0:
                lines.insert(where, lines[generator.randrange(len(lines))])
            elif action == 1:
                del lines[where]
            elif action == 2:
                other = generator.randrange(len(lines))
                lines[where], lines[other] = lines[other], lines[where]
            elif action == 3:
                lines.insert(where, "")
            elif action == 4 and lines[where]:
                cut = generator.randrange(len(lines[where]))
                lines[where] = (
                    lines[where][:cut] + generator.choice(" =<>~@!:x1.\t") + lines[where][cut + 1 :]
                )
            else:
                lines[where] = lines[where][:1]
        _assert_catalog_reads_as_parse_index_text("\n".join(lines))
