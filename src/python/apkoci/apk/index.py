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
import re
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from apkoci.apk.dependency import (
    CANONICAL_DEPENDENCY_LIST_PATTERN,
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
        providing: Dict[str, List[int]],
        triggered_by: Dict[str, List[int]],
        source: str,
    ) -> None:
        # Use the two constructors; ``packages`` holds None for each stanza not read yet.
        self._packages = packages
        self._stanzas = stanzas
        self._source = source
        self._names = names
        self.checksums: Sequence[str] = checksums
        """The checksum (``C:``, as written; "" when missing) of each package, by position."""
        self._named = _positions_by_key(names)
        self._providing = providing
        self._triggered_by = triggered_by
        self._mentions: Optional[Dict[str, Mention]] = None
        self._lock = threading.Lock()

    @classmethod
    def from_packages(cls, packages: Sequence[Package]) -> "PackageCatalog":
        """A catalog of packages already read (from .apk files, or a whole index)."""
        providing: Dict[str, List[int]] = {}
        triggered_by: Dict[str, List[int]] = {}
        for position, package in enumerate(packages):
            for dependency in package.provides:
                _add_position(providing, dependency.name, position)
            for dependency in package.install_if:
                _add_position(triggered_by, dependency.name, position)
        return cls(
            packages=list(packages),
            stanzas=None,
            names=[package.name for package in packages],
            checksums=[package.checksum for package in packages],
            providing=providing,
            triggered_by=triggered_by,
            source="",
        )

    @classmethod
    def from_index_text(cls, text: str, source: str = "APKINDEX") -> "PackageCatalog":
        """The catalog of an APKINDEX text; IndexFormatError (naming ``source``) as from
        :func:`parse_index_text` when the text has a malformed stanza."""
        scan = _scan_index_text(text)
        if scan is None:
            # Something the quick scan does not vouch for (a malformed line, or merely an unusual
            # layout): read it all the careful way, which raises the precise error if there is one.
            return cls.from_packages(parse_index_text(text, source))
        stanzas, names, checksums, providing, triggered_by = scan
        return cls(
            packages=[None] * len(stanzas),
            stanzas=stanzas,
            names=names,
            checksums=checksums,
            providing=providing,
            triggered_by=triggered_by,
            source=source,
        )

    def __len__(self) -> int:
        return len(self._names)

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
        return self._named.get(name, ())

    def providing(self, name: str) -> Sequence[int]:
        """The positions of the packages whose provides (``p:``) name ``name``."""
        return self._providing.get(name, ())

    def triggered_by(self, name: str) -> Sequence[int]:
        """The positions of the packages whose install_if (``i:``) names ``name``."""
        return self._triggered_by.get(name, ())

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
        for position, stanza in enumerate(self._stanzas):
            if name in stanza:
                found = _mention_in_stanza(stanza, name)
                if found is not None:
                    return (position,) + found
        return None

    def _read(self, position: int) -> Package:
        assert self._stanzas is not None
        # The scan checked every stanza as parse_index_text would, so this cannot fail.
        (package,) = parse_index_text(self._stanzas[position], self._source)
        return package


def _add_position(positions: Dict[str, List[int]], name: str, position: int) -> None:
    found = positions.get(name)
    if found is None:
        positions[name] = [position]
    elif found[-1] != position:  # a package providing a name twice is one provider package
        found.append(position)


def _positions_by_key(keys: Sequence[str]) -> Dict[str, Sequence[int]]:
    """``{key: positions}``; built at C speed for the usual case, every key once."""
    by_key: Dict[str, Sequence[int]] = dict(zip(keys, ((i,) for i in range(len(keys)))))
    if len(by_key) < len(keys):
        by_key = {}
        for position, key in enumerate(keys):
            by_key[key] = tuple(by_key.get(key, ())) + (position,)
    return by_key


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
    """``(field, entry)`` of the first mention of ``name`` in a stanza the scan checked (so with
    one P: line); entries count over the field's lines, which apk appends to each other."""
    found: Optional[Tuple[int, int]] = None
    counts = [0, 0, 0, 0]  # the entries read so far, by field
    for line in stanza.split("\n"):
        rank = _MENTION_RANKS.get(line[:1])
        if rank is None:
            continue
        if rank == 0:
            entries = [line[2:]]
        else:
            entries = [dependency.name for dependency in parse_dependencies(line[2:])]
        if name in entries:
            mention = (rank, counts[rank] + entries.index(name))
            if found is None or mention < found:
                found = mention
        counts[rank] += len(entries)
    return found


# The quick scan of an index text. It vouches for a text only when it can tell, at C speed, that
# parse_index_text would read every stanza without error; anything else goes the careful way.
# A line the scan cannot vouch for: a dependency list not in canonical spelling (checked one by
# one: most are valid, e.g. "p:pc:librtmp=v2.4"), a number field that is not all digits, a line
# of one character (a stanza break for apk) or without ':' after its first character.
_SUSPICIOUS_LINE = re.compile(
    rf"\n(?:([Dpir]):(?!{CANONICAL_DEPENDENCY_LIST_PATTERN}\n)([^\n]*)"
    r"|[SItkq]:(?![0-9]+\n)|[^\n](?:\n|[^:\n]))"
)
# A stanza the usual way round: C, P and V first (apk-tools and go-apk both write them so), and no
# other C, P or V line. Other layouts are valid, and are read the careful way.
_USUAL_STANZA = re.compile(
    r"\n\n(C:([^\n]*)\nP:([^\n]*)\nV:[^\n]+(?:\n(?![CPV]:)[^\n]+)*)(?=\n\n)"
)
_PROVIDES_OR_INSTALL_IF = re.compile(r"\n([pi]):([^\n]*)")
# The names in a canonical dependency list (as CANONICAL_DEPENDENCY_LIST_PATTERN has them).
_NAMES_IN_LIST = re.compile(r"(?:^| )!?([^ <=>~@!]+)")

# (stanzas, names, checksums, providing, triggered_by), as PackageCatalog keeps them.
_Scan = Tuple[
    List[str], Sequence[str], Sequence[str], Dict[str, List[int]], Dict[str, List[int]]
]


def _scan_index_text(text: str) -> Optional[_Scan]:
    """The stanzas, names, checksums, provided names and install_if names of an index, found
    with a few passes of regular expressions; None when the text needs the careful reading."""
    core = text.strip("\n")
    if not core:
        return [], (), (), {}, {}
    if "\n\n\n" in core:
        return None  # more than one blank line between stanzas: fine, but not for this scan
    unusual: Set[str] = set()  # dependency lists not spelled canonically, all valid
    for line in _SUSPICIOUS_LINE.finditer("\n" + core + "\n"):
        letter, value = line.groups()
        if letter is None:
            return None
        try:
            parse_dependencies(value)
        except DependencyError:
            return None
        unusual.add(value)
    padded = "\n\n" + core + "\n\n"
    rows = _USUAL_STANZA.findall(padded)
    # Every character is in a matched stanza (or a separator), else some stanza was unusual.
    if not rows or sum(len(row[0]) for row in rows) + 2 * (len(rows) + 1) != len(padded):
        return None
    stanzas, checksums, names = zip(*rows)
    if "" in names:
        return None  # an empty P: (for the careful reading to report)
    providing: Dict[str, List[int]] = {}
    triggered_by: Dict[str, List[int]] = {}
    for position, stanza in enumerate(stanzas):
        if "\np:" not in stanza and "\ni:" not in stanza:
            continue
        for letter, value in _PROVIDES_OR_INSTALL_IF.findall(stanza):
            if value in unusual:
                entries = [dependency.name for dependency in parse_dependencies(value)]
            else:
                entries = _NAMES_IN_LIST.findall(value)
            positions = providing if letter == "p" else triggered_by
            for name in entries:
                _add_position(positions, name, position)
    return list(stanzas), names, checksums, providing, triggered_by
