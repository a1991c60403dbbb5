"""apk-tools' own solver tests (``test/*.test`` of apk-tools), run against our resolver.

Each ``.test`` file holds the command line apk's test mode runs (``@ARGS``) and what apk prints
(``@EXPECT``). We support what a fresh root needs:

- ``--test-repo [tag:]file.repo``: a repository (tagged ``@tag``) whose index is that file;
- ``--force`` (implies ``--force-broken-world``), ``--no-network`` (no effect: the repositories
  are local files);
- ``add [-t VIRTUAL] WORLD...``.

A test that needs an installed database (``--test-instdb``, ``--test-world``, ``upgrade``, ``del``,
``fix``) cannot apply to a fresh root; the harness fails loudly on one rather than skipping it
(none of the shared files needs one today).

Install lines must match apk's exactly (the set and the order); error reports must match apk's text
exactly; ``OK: 0 MiB in N packages`` must agree with the count. ``WARNING:`` lines (apk's
"creating empty virtual package") are not something the resolver prints and are not compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from apkoci.apk.dependency import Dependency
from apkoci.apk.index import Package, parse_index_text
from apkoci.apk.repository import Repository, RepositoryIndex
from apkoci.apk.solver import (
    InvalidWorldError,
    Resolution,
    UnsatisfiableError,
    make_virtual_package,
    order_violations,
    resolve,
)
from apkoci.testing import shared_testdata, shared_testdata_dir

# apk's test mode pins the clock, so `add -t` always makes this version.
TEST_MODE_VIRTUAL_VERSION = "20190603.131426"
SOLVER_DATA = "apk-tools-solver"


def _test_names() -> List[str]:
    folder = shared_testdata_dir() / SOLVER_DATA
    names = sorted(path.name for path in folder.glob("*.test")) if folder.is_dir() else []
    # Without the data there is one case, which skips (or fails under CI) in shared_testdata().
    return names or ["<missing apk-tools-solver data>"]


@dataclass
class SolverCase:
    """One parsed .test file."""

    repositories: List[Tuple[Optional[str], str]] = field(default_factory=list)  # (tag, file)
    force: bool = False
    virtual: Optional[str] = None
    world: List[str] = field(default_factory=list)
    expect: List[str] = field(default_factory=list)


def parse_test_file(text: str, source: str) -> SolverCase:
    sections = {"args": [], "expect": []}  # type: dict
    current = None
    for line in text.splitlines():
        if line.strip() == "@ARGS":
            current = "args"
        elif line.strip() == "@EXPECT":
            current = "expect"
        elif current is not None:
            sections[current].append(line)
    case = SolverCase(expect=[line for line in sections["expect"] if line.strip()])
    words = " ".join(sections["args"]).split()
    position = 0
    command = None
    while position < len(words):
        word = words[position]
        position += 1
        if command is None:
            if word == "--test-repo":
                spec = words[position]
                position += 1
                tag, _, file = spec.rpartition(":")
                case.repositories.append((tag or None, file))
            elif word == "--force":
                case.force = True
            elif word == "--no-network":
                pass
            elif word == "add":
                command = word
            else:
                pytest.fail(
                    f"{source}: {word!r} needs an installed database or is unknown to this harness"
                )
        elif word == "-t" and case.virtual is None:
            case.virtual = words[position]
            position += 1
        else:
            case.world.append(word)
    if command != "add":
        pytest.fail(f"{source}: only 'add' applies to a fresh root")
    return case


def _indexes(case: SolverCase, folder: Path) -> list:
    indexes: list = []
    for tag, file in case.repositories:
        path = folder / file
        packages = parse_index_text(path.read_text(), source=str(path))
        indexes.append(
            RepositoryIndex(Repository(url=str(folder), tag=tag), "x86_64", file, packages)
        )
    return indexes


def run_case(case: SolverCase, folder: Path) -> Tuple[Optional[Resolution], Optional[str]]:
    """The resolution, or the error text as apk prints it."""
    indexes = _indexes(case, folder)
    world: list = list(case.world)
    try:
        if case.virtual is not None:
            virtual = make_virtual_package(case.virtual, world, TEST_MODE_VIRTUAL_VERSION)
            indexes.append([virtual])
            world = [Dependency(virtual.name, "=", virtual.version)]
        return resolve(world, indexes, "x86_64", force_broken_world=case.force), None
    except (UnsatisfiableError, InvalidWorldError) as error:
        return None, f"ERROR: {error}"


@pytest.mark.parametrize("test_name", _test_names())
def test_apk_tools_solver_case(test_name: str) -> None:
    folder = shared_testdata(SOLVER_DATA)
    path = folder / test_name
    case = parse_test_file(path.read_text(), str(path))
    resolution, error = run_case(case, folder)

    expected_error = [line for line in case.expect if not line.startswith("WARNING:")]
    if expected_error and expected_error[0].startswith("ERROR:"):
        assert (
            resolution is None
        ), f"apk fails here, we resolved {resolution and resolution.install_messages()}"
        assert error is not None
        assert error.splitlines() == expected_error
        return

    assert error is None, error
    assert resolution is not None
    installs = [line for line in case.expect if re.match(r"\(\d+/\d+\) ", line)]
    assert list(resolution.install_messages()) == installs
    summary = [line for line in case.expect if line.startswith("OK:")]
    assert summary == [f"OK: 0 MiB in {len(resolution)} packages"]
    assert order_violations(resolution) == ()


def test_parse_test_file_reads_tagged_repositories_and_virtual_packages() -> None:
    case = parse_test_file(
        "@ARGS\n--test-repo a.repo\n--test-repo testing:b.repo\nadd -t .v x y@z\n"
        "@EXPECT\nOK: 0 MiB in 0 packages\n",
        "inline",
    )
    assert case.repositories == [(None, "a.repo"), ("testing", "b.repo")]
    assert case.virtual == ".v" and case.world == ["x", "y@z"]
    assert case.expect == ["OK: 0 MiB in 0 packages"]


# --- Cases of our own, where apk's tests leave a rule unexercised --------------------------------


def _index(text: str, tag: Optional[str] = None, url: str = "/repo") -> RepositoryIndex:
    return RepositoryIndex(
        Repository(url=url, tag=tag), "x86_64", "", parse_index_text(text, source=url)
    )


def _stanza(name: str, version: str, *lines: str, checksum: Optional[str] = None) -> str:
    checksum = checksum or f"Q1{(name + version).encode().hex()[:26]:A<26}="
    return "\n".join([f"C:{checksum}", f"P:{name}", f"V:{version}", "S:1", "I:1", *lines]) + "\n\n"


def test_provider_priority_picks_among_virtual_providers() -> None:
    index = _index(
        _stanza("app", "1", "D:/bin/sh")
        + _stanza("dash-binsh", "1", "p:/bin/sh", "k:60")
        + _stanza("busybox-binsh", "1", "p:/bin/sh", "k:100")
    )
    assert resolve(["app"], [index], "x86_64").names() == ("busybox-binsh", "app")


def test_a_lone_virtual_provider_without_priority_is_not_chosen() -> None:
    index = _index(_stanza("app", "1", "D:/bin/sh") + _stanza("busybox", "1", "p:/bin/sh"))
    with pytest.raises(UnsatisfiableError) as raised:
        resolve(["app"], [index], "x86_64")
    assert raised.value.problems[0].subject == "/bin/sh (virtual)"
    assert raised.value.problems[0].items("provided by") == ("busybox",)
    assert raised.value.problems[0].items("required by") == ("app-1[/bin/sh]",)
    # Naming the provider explicitly is the way out, as apk's note says.
    assert resolve(["app", "busybox"], [index], "x86_64").names() == ("busybox", "app")


def test_other_architectures_are_left_out_and_noarch_kept() -> None:
    index = _index(
        _stanza("tool", "2", "A:aarch64")
        + _stanza("tool", "1", "A:x86_64")
        + _stanza("data", "1", "A:noarch")
    )
    assert [str(p) for p in resolve(["tool", "data"], [index], "x86_64").packages] == [
        "data (1)",
        "tool (1)",
    ]


def test_uninstallable_packages_are_never_chosen() -> None:
    index = _index(_stanza("tool", "2", "X:future") + _stanza("tool", "1"))
    assert [str(p) for p in resolve(["tool"], [index], "x86_64").packages] == ["tool (1)"]


def test_same_package_in_two_repositories_comes_from_the_first() -> None:
    first = _index(_stanza("tool", "1", checksum="Q1" + "A" * 26 + "="), url="/first")
    second = _index(_stanza("tool", "1", checksum="Q1" + "A" * 26 + "="), url="/second")
    (resolved,) = resolve(["tool"], [second, first], "x86_64").packages
    assert resolved.repository == Repository(url="/second")


def test_the_earlier_repository_wins_a_tie() -> None:
    first = _index(_stanza("tool", "1", checksum="Q1" + "B" * 26 + "="), url="/first")
    second = _index(_stanza("tool", "1", checksum="Q1" + "C" * 26 + "="), url="/second")
    (resolved,) = resolve(["tool"], [first, second], "x86_64").packages
    assert resolved.repository == Repository(url="/first")


def test_conflicting_world_entry() -> None:
    index = _index(_stanza("a", "1", "D:b") + _stanza("b", "1"))
    with pytest.raises(UnsatisfiableError) as raised:
        resolve(["a", "!b"], [index], "x86_64")
    assert str(raised.value) == (
        "unable to select packages:\n  b-1:\n    breaks: world[!b]\n    satisfies: a-1[b]"
    )


def test_missing_repository_tag() -> None:
    index = _index(_stanza("a", "1"))
    with pytest.raises(UnsatisfiableError, match="'a@edge' does not exist"):
        resolve(["a@edge"], [index], "x86_64")


def test_invalid_world_entry() -> None:
    with pytest.raises(InvalidWorldError, match="'a>=' is not a valid world dependency"):
        resolve(["a>="], [_index(_stanza("a", "1"))], "x86_64")


def test_install_if_chain() -> None:
    # docs triggers man-pages; man-pages and app trigger app-doc: installed right after the last.
    index = _index(
        _stanza("app", "1")
        + _stanza("docs", "1")
        + _stanza("man-pages", "1", "i:docs")
        + _stanza("app-doc", "1", "i:app man-pages")
    )
    assert resolve(["app", "docs"], [index], "x86_64").names() == (
        "app",
        "docs",
        "man-pages",
        "app-doc",
    )


def test_packages_given_directly_have_no_repository() -> None:
    local = parse_index_text(_stanza("mine", "1"), source="local")
    (resolved,) = resolve(["mine"], [local], "x86_64").packages
    assert resolved.repository is None and resolved.tag is None


def test_order_violations_reports_dependencies_installed_too_late() -> None:
    from apkoci.apk.solver import ResolvedPackage

    app = Package(name="app", version="1", depends=(Dependency("lib"),))
    lib = Package(name="lib", version="1")
    late = Resolution((ResolvedPackage(app, None), ResolvedPackage(lib, None)))
    assert order_violations(late) == ("app-1 depends on lib, which is only installed after it",)
    assert (
        order_violations(Resolution((ResolvedPackage(lib, None), ResolvedPackage(app, None)))) == ()
    )


# --- The database works names out lazily: held to an eager reference -----------------------------
# PackageDatabase works a name out (providers, priority, install_if triggers, reverse dependencies
# in apk's hash order) only when a resolve reaches it. This reference builds all of it up front,
# the way apk-tools does (and this module once did), and every name must come out the same.


def _reference_database(sources: List[Tuple[Optional[str], List[Package]]], arch: str) -> dict:
    """{name: (providers, priority, rinstall_if, rdepends)} built eagerly, as apk_db_open does;
    providers are (label, provided version, repository bits)."""
    import base64
    import binascii
    from collections import defaultdict

    def bucket(name: str) -> int:  # apk_blob_hash, djb2 over signed chars, in 20000 buckets
        value = 5381
        for byte in name.encode():
            value = value * 33 + (byte - 256 if byte > 127 else byte)
        return (value & (2**64 - 1)) % 20000

    created: dict = {}  # name -> creation order

    def create(name: str) -> None:
        created.setdefault(name, len(created))

    def identity(checksum: str) -> object:
        if len(checksum) > 2 and checksum[:2] in ("Q1", "Q2"):
            try:
                return checksum[1], base64.b64decode(checksum[2:])
            except (binascii.Error, ValueError):
                pass
        return ("raw", checksum) if checksum else object()

    providers: dict = defaultdict(list)  # name -> [(package record, version)]
    by_checksum: dict = {}
    repositories = 0
    for repository, packages in sources:
        if repository is None:
            bit = 1  # apk's cache, where local files are
        else:
            repositories += 1
            bit = 1 << repositories
        for package in packages:
            create(package.name)
            for dependency in package.depends + package.provides + package.install_if:
                create(dependency.name)
            if package.arch not in ("", "noarch", arch):
                continue
            key = identity(package.checksum)
            record = by_checksum.get(key)
            if record is None:
                record = by_checksum[key] = {"package": package, "repos": 0}
                providers[package.name].append((record, package.version))
                for provided in package.provides:
                    providers[provided.name].append((record, provided.version))
            record["repos"] |= bit
            if repository is None or package.installed_size == 0:
                record["repos"] |= 1
    hashed = sorted(created, key=lambda name: (bucket(name), -created[name]))
    rdepends: dict = defaultdict(list)
    rinstall_if: dict = defaultdict(list)
    for name in hashed:
        for record, _ in providers[name]:
            for attribute, reverse in (("depends", rdepends), ("install_if", rinstall_if)):
                for dependency in getattr(record["package"], attribute):
                    if name not in reverse[dependency.name][-1:]:
                        reverse[dependency.name].append(name)
    result = {}
    for name in created:
        entries = providers[name]
        virtual = sum(record["package"].name != name for record, _ in entries)
        priority = 0 if virtual == 0 else 1 if virtual != len(entries) else 2
        labels = [
            (f"{r['package'].name}-{r['package'].version}", version, r["repos"])
            for r, version in entries
        ]
        result[name] = (labels, priority, rinstall_if[name], rdepends[name])
    return result


def _assert_database_matches_reference(indexes: list, arch: str) -> None:
    from apkoci.apk.solver import PackageDatabase

    sources = [
        (getattr(index, "repository", None), list(getattr(index, "packages", index)))
        for index in indexes
    ]
    reference = _reference_database(sources, arch)
    database = PackageDatabase(indexes, arch)
    names = {name: database._name(name) for name in reference}
    for name in names.values():
        name.providers  # work every name out, so that reverse dependencies are complete
    for text, (providers, priority, rinstall_if, rdepends) in reference.items():
        name = names[text]
        got = []
        for provider in name.providers:
            assert provider.pkg is not None, text  # (only _NO_PROVIDER has none)
            got.append((provider.pkg.label, provider.version, provider.pkg.repos))
        assert got == providers, text
        assert name.priority == priority, text
        assert [other.name for other in name.rinstall_if] == rinstall_if, text
        assert [other.name for other in database.hash_ordered(name.rdepends)] == rdepends, text


def _loaded_index(tmp_path: Path, folder: str, tag: Optional[str] = None) -> RepositoryIndex:
    """An index read the way load_index reads one (lazily), from the shared Alpine data."""
    from apkoci.apk.repository import load_index
    from apkoci.apk.signature import Keyring

    arch = folder.rsplit("-", 1)[1]
    root = tmp_path / folder / ("tagged" if tag else "plain")
    (root / arch).mkdir(parents=True)
    (root / arch / "APKINDEX.tar.gz").symlink_to(
        shared_testdata("alpine", folder, "APKINDEX.tar.gz")
    )
    keyring = Keyring.from_paths([shared_testdata("alpine", "keys")])
    return load_index(Repository(url=str(root), tag=tag), arch, keyring)


def test_database_matches_the_eager_reference_on_alpine_indexes(tmp_path: Path) -> None:
    v316 = _loaded_index(tmp_path, "v3.16-main-x86_64")
    v317 = _loaded_index(tmp_path, "v3.17-main-aarch64")
    _assert_database_matches_reference([v316], "x86_64")
    # Names of packages for another arch count in apk's name order, though the packages do not.
    _assert_database_matches_reference([v317, v316], "x86_64")
    # The same packages in two repositories are one package, available from both.
    tagged = _loaded_index(tmp_path, "v3.16-main-x86_64", tag="edge")
    _assert_database_matches_reference([v316, tagged, v317], "aarch64")


def test_database_matches_the_eager_reference_on_apk_tools_repositories() -> None:
    folder = shared_testdata(SOLVER_DATA)
    indexes = [
        RepositoryIndex(
            Repository(url=str(path)), "x86_64", "", parse_index_text(path.read_text(), str(path))
        )
        for path in sorted(folder.glob("*.repo"))
    ]
    for index in indexes:
        _assert_database_matches_reference([index], "x86_64")
    _assert_database_matches_reference(indexes, "x86_64")
    local = [package for index in indexes[:2] for package in index.packages]
    _assert_database_matches_reference([local] + indexes, "x86_64")


def test_lazily_loaded_index_resolves_as_the_index_read_in_full(tmp_path: Path) -> None:
    lazy = _loaded_index(tmp_path, "v3.17-main-aarch64")
    eager = RepositoryIndex(lazy.repository, lazy.arch, lazy.description, list(lazy.packages))
    names = sorted({package.name for package in eager.packages})[1::7]
    for name in names:
        try:
            expected = resolve([name], [eager], "aarch64")
        except UnsatisfiableError as error:
            with pytest.raises(UnsatisfiableError) as raised:
                resolve([name], [_loaded_index(tmp_path / name, "v3.17-main-aarch64")], "aarch64")
            assert str(raised.value) == str(error)
            continue
        assert resolve([name], [lazy], "aarch64") == expected


def test_threads_resolving_on_one_database_get_what_one_thread_gets(tmp_path: Path) -> None:
    import concurrent.futures
    import sys

    from apkoci.apk.solver import PackageDatabase

    index = _loaded_index(tmp_path, "v3.16-main-x86_64")
    names = sorted({package.name for package in index.packages})[::53]
    worlds = [[name] for name in names] + [names[i : i + 4] for i in range(0, len(names), 4)]

    def outcome(database: PackageDatabase, world: List[str]) -> object:
        try:
            return database.resolve(world)
        except UnsatisfiableError as error:
            return str(error)

    alone = PackageDatabase([index], "x86_64")
    expected = [outcome(alone, world) for world in worlds]
    shared = PackageDatabase([index], "x86_64")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as can be, mid-way through names
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda world: outcome(shared, world), worlds))
    finally:
        sys.setswitchinterval(interval)
    assert got == expected


@pytest.mark.parametrize(
    "name",
    ["", "a", "busybox", "so:libc.musl-x86_64.so.1", "ü-é€", "x" * 64, "y" * 65, "z" * 200],
)
def test_name_buckets_are_apk_tools_djb2(name: str) -> None:
    from apkoci.apk.solver import _apk_name_bucket

    value = 5381
    for byte in name.encode():
        value = (value * 33 + (byte - 256 if byte > 127 else byte)) % 2**64
    assert _apk_name_bucket(name) == value % 20000


@pytest.mark.parametrize(
    "checksums",
    [
        ["Q1ZX+on7zBgcokTctj4tLSmx7q5O4=", "Q1VUBxlP54+nXCR+xuJZq3y37aJ8A="],
        ["Q1ZX+on7zBgcokTctj4tLSmx7q5O5=", "Q1ZX+on7zBgcokTctj4tLSmx7q5O4="],  # one bytes, twice
        ["Q1x\nQ1ZX+on7zBgcokTctj4tLSmx7q5O4=", "Q1ZX+on7zBgcokTctj4tLSmx7q5O4="],
        ["", "", "raw", "Q1", "Q1!!", "Q2" + "A" * 43 + "=", "Q2" + "A" * 42 + "E="],
        [],
    ],
)
def test_checksum_keys_tell_packages_apart_as_apk_does(checksums: List[str]) -> None:
    # apk compares decoded checksums: two spellings of the same bytes are one package.
    import base64
    import binascii

    from apkoci.apk.solver import _checksum_keys

    def decoded(checksum: str) -> object:
        if len(checksum) > 2 and checksum[:2] in ("Q1", "Q2"):
            try:
                return checksum[1], base64.b64decode(checksum[2:])
            except (binascii.Error, ValueError):
                pass
        return ("raw", checksum) if checksum else object()

    keys, expected = list(_checksum_keys(checksums)), [decoded(c) for c in checksums]
    for i in range(len(checksums)):
        for j in range(len(checksums)):
            assert (keys[i] == keys[j]) == (expected[i] == expected[j]), (i, j)
