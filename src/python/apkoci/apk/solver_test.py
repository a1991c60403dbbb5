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
