"""Choosing the packages of an image the way apk-tools 2.14 does, for a fresh root.

``resolve(world, indexes, arch)`` answers the question ``apk add --initdb <world>`` answers: which
packages get installed, in which order, from which repository. The answer has to be apk's *exactly*
(same set, same order, same provider choices, same error report), so this module follows the
algorithm of apk-tools' ``src/solver.c`` (and the error report of ``src/commit.c``) step by step
rather than being "a" dependency solver. The steps, and where apk-tools does them:

1. The database (``apk_db_open``, ``apk_db_pkg_add``, ``apk_db_name_rdepends``): every name that
   appears in an index, each with its *providers* (packages of that name, and packages that
   ``provide`` it, with the provided version or none for a virtual provide). Packages with the same
   checksum are one package available from several repositories. Each name also knows which names
   depend on it (``rdepends``) and which names it can trigger through ``install_if``
   (``rinstall_if``), listed in the iteration order of apk's name hash table, which the solver's
   work queues inherit. Unlike apk, the database works a name out the first time a resolve
   reaches it (and reads only the packages that involves), with the same result.
2. Discovery (``discover_name``): from the world, mark every name and package that could be
   involved, and how long the dependency chains below them are.
3. Propagation and selection (``apply_constraint``, ``reconsider_name``, ``select_package``):
   constraints flow down from the world; names whose options narrow down are reconsidered; when
   nothing is left to propagate, the next undecided name gets its best provider by
   ``compare_providers``' preference list; repeat until every wanted name is decided.
4. The changeset (``generate_changeset``): a depth-first walk from the world, in name order,
   installs each package after its dependencies, and an ``install_if`` package right after the
   last of its conditions.
5. On failure, apk's report (``apk_solver_print_errors``): the packages that conflict or break
   something, the names nothing provides, and who asked for them.

What a fresh root leaves out of apk's solver: installed packages, upgrades and the solver flags of
``apk upgrade``/``apk fix`` (``--latest``, ``--available``, ``--reinstall``); nothing is installed,
so the preferences that depend on them are ties. ``replaces`` takes no part in choosing packages
(apk uses it when two packages write the same file, at install time).

One deliberate fact from apk-tools 2.14.0 worth knowing: a virtual provide (``p:/bin/sh``, no
version) is never chosen on its own unless its package declares a ``provider_priority`` (``k:``),
even when it is the only provider; the user has to name the package (apk's
``please select one of the 'provided by' packages explicitly``).

The work queues are walked in the order of apk's name hash table (djb2 hash, 20000 buckets, the
latest inserted name first in a bucket); it only matters for the order in which equally good
candidates are looked at and for the order of the "required by" lists of the error report.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import itertools
import operator
import re
import threading
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

from apkoci.apk.dependency import Dependency, DependencyError, parse_dependency
from apkoci.apk.index import Package, PackageCatalog
from apkoci.apk.version import CHECKSUM_OPERATOR, compare_versions, version_matches
from apkoci.errors import ApkociError

if TYPE_CHECKING:
    from apkoci.apk.repository import Repository, RepositoryIndex

__all__ = [
    "InvalidWorldError",
    "PackageDatabase",
    "Problem",
    "Resolution",
    "ResolvedPackage",
    "UnsatisfiableError",
    "make_virtual_package",
    "order_violations",
    "resolve",
]

# An index source: a repository's index, or packages given directly (local .apk files, a virtual
# package), which belong to no repository.
IndexSource = Union["RepositoryIndex", Sequence[Package]]
WorldEntry = Union[str, Dependency]


# --- Errors ---------------------------------------------------------------------------------------


class InvalidWorldError(ApkociError):
    """A world entry (or a child of a virtual package) that apk would refuse to parse."""


@dataclass(frozen=True)
class Problem:
    """One entry of apk's ``unable to select packages`` report.

    ``subject`` is what apk prints before the colon: ``d-2.0`` (a package), ``/bin/sh (virtual)``
    (a name only virtual providers have) or ``nonexistant (no such package)``. ``details`` are the
    labelled lists under it, in apk's order, e.g. ``(("breaks", ("b-1[d<2.0]",)),
    ("satisfies", ("world[d>1.5]", "a-3[d>1.5]")))``. The labels are ``masked in``, ``conflicts``,
    ``breaks``, ``satisfies``, ``note``, ``provided by`` and ``required by``.
    """

    subject: str
    details: Tuple[Tuple[str, Tuple[str, ...]], ...]

    def items(self, label: str) -> Tuple[str, ...]:
        """Everything listed under ``label`` (all its groups), e.g. ``problem.items("breaks")``."""
        return tuple(item for name, items in self.details if name == label for item in items)


class UnsatisfiableError(ApkociError):
    """No set of packages satisfies the world. The message is apk-tools' report (without its
    ``ERROR:`` prefix); ``problems`` holds the same report as data."""

    def __init__(self, message: str, problems: Tuple[Problem, ...]) -> None:
        super().__init__(message)
        self.problems = problems


# --- Results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedPackage:
    """One package to install and where it comes from.

    ``repository`` is the first repository (in configuration order) whose index has this very
    package, or None for a package given directly. ``tag`` is the repository tag apk shows it with
    (``Installing a@testing (3)``): ``"testing"`` when it comes in through a pinned repository,
    None from the default ones.
    """

    package: Package
    repository: Optional["Repository"]
    tag: Optional[str] = None

    @property
    def name(self) -> str:
        return self.package.name

    @property
    def version(self) -> str:
        return self.package.version

    def __str__(self) -> str:
        """apk's spelling, ``name@tag (version)``."""
        return f"{self.name}{'@' + self.tag if self.tag else ''} ({self.version})"


@dataclass(frozen=True)
class Resolution:
    """What to install, in apk's install order (every package after its dependencies)."""

    packages: Tuple[ResolvedPackage, ...]

    def __len__(self) -> int:
        return len(self.packages)

    def names(self) -> Tuple[str, ...]:
        return tuple(resolved.name for resolved in self.packages)

    def install_messages(self) -> Tuple[str, ...]:
        """The lines ``apk add`` prints for this resolution: ``(1/2) Installing b (2)``, ..."""
        total = len(self.packages)
        return tuple(
            f"({i}/{total}) Installing {resolved}" for i, resolved in enumerate(self.packages, 1)
        )


# --- The database: names, packages, providers -------------------------------------------------

# Bit 0 of a repository set: apk's "cache" repository, where local files and virtual packages are.
_CACHE_REPOSITORY = 1
_DEFAULT_PINNING = 1  # bit 0 of a pinning mask: tag 0, the untagged repositories
_NAME_HASH_BUCKETS = 20000  # apk_hash_init(&db->available.names, ..., 20000)
_HASH_MASK = (1 << 64) - 1  # apk's hash is an unsigned long


def _apk_name_bucket(name: str) -> int:
    """The bucket of apk's name hash table (``apk_blob_hash``: djb2 over signed chars).

    djb2 is ``5381 * 33**n + sum(c[i] * 33**(n-1-i))``; the sum is taken at C speed.
    """
    data = name.encode()
    size = len(data)
    if size <= len(_POWERS_OF_33):
        powers = _POWERS_OF_33[len(_POWERS_OF_33) - size :]
    else:
        powers = [33**power for power in reversed(range(size))]
    value = 5381 * 33**size + sum(map(operator.mul, data, powers))
    if size and max(data) > 127:  # C's char is signed: such bytes count 256 less
        value -= 256 * sum(power for byte, power in zip(data, powers) if byte > 127)
    return (value & _HASH_MASK) % _NAME_HASH_BUCKETS


_POWERS_OF_33 = [33**power for power in reversed(range(64))]  # 33**63, ..., 33, 1


# A checksum in canonical base64 (the spelling b64encode gives): its own key, as no other spelling
# of the same bytes is canonical. Checked over a whole index at once, it spares decoding each one.
_CANONICAL_CHECKSUM = (
    r"Q[12](?:[A-Za-z0-9+/]{4})*"
    r"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)"
)
_CANONICAL_CHECKSUM_LINE = re.compile(rf"^{_CANONICAL_CHECKSUM}$()", re.MULTILINE)


def _checksum_key(checksum: str) -> object:
    """What identifies a package across indexes: its decoded control checksum.

    apk compares the decoded bytes, so two spellings that differ only in the unused low bits of the
    last base64 character are the same package: the key is the canonical spelling of the bytes. A
    package without a checksum is only itself.
    """
    if len(checksum) > 2 and checksum[0] == "Q" and checksum[1] in "12":
        if _CANONICAL_CHECKSUM_LINE.fullmatch(checksum):
            return checksum
        try:
            return checksum[:2] + base64.b64encode(base64.b64decode(checksum[2:])).decode("ascii")
        except (binascii.Error, ValueError):
            pass
    return ("raw", checksum) if checksum else object()


def _checksum_keys(checksums: Sequence[str]) -> Sequence[object]:
    """The key of each checksum: the checksums themselves when all are canonical (the usual)."""
    # (One line at a time: a single match over all the lines would keep a backtracking state
    # for each, megabytes for a large index.)
    lines = "\n".join(checksums)
    if lines.count("\n") == len(checksums) - 1:  # (no checksum holds a line break)
        if len(_CANONICAL_CHECKSUM_LINE.findall(lines)) == len(checksums):
            return checksums
    return [_checksum_key(checksum) for checksum in checksums]


class _Provider(NamedTuple):
    """A package providing a name: under its own name (its version), or through ``provides``
    (the provided version, None for a virtual provide)."""

    pkg: Optional["_Pkg"]
    version: Optional[str]


_NO_PROVIDER = _Provider(None, None)
# _Provider((pkg, version)) made at C speed (the class's own __new__ is Python code, and a resolve
# makes thousands of them).
# (The stubs give tuple.__new__ a Self return that mypy does not bind to _Provider here.)
_provider: Callable[[Tuple[Optional["_Pkg"], Optional[str]]], _Provider]
_provider = functools.partial(tuple.__new__, _Provider)  # type: ignore[assignment]


class _NameState:
    """The solver's working state of a name (apk's ``name->ss``). The class attributes are the
    initial values, so a fresh state costs one small object (one per name a solve touches)."""

    def __init__(self, name: "_Name") -> None:
        self.name = name

    seen = False
    locked = False
    chosen = _NO_PROVIDER
    requirers = 0
    merge_depends = 0
    merge_provides = 0
    has_virtual_provides = False
    max_dep_chain = 0
    reevaluate_deps = False
    reevaluate_iif = False
    has_options = False
    has_iif = False
    no_iif = False
    reverse_deps_done = False
    queued_dirty = False
    queued_unresolved = False
    in_changeset = False
    # How _next_unresolved ranks the name, (unwanted, priority, -chain), with requirers and
    # without: set when first queued, as priority and chain do not change once discovered.
    wanted_key: Optional[Tuple[int, int, int]] = None
    unwanted_key: Tuple[int, int, int] = (1, 0, 0)


class _PkgState:
    """The solver's working state of a package (apk's ``pkg->ss``)."""

    def __init__(self, pkg: "_Pkg") -> None:
        self.pkg = pkg

    seen = False
    pinning_allowed = 0
    pinning_preferred = 0
    selectable = False
    iif_failed = False
    iif_triggered = False
    tag_preferred = False
    tag_ok = False
    max_dep_chain = 0
    conflicts = 0
    dependencies_merged = False
    dependencies_used = False
    error = False
    in_changeset = False


class _States(dict):  # type: ignore[type-arg]
    """The working state of every name and package one solve touches, made on first use: the
    database itself is never written to while resolving, so resolves can share it (also across
    threads)."""

    def __missing__(self, key: Union["_Name", "_Pkg"]) -> Union[_NameState, _PkgState]:
        state = self[key] = key.STATE(key)  # type: ignore[arg-type]
        return state


# What PackageDatabase._materialize works out for a name on first use.
_MATERIALIZED = frozenset({"providers", "rinstall_if", "priority"})


class _Name:
    """A name of the database. ``providers``, ``rinstall_if`` (the names with a provider whose
    install_if mentions this name, in hash order) and ``priority`` (0: real packages only, 1: real
    and virtual providers, 2: virtual only) are worked out when first read (see ``__getattr__``).
    """

    __slots__ = (
        "name",
        "db",
        "providers",
        "rinstall_if",
        "priority",
        "rdepends",
        "done",
        "_bucket",
        "_creation",
    )
    STATE = _NameState

    providers: List[_Provider]
    rinstall_if: List["_Name"]
    priority: int

    def __init__(self, name: str, db: "PackageDatabase") -> None:
        self.name = name
        self.db = db
        # The names with a provider that depends on this name, among the names worked out so far
        # (so every name a resolve reaches), unordered: see PackageDatabase.hash_ordered.
        self.rdepends: List[_Name] = []
        self.done = False  # whether _materialize has worked it out
        self._bucket = -1
        self._creation: Optional[Tuple[int, ...]] = None  # None: not looked up yet

    def __getattr__(self, attribute: str) -> object:
        # Only called for a slot not set yet: the first read of what _materialize sets.
        if attribute not in _MATERIALIZED:
            raise AttributeError(attribute)
        self.db._materialize(self)
        return object.__getattribute__(self, attribute)

    def bucket(self) -> int:
        """The name's bucket in apk's name hash table."""
        if self._bucket < 0:
            self._bucket = _apk_name_bucket(self.name)
        return self._bucket

    def creation(self) -> Tuple[int, ...]:
        """When apk would have created this name reading the indexes (its first mention)."""
        if self._creation is None:
            self._creation = self.db._first_mention(self.name)
        return self._creation

    def __repr__(self) -> str:
        return f"<name {self.name}>"


class _Dep:
    """A dependency bound to the database's names (shared by every package that has it)."""

    __slots__ = ("name", "op", "version", "conflict", "tag", "checksum")

    def __init__(self, name: _Name, dependency: Dependency, tag: int = 0) -> None:
        self.name = name
        self.op = dependency.op
        self.version = dependency.version
        self.conflict = dependency.conflict
        self.tag = tag
        self.checksum = _checksum_key(dependency.version or "") if dependency.is_checksum else None

    @property
    def text(self) -> str:
        """How apk prints it in reports: without the tag (apk_dep_snprintf has no database)."""
        spelling = ("!" if self.conflict else "") + self.name.name
        return spelling + (self.op or "") + (self.version or "")


class _Pkg:
    __slots__ = (
        "package",
        "name",
        "version",
        "depends",
        "provides",
        "install_if",
        "repos",
        "local",
        "provider_priority",
        "installable",
        "checksum",
    )
    STATE = _PkgState

    def __init__(self, package: Package, name: _Name, checksum: object) -> None:
        self.package = package
        self.name = name
        self.version = package.version
        self.depends: Tuple[_Dep, ...] = ()
        self.provides: Tuple[_Dep, ...] = ()
        self.install_if: Tuple[_Dep, ...] = ()
        self.repos = 0  # bit 0: cache (local file, or installed size 0), bit i: the i-th repository
        self.local = False  # given directly (apk: the package has a file name)
        self.provider_priority = package.provider_priority or 0
        self.installable = package.installable
        self.checksum = checksum

    def __repr__(self) -> str:
        return f"<package {self.label}>"

    @property
    def label(self) -> str:
        return f"{self.name.name}-{self.version}"


class _Tag:
    __slots__ = ("name", "repos")

    def __init__(self, name: str) -> None:
        self.name = name  # without '@'; "" for the default tag
        self.repos = 0  # the repositories carrying this tag


class _Source(NamedTuple):
    """An index of the database: its packages, its repository bit, whether it is local files."""

    catalog: PackageCatalog
    bit: int
    local: bool
    checksum_keys: Sequence[object]  # the _checksum_key of each package, by position


class PackageDatabase:
    """The packages of a set of indexes, cross-referenced like apk's database; resolve against it.

    Build it once per set of indexes and call :meth:`resolve` as often as needed (also from several
    threads). ``indexes`` are in repository order: that order breaks ties between equal packages
    (the earlier repository wins) and decides where a package found in several repositories comes
    from. Packages built for another architecture than ``arch`` are left out (``noarch`` and
    packages without an arch are kept).

    A name is worked out (its providers read from the indexes' catalogs, its reverse links made)
    the first time a resolve reaches it; what apk-tools computes for every name up front, this
    does for the few hundred a world needs, with the same result.
    """

    def __init__(self, indexes: Sequence[IndexSource], arch: str) -> None:
        self.arch = arch
        self._names: Dict[str, _Name] = {}
        self._tags: List[_Tag] = [_Tag("")]
        self._tag_ids: Dict[str, int] = {}
        self._repositories: Dict[int, "Repository"] = {}  # repository bit -> repository
        self._mask_repos_cache: Dict[int, int] = {}
        self._sources: List[_Source] = []
        for source in indexes:
            repository, catalog = _source_catalog(source)
            if repository is None:
                bit, local = _CACHE_REPOSITORY, True
            else:
                bit, local = 1 << (len(self._repositories) + 1), False
                self._repositories[bit] = repository
                self._tags[self._tag_id(repository.tag, create=True)].repos |= bit
            keys = _checksum_keys(catalog.checksums)
            self._sources.append(_Source(catalog, bit, local, keys))
        self.available_repos = _CACHE_REPOSITORY | sum(self._repositories)
        self._shared = _shared_checksums(self._sources)
        # Working names out reads packages and links names: one thread at a time.
        self._lock = threading.RLock()
        # (source, position) -> the package that stanza adds; None when it adds none (another
        # arch, or the same package, by checksum, as an earlier stanza).
        self._added: Dict[Tuple[int, int], Optional[_Pkg]] = {}
        # id(Dependency) -> (it, bound); holding the dependency keeps its id from being reused.
        self._bound: Dict[int, Tuple[Dependency, _Dep]] = {}

    # Building (on first use of a name) -------------------------------------------------------

    def _name(self, name: str) -> _Name:
        found = self._names.get(name)
        if found is None:
            found = self._names.setdefault(name, _Name(name, self))
        return found

    def _materialize(self, name: _Name) -> None:
        """Work out ``name`` (apk_db_pkg_add and apk_db_name_rdepends, for one name): its providers
        in the order apk adds them, the names its install_if can trigger, and its priority; and
        enter it in the reverse dependencies of the names its providers depend on."""
        with self._lock:
            if name.done:
                return  # another thread was first
            providers: List[_Provider] = []
            virtual = 0  # the providers by another package's name
            triggers: Dict[_Name, None] = {}  # ordered, without repeats
            for number, source in enumerate(self._sources):
                catalog = source.catalog
                named, providing = catalog.named(name.name), catalog.providing(name.name)
                positions = sorted(set(named).union(providing)) if providing else named
                for position in positions:
                    pkg = self._package_added(number, position)
                    if pkg is None:
                        continue
                    if pkg.name is name:
                        providers.append(_provider((pkg, pkg.version)))
                    for provided in pkg.provides:
                        if provided.name is name:
                            providers.append(_provider((pkg, provided.version)))
                            virtual += pkg.name is not name
                for position in catalog.triggered_by(name.name):
                    pkg = self._package_added(number, position)
                    if pkg is not None:
                        triggers[pkg.name] = None
                        triggers.update((provided.name, None) for provided in pkg.provides)
            linked = set()
            for provider in providers:
                assert provider.pkg is not None
                for dep in provider.pkg.depends:
                    if dep.name not in linked:
                        linked.add(dep.name)
                        dep.name.rdepends.append(name)
            name.priority = 0 if virtual == 0 else 1 if virtual != len(providers) else 2
            name.rinstall_if = self.hash_ordered(triggers) if triggers else []
            name.providers = providers
            name.done = True

    def _package_added(self, number: int, position: int) -> Optional[_Pkg]:
        """The package the stanza at ``position`` of source ``number`` adds, if any (see _added)."""
        key = (number, position)
        if key in self._added:
            return self._added[key]
        source = self._sources[number]
        package = source.catalog.package(position)
        pkg: Optional[_Pkg] = None
        if self._is_for_arch(package):
            checksum = source.checksum_keys[position]
            stanzas = self._shared.get(checksum, [key])
            same = [stanza for stanza in stanzas if self._is_for_arch(self._package_at(stanza))]
            if same[0] == key:  # the first of its checksum: the one apk keeps
                pkg = self._new_package(package, checksum, same)
        self._added[key] = pkg
        return pkg

    def _package_at(self, key: Tuple[int, int]) -> Package:
        return self._sources[key[0]].catalog.package(key[1])

    def _is_for_arch(self, package: Package) -> bool:
        return package.arch in ("", "noarch", self.arch)

    def _new_package(
        self, package: Package, checksum: object, stanzas: List[Tuple[int, int]]
    ) -> _Pkg:
        """The package of a stanza, available from the repositories of ``stanzas`` (the stanzas
        with its checksum, for this arch)."""
        pkg = _Pkg(package, self._name(package.name), checksum)
        pkg.depends = tuple(self._bind(dep) for dep in package.depends)
        pkg.provides = tuple(self._bind(dep) for dep in package.provides)
        pkg.install_if = tuple(self._bind(dep) for dep in package.install_if)
        for key in stanzas:
            source = self._sources[key[0]]
            pkg.repos |= source.bit
            pkg.local |= source.local
            if source.local or self._package_at(key).installed_size == 0:
                # apk_db_pkg_add: local files and "virtual" packages (installed size 0) are cached.
                pkg.repos |= _CACHE_REPOSITORY
        return pkg

    def _bind(self, dependency: Dependency) -> _Dep:
        # A tag inside an index dependency pins nothing in apk (only world tags do). Parsing
        # shares equal dependencies as one object, so binding each object once is enough.
        found = self._bound.get(id(dependency))
        if found is None:
            bound = _Dep(self._name(dependency.name), dependency)
            self._bound[id(dependency)] = (dependency, bound)
            return bound
        return found[1]

    def _tag_id(self, tag: Optional[str], create: bool) -> int:
        if not tag:
            return 0
        tag = tag.lstrip("@")
        found = self._tag_ids.get(tag)
        if found is None and create:
            found = self._tag_ids[tag] = len(self._tags)
            self._tags.append(_Tag(tag))
        return -1 if found is None else found

    def _first_mention(self, name: str) -> Tuple[int, ...]:
        """Where apk, reading the indexes in order, creates ``name``: (source, position, field,
        entry); after everything for a name no index mentions (it is in no list that is sorted)."""
        for number, source in enumerate(self._sources):
            mention = source.catalog.first_mention(name)
            if mention is not None:
                return (number,) + mention
        return (len(self._sources),)

    def hash_ordered(self, names: Iterable[_Name]) -> List[_Name]:
        """``names`` in the iteration order of apk's name hash table: by bucket, and in a bucket
        the latest created first. Creation order is looked up only for names sharing a bucket."""
        ordered = sorted(names, key=_bucket_of)
        if len(ordered) < 2:
            return ordered
        buckets = [name.bucket() for name in ordered]
        if len(set(buckets)) == len(buckets):
            return ordered
        start = 0
        for _, run in itertools.groupby(buckets):
            size = len(list(run))
            if size > 1:
                ordered[start : start + size] = sorted(
                    ordered[start : start + size], key=_creation_of, reverse=True
                )
            start += size
        return ordered

    # Queries used by the solver ----------------------------------------------------------------

    def mask_repos(self, mask: int) -> int:
        """The repositories a pinning mask (a set of tag bits) allows."""
        repos = self._mask_repos_cache.get(mask)
        if repos is None:
            repos = 0
            for i, tag in enumerate(self._tags):
                if mask & (1 << i):
                    repos |= tag.repos
            self._mask_repos_cache[mask] = repos
        return repos

    def repository_of(self, pkg: _Pkg) -> Optional["Repository"]:
        if pkg.local:
            return None
        for bit in sorted(self._repositories):
            if pkg.repos & bit:
                return self._repositories[bit]
        return None

    # Resolving ---------------------------------------------------------------------------------

    def resolve(
        self, world: Sequence[WorldEntry], *, force_broken_world: bool = False
    ) -> Resolution:
        """Resolve ``world`` (see :func:`resolve`). The database is only read while resolving, so
        several threads may resolve against one database at once."""
        solver = _Solver(self, _world_dependencies(world), force_broken_world)
        changeset = solver.run()
        return Resolution(
            tuple(
                ResolvedPackage(pkg.package, self.repository_of(pkg), solver.display_tag(pkg))
                for pkg in changeset
            )
        )


def _source_catalog(source: IndexSource) -> Tuple[Optional["Repository"], PackageCatalog]:
    """The repository (None for packages given directly) and the catalog of an index source."""
    catalog = getattr(source, "catalog", None)
    if isinstance(catalog, PackageCatalog):  # a RepositoryIndex: its catalog, made once
        return getattr(source, "repository", None), catalog
    if hasattr(source, "packages"):  # another object shaped like an index
        index = cast("RepositoryIndex", source)
        return getattr(index, "repository", None), PackageCatalog.from_packages(index.packages)
    return None, PackageCatalog.from_packages(cast(Sequence[Package], source))


def _source_size(source: IndexSource) -> int:
    """How many packages an index source has (without reading a lazily read index)."""
    catalog = getattr(source, "catalog", None)
    if isinstance(catalog, PackageCatalog):
        return len(catalog)
    if hasattr(source, "packages"):
        return len(cast("RepositoryIndex", source).packages)
    return len(cast(Sequence[Package], source))


def _shared_checksums(sources: Sequence[_Source]) -> Dict[object, List[Tuple[int, int]]]:
    """``{checksum key: (source, position) of each stanza}`` for the checksums of more than one
    stanza (the same package in several repositories); checked at C speed for the usual none."""
    keys = list(itertools.chain.from_iterable(source.checksum_keys for source in sources))
    if len(set(keys)) == len(keys):
        return {}
    stanzas: Dict[object, List[Tuple[int, int]]] = collections.defaultdict(list)
    for number, source in enumerate(sources):
        for position, key in enumerate(source.checksum_keys):
            stanzas[key].append((number, position))
    return {key: found for key, found in stanzas.items() if len(found) > 1}


def _bucket_of(name: _Name) -> int:
    return name.bucket()


def _creation_of(name: _Name) -> Tuple[int, ...]:
    return name.creation()


def _world_dependencies(world: Sequence[WorldEntry]) -> List[Dependency]:
    """The world as apk reads it: parsed, a later entry for a name replacing the earlier one."""
    if isinstance(world, (str, Dependency)):
        raise TypeError(
            "world must be a sequence of dependencies, e.g. ['busybox'], not one string"
        )
    result: Dict[str, Dependency] = {}
    for entry in world:
        if isinstance(entry, Dependency):
            dependency = entry
        else:
            try:
                dependency = parse_dependency(entry)
            except DependencyError:
                raise InvalidWorldError(
                    f"'{entry}' is not a valid world dependency, "
                    "format is name(@tag)([<>~=]version)"
                ) from None
        result[dependency.name] = dependency  # apk_deps_add replaces, keeping the first position
    return list(result.values())


# --- Matching dependencies (package.c) ------------------------------------------------------------

_version_matches = functools.lru_cache(maxsize=1 << 16)(version_matches)
_compare_versions = functools.lru_cache(maxsize=1 << 16)(compare_versions)


def _is_provided(dep: _Dep, provider: _Provider) -> bool:
    """apk_dep_is_provided: does this provider satisfy ``dep`` (conflicts included)?"""
    pkg = provider.pkg
    if pkg is None:
        return dep.conflict
    if dep.op is None:
        return not dep.conflict
    if dep.op == CHECKSUM_OPERATOR:
        return dep.checksum == pkg.checksum
    if provider.version is None:  # a virtual provide satisfies no version constraint
        return dep.conflict
    assert dep.version is not None
    return _version_matches(provider.version, dep.op, dep.version) != dep.conflict


def _is_materialized(dep: _Dep, pkg: _Pkg) -> bool:
    """apk_dep_is_materialized: does the package itself (by its own name) satisfy ``dep``?"""
    if dep.name is not pkg.name:
        return dep.conflict
    return _is_provided(dep, _provider((pkg, pkg.version)))


_IRRELEVANT, _SATISFIES, _CONFLICTS = 1, 2, 4


def _analyze(dep: _Dep, pkg: _Pkg) -> int:
    """apk_dep_analyze: whether ``pkg`` satisfies, conflicts with or is unrelated to ``dep``."""
    if dep.name is pkg.name:
        return _SATISFIES if _is_materialized(dep, pkg) else _CONFLICTS
    for provided in pkg.provides:
        if provided.name is dep.name:
            provider = _provider((pkg, provided.version))
            return _SATISFIES if _is_provided(dep, provider) else _CONFLICTS
    return _IRRELEVANT


def _compare_provider_versions(a: Optional[str], b: Optional[str]) -> int:
    # apk_version_compare_blob: with a missing (virtual) version the comparison is undecided.
    if a is None or b is None:
        return 0
    return _compare_versions(a, b)


def _run(call: Iterator[object]) -> None:
    """Run a recursive procedure written as generators without using Python's stack.

    A procedure "calls" another by yielding the generator of the call; the dependency walks go as
    deep as the dependency graph, deeper than Python's recursion limit on a large index.
    """
    stack = [call]
    while stack:
        try:
            sub = next(stack[-1])
        except StopIteration:
            stack.pop()
        else:
            stack.append(sub)  # type: ignore[arg-type]


# --- The solver (solver.c) ------------------------------------------------------------------------


class _Solver:
    def __init__(
        self, db: PackageDatabase, world: List[Dependency], force_broken_world: bool
    ) -> None:
        self.db = db
        self.force_broken_world = force_broken_world
        self.world: List[_Dep] = []
        self.missing_tags: List[Tuple[str, str]] = []
        for dependency in sorted(world, key=lambda dep: dep.name.encode()):  # apk qsorts by strcmp
            name = db._name(dependency.name)  # (a name only the world mentions has no providers)
            tag = db._tag_id(dependency.tag, create=False)
            if tag < 0:
                assert dependency.tag is not None
                self.missing_tags.append((dependency.name, dependency.tag.lstrip("@")))
            self.world.append(_Dep(name, dependency, tag))
        self.broken: List[bool] = [False] * len(self.world)
        self.default_repos = db.mask_repos(_DEFAULT_PINNING)
        self.errors = 0
        self.pinning_inherit = 0
        self.dirty: Deque[_Name] = collections.deque()
        self.unresolved: List[_NameState] = []  # apk's list, head last: new entries go to the end
        self.changeset: List[_Pkg] = []
        self.state = _States()
        self.seen_rdepends: Dict[_Name, List[_Name]] = {}  # see _seen_rdepends

    # The whole run ---------------------------------------------------------------------------

    def run(self) -> List[_Pkg]:
        self._check_world_tags()
        # --force-broken-world: drop the world entries that cannot be satisfied and solve again.
        for _attempt in range(len(self.world) + 1):
            self._solve()
            if not self.errors or not self.force_broken_world:
                break
            newly_broken = False
            for i, dep in enumerate(self.world):
                pkg = self.state[dep.name].chosen.pkg
                if not self.broken[i] and (pkg is None or self.state[pkg].error):
                    self.broken[i] = newly_broken = True
            if not newly_broken:
                break
        if self.errors:
            problems = _ErrorReport(self).problems()
            raise UnsatisfiableError(_render_report(problems), problems)
        return self.changeset

    def _check_world_tags(self) -> None:
        """apk_db_check_world: a world entry pinned to a tag that no repository has."""
        if self.force_broken_world or not self.missing_tags:
            return
        problems = tuple(
            Problem(f"{name}@{tag}", (("note", (f"no repository is tagged @{tag}",)),))
            for name, tag in self.missing_tags
        )
        lines = [
            f"The repository tag for world dependency '{problem.subject}' does not exist"
            for problem in problems
        ]
        lines.append(
            "Not committing changes due to missing repository tags: tag a repository "
            "(e.g. '@edge https://...') or remove the tag from the world entry."
        )
        raise UnsatisfiableError("\n".join(lines), problems)

    def _reset(self) -> None:
        self.state = _States()
        self.errors = 0
        self.dirty.clear()
        self.unresolved = []
        self.changeset = []
        self.seen_rdepends = {}

    def _solve(self) -> None:
        self._reset()
        for i, dep in enumerate(self.world):
            if not self.broken[i] and not self.state[dep.name].seen:
                _run(self._discover(dep.name))
        for i, dep in enumerate(self.world):
            if not self.broken[i]:
                # A tag no repository has (forced through) pins to nothing, as in apk.
                self.pinning_inherit = 1 << (dep.tag if dep.tag >= 0 else len(self.db._tags))
                self._apply_constraint(None, dep)
        self.pinning_inherit = 0
        while True:
            while self.dirty:
                name = self.dirty.popleft()
                s = self.state[name]
                if s.queued_dirty:  # else it was decided since it was queued
                    s.queued_dirty = False
                    self._reconsider(name)
            undecided = self._next_unresolved()
            if undecided is None:
                break
            self._select_package(undecided)
        for dep in self.world:
            _run(self._cset_dep(None, dep))

    # Discovery -------------------------------------------------------------------------------

    def _discover(self, name: _Name) -> Iterator[object]:
        state = self.state
        s = state[name]
        if s.seen:
            return
        s.seen = True
        s.no_iif = True
        db = self.db
        for provider in name.providers:
            pkg = provider.pkg
            assert pkg is not None
            ps = state[pkg]
            if not ps.seen:
                ps.seen = True
                ps.pinning_allowed = _DEFAULT_PINNING
                ps.pinning_preferred = _DEFAULT_PINNING
                ps.selectable = pkg.installable and bool(pkg.repos & db.available_repos)
                ps.iif_failed = not pkg.install_if
                ps.tag_preferred = (
                    pkg.local
                    or pkg.package.installed_size == 0
                    or bool(pkg.repos & self.default_repos)
                )
                ps.tag_ok = ps.tag_preferred
                for dep in pkg.depends:
                    ds = state[dep.name]
                    if not ds.seen:
                        yield self._discover(dep.name)
                    chain = ds.max_dep_chain + 1
                    if chain > ps.max_dep_chain:
                        ps.max_dep_chain = chain
            s.no_iif = s.no_iif and ps.iif_failed
            if ps.max_dep_chain > s.max_dep_chain:
                s.max_dep_chain = ps.max_dep_chain
        for name0 in name.rinstall_if:
            if not state[name0].seen:
                yield self._discover(name0)

    # Queues ----------------------------------------------------------------------------------

    def _queue_dirty(self, name: _Name) -> None:
        s = self.state[name]
        if s.queued_dirty or s.locked or (s.requirers == 0 and not s.reevaluate_iif):
            return
        s.queued_dirty = True
        self.dirty.append(name)

    def _queue_unresolved(self, name: _Name) -> None:
        s = self.state[name]
        if s.locked:
            return
        want = s.requirers > 0 or s.has_iif
        if want and not s.queued_unresolved:
            s.queued_unresolved = True
            self.unresolved.append(s)
            if s.wanted_key is None:
                s.wanted_key = (0, name.priority, -s.max_dep_chain)
                s.unwanted_key = (1, name.priority, -s.max_dep_chain)
        elif not want and s.queued_unresolved:
            s.queued_unresolved = False
            self.unresolved.remove(s)

    def _next_unresolved(self) -> Optional[_Name]:
        """The name to decide next: the first ready one (everything depending on it is decided
        and one option is left), else the best by compare_name_dequeue: wanted names first, then
        real before virtual ones, then the longest dependency chain below it; first found wins."""
        best: Optional[_NameState] = None
        best_key = (2, 0, 0)  # worse than any
        for s in reversed(self.unresolved):  # apk's list order: the latest added first
            if s.requirers:
                if s.reverse_deps_done and not s.has_options:
                    return s.name
                wanted = s.wanted_key
                assert wanted is not None  # set by _queue_unresolved, which queued it
                key = wanted
            else:
                key = s.unwanted_key
            if key < best_key:
                best, best_key = s, key
        return None if best is None else best.name

    def _seen_rdepends(self, name: _Name) -> List[_Name]:
        """The names depending on ``name`` that discovery reached. Discovery is over before
        anything else happens, so the list is fixed for the solve; apk walks all of ``rdepends``
        (thousands for ``so:libc.musl-x86_64.so.1``) and skips the unseen ones each time."""
        found = self.seen_rdepends.get(name)
        if found is None:
            get = self.state.get
            found = [name0 for name0 in name.rdepends if getattr(get(name0), "seen", False)]
            if len(found) > 1:
                found = self.db.hash_ordered(found)
            self.seen_rdepends[name] = found
        return found

    def _reevaluate_reverse_deps(self, name: _Name) -> None:
        state = self.state
        for name0 in self._seen_rdepends(name):
            state[name0].reevaluate_deps = True
            self._queue_dirty(name0)

    def _reevaluate_reverse_installif(self, name: _Name) -> None:
        for name0 in name.rinstall_if:
            s0 = self.state[name0]
            if not s0.seen or s0.no_iif:
                continue
            s0.reevaluate_iif = True
            self._queue_dirty(name0)

    def _name_requirers_changed(self, name: _Name) -> None:
        self._queue_unresolved(name)
        self._reevaluate_reverse_installif(name)
        self._queue_dirty(name)

    # Constraints -----------------------------------------------------------------------------

    def _mark_error(self, pkg: Optional[_Pkg]) -> None:
        if pkg is None:
            return
        ps = self.state[pkg]
        if not ps.error:
            ps.error = True
            self.errors += 1

    def _disqualify(self, pkg: _Pkg) -> None:
        self.state[pkg].selectable = False
        self._reevaluate_reverse_deps(pkg.name)
        for provided in pkg.provides:
            self._reevaluate_reverse_deps(provided.name)
        self._reevaluate_reverse_installif(pkg.name)

    def _dependency_satisfiable(self, dep: _Dep) -> bool:
        s = self.state[dep.name]
        if s.locked:
            return _is_provided(dep, s.chosen)
        if s.requirers == 0 and _is_provided(dep, _NO_PROVIDER):
            return True
        state = self.state
        for provider in dep.name.providers:
            if state[provider.pkg].selectable and _is_provided(dep, provider):
                return True
        return False

    def _inherit_pinning(self, pkg: _Pkg, parent: Optional[_Pkg]) -> None:
        """inherit_pinning_and_flags: a package wanted by a pinned parent may come from the
        parent's tags; one wanted by the world prefers the world entry's tag."""
        ps = self.state[pkg]
        if parent is not None:
            ps.pinning_allowed |= self.state[parent].pinning_allowed
        else:
            ps.pinning_allowed |= self.pinning_inherit
            ps.pinning_preferred = self.pinning_inherit
            ps.tag_preferred = bool(pkg.repos & self.db.mask_repos(ps.pinning_preferred))
        ps.tag_ok = ps.tag_ok or bool(pkg.repos & self.db.mask_repos(ps.pinning_allowed))

    def _apply_constraint(self, parent: Optional[_Pkg], dep: _Dep) -> None:
        name = dep.name
        state = self.state
        if not dep.conflict:
            s = state[name]
            s.requirers += 1
            if s.requirers == 1:
                self._name_requirers_changed(name)
        for provider in name.providers:
            pkg = provider.pkg
            assert pkg is not None
            ps = state[pkg]
            provided = _is_provided(dep, provider)
            if not provided:
                ps.conflicts += 1
            if ps.selectable and ps.conflicts:
                self._disqualify(pkg)
            if provided:
                self._inherit_pinning(pkg, parent)

    def _exclude_non_providers(self, name: _Name, must_provide: _Name, skip_virtuals: bool) -> None:
        """Provides transitivity: every option of ``must_provide`` provides ``name``, so a package
        giving ``name`` without giving ``must_provide`` would clash with whichever is chosen."""
        if name is must_provide:
            return
        for provider in name.providers:
            pkg = provider.pkg
            assert pkg is not None
            if (
                pkg.name is must_provide
                or not self.state[pkg].selectable
                or (skip_virtuals and provider.version is None)
            ):
                continue
            for provided in pkg.provides:
                if provided.name is must_provide or (skip_virtuals and provided.version is None):
                    break
            else:
                self._disqualify(pkg)

    def _reconsider(self, name: _Name) -> None:
        """reconsider_name: re-check the options of a name, push down what they have in common."""
        state = self.state
        s = state[name]
        reevaluate_deps, reevaluate_iif = s.reevaluate_deps, s.reevaluate_iif
        s.reevaluate_deps = s.reevaluate_iif = False
        first: Optional[_Pkg] = None
        options = tag_not_ok = 0
        has_iif, no_iif = False, True
        for provider in name.providers:
            pkg = provider.pkg
            assert pkg is not None
            ps = state[pkg]
            ps.dependencies_merged = False
            if reevaluate_deps:
                if not ps.selectable:
                    continue
                for dep in pkg.depends:
                    if not self._dependency_satisfiable(dep):
                        self._disqualify(pkg)
                        break
            if not ps.selectable:
                continue
            if reevaluate_iif and not ps.iif_triggered and not ps.iif_failed:
                ps.iif_triggered = True
                for dep in pkg.install_if:
                    ds = state[dep.name]
                    if not ds.locked:
                        ps.iif_triggered = False
                        break
                    if not _is_provided(dep, ds.chosen):
                        ps.iif_triggered = False
                        ps.iif_failed = True
                        break
            if reevaluate_iif and ps.iif_triggered:
                for dep in pkg.install_if:
                    # (a conflict condition is met by no package: apk then inherits from none,
                    # like from the world, while no world entry is being applied)
                    self._inherit_pinning(pkg, state[dep.name].chosen.pkg)
            has_iif = has_iif or ps.iif_triggered
            no_iif = no_iif and ps.iif_failed
            if s.requirers == 0:
                continue
            # Merge what the options have in common: a name every option depends on is needed.
            ps.dependencies_merged = True
            if first is None:
                first = pkg
            for dep in pkg.depends:
                ds = state[dep.name]
                if not dep.conflict and ds.merge_depends == options:
                    ds.merge_depends = options + 1
            own = state[pkg.name]
            if own.merge_provides == options:
                own.merge_provides = options + 1
                own.has_virtual_provides = own.has_virtual_provides or provider.version is None
            for provided in pkg.provides:
                ns = state[provided.name]
                if ns.merge_provides == options:
                    ns.merge_provides = options + 1
                    ns.has_virtual_provides = ns.has_virtual_provides or provided.version is None
            tag_not_ok += not ps.tag_ok
            options += 1
        s.has_options = options > 1 or tag_not_ok > 0
        s.has_iif = has_iif
        s.no_iif = no_iif
        self._queue_unresolved(name)

        if first is not None:
            for provider in name.providers:
                ps = state[provider.pkg]
                ps.dependencies_used = ps.dependencies_merged
            if options == 1:
                # One option left: its dependencies are constraints now (apk applies them again
                # on every reconsideration, counting the requirer again; so do we).
                for dep in first.depends:
                    if self._merge_complete_depends(dep.name, options):
                        self._apply_constraint(first, dep)
            else:
                for dep in first.depends:
                    name0 = dep.name
                    if self._merge_complete_depends(name0, options) and state[name0].requirers == 0:
                        # A name every option depends on is wanted, whichever option wins.
                        state[name0].requirers += 1
                        self._name_requirers_changed(name0)
                        for pkg in _packages_of(name0):
                            self._inherit_pinning(pkg, first)
            own = state[first.name]
            if self._merge_complete_provides(first.name, options):
                self._exclude_non_providers(first.name, name, own.has_virtual_provides)
            for provided in first.provides:
                if self._merge_complete_provides(provided.name, options):
                    self._exclude_non_providers(
                        provided.name, name, state[provided.name].has_virtual_provides
                    )
            own.has_virtual_provides = False
            for provided in first.provides:
                state[provided.name].has_virtual_provides = False

        s.reverse_deps_done = all(state[name0].locked for name0 in self._seen_rdepends(name))

    def _merge_complete_depends(self, name: _Name, options: int) -> bool:
        """Whether all ``options`` depend on ``name`` (merge_index_complete); resets the count."""
        s = self.state[name]
        complete = s.merge_depends == options
        s.merge_depends = 0
        return complete

    def _merge_complete_provides(self, name: _Name, options: int) -> bool:
        """Whether all ``options`` provide ``name``; resets the count."""
        s = self.state[name]
        complete = s.merge_provides == options
        s.merge_provides = 0
        return complete

    # Choosing --------------------------------------------------------------------------------

    def _compare_providers(self, a: _Provider, b: _Provider) -> int:
        """compare_providers: > 0 when ``a`` is the better provider, < 0 when ``b`` is."""
        pa, pb = a.pkg, b.pkg
        if pa is None or pb is None:
            return (pa is not None) - (pb is not None)
        sa, sb = self.state[pa], self.state[pb]
        r = (
            (sa.selectable - sb.selectable)  # without errors
            or (sa.dependencies_used - sb.dependencies_used)  # in the last merged group
            or (sb.conflicts - sa.conflicts)  # fewer conflicting constraints
            or (sa.tag_ok - sb.tag_ok)  # an allowed pinning
            or (sa.tag_preferred - sb.tag_preferred)  # the preferred pinning
            or _compare_provider_versions(a.version, b.version)  # the latest by the requested name
        )
        if r:
            return r
        if pa.name is pb.name:
            r = _compare_versions(pa.version, pb.version)  # the latest by the package's own name
            if r:
                return r
        r = (pa.provider_priority - pb.provider_priority) or (sa.selectable - sb.selectable)
        if r:
            return r
        # The lowest repository (apk: ffs(repos), the lowest bit; the cache counts as lowest).
        return _lowest_bit(pb.repos) - _lowest_bit(pa.repos)

    def _select_package(self, name: _Name) -> None:
        """select_package: give ``name`` its best provider (or none), and apply what it needs."""
        state = self.state
        s = state[name]
        chosen = _NO_PROVIDER
        if s.requirers or s.has_iif:
            for provider in name.providers:
                pkg = provider.pkg
                assert pkg is not None
                ps = state[pkg]
                if s.requirers == 0 and (not ps.iif_triggered or not ps.tag_ok):
                    continue  # installed by install_if only: needs its trigger and an allowed tag
                if (
                    provider.version is None
                    and state[pkg.name].requirers == 0
                    and pkg.provider_priority == 0
                ):
                    continue  # a virtual provide without provider_priority is not chosen by itself
                if self._compare_providers(provider, chosen) > 0:
                    chosen = provider
        pkg = chosen.pkg
        if pkg is not None:
            if not state[pkg].selectable or not state[pkg].tag_ok:
                self._mark_error(pkg)  # the best there is is broken or pinned away
            self._assign(pkg.name, _provider((pkg, pkg.version)))
            for provided in pkg.provides:
                self._assign(provided.name, _provider((pkg, provided.version)))
            for dep in pkg.depends:
                self._apply_constraint(pkg, dep)
        else:
            self._assign(name, _NO_PROVIDER)
            if s.requirers > 0:
                self.errors += 1

    def _assign(self, name: _Name, provider: _Provider) -> None:
        """assign_name: ``name`` is decided; every other provider of it is out."""
        s = self.state[name]
        if s.locked:
            # Two packages providing one name: fine only if both provide it without a version.
            if provider.version is None and s.chosen.version is None:
                return
            self._mark_error(provider.pkg)
            self._mark_error(s.chosen.pkg)
            return
        s.locked = True
        s.chosen = provider
        if s.queued_unresolved:
            s.queued_unresolved = False
            self.unresolved.remove(s)
        s.queued_dirty = False  # its entry in the deque is skipped
        for other in name.providers:
            if other.pkg is provider.pkg or (provider.version is None and other.version is None):
                continue
            assert other.pkg is not None
            self._disqualify(other.pkg)
        self._reevaluate_reverse_deps(name)
        self._reevaluate_reverse_installif(name)

    # The changeset ---------------------------------------------------------------------------

    def _cset_dep(self, parent: Optional[_Pkg], dep: _Dep) -> Iterator[object]:
        """cset_gen_dep: install what ``dep`` got; a parent whose dependency is unmet (or whose
        dependency is broken) is broken too."""
        s = self.state[dep.name]
        pkg = s.chosen.pkg
        if not _is_provided(dep, s.chosen):
            self._mark_error(parent)
        if not s.in_changeset:
            yield self._cset_name(dep.name)
        if pkg is not None and self.state[pkg].error:
            self._mark_error(parent)

    def _cset_name(self, name: _Name) -> Iterator[object]:
        """cset_gen_name_change: install the package chosen for ``name`` after its dependencies,
        then whatever its arrival completes the install_if conditions of."""
        state = self.state
        s = state[name]
        if s.in_changeset:
            return
        s.in_changeset = True
        pkg = s.chosen.pkg
        if pkg is None or state[pkg].in_changeset:
            return
        state[pkg].in_changeset = True
        state[pkg.name].in_changeset = True
        for provided in pkg.provides:
            state[provided.name].in_changeset = True
        for dep in pkg.depends:
            yield self._cset_dep(pkg, dep)
        self.changeset.append(pkg)
        # apk 2.14 looks at the install_if packages that mention the package's own name only.
        for name0 in pkg.name.rinstall_if:
            if self._install_if_complete(name0):
                yield self._cset_name(name0)

    def _install_if_complete(self, name: _Name) -> bool:
        """cset_check_install_by_iif: every condition of the chosen package is in the changeset."""
        state = self.state
        s = state[name]
        pkg = s.chosen.pkg
        if pkg is None or not s.seen or s.in_changeset:
            return False
        for dep in pkg.install_if:
            ds = state[dep.name]
            if not ds.in_changeset or not _is_provided(dep, ds.chosen):
                return False
        return True

    def tag_id(self, pkg: _Pkg) -> int:
        """get_tag: the first tag of the package's allowed pinning that its repositories have."""
        for i, tag in enumerate(self.db._tags):
            if self.state[pkg].pinning_allowed & (1 << i) and tag.repos & pkg.repos:
                return i
        return 0

    def display_tag(self, pkg: _Pkg) -> Optional[str]:
        return self.db._tags[self.tag_id(pkg)].name or None


def _lowest_bit(value: int) -> int:
    """ffs(): the 1-based position of the lowest set bit, 0 for none."""
    return (value & -value).bit_length()


# --- The error report (commit.c: apk_solver_print_errors) ----------------------------------------

# What the report knows about a name or package (apk's state_int): reachable from the world as a
# real package, only through a virtual provide, or through install_if; reported missing. The low
# bits count providers while listing "provided by".
_PRESENT = 0x80000000
_MISSING = 0x40000000
_VIRTUAL_ONLY = 0x20000000
_INSTALL_IF = 0x10000000
_COUNT_MASK = 0x0000FFFF
_REPORT_WIDTH = 50  # apk wraps at the terminal width, 50 columns when it is not a terminal


def _packages_of(name: _Name) -> Iterator[_Pkg]:
    """The packages providing ``name``, in provider order (one per provides entry)."""
    for provider in name.providers:
        assert provider.pkg is not None
        yield provider.pkg


def _is_name_concrete(pkg: _Pkg, name: _Name) -> bool:
    """Whether ``pkg`` is ``name`` itself or provides it with a version."""
    return pkg.name is name or any(d.name is name and d.version is not None for d in pkg.provides)


class _ErrorReport:
    """Explains a failed solve the way apk does: what the changeset would have installed is
    "marked", every marked package that conflicts or breaks a constraint is listed with what it
    satisfies, and every wanted name nothing marked provides is listed with who wants it."""

    def __init__(self, solver: _Solver) -> None:
        self.solver = solver
        self.world = solver.world
        self.marked = set(solver.changeset)
        self.name_state: Dict[_Name, int] = collections.defaultdict(int)
        self.pkg_state: Dict[_Pkg, int] = collections.defaultdict(int)
        self.found: List[Tuple[str, List[Tuple[str, List[str]]]]] = []
        self.subject: Optional[str] = None  # the next problem's subject, until it gets a label
        self.group: Optional[List[str]] = None  # the items of the open label

    def problems(self) -> Tuple[Problem, ...]:
        _run(self._discover_deps(self.world))
        self._analyze_deps(self.world)
        for pkg in self.solver.changeset:
            self._analyze_package(pkg)
            self._analyze_deps(pkg.depends)
        if not self.found:
            self._explain_the_rest()
        return tuple(
            Problem(subject, tuple((label, tuple(items)) for label, items in details))
            for subject, details in self.found
        )

    # Labels (label_start / label_end) ----------------------------------------------------------

    def _start(self, label: str) -> None:
        if self.subject is not None:
            self.found.append((self.subject, []))
            self.subject = None
        if self.group is None:
            self.group = []
            self.found[-1][1].append((label, self.group))

    def _add(self, label: str, item: str) -> None:
        self._start(label)
        assert self.group is not None
        self.group.append(item)

    def _end(self) -> None:
        self.group = None

    # What is present ---------------------------------------------------------------------------

    def _discover_name(self, name: _Name, state: int) -> Iterator[object]:
        for provider in name.providers:
            pkg = provider.pkg
            assert pkg is not None
            if pkg not in self.marked:
                continue
            pkg_state = state
            if (
                state in (_PRESENT, _INSTALL_IF)
                and not pkg.provider_priority
                and not _is_name_concrete(pkg, name)
            ):
                pkg_state = _VIRTUAL_ONLY
            if self.pkg_state[pkg] & pkg_state:
                continue
            self.pkg_state[pkg] |= pkg_state
            self.name_state[pkg.name] |= pkg_state
            for provided in pkg.provides:
                virtual = pkg_state == _INSTALL_IF and provided.version is None
                self.name_state[provided.name] |= _VIRTUAL_ONLY if virtual else pkg_state
            yield self._discover_deps(pkg.depends)
            if pkg_state in (_PRESENT, _INSTALL_IF):
                yield self._discover_reverse_install_if(pkg.name)
                for provided in pkg.provides:
                    yield self._discover_reverse_install_if(provided.name)

    def _discover_deps(self, deps: Sequence[_Dep]) -> Iterator[object]:
        for dep in deps:
            if not dep.conflict:
                yield self._discover_name(dep.name, _PRESENT)

    def _discover_reverse_install_if(self, name: _Name) -> Iterator[object]:
        present = _PRESENT | _INSTALL_IF
        for name0 in name.rinstall_if:
            for provider in name0.providers:
                pkg = provider.pkg
                assert pkg is not None
                if pkg not in self.marked or not pkg.install_if:
                    continue
                if all(
                    dep.conflict != bool(self.name_state[dep.name] & present)
                    for dep in pkg.install_if
                ):
                    yield self._discover_name(pkg.name, _INSTALL_IF)
                    for provided in pkg.provides:
                        yield self._discover_name(provided.name, _INSTALL_IF)

    # What is wrong -----------------------------------------------------------------------------

    def _analyze_deps(self, deps: Sequence[_Dep]) -> None:
        for dep in deps:
            if dep.conflict or self.name_state[dep.name] & (_INSTALL_IF | _PRESENT | _MISSING):
                continue
            self.name_state[dep.name] |= _MISSING
            self._analyze_missing_name(dep.name)

    def _analyze_package(self, pkg: _Pkg) -> None:
        self.subject = pkg.label
        self._pinning_errors(pkg, self.solver.tag_id(pkg))
        self._conflicts(pkg)
        self._deps(pkg, _CONFLICTS)
        if self.subject is None:  # something was wrong with it: say what it is good for
            self._deps(pkg, _SATISFIES)
        self.subject = None

    def _pinning_errors(self, pkg: _Pkg, tag: int) -> None:
        db = self.solver.db
        if not pkg.repos & db.available_repos:
            self._add("masked in", "--no-network")
        elif pkg.repos == _CACHE_REPOSITORY and not pkg.local:
            self._add("masked in", "cache")
        else:
            if pkg.repos & db.mask_repos(_DEFAULT_PINNING | 1 << tag):
                return
            for i, other in enumerate(db._tags):
                if i and pkg.repos & other.repos:
                    self._add("masked in", "@" + other.name)
        self._end()

    def _conflicts(self, pkg: _Pkg) -> None:
        for other in _packages_of(pkg.name):
            if other is not pkg and other in self.marked:
                self._add("conflicts", other.label)
        for provided in pkg.provides:
            once = True  # its own entry for this provide is no conflict (a second one is)
            for provider in provided.name.providers:
                giver = provider.pkg
                if giver not in self.marked:
                    continue
                if provided.version is None and provider.version is None:
                    continue
                if once and giver is pkg and provider.version == provided.version:
                    once = False
                    continue
                assert giver is not None
                self._add("conflicts", f"{giver.label}[{provided.text}]")
        self._end()

    def _deps(self, pkg: _Pkg, match: int) -> None:
        label = "satisfies" if match == _SATISFIES else "breaks"
        for dep in self.world:
            if _analyze(dep, pkg) & match:
                self._add(label, f"world[{dep.text}]")
        looked_at = set()
        for name1 in [pkg.name] + [provided.name for provided in pkg.provides]:
            for name0 in self._marked_rdepends(name1):
                for pkg0 in _packages_of(name0):
                    if pkg0 not in self.marked or pkg0 in looked_at:
                        continue
                    looked_at.add(pkg0)
                    for dep in pkg0.depends:
                        if _analyze(dep, pkg) & match:
                            self._add(label, f"{pkg0.label}[{dep.text}]")
        self._end()

    def _analyze_missing_name(self, name: _Name) -> None:
        if name.providers:
            self.subject = f"{name.name} (virtual)"
            self._add("note", "please select one of the 'provided by' packages explicitly")
            self._end()
            self._start("provided by")
            for pkg in _packages_of(name):
                self.name_state[pkg.name] += 1
            for pkg in _packages_of(name):
                name0 = pkg.name
                refs = self.name_state[name0] & _COUNT_MASK
                if refs == len(name0.providers):  # every package of that name: list the name once
                    self._add("provided by", name0.name)
                    self.name_state[name0] &= ~_COUNT_MASK
                elif refs > 0:
                    self._add("provided by", pkg.label)
                    self.name_state[name0] -= 1
            self._end()
        else:
            self.subject = f"{name.name} (no such package)"
        self._start("required by")
        for dep in self.world:
            if dep.name is name and not dep.conflict:
                self._add("required by", f"world[{dep.text}]")
        looked_at = set()
        for name0 in self._marked_rdepends(name):
            for pkg0 in _packages_of(name0):
                if pkg0 not in self.marked or pkg0 in looked_at:
                    continue
                looked_at.add(pkg0)
                for dep in pkg0.depends:
                    if dep.name is name and not dep.conflict:
                        self._add("required by", f"{pkg0.label}[{dep.text}]")
                        break
                # apk looks at the first marked package of each name only (commit.c leaves the
                # loop whether or not that package had the dependency).
                break
        self._end()

    def _marked_rdepends(self, name: _Name) -> List[_Name]:
        """The names depending on ``name`` that a marked package provides, in hash order (the
        others add nothing to the report)."""
        return self.solver.db.hash_ordered(
            name0
            for name0 in name.rdepends
            if any(provider.pkg in self.marked for provider in name0.providers)
        )

    def _explain_the_rest(self) -> None:
        """apk says "Huh? Error reporter did not find the broken constraints." here; say at least
        which packages failed and why (e.g. a package apk-tools cannot install)."""
        for pkg in self.solver.changeset:
            if self.solver.state[pkg].error:
                reason = (
                    "not installable: its index entry has fields this apk version does not know"
                    if not pkg.installable
                    else "cannot be installed together with the rest"
                )
                self.subject = pkg.label
                self._add("note", reason)
                self._end()
        if not self.found:
            self.subject = "Huh? Error reporter did not find the broken constraints."
            self._add("note", "please report the world and indexes that led here")
            self._end()


def _render_report(problems: Sequence[Problem]) -> str:
    """apk's text: ``unable to select packages:``, each subject, each label with its items
    filled to 50 columns (apk_print_indented: continuation lines align under the first item)."""
    out: List[str] = ["unable to select packages:\n"]
    for problem in problems:
        out.append(f"  {problem.subject}:\n")
        for label, items in problem.details:
            head = f"    {label}:"
            out.append(head)
            x = len(head.encode())
            indent = x + 1
            words = (
                [word for item in items for word in item.split(" ")]
                if label == "note"
                else list(items)
            )
            for word in words:
                size = len(word.encode())
                if x <= indent:
                    out.append(" " * (indent - x) + word)
                    x = indent + size
                elif x + size + 1 >= _REPORT_WIDTH:
                    out.append("\n" + " " * indent + word)
                    x = indent + size
                else:
                    out.append(" " + word)
                    x += 1 + size
            out.append("\n")
    return "".join(out).rstrip("\n")


# --- Entry points -------------------------------------------------------------------------------

# (arch, identity and size of each index) -> (its database, the indexes, kept alive)
_DATABASES: "collections.OrderedDict[Tuple[object, ...], Tuple[PackageDatabase, tuple]]"
_DATABASES = collections.OrderedDict()
_DATABASES_LOCK = threading.Lock()
_DATABASES_KEPT = 4


def _database_for(indexes: Sequence[IndexSource], arch: str) -> PackageDatabase:
    """The database of these very index objects, built once: resolving the same indexes again
    (the usual case: one image, several worlds; or a retry) skips cross-referencing them.

    The cache keeps the index objects alive, so their identities cannot be reused by others;
    indexes are values that are not changed once loaded.
    """
    sources = tuple(indexes)
    key: Tuple[object, ...] = (arch,)
    for source in sources:
        key += (id(source), _source_size(source))
    with _DATABASES_LOCK:
        found = _DATABASES.get(key)
        if found is not None:
            _DATABASES.move_to_end(key)
            return found[0]
    database = PackageDatabase(sources, arch)
    with _DATABASES_LOCK:
        _DATABASES[key] = (database, sources)
        while len(_DATABASES) > _DATABASES_KEPT:
            _DATABASES.popitem(last=False)
    return database


def resolve(
    world: Sequence[WorldEntry],
    indexes: Union[Sequence[IndexSource], PackageDatabase],
    arch: str,
    *,
    force_broken_world: bool = False,
) -> Resolution:
    """The packages ``apk add`` installs for ``world`` into an empty root, in apk's order.

    ``world`` entries are apk dependencies: ``name``, ``name=1.2-r0``, ``name>=1.2``, ``name<2``,
    ``name~1.2``, ``!name`` (must not be installed), ``name@tag`` (also from the repositories
    tagged ``@tag``, which it then prefers; its dependencies may come from them too),
    ``so:libc.musl-x86_64.so.1``, ``cmd:sh``, ``pc:zlib``. ``indexes`` are the
    repositories' indexes in configuration order (the earlier wins ties); a plain sequence of
    packages stands for packages given directly, outside any repository. ``arch`` is the target
    architecture. ``force_broken_world`` is apk's ``--force-broken-world``: world entries that
    cannot be satisfied are left out instead of failing.

    Raises :class:`UnsatisfiableError` (apk's report) when the world cannot be satisfied and
    :class:`InvalidWorldError` for an entry apk could not parse.
    """
    database = indexes if isinstance(indexes, PackageDatabase) else _database_for(indexes, arch)
    return database.resolve(world, force_broken_world=force_broken_world)


def make_virtual_package(name: str, children: Sequence[WorldEntry], version: str) -> Package:
    """The package ``apk add -t NAME CHILD...`` makes: it depends on the children, installs
    nothing itself, and stands in the world as ``NAME=version`` (apk uses the current time,
    ``%Y%m%d.%H%M%S``, as the version). Children cannot be pinned to a repository tag.
    """
    try:
        spec = parse_dependency(name)
    except DependencyError:
        spec = None
    if spec is None or spec.conflict or spec.op is not None or spec.tag is not None:
        raise InvalidWorldError(
            f"{name}: bad package specifier, give a bare name such as '.build-deps'"
        )
    depends: Dict[str, Dependency] = {}
    for child in children:
        try:
            dependency = child if isinstance(child, Dependency) else parse_dependency(child)
        except DependencyError:
            dependency = None
        if dependency is None or dependency.tag is not None:
            raise InvalidWorldError(
                f"'{child}' is not a valid child dependency, format is name([<>~=]version)"
            )
        depends[dependency.name] = dependency
    return Package(
        name=spec.name,
        version=version,
        arch="noarch",
        description="virtual meta package",
        depends=tuple(depends.values()),
    )


def order_violations(resolution: Resolution) -> Tuple[str, ...]:
    """Check an install order: returns what is wrong with it, if anything.

    Every dependency of every package must be met by a package installed before it (or by the
    package itself), and no conflict may match another installed package. apk's order has two
    exceptions, which are allowed: inside a dependency cycle one package has to come first; and an
    ``install_if`` package is installed as soon as its conditions are installed, which can be while
    one of its own dependencies is still waiting for its dependencies (Alpine's ``git-perl``,
    triggered by ``git`` while ``perl-git`` waits for ``git``).
    """
    packages = [resolved.package for resolved in resolution.packages]
    providers: Dict[str, List[Tuple[int, Optional[str]]]] = collections.defaultdict(list)
    for position, package in enumerate(packages):
        providers[package.name].append((position, package.version))
        for provided in package.provides:
            providers[provided.name].append((position, provided.version))

    def meeting(dependency: Dependency) -> List[int]:
        return [
            position
            for position, version in providers.get(dependency.name, [])
            if dependency.matches_version(version, packages[position].checksum)
        ]

    def reaches(start: int, targets: Sequence[int]) -> bool:
        """Whether installing ``start`` needs (through dependencies) one of ``targets``."""
        wanted, seen, todo = set(targets), {start}, [start]
        while todo:
            for dependency in packages[todo.pop()].depends:
                if dependency.conflict:
                    continue
                for position in meeting(dependency):
                    if position in wanted:
                        return True
                    if position not in seen:
                        seen.add(position)
                        todo.append(position)
        return False

    problems: List[str] = []
    for position, package in enumerate(packages):
        label = f"{package.name}-{package.version}"
        triggers = [
            found
            for condition in package.install_if
            if not condition.conflict
            for found in meeting(condition)
        ]
        for dependency in package.depends:
            found = meeting(dependency)
            if dependency.conflict:
                for other in (other for other in found if other != position):
                    installed = f"{packages[other].name}-{packages[other].version}"
                    problems.append(f"{label} conflicts with {installed} ({dependency})")
            elif not found:
                problems.append(
                    f"{label} depends on {dependency}, which nothing installed provides"
                )
            elif min(found) > position and not any(
                reaches(other, [position] + triggers) for other in found
            ):
                problems.append(
                    f"{label} depends on {dependency}, which is only installed after it"
                )
    return tuple(problems)
