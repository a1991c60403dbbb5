"""The APKINDEX text format: one stanza of ``X:value`` lines per package, stanzas separated by blank lines.

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from apkoci.apk.dependency import (
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
    checksum: str = ""  # C  as written, e.g. "Q1<base64 sha1 of the control member>" ("Q2" = sha256)
    depends: Tuple[Dependency, ...] = ()  # D
    provides: Tuple[Dependency, ...] = ()  # p
    install_if: Tuple[Dependency, ...] = ()  # i
    replaces: Tuple[Dependency, ...] = ()  # r
    provider_priority: Optional[int] = None  # k
    replaces_priority: int = 0  # q
    installable: bool = True  # False when the stanza had an unknown UPPER-case field (apk-tools' rule)

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
_NUMBER_FIELDS = {"S": "size", "I": "installed_size", "t": "build_time", "k": "provider_priority", "q": "replaces_priority"}
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
    texts: Dict[str, str], others: Dict[str, str], installable: bool, lines: List[str], first_line: int, source: str
) -> Package:
    """The Package of one stanza, converting (and so checking) the fields that are not text."""
    for attribute, letter in (("name", "P"), ("version", "V")):
        if not texts.get(attribute):
            raise IndexFormatError(
                f"{source}, package at line {first_line + 1}: the {attribute} field ({letter}:) is missing"
                " or empty; every stanza needs P: and V:"
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
                raise _field_error(texts["name"], lines, first_line, source, letter, str(error)) from None
    return unchecked_instance(Package, fields)


def _field_error(name: str, lines: List[str], first_line: int, source: str, letter: str, problem: str) -> IndexFormatError:
    # Find the (last) line of the stanza that holds the field, to name it.
    number = where = first_line
    while number < len(lines) and len(lines[number]) >= 2:
        if lines[number].startswith(letter + ":"):
            where = number
        number += 1
    return IndexFormatError(f"{source}, line {where + 1} (package {name!r}): {_FIELD_NAMES[letter]} ({letter}:) {problem}")


def format_index_text(packages: Iterable[Package]) -> str:
    """The APKINDEX text of ``packages``, each stanza the way apk-tools writes it."""
    return "".join(_stanza_text(package) for package in packages)


def _stanza_text(package: Package) -> str:
    # apk always writes C P V S I T U L; the others only when they carry something.
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
                f"package {package.name!r} cannot be written to an index: its {_FIELD_NAMES[line[0]]}"
                f" ({line[0]}:) contains a line break; remove it"
            )
    return "\n".join(lines) + "\n\n"
