"""The APKINDEX text format: a stanza of ``X:value`` lines per package, with blank lines between.

This is the ``APKINDEX`` member of a repository's ``APKINDEX.tar.gz`` (the archive and its signature
are :mod:`apkoci.apk.repository`'s business). apk-tools 2.14 reads it line by line
(``apk_db_index_read`` in ``src/database.c``, ``apk_pkg_add_info`` in ``src/package.c``):

- A line shorter than two characters ends the stanza; every other line must have ``:`` second, and
  its first character names the field. There are no continuation lines: a value is the rest of its
  line, kept as it is (spaces included).
- A field given twice keeps the last value, except the dependency lists (``D p i r``), which apk
  appends to.
- Letters apk knows are listed in ``_FIELD_NAMES``. It also accepts the installed-database letters
  ``F M R Z a s f``, which mean nothing in an index and are ignored here too.
- Any other *lower-case* letter is a newer, optional feature and is ignored. Any other letter
  (upper-case, or not a letter) is a feature this apk does not understand and that matters, so apk
  keeps the package but never installs it: ``Package.installable`` is False.
- ``r`` (replaces) and ``q`` (replaces priority) come from the installed database and ``.PKGINFO``;
  apk 2.14 ignores them in an index, but other index writers (go-apk) emit them, so we keep them.

We are stricter than apk on malformed values (apk silently reads ``S:abc`` as 0 and drops a bad
dependency): those raise :class:`IndexFormatError` naming the source, line, package and field.

:func:`format_index_text` writes stanzas the way apk-tools writes them (same fields, same order), so
``format_index_text(parse_index_text(text)) == text`` for an index apk wrote.

:class:`PackageCatalog` is the same index read lazily: it finds packages by name, by provided
name and by install_if condition, and reads a stanza into a Package only when asked for it. A
resolve looks at a few hundred of Alpine main's 4,929 packages, and reading them all costs many
times what the resolve does.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from apkoci.apk.dependency import (
    CANONICAL_DEPENDENCY_LIST_PATTERN,
    NAME_LIST_PATTERN,
    Dependency,
    DependencyError,
    format_dependencies,
    parse_dependencies,
    unchecked_instance,
)
from apkoci.errors import ApkociError


class IndexFormatError(ApkociError):
    """An APKINDEX text that cannot be read (or a package that cannot be written as one)."""


@dataclass(frozen=True)
class Package:
    """One package as an index (or a ``.PKGINFO``) describes it."""

    name: str  # P
    version: str  # V
    arch: str = ""  # A
    size: int = 0  # S  (bytes of the .apk file)
    installed_size: int = 0  # I
    description: str = ""  # T
    url: str = ""  # U
    license: str = ""  # L
    origin: str = ""  # o
    maintainer: str = ""  # m
    build_time: int = 0  # t  (unix seconds)
    commit: str = ""  # c
    checksum: str = (
        ""  # C  as written, e.g. "Q1<base64 sha1 of the control member>" ("Q2" = sha256)
    )
    depends: Tuple[Dependency, ...] = ()  # D
    provides: Tuple[Dependency, ...] = ()  # p
    install_if: Tuple[Dependency, ...] = ()  # i
    replaces: Tuple[Dependency, ...] = ()  # r
    provider_priority: Optional[int] = None  # k
    replaces_priority: int = 0  # q
    installable: bool = (
        True  # False when the stanza had an unknown UPPER-case field (apk-tools' rule)
    )

    @property
    def filename(self) -> str:
        """The package's file name in its repository, e.g. ``busybox-1.35.0-r17.apk``."""
        return f"{self.name}-{self.version}.apk"


# Field letter -> what it is, for error messages. The order is the order apk-tools writes them in.
_FIELD_NAMES = {
    "C": "checksum",
    "P": "name",
    "V": "version",
    "A": "architecture",
    "S": "size",
    "I": "installed size",
    "T": "description",
    "U": "URL",
    "L": "license",
    "o": "origin",
    "m": "maintainer",
    "t": "build time",
    "c": "commit",
    "k": "provider priority",
    "D": "dependencies",
    "p": "provides",
    "i": "install-if",
    "r": "replaces",
    "q": "replaces priority",
}
# Field letter -> Package attribute, for the fields kept as written...
_TEXT_FIELDS = {
    "C": "checksum",
    "P": "name",
    "V": "version",
    "A": "arch",
    "T": "description",
    "U": "url",
    "L": "license",
    "o": "origin",
    "m": "maintainer",
    "c": "commit",
}
# ... and for those that are converted.
_NUMBER_FIELDS = {
    "S": "size",
    "I": "installed_size",
    "t": "build_time",
    "k": "provider_priority",
    "q": "replaces_priority",
}
_DEPENDENCY_FIELDS = {"D": "depends", "p": "provides", "i": "install_if", "r": "replaces"}
# Installed-database letters apk accepts in any stanza and ignores in an index.
_IGNORED_FIELDS = frozenset("FMRZasf")
_PACKAGE_DEFAULTS = {field.name: field.default for field in dataclasses.fields(Package)}


def parse_index_text(text: str, source: str = "APKINDEX") -> List[Package]:
    """The packages of an APKINDEX text, in index order. Errors name ``source`` and the line."""
    # One pass over the lines, collecting each stanza's text fields by Package attribute and the
    # others, still raw, by field letter. This loop is most of the cost of reading an index, hence
    # plain string operations and as few lookups as will do.
    lines = text.split("\n")
    packages: List[Package] = []
    texts: Dict[str, str] = {}
    others: Dict[str, str] = {}
    first_line = -1  # index in `lines` of the current stanza's first line; -1 between stanzas
    installable = True
    for index, line in enumerate(lines):
        if len(line) < 2:
            if first_line >= 0:
                packages.append(_package(texts, others, installable, lines, first_line, source))
                texts, others, first_line, installable = {}, {}, -1, True
            continue
        if line[1] != ":":
            raise IndexFormatError(
                f"{source}, line {index + 1}: expected a field like 'P:name' (a letter, then ':'),"
                f" got {line[:40]!r}"
            )
        if first_line < 0:
            first_line = index
        letter = line[0]
        attribute = _TEXT_FIELDS.get(letter)
        if attribute is not None:
            texts[attribute] = line[2:]
        elif letter in _NUMBER_FIELDS:
            others[letter] = line[2:]
        elif letter in _DEPENDENCY_FIELDS:
            # apk appends a repeated dependency list to the one before.
            others[letter] = others[letter] + " " + line[2:] if letter in others else line[2:]
        elif letter not in _IGNORED_FIELDS and not ("a" <= letter <= "z"):
            installable = False
    if first_line >= 0:
        packages.append(_package(texts, others, installable, lines, first_line, source))
    return packages


def _package(
    texts: Dict[str, str],
    others: Dict[str, str],
    installable: bool,
    lines: List[str],
    first_line: int,
    source: str,
) -> Package:
    """The Package of one stanza, converting (and so checking) the fields that are not text."""
    for attribute, letter in (("name", "P"), ("version", "V")):
        if not texts.get(attribute):
            raise IndexFormatError(
                f"{source}, package at line {first_line + 1}: the {attribute} field ({letter}:) is"
                " missing or empty; every stanza needs P: and V:"
            )
    fields: Dict[str, object] = dict(_PACKAGE_DEFAULTS)
    fields.update(texts)
    fields["installable"] = installable
    for letter, value in others.items():
        if letter in _NUMBER_FIELDS:
            if not (value.isdigit() and value.isascii()):
                problem = f"must be a whole number, got {value!r}"
                raise _field_error(texts["name"], lines, first_line, source, letter, problem)
            fields[_NUMBER_FIELDS[letter]] = int(value)
        else:
            try:
                fields[_DEPENDENCY_FIELDS[letter]] = parse_dependencies(value)
            except DependencyError as error:
                raise _field_error(
                    texts["name"], lines, first_line, source, letter, str(error)
                ) from None
    return unchecked_instance(Package, fields)


def _field_error(
    name: str, lines: List[str], first_line: int, source: str, letter: str, problem: str
) -> IndexFormatError:
    # Find the (last) line of the stanza that holds the field, to name it.
    number = where = first_line
    while number < len(lines) and len(lines[number]) >= 2:
        if lines[number].startswith(letter + ":"):
            where = number
        number += 1
    return IndexFormatError(
        f"{source}, line {where + 1} (package {name!r}):"
        f" {_FIELD_NAMES[letter]} ({letter}:) {problem}"
    )


def format_index_text(packages: Iterable[Package]) -> str:
    """The APKINDEX text of ``packages``, each stanza the way apk-tools writes it.

    Unknown fields are not kept, so a package read as not ``installable`` is written (and reads
    back) as an installable one.
    """
    return "".join(_stanza_text(package) for package in packages)


def _stanza_text(package: Package) -> str:
    # apk always writes C P V S I T U L, the others only when they carry something (we also leave
    # out an empty C:, and write k: whenever it was given, k:0 included, so that it reads back).
    lines = []
    if package.checksum:
        lines.append("C:" + package.checksum)
    lines.append("P:" + package.name)
    lines.append("V:" + package.version)
    if package.arch:
        lines.append("A:" + package.arch)
    lines.append(f"S:{package.size}")
    lines.append(f"I:{package.installed_size}")
    lines.append("T:" + package.description)
    lines.append("U:" + package.url)
    lines.append("L:" + package.license)
    if package.origin:
        lines.append("o:" + package.origin)
    if package.maintainer:
        lines.append("m:" + package.maintainer)
    if package.build_time:
        lines.append(f"t:{package.build_time}")
    if package.commit:
        lines.append("c:" + package.commit)
    if package.provider_priority is not None:
        lines.append(f"k:{package.provider_priority}")
    for letter, dependencies in (
        ("D", package.depends),
        ("p", package.provides),
        ("i", package.install_if),
        ("r", package.replaces),
    ):
        if dependencies:
            lines.append(letter + ":" + format_dependencies(dependencies))
    if package.replaces_priority:
        lines.append(f"q:{package.replaces_priority}")
    for line in lines:
        if "\n" in line:
            raise IndexFormatError(
                f"package {package.name!r} cannot be written to an index: its"
                f" {_FIELD_NAMES[line[0]]} ({line[0]}:) contains a line break; remove it"
            )
    return "\n".join(lines) + "\n\n"


# --- Finding packages without reading them all ---------------------------------------------------

# Where a name is first mentioned in a catalog: (package position, field, entry). The field ranks
# follow the order apk-tools creates a stanza's names in: its name, depends, provides, install_if
# (the resolver needs that order to break ties the way apk's name hash table does).
Mention = Tuple[int, int, int]
_MENTION_RANKS = {"P": 0, "D": 1, "p": 2, "i": 3}


class PackageCatalog:
    """The packages of one index, found by name without reading every one of them.

    Make one with :meth:`from_index_text` (an APKINDEX text: it is checked as thoroughly as
    :func:`parse_index_text` checks it, and raises the same errors, but each stanza becomes a
    Package only when :meth:`package` is first asked for it) or :meth:`from_packages` (packages
    already read). Positions are the packages' places in the index, from 0. A catalog never
    changes; it may be shared between threads.
    """

    def __init__(
        self,
        packages: List[Optional[Package]],
        stanzas: Optional[Sequence[str]],
        names: Sequence[str],
        checksums: Sequence[str],
        provides: Sequence[str],
        install_if: Sequence[str],
        source: str,
    ) -> None:
        # Use the two constructors. ``packages`` holds None for each stanza not read yet;
        # ``provides`` and ``install_if`` are each package's canonical dependency list.
        self._packages = packages
        self._stanzas = stanzas
        self._source = source
        self._names = names
        self.checksums: Sequence[str] = checksums
        """The checksum (``C:``, as written; "" when missing) of each package, by position."""
        self._named = _Positions(names)
        self._providing = _Positions.of_lists(provides)
        self._triggered_by = _Positions.of_lists(install_if)
        self._mentions: Optional[Dict[str, Mention]] = None
        self._lock = threading.Lock()

    @classmethod
    def from_packages(cls, packages: Sequence[Package]) -> "PackageCatalog":
        """A catalog of packages already read (from .apk files, or a whole index)."""
        return cls(
            packages=list(packages),
            stanzas=None,
            names=[package.name for package in packages],
            checksums=[package.checksum for package in packages],
            provides=[format_dependencies(package.provides) for package in packages],
            install_if=[format_dependencies(package.install_if) for package in packages],
            source="",
        )

    @classmethod
    def from_index_text(cls, text: str, source: str = "APKINDEX") -> "PackageCatalog":
        """The catalog of an APKINDEX text; IndexFormatError (naming ``source``) as from
        :func:`parse_index_text` when the text has a malformed stanza."""
        scan = _scan_index_text(text, source)
        if scan is None:
            # Something the quick scan cannot vouch for: read it all the careful way, which raises
            # the precise error (naming the line) if there is one.
            return cls.from_packages(parse_index_text(text, source))
        return cls(
            packages=scan.packages,
            stanzas=scan.stanzas,
            names=scan.names,
            checksums=scan.checksums,
            provides=scan.provides,
            install_if=scan.install_if,
            source=source,
        )

    def __len__(self) -> int:
        return len(self._names)

    def __getstate__(self) -> Dict[str, object]:
        state = dict(self.__dict__)
        del state["_lock"]  # (a lock cannot be pickled or copied: the copy gets its own)
        return state

    def __setstate__(self, state: Dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def name(self, position: int) -> str:
        """The name (``P:``) of the package at ``position``, without reading the package."""
        return self._names[position]

    def package(self, position: int) -> Package:
        """The package at ``position``, read on first use."""
        package = self._packages[position]
        if package is None:
            with self._lock:
                package = self._packages[position]
                if package is None:
                    package = self._packages[position] = self._read(position)
        return package

    def packages(self) -> List[Package]:
        """Every package, in index order (reads them all)."""
        return [self.package(position) for position in range(len(self._names))]

    def named(self, name: str) -> Sequence[int]:
        """The positions of the packages called ``name`` (``P:``), in index order."""
        return self._named.get(name)

    def providing(self, name: str) -> Sequence[int]:
        """The positions of the packages whose provides (``p:``) name ``name``."""
        return self._providing.get(name)

    def triggered_by(self, name: str) -> Sequence[int]:
        """The positions of the packages whose install_if (``i:``) names ``name``."""
        return self._triggered_by.get(name)

    def first_mention(self, name: str) -> Optional[Mention]:
        """Where ``name`` first appears as a package name or in depends, provides or install_if:
        ``(position, field, entry)``, comparable with other names' (None: nowhere).

        For an index read lazily this searches the stanzas, so it is for the rare question (the
        resolver asks when two names share a bucket of apk's name hash table).
        """
        if self._stanzas is None:
            if self._mentions is None:
                self._mentions = _mentions_of_packages(self._packages)  # type: ignore[arg-type]
            return self._mentions.get(name)
        # The stanzas that hold the text at all, found at C speed (without joining them into one
        # text, which would be two more MiB); then whether one mentions it as a name.
        holding = map(operator.contains, self._stanzas, itertools.repeat(name))
        for position in itertools.compress(itertools.count(), holding):
            found = _mention_in_stanza(self._stanzas[position], name)
            if found is not None:
                return (position,) + found
        return None

    def _read(self, position: int) -> Package:
        assert self._stanzas is not None
        # The scan checked every stanza as parse_index_text would, so this cannot fail.
        (package,) = parse_index_text(self._stanzas[position], self._source)
        return package


class _Positions:
    """Positions by name: ``get(name)`` is the positions (ascending, each once) it is found at.

    Built with C-speed primitives only where it can be (an index has thousands of names, nearly
    all at one position): one dictionary of the last position of each name, and lists for the
    few names found at several positions.
    """

    def __init__(self, names: Sequence[str], positions: Optional[Sequence[int]] = None) -> None:
        if positions is None:
            positions = range(len(names))
        self._last: Dict[str, int] = dict(zip(names, positions))
        self._several: Dict[str, List[int]] = {}
        if len(self._last) == len(names):
            return
        first = dict(zip(reversed(names), reversed(positions)))
        several = {name for name, position in self._last.items() if first[name] != position}
        pairs = zip(names, positions)
        for name, position in itertools.compress(pairs, map(several.__contains__, names)):
            found = self._several.setdefault(name, [])
            if found[-1:] != [position]:
                found.append(position)

    @classmethod
    def of_lists(cls, lists: Sequence[str]) -> "_Positions":
        """The positions of the names in each position's canonical dependency list (one space
        between entries, as CANONICAL_DEPENDENCY_LIST_PATTERN and format_dependencies have it)."""
        at = list(itertools.compress(range(len(lists)), lists))
        present = list(filter(None, lists))
        text = " ".join(present)
        if not text or any(character in text for character in "<>~@!"):
            names = _NAMES_IN_LIST.findall(text)
        else:  # nothing but names and "=version" (nearly always): quicker cut
            names = [entry.partition("=")[0] for entry in text.split(" ")]
        spaces = map(str.count, present, itertools.repeat(" "))
        entries = map(operator.add, spaces, itertools.repeat(1))
        # `repeat` is generic and overloaded, which mypy cannot match against map's arguments.
        repeat: Callable[[int, int], Iterable[int]] = itertools.repeat
        positions = list(itertools.chain.from_iterable(map(repeat, at, entries)))
        assert len(positions) == len(names)
        return cls(names, positions)

    def get(self, name: str) -> Sequence[int]:
        several = self._several.get(name)
        if several is not None:
            return several
        position = self._last.get(name)
        return () if position is None else (position,)


def _mentions_of_packages(packages: Sequence[Package]) -> Dict[str, Mention]:
    mentions: Dict[str, Mention] = {}
    for position, package in enumerate(packages):
        mentions.setdefault(package.name, (position, 0, 0))
        fields = (package.depends, package.provides, package.install_if)
        for rank, dependencies in enumerate(fields, start=1):
            for entry, dependency in enumerate(dependencies):
                mentions.setdefault(dependency.name, (position, rank, entry))
    return mentions


def _mention_in_stanza(stanza: str, name: str) -> Optional[Tuple[int, int]]:
    """``(field, entry)`` of the first mention of ``name`` in a stanza that reads as one package:
    its (last) name, else its place in depends, provides or install_if (counted over the field's
    lines, which apk appends to each other)."""
    found: Optional[Tuple[int, int]] = None
    counts = [0, 0, 0, 0]  # the entries read so far, by field
    package_name = None
    for line in stanza.split("\n"):
        rank = _MENTION_RANKS.get(line[:1])
        if rank == 0:
            package_name = line[2:]
        elif rank is not None:
            entries = [dependency.name for dependency in parse_dependencies(line[2:])]
            if name in entries:
                mention = (rank, counts[rank] + entries.index(name))
                if found is None or mention < found:
                    found = mention
            counts[rank] += len(entries)
    return (0, 0) if package_name == name else found


# The quick scan of an index text: one regular expression over the whole text finds the stanzas
# laid out the usual way (C, P and V first, then other fields, then at most one p: and one i:,
# followed by no D: or r:, as apk-tools and go-apk write them), checks their fields as
# parse_index_text would, and picks out their name, checksum, provides and install_if. A field it
# cannot vouch for (a dependency list not in canonical spelling, a number that is not all digits)
# marks its stanza "odd": odd stanzas are read the careful way on the spot, as is the text between
# stanzas it does not match at all. When one of those does not read as one package, the whole
# text is read the careful way.
_NUMBER_OR_OTHER = r"[SItkq]:[0-9]+(?=\n)|[^\nCPVpiDrSItkq]:[^\n]*"
_OTHER_LINES = (
    rf"(?:\n(?:[Dr]:(?:{NAME_LIST_PATTERN}|{CANONICAL_DEPENDENCY_LIST_PATTERN})(?=\n)"
    rf"|{_NUMBER_OR_OTHER}|([DrSItkq]):[^\n]*))*"
)
# The lines after p: or i: (as go-apk writes k: after p:): the same, but for D: and r: (which
# would make the pattern twice as long, and so take twice as long to compile in each process).
_LAST_LINES = rf"(?:\n(?:{_NUMBER_OR_OTHER}|([SItkq]):[^\n]*))*"
_USUAL_STANZA = re.compile(
    r"\n\n(C:([^\n]*)\nP:([^\n]+)\nV:[^\n]+"  # 0 the stanza, 1 its checksum, 2 its name
    + _OTHER_LINES  # 3 odd
    + rf"(?:\np:(?:({CANONICAL_DEPENDENCY_LIST_PATTERN})(?=\n)|([^\n]*))"  # 4 provides, 5 odd
    + _LAST_LINES  # 6 odd
    + rf")?(?:\ni:(?:({CANONICAL_DEPENDENCY_LIST_PATTERN})(?=\n)|([^\n]*))"  # 7 install_if, 8 odd
    + _LAST_LINES  # 9 odd
    + r")?)(?=\n\n)"
)
_ODD_GROUPS = (3, 5, 6, 8, 9)
# The names in a canonical dependency list (as CANONICAL_DEPENDENCY_LIST_PATTERN has them).
_NAMES_IN_LIST = re.compile(r"(?:^| )!?([^ <=>~@!]+)[^ ]*")


class _Scan:
    """What PackageCatalog keeps of an index text, by position (columns of equal length)."""

    def __init__(
        self,
        stanzas: Sequence[str] = (),
        packages: Sequence[Optional[Package]] = (),  # the ones read already
        names: Sequence[str] = (),
        checksums: Sequence[str] = (),
        provides: Sequence[str] = (),  # canonical dependency lists
        install_if: Sequence[str] = (),
    ) -> None:
        self.stanzas = list(stanzas)
        self.packages = list(packages)
        self.names = list(names)
        self.checksums = list(checksums)
        self.provides = list(provides)
        self.install_if = list(install_if)

    def columns(self) -> Tuple[List, ...]:  # type: ignore[type-arg]
        return (
            self.stanzas,
            self.packages,
            self.names,
            self.checksums,
            self.provides,
            self.install_if,
        )

    @classmethod
    def of_rows(cls, rows: List[Tuple[str, ...]], source: str) -> Optional["_Scan"]:
        """The scan of stanzas _USUAL_STANZA matched (its groups), made in columns at C speed,
        its odd stanzas read the careful way now; None when one does not read as one package."""
        if not rows:
            return cls()
        columns = list(zip(*rows))
        scan = cls(
            stanzas=columns[0],
            packages=[None] * len(rows),
            names=columns[2],
            checksums=columns[1],
            provides=columns[4],
            install_if=columns[7],
        )
        odd = map(max, *(columns[group] for group in _ODD_GROUPS))
        for position in itertools.compress(range(len(rows)), odd):
            package = _read_one(scan.stanzas[position], source)
            if package is None:
                return None
            scan.packages[position] = package
            scan.provides[position] = format_dependencies(package.provides)
            scan.install_if[position] = format_dependencies(package.install_if)
        return scan

    def add(self, stanza: str, package: Package) -> None:
        """A stanza read already."""
        self.stanzas.append(stanza)
        self.packages.append(package)
        self.names.append(package.name)
        self.checksums.append(package.checksum)
        self.provides.append(format_dependencies(package.provides))
        self.install_if.append(format_dependencies(package.install_if))


def _scan_index_text(text: str, source: str) -> Optional[_Scan]:
    """What PackageCatalog keeps of an index text; None when only reading it all will do (which
    raises the error, if there is one)."""
    rows = _all_usual(text)
    if rows is not None:
        return _Scan.of_rows(rows, source)
    # Any other layout (or a stanza the pattern does not match, at the cost of a second pass).
    core = text.strip("\n")
    padded = "\n\n" + core + "\n\n"
    rows = _USUAL_STANZA.findall(padded)
    if sum(len(row[0]) for row in rows) + 2 * (len(rows) + 1) == len(padded):
        return _Scan.of_rows(rows, source)  # every stanza matched (the rows hold the whole text)
    # The text between the stanzas matched is some the pattern did not match: read them now.
    scan = _Scan()
    at = 0  # where the blank line before the next stanza starts
    matched: List[Tuple[str, ...]] = []
    for row in rows:
        if not padded.startswith(row[0], at + 2):
            found = padded.find("\n\n" + row[0] + "\n\n", at)
            if not _read_stanzas(scan, matched, padded[at + 2 : found], source):
                return None
            matched, at = [], found
        matched.append(row)
        at += 2 + len(row[0])
    return scan if _read_stanzas(scan, matched, padded[at + 2 : -2], source) else None


def _all_usual(text: str) -> Optional[List[Tuple[str, ...]]]:
    """The rows of a text laid out as apk-tools writes it (stanzas each followed by one blank
    line) whose stanzas are all usual ones; None for any other text. Unlike the general case,
    this needs no padded copy of the text (two MiB for Alpine's main index)."""
    if text[:1] == "\n" or not text.endswith("\n\n") or text.endswith("\n\n\n"):
        return None
    end = text.find("\n\n")  # of the first stanza, which has no blank line before it
    first = _USUAL_STANZA.match("\n\n" + text[: end + 2])
    if first is None or first.end() != end + 2:
        return None
    rows = [first.groups("")] + _USUAL_STANZA.findall(text, end)
    if sum(len(row[0]) for row in rows) + 2 * len(rows) != len(text):
        return None
    return rows


def _read_stanzas(scan: _Scan, rows: List[Tuple[str, ...]], text: str, source: str) -> bool:
    """Add the matched ``rows``, then the stanzas of ``text``, read the careful way; False if one
    does not read as one package."""
    more = _Scan.of_rows(rows, source)
    if more is None:
        return False
    for column, values in zip(scan.columns(), more.columns()):
        column.extend(values)
    for stanza in text.split("\n\n"):
        if stanza.strip("\n"):  # (blank lines between stanzas are skipped, as apk does)
            package = _read_one(stanza, source)
            if package is None:
                return False
            scan.add(stanza, package)
    return True


def _read_one(stanza: str, source: str) -> Optional[Package]:
    """The one package of a stanza, read the careful way; None when it is malformed (for the
    reading of the whole text to report, with the line) or reads as more than one package (it
    has a line too short to be a field, which apk takes for a stanza break)."""
    try:
        read = parse_index_text(stanza, source)
    except IndexFormatError:
        return None
    return read[0] if len(read) == 1 else None
