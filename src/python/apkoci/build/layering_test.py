from __future__ import annotations

from typing import Dict, Optional, Sequence

import pytest
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.index import Package
from apkoci.build.errors import BuildError
from apkoci.build.layering import (
    PackageGroup,
    apply_budget,
    group_by_origin,
    plan_package_layers,
    split_tree,
)
from apkoci.install.database import INSTALLED_PATH, InstalledPackage, format_installed_db
from apkoci.oci.layer import DIR, Entry


def _package(
    name: str, origin: str, size: int, version: str = "1.0-r0", replaces: str = ""
) -> Package:
    return Package(
        name,
        version,
        origin=origin,
        installed_size=size,
        replaces=parse_dependencies(replaces),
    )


CRANE = _package("crane", "crane", 100)
GLIBC = _package("glibc", "glibc", 6_113_087)
POSIX = _package("glibc-locale-posix", "glibc", 417_444)
LIBCRYPT1 = _package("libcrypt1", "glibc", 23_508, version="2.38-r14")
NEWCRYPT1 = _package("libcrypt1", "glibc", 23_508, version="2.38-r16")
LIBXCRYPT = _package("libxcrypt", "libxcrypt", 235_761, replaces="libcrypt1<2.38-r15")
ANY_XCRYPT = _package("libxcrypt", "libxcrypt", 235_761, replaces="libcrypt1")


def _names(groups: Sequence[PackageGroup]) -> list:
    return [list(group.names) for group in groups]


@pytest.mark.parametrize(
    "packages, budget, expected",
    [
        ([CRANE], 1, [["crane"]]),
        # One origin, one group; the bigger group first.
        ([CRANE, GLIBC, POSIX], 2, [["glibc", "glibc-locale-posix"], ["crane"]]),
        # Budget 0 (apko's default) and 1 both give one package layer.
        ([CRANE, GLIBC, POSIX], 0, [["crane", "glibc", "glibc-locale-posix"]]),
        ([CRANE, GLIBC, POSIX], 1, [["crane", "glibc", "glibc-locale-posix"]]),
        # libxcrypt replaces libcrypt1 at this version: it joins glibc's group.
        (
            [CRANE, GLIBC, POSIX, LIBCRYPT1, LIBXCRYPT],
            5,
            [["glibc", "glibc-locale-posix", "libcrypt1", "libxcrypt"], ["crane"]],
        ),
        # ... not at a version the replaces entry leaves out.
        (
            [CRANE, GLIBC, POSIX, NEWCRYPT1, LIBXCRYPT],
            5,
            [["glibc", "glibc-locale-posix", "libcrypt1"], ["libxcrypt"], ["crane"]],
        ),
        # A replaces entry without a version takes any.
        (
            [CRANE, GLIBC, POSIX, NEWCRYPT1, ANY_XCRYPT],
            5,
            [["glibc", "glibc-locale-posix", "libcrypt1", "libxcrypt"], ["crane"]],
        ),
        # Three groups, budget 2: the biggest stays, the others are merged into the last one.
        (
            [CRANE, GLIBC, POSIX, NEWCRYPT1, LIBXCRYPT],
            2,
            [["glibc", "glibc-locale-posix", "libcrypt1"], ["crane", "libxcrypt"]],
        ),
        ([], 3, []),
    ],
)
def test_packages_are_grouped_like_apko(
    packages: Sequence[Package], budget: int, expected: list
) -> None:
    groups = plan_package_layers(packages, budget)
    assert _names(groups) == expected
    for group in groups:
        assert group.size == sum(package.installed_size for package in group.packages)
        assert group.tiebreaker == max(group.names)


def test_equal_sizes_are_ordered_by_the_greatest_name() -> None:
    groups = group_by_origin([_package(name, name, 10) for name in ("b", "c", "a")])
    assert _names(apply_budget(groups, 3)) == [["a"], ["b"], ["c"]]
    assert _names(apply_budget(groups, 2)) == [["a"], ["b", "c"]]


# --- Splitting a tree -----------------------------------------------------------------------------


def _installed(package: Package) -> InstalledPackage:
    return InstalledPackage(package)


TREE = [
    Entry.directory("etc"),
    Entry.file("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
    Entry.directory("lib"),
    Entry.directory("lib/apk"),
    Entry.directory("lib/apk/db"),
    Entry.file(INSTALLED_PATH, data=b"the whole database\n"),
    Entry.directory("usr"),
    Entry.directory("usr/bin"),
    Entry.file("usr/bin/crane", data=b"crane"),
    Entry.hardlink("usr/bin/crane-again", "usr/bin/crane"),
    Entry.directory("usr/lib", mode=0o700, uid=7),
    Entry.file("usr/lib/libc.so", data=b"libc"),
    Entry.symlink("usr/lib/libc.so.6", "libc.so"),
    Entry.directory("var"),
]
OWNERS: Dict[str, str] = {
    "usr/bin/crane": "crane",
    "usr/bin/crane-again": "crane",
    "usr/lib/libc.so": "glibc",
    "usr/lib/libc.so.6": "glibc",
    "usr": "glibc",  # directories go on top whoever made them
}


def _owner_of(path: str) -> Optional[str]:
    return OWNERS.get(path)


def test_a_tree_is_cut_by_owner_with_parents_and_partial_databases() -> None:
    groups = plan_package_layers([CRANE, GLIBC, POSIX], 2)
    installed = [_installed(package) for package in (CRANE, GLIBC, POSIX)]
    glibc, crane, top = split_tree(TREE, _owner_of, groups, installed)
    assert (glibc.packages, crane.packages, top.packages) == (
        ("glibc", "glibc-locale-posix"),
        ("crane",),
        (),
    )
    assert [entry.path for entry in glibc.entries] == [
        "lib",
        "lib/apk",
        "lib/apk/db",
        INSTALLED_PATH,
        "usr",
        "usr/lib",
        "usr/lib/libc.so",
        "usr/lib/libc.so.6",
    ]
    assert [entry.path for entry in crane.entries] == [
        "lib",
        "lib/apk",
        "lib/apk/db",
        INSTALLED_PATH,
        "usr",
        "usr/bin",
        "usr/bin/crane",
        "usr/bin/crane-again",
    ]
    # The top layer has every directory and what no package installed, the whole database too.
    assert [entry.path for entry in top.entries] == [
        entry.path for entry in TREE if entry.kind == DIR or entry.path not in OWNERS
    ]
    by_path = {entry.path: entry for entry in glibc.entries}
    assert by_path["usr/lib"] == Entry.directory("usr/lib", mode=0o700, uid=7)
    assert by_path[INSTALLED_PATH].data == format_installed_db(installed[1:]).encode()
    assert {entry.path: entry for entry in top.entries}[INSTALLED_PATH] == TREE[5]
    # Every member but the directories and the database is in exactly one layer.
    placed = [
        entry.path
        for part in (glibc, crane, top)
        for entry in part.entries
        if entry.kind != DIR and entry.path != INSTALLED_PATH
    ]
    assert sorted(placed) == sorted(
        entry.path for entry in TREE if entry.kind != DIR and entry.path != INSTALLED_PATH
    )


def test_no_packages_leave_only_the_top_layer() -> None:
    (top,) = split_tree(TREE[:2], lambda path: None, (), ())
    assert top.entries == tuple(TREE[:2])


def test_an_owner_outside_the_groups_is_a_bug_reported_as_such() -> None:
    with pytest.raises(BuildError, match="/usr/bin/crane was installed by crane, which is not"):
        split_tree(TREE, _owner_of, plan_package_layers([GLIBC], 1), [_installed(GLIBC)])


def test_a_name_installed_twice_is_refused() -> None:
    with pytest.raises(BuildError, match="installed twice"):
        group_by_origin([LIBCRYPT1, NEWCRYPT1])
