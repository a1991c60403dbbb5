"""``layering: {strategy: origin, budget: N}``: one architecture's file tree as several layers.

What apko does (``pkg/build/layers.go``, ``groupByOriginAndSize`` and ``splitLayers``), and so
what apkoci does:

- the file tree is built once, exactly as for one layer (packages, then apko's steps), and its
  entries are then partitioned: layering changes how the tree is cut, never what is in it;
- the installed packages are grouped by ``origin`` (the source package: ``glibc`` and
  ``glibc-locale-posix`` go together), and two groups become one when a package of one
  ``replaces`` a package of the other whose version the replaces entry accepts (``libxcrypt``
  replacing ``libcrypt1<2.38-r15`` joins glibc's group only while libcrypt1 is older than that);
- a group's size is the sum of its packages' installed sizes (``I:``); groups are sorted by size,
  largest first, ties broken by the greatest package name in each group (smallest first). When
  there are more groups than ``budget``, the first ``budget - 1`` stay and all the others are
  merged into one, placed last; so ``budget`` counts the package layers, and budget 0 or 1 gives a
  single package layer. Within a group the packages are sorted by name;
- the layers are the groups in that order, bottom first, then one *top* layer. A file, symlink,
  hard link or device goes into the layer of the package that installed it; whatever no package
  installed goes on top: the apk database files (``/lib/apk/db/installed`` whole,
  ``scripts.tar``, ``triggers``, ``/etc/apk/world``, ``repositories``, the build keyring in
  ``/etc/apk/keys``, the ``/dev`` nodes), and all that the build steps wrote (``/etc/passwd`` and
  ``/etc/group``, ``/etc/apko.json``, ``paths``, certificate bundles, s6 services, busybox links);
- directories belong to no package in apko: every directory is in the top layer, with its
  metadata, so the top layer has the last word on them; a package layer holds in addition each
  directory above its own entries, so that it is a well-formed tar by itself;
- each package layer also holds a partial ``/lib/apk/db/installed`` with only its own packages'
  stanzas (in the layer's package order), same metadata as the real one, so that scanners that
  look at one layer find its packages; the top layer's full database covers them all.

Unpacked in order, the layers give exactly the tree a single layer holds.

Deliberate differences:

- apko overwrites the time of a directory copied into a package layer with the time of the entry
  below it, for deduplication; every member of an apkoci layer has the one build time, so nothing
  is overwritten;
- apko's database is ``usr/lib/apk/db/installed`` in its newest versions; apkoci's is where apk
  puts it, ``lib/apk/db/installed`` (:data:`apkoci.install.database.INSTALLED_PATH`);
- a file a build step writes anew (e.g. ``/etc/passwd`` when a package shipped one) is the
  build's in apkoci's tree and goes on top; a file a step only chmods or chowns stays its
  package's;
- apko gives each of its ecosystem (language) packages a group of its own; apkoci installs APK
  packages only. Like apko, apkoci refuses ``layering`` with ``contents.baseimage``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from apkoci.apk.index import Package
from apkoci.build.errors import BuildError
from apkoci.install.database import INSTALLED_PATH, InstalledPackage, format_installed_db
from apkoci.oci.layer import DIR, FILE, Entry, member_order_key


@dataclass(frozen=True)
class PackageGroup:
    """The packages of one package layer, sorted by name, and what orders the layers."""

    packages: Tuple[Package, ...]
    size: int
    tiebreaker: str  # the greatest package name

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(package.name for package in self.packages)


def _group_of(packages: Sequence[Package]) -> PackageGroup:
    ordered = tuple(sorted(packages, key=lambda package: package.name))
    return PackageGroup(
        ordered,
        sum(package.installed_size for package in ordered),
        max((package.name for package in ordered), default=""),
    )


class _Partition:
    """Union-find over package names (the groups being merged)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._parent = {name: name for name in names}

    def find(self, name: str) -> str:
        while self._parent[name] != name:
            self._parent[name] = self._parent[self._parent[name]]
            name = self._parent[name]
        return name

    def union(self, first: str, second: str) -> None:
        self._parent[self.find(first)] = self.find(second)


def group_by_origin(packages: Sequence[Package]) -> List[PackageGroup]:
    """The packages grouped by origin, groups joined by ``replaces`` (see the module docstring);
    in no particular order (:func:`apply_budget` orders them)."""
    by_name = {package.name: package for package in packages}
    if len(by_name) != len(packages):
        raise BuildError("a package is installed twice: the lock lists one name twice; lock again")
    partition = _Partition(by_name)
    first_of_origin: Dict[str, str] = {}
    for package in packages:
        partition.union(package.name, first_of_origin.setdefault(package.origin, package.name))
    for package in packages:
        for replaced in package.replaces:
            other = by_name.get(replaced.name)
            # What is replaced may not be in the image (normal), or be at a version the entry
            # does not cover: then the two stay apart.
            if other is not None and replaced.matches_version(other.version, other.checksum):
                partition.union(package.name, other.name)
    members: Dict[str, List[Package]] = {}
    for package in packages:
        members.setdefault(partition.find(package.name), []).append(package)
    return [_group_of(group) for group in members.values()]


def apply_budget(groups: Sequence[PackageGroup], budget: int) -> Tuple[PackageGroup, ...]:
    """The groups largest first; beyond ``budget`` (at least one) the rest merged into the last."""
    ordered = sorted(groups, key=lambda group: (-group.size, group.tiebreaker))
    if len(ordered) <= budget:
        return tuple(ordered)
    cutoff = max(budget - 1, 0)
    rest = [package for group in ordered[cutoff:] for package in group.packages]
    return (*ordered[:cutoff], _group_of(rest))


def plan_package_layers(packages: Sequence[Package], budget: int) -> Tuple[PackageGroup, ...]:
    """apko's ``groupByOriginAndSize``: the package layers, bottom first."""
    return apply_budget(group_by_origin(packages), budget)


@dataclass(frozen=True)
class LayerPart:
    """The entries of one layer of the split, parents first; ``packages`` empty for the top."""

    entries: Tuple[Entry, ...]
    packages: Tuple[str, ...] = ()


def _parents(path: str) -> Iterable[str]:
    parts = path.split("/")
    return ("/".join(parts[:depth]) for depth in range(1, len(parts)))


def _with_parents(entries: Sequence[Entry], directories: Dict[str, Entry]) -> Tuple[Entry, ...]:
    """``entries`` and the directories above them, parents first (the layer writer's order)."""
    needed: Dict[str, Entry] = {}
    for entry in entries:
        for parent in _parents(entry.path):
            if parent not in needed:
                needed[parent] = directories[parent]
    by_path = {**needed, **{entry.path: entry for entry in entries}}
    return tuple(by_path[path] for path in sorted(by_path, key=member_order_key))


def split_tree(
    entries: Iterable[Entry],
    owner_of: Callable[[str], Optional[str]],
    groups: Sequence[PackageGroup],
    installed: Sequence[InstalledPackage],
) -> Tuple[LayerPart, ...]:
    """The tree's ``entries`` cut into one part per group, then the top part (module docstring).

    ``owner_of`` names the package that installed the entry at a path (None for the build's own);
    ``installed`` gives each package's stanza of the installed database.
    """
    layer_of = {name: index for index, group in enumerate(groups) for name in group.names}
    directories: Dict[str, Entry] = {}
    top: List[Entry] = []
    parts: List[List[Entry]] = [[] for _ in groups]
    database: Optional[Entry] = None
    for entry in entries:
        if entry.kind == DIR:
            directories[entry.path] = entry
            top.append(entry)
            continue
        if entry.path == INSTALLED_PATH:
            database = entry
        owner = None if entry.path == INSTALLED_PATH else owner_of(entry.path)
        if owner is None:
            top.append(entry)
        elif owner in layer_of:
            parts[layer_of[owner]].append(entry)
        else:
            raise BuildError(
                f"/{entry.path} was installed by {owner}, which is not among the installed "
                "packages being layered; this is a bug in apkoci: report it with the lock"
            )
    if database is not None and database.kind == FILE:
        stanzas = {record.package.name: record for record in installed}
        for part, group in zip(parts, groups):
            text = format_installed_db(stanzas[name] for name in group.names)
            data = text.encode("utf-8", "surrogateescape")
            part.append(replace(database, size=len(data), source=None, data=data))
    return (
        *(
            LayerPart(_with_parents(part, directories), group.names)
            for part, group in zip(parts, groups)
        ),
        LayerPart(tuple(top)),
    )
