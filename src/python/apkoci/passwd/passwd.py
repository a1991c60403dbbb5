"""``/etc/passwd`` and ``/etc/group``: parse them, merge accounts into them, write them back.

The formats are passwd(5) and group(5): one account per line, fields separated by ``:``,
``name:password:uid:gid:info:home:shell`` for a user and ``name:password:gid:member,member`` for
a group. apko (``pkg/passwd``) reads every line strictly (seven and four fields, numeric ids) and
writes the entries back one per line, each ending in a newline; so do we. Two things apko does not
do, on purpose:

- blank lines are skipped (apko fails on them); any other malformed line is a :class:`PasswdError`
  naming the file and the line, not a guess;
- :func:`merge_entries` *replaces* an entry of the same name in place, where apko appends a second
  line that ``getpwnam`` never reaches: an account the configuration describes is then the one the
  image has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple, TypeVar, Union

from apkoci.errors import ApkociError

PASSWD_PATH = "etc/passwd"
GROUP_PATH = "etc/group"

# apko's defaults for the users it creates (pkg/build/accounts.go).
DEFAULT_PASSWORD = "x"
DEFAULT_USER_INFO = "Account created by apko"
DEFAULT_SHELL = "/bin/sh"
# The home directory of users that have none; apko makes no directory for them.
NO_HOME = "/dev/null"


class PasswdError(ApkociError):
    """An ``/etc/passwd`` or ``/etc/group`` line that cannot be read, or an entry that cannot be
    written (a field holding ``:`` or a line break would corrupt the file)."""


@dataclass(frozen=True)
class UserEntry:
    """One line of ``/etc/passwd``."""

    name: str
    uid: int
    gid: int
    password: str = DEFAULT_PASSWORD
    info: str = ""
    home: str = ""
    shell: str = ""

    def line(self) -> str:
        _check_fields("user", self.name, (self.password, self.info, self.home, self.shell))
        return ":".join(
            (
                self.name,
                self.password,
                str(self.uid),
                str(self.gid),
                self.info,
                self.home,
                self.shell,
            )
        )


@dataclass(frozen=True)
class GroupEntry:
    """One line of ``/etc/group``; ``members`` are user names."""

    name: str
    gid: int
    password: str = DEFAULT_PASSWORD
    members: Tuple[str, ...] = ()

    def line(self) -> str:
        _check_fields("group", self.name, (self.password, *self.members))
        if any("," in member or not member for member in self.members):
            raise PasswdError(
                f"group {self.name!r}: member names must be non-empty and without ',': "
                f"{list(self.members)}"
            )
        return ":".join((self.name, self.password, str(self.gid), ",".join(self.members)))


Entry = TypeVar("Entry", UserEntry, GroupEntry)


def _check_fields(what: str, name: str, fields: Iterable[str]) -> None:
    for value in (name, *fields):
        if ":" in value or "\n" in value:
            raise PasswdError(
                f"{what} {name!r}: the value {value!r} holds ':' or a line break, which would "
                f"corrupt the file; remove it"
            )
    if not name:
        raise PasswdError(f"a {what} needs a name")


def _number(text: str, what: str, where: str) -> int:
    if not text.isdigit():
        raise PasswdError(f"{where}: the {what} {text!r} is not a number")
    return int(text)


def _lines(text: str) -> Iterable[Tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line:
            yield number, line


def parse_passwd(text: str, source: str = PASSWD_PATH) -> List[UserEntry]:
    """The entries of an ``/etc/passwd`` text, in order. ``source`` names the file in errors."""
    entries = []
    for number, line in _lines(text):
        where = f"{source}, line {number}"
        parts = line.split(":")
        if len(parts) != 7:
            raise PasswdError(
                f"{where}: expected 7 fields (name:password:uid:gid:info:home:shell), found "
                f"{len(parts)} in {line!r}; fix the package or file that ships it"
            )
        name, password, uid, gid, info, home, shell = parts
        entries.append(
            UserEntry(
                name=name,
                uid=_number(uid, "uid", where),
                gid=_number(gid, "gid", where),
                password=password,
                info=info,
                home=home,
                shell=shell,
            )
        )
    return entries


def parse_group(text: str, source: str = GROUP_PATH) -> List[GroupEntry]:
    """The entries of an ``/etc/group`` text, in order. ``source`` names the file in errors."""
    entries = []
    for number, line in _lines(text):
        where = f"{source}, line {number}"
        parts = line.split(":")
        if len(parts) != 4:
            raise PasswdError(
                f"{where}: expected 4 fields (name:password:gid:members), found {len(parts)} in "
                f"{line!r}; fix the package or file that ships it"
            )
        name, password, gid, members = parts
        entries.append(
            GroupEntry(
                name=name,
                gid=_number(gid, "gid", where),
                password=password,
                members=tuple(member for member in members.split(",") if member),
            )
        )
    return entries


def format_entries(entries: Iterable[Union[UserEntry, GroupEntry]]) -> str:
    """The file text: one line per entry, each ending in a newline (empty for no entries)."""
    return "".join(entry.line() + "\n" for entry in entries)


def merge_entries(existing: Sequence[Entry], added: Sequence[Entry]) -> List[Entry]:
    """``existing`` with ``added`` merged in: an added entry replaces the existing entry of its
    name where that one was, the others are appended in their order."""
    merged: List[Entry] = list(existing)
    position: Dict[str, int] = {entry.name: index for index, entry in enumerate(merged)}
    for entry in added:
        if entry.name in position:
            merged[position[entry.name]] = entry
        else:
            position[entry.name] = len(merged)
            merged.append(entry)
    return merged


def find_user(entries: Iterable[UserEntry], name_or_uid: str) -> Union[UserEntry, None]:
    """The entry a ``USER`` setting (a name or a numeric uid) means: the first one of that name,
    else the first of that uid; None when there is none."""
    entries = list(entries)
    for entry in entries:
        if entry.name == name_or_uid:
            return entry
    if name_or_uid.isdigit():
        for entry in entries:
            if entry.uid == int(name_or_uid):
                return entry
    return None
