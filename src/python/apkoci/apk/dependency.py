"""Dependency strings: in ``/etc/apk/world``, apko.yaml's packages and index ``D: p: i: r:`` lines.

apk-tools 2.14 (``apk_blob_pull_dep`` in ``src/package.c``) reads one dependency as::

    [!]name[@tag][op version]

- ``!`` makes it a conflict: the package must *not* be installed (in the given version range).
- ``name`` is a package name or a virtual one: ``so:libc.musl-x86_64.so.1``, ``cmd:sh``,
  ``pc:zlib``.
- ``@tag`` pins it to the repositories carrying that tag (``@edge https://...`` in apko.yaml).
- ``op`` is made of the characters ``< > = ~`` in any order; the meaningful sets are ``= < > <= >= ~
  <~ >~`` (``=~`` is ``~``) and ``><``, which is no version range: its "version" is a package
  checksum (``name><Q1...``, "exactly this package"), written by apk for local ``.apk`` files.
- ``version`` must be a valid apk version (:func:`apkoci.apk.version.is_valid_version`), except
  after ``><``.

apk-tools splits the name from the operator at the first operator character, so the tag goes
*before* the operator (``foo@edge=1.2``). apko's go-apk reads the tag *after* the version
(``foo=1.2@edge``); we accept that spelling too, since apko.yaml files use it, but always write
apk's, because the world file we write is read by apk-tools inside the image.

Dependencies in a list are separated by spaces (or newlines).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple, Type, TypeVar

from apkoci.apk.version import (
    CHECKSUM_OPERATOR,
    PLAIN_VERSION_PATTERN,
    VersionError,
    canonical_operator,
    is_valid_version,
)
from apkoci.apk.version import version_matches as _version_matches
from apkoci.errors import ApkociError

# Dependencies spelled the canonical way with a plainly valid version: nearly every one in a real
# index. What this matches needs no further checks (it is a quick yes, as in is_valid_version).
_NAME_PATTERN = r"[^\s<=>~@!]+"
_OPERATOR_PATTERN = r"[<>][=~]?|[=~]"  # <= >= <~ >~ < > = ~
_CANONICAL_DEPENDENCY = re.compile(
    rf"(!?)({_NAME_PATTERN})(?:@({_NAME_PATTERN}))?"
    rf"(?:({_OPERATOR_PATTERN})({PLAIN_VERSION_PATTERN}))?"
)
# The same, without groups, and with names of printable ASCII only (a class of bytes, as names are,
# so that the lists it matches are a space apart and nothing else: see NAME_LIST_PATTERN).
_ASCII_NAME_PATTERN = r"[\x22-\x3b\x3f\x41-\x7d]+"
_CANONICAL_UNGROUPED = (
    rf"!?{_ASCII_NAME_PATTERN}(?:@{_ASCII_NAME_PATTERN})?"
    rf"(?:(?:{_OPERATOR_PATTERN}){PLAIN_VERSION_PATTERN})?"
)
# (Each entry is followed by one space and another entry, or by the end of the line: the pattern
# of an entry is written once, which halves the time the engine takes to compile it.)
CANONICAL_DEPENDENCY_LIST_PATTERN = rf"(?:{_CANONICAL_UNGROUPED}(?: (?![\n ])|(?=\n)))+"
"""A regular expression (without groups) for a line's list of canonically spelled dependencies,
one space apart, with ASCII names, up to the line's end (a newline must follow): what it matches,
:func:`parse_dependencies` reads without error (a quick yes, for checking whole indexes at once)."""
NAME_LIST_PATTERN = r"[ \x22-\x3b\x3f\x41-\x7d]+"
"""A regular expression for plain ASCII names and spaces: every such text is a list of
dependencies without versions, tags or conflicts (an even quicker yes than the one above)."""
# Splits any other [!]name[@tag][op version] into its parts. It matches any text without whitespace,
# and _problem judges the parts.
_DEPENDENCY_PARTS = re.compile(r"(!?)([^<=>~@\s]*)(?:@([^<=>~\s]*))?(?:([<=>~]+)(\S*))?")
_NOT_IN_A_NAME = re.compile(r"[\s<=>~@!]")


_Frozen = TypeVar("_Frozen")


def unchecked_instance(cls: Type[_Frozen], fields: Dict[str, object]) -> _Frozen:
    """An instance of the frozen dataclass ``cls`` holding ``fields`` (all), without ``__init__``.

    A frozen dataclass's ``__init__`` pays one ``object.__setattr__`` per field: microseconds an
    instance on a slow machine, and reading one index makes some 15,000 dependencies and packages.
    Only for values the caller has checked itself; equality, hashing and ``repr`` work as usual.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


class DependencyError(ApkociError):
    """A dependency string apk would not accept."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(
            f"invalid dependency {text!r}: {reason} (the form is [!]name[@tag][<op><version>],"
            " e.g. 'busybox>=1.35' or '!foo@edge<2')"
        )
        self.text = text
        self.reason = reason

    def __reduce__(self) -> Tuple[type, Tuple[str, str]]:
        # Rebuild from both parts, not from the message (an error may cross process boundaries).
        return (DependencyError, (self.text, self.reason))


@dataclass(frozen=True)
class Dependency:
    """One parsed dependency. ``op``/``version`` None means "any version"."""

    name: str
    op: Optional[str] = None
    version: Optional[str] = None
    conflict: bool = False
    tag: Optional[str] = None

    def __post_init__(self) -> None:
        # Store the canonical operator so that "=~" and "~" make equal (and equally hashed) values.
        op = _checked_operator(self._spelling(), self.name, self.op, self.version, self.tag)
        object.__setattr__(self, "op", op)

    def _spelling(self) -> str:
        """The apk spelling of the parts, as they are (also when they are invalid)."""
        text = ("!" if self.conflict else "") + self.name
        if self.tag is not None:
            text += "@" + self.tag
        if self.op is not None or self.version is not None:
            text += (self.op or "") + (self.version or "")
        return text

    def __str__(self) -> str:
        return self._spelling()

    @property
    def is_checksum(self) -> bool:
        """``name><Q1...``: exactly the package with this checksum."""
        return self.op == CHECKSUM_OPERATOR

    def matches_version(self, version: Optional[str], checksum: str = "") -> bool:
        """Whether a package (or a ``provides`` entry) at ``version`` is in this dependency's range.

        ``conflict`` is *not* applied: for ``!foo<2`` this says whether the version is one of those
        the conflict forbids. ``version`` None stands for a provides entry without a version, which
        only an any-version dependency matches (as in apk). A checksum dependency matches the
        package whose checksum (``C:`` field, as written) is ``checksum``.
        """
        if self.op is None:
            return True
        assert self.version is not None  # guaranteed by __post_init__
        if self.op == CHECKSUM_OPERATOR:
            return checksum == self.version
        if version is None:
            return False
        return _version_matches(version, self.op, self.version)


def _checked_operator(
    text: str, name: str, op: Optional[str], version: Optional[str], tag: Optional[str]
) -> Optional[str]:
    """The canonical spelling of ``op``, once all the parts are checked (else DependencyError)."""
    if op is not None:
        try:
            op = canonical_operator(op)
        except VersionError as error:
            raise DependencyError(text, str(error)) from None
    problem = _problem(name, op, version, tag)
    if problem:
        raise DependencyError(text, problem)
    return op


def _problem(
    name: str, op: Optional[str], version: Optional[str], tag: Optional[str]
) -> Optional[str]:
    """What is wrong with these parts of a dependency, or None."""
    if not name:
        return "the package name is missing"
    if _NOT_IN_A_NAME.search(name):
        return f"the package name {name!r} contains one of the characters ' <=>~@!'"
    if tag is not None and (not tag or _NOT_IN_A_NAME.search(tag)):
        return f"the repository tag {tag!r} after '@' must be a non-empty word"
    if op is None:
        return None if version is None else f"the version {version!r} needs an operator before it"
    if not version:
        wanted = "a package checksum (Q1...)" if op == CHECKSUM_OPERATOR else "a version"
        return f"the operator {op!r} needs {wanted} after it"
    if op != CHECKSUM_OPERATOR and not is_valid_version(version):
        return (
            f"{version!r} is not a valid apk version (expected numbers and dots with an optional"
            " letter, _suffixes and -rN, e.g. 1.2.3_rc1-r0)"
        )
    return None


@functools.lru_cache(maxsize=65536)
def parse_dependency(text: str) -> Dependency:
    """Parse one dependency, e.g. ``"!foo@edge>=1.2-r0"``; :class:`DependencyError` when malformed.

    Cached: an index repeats the same few thousand dependencies (``so:libc.musl-x86_64.so.1``) over
    and over, and the result is immutable.
    """
    canonical = _CANONICAL_DEPENDENCY.fullmatch(text)
    if canonical:
        conflict, name, tag, op, version = canonical.groups()
    else:
        parts = _DEPENDENCY_PARTS.fullmatch(text.strip())
        if parts is None:
            raise DependencyError(text, "it contains spaces: use parse_dependencies for a list")
        conflict, name, tag, op, version = parts.groups()
        if version and tag is None and "@" in version:
            version, tag = version.split("@", 1)  # go-apk's order: name=1.2@tag
        op = _checked_operator(text, name, op, version, tag)
    fields = {"name": name, "op": op, "version": version, "conflict": bool(conflict), "tag": tag}
    return unchecked_instance(Dependency, fields)


@functools.lru_cache(maxsize=16384)
def parse_dependencies(text: str) -> Tuple[Dependency, ...]:
    """Parse a space (or newline) separated list of dependencies, as in an index ``D:`` line.

    Cached like :func:`parse_dependency`: many packages share a whole list (``so:libc.musl-...``).
    """
    return tuple(map(parse_dependency, text.split()))


def format_dependencies(dependencies: Iterable[Dependency]) -> str:
    """The space separated apk spelling of ``dependencies`` (the inverse of parse_dependencies)."""
    return " ".join(str(dependency) for dependency in dependencies)
