"""apk-tools' database of installed packages: its values, its exact files, a fresh root's layout.

What apk-tools 2.14 keeps about an installation, and where (``apk_db_write_config`` and
``apk_db_create`` in ``src/database.c``):

- ``lib/apk/db/installed`` (:func:`format_installed_db`): one stanza per installed package, in
  install order. The package part is the index stanza (``C P V A S I T U L o m t c k D p i``, see
  :mod:`apkoci.apk.index`), then ``r:``/``q:`` (replaces and their priority, from ``.PKGINFO``),
  ``s:`` (the repository tag it was pinned to) and ``f:`` (what broke while installing it). Then the
  package's files, grouped by directory in the order the package's data tar first names them:
  ``F:dir`` (``M:uid:gid:mode`` unless root:root 0755), and for each file in it ``R:name``
  (``a:uid:gid:mode`` unless root:root 0644) and ``Z:`` the Q1 checksum apk recorded (the SHA-1 of
  a file's content, of a symlink's target). ``M:``/``a:`` carry a fourth field, ``Q1`` + SHA-1 of
  the entry's extended attributes, when it has any (:func:`xattr_checksum`).
- ``lib/apk/db/scripts.tar`` (:func:`format_scripts_tar`): the packages' install scripts, named
  ``<name>-<version>.<Q1 checksum of the package>.<script>``, written the way
  ``apk_tar_write_entry`` writes them (GNU tar headers, mode 0755, root, mtime 0).
- ``lib/apk/db/triggers`` (:func:`format_triggers`): ``<Q1 checksum> <glob> ...`` per package with
  ``triggers`` in its ``.PKGINFO``.
- ``etc/apk/world`` (:func:`format_world`): the requested dependencies, one per line.
- ``etc/apk/arch``: the architecture and a newline.

:func:`init_apk_database` lays out what apk makes on a fresh root before installing anything, plus
what apko adds (the keyring and the runtime repositories); :func:`write_apk_database` writes the
database files once the packages are in. Left out on purpose: ``lib/apk/db/lock`` (a lock for a
running apk, meaningless in an image), the device nodes apk tries to ``mknod`` in ``dev/`` (it
cannot without root, and ignores the failure; pass ``device_nodes=True`` to have them), and
``lib/apk/exec`` (made only to run scripts, which an image build does not run).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import struct
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from apkoci.apk.apkfile import SCRIPT_NAMES
from apkoci.apk.dependency import Dependency
from apkoci.apk.index import IndexFormatError, Package, format_index_text, parse_index_text
from apkoci.errors import ApkociError
from apkoci.install.filetree import FileTree
from apkoci.oci.layer import CHAR

INSTALLED_PATH = "lib/apk/db/installed"
SCRIPTS_PATH = "lib/apk/db/scripts.tar"
TRIGGERS_PATH = "lib/apk/db/triggers"
WORLD_PATH = "etc/apk/world"
ARCH_PATH = "etc/apk/arch"
REPOSITORIES_PATH = "etc/apk/repositories"
KEYS_DIR = "etc/apk/keys"

# apk_db_create's directories (tmp keeps its sticky bit), and proc, which apk_db_open makes to mount
# /proc on. In the order apk makes them.
BASE_DIRECTORIES: Tuple[Tuple[str, int], ...] = (
    ("tmp", 0o1777),
    ("dev", 0o755),
    ("etc", 0o755),
    ("etc/apk", 0o755),
    ("lib", 0o755),
    ("lib/apk", 0o755),
    ("lib/apk/db", 0o755),
    ("var", 0o755),
    ("var/cache", 0o755),
    ("var/cache/apk", 0o755),
    ("var/cache/misc", 0o755),
    ("proc", 0o555),
)
# apk_db_create's device nodes: (path, major, minor, mode).
DEVICE_NODES: Tuple[Tuple[str, int, int, int], ...] = (
    ("dev/null", 1, 3, 0o666),
    ("dev/zero", 1, 5, 0o666),
    ("dev/random", 1, 8, 0o666),
    ("dev/urandom", 1, 9, 0o666),
    ("dev/console", 5, 1, 0o600),
)


class DatabaseFormatError(ApkociError):
    """An installed database that cannot be read."""


# --- Values ---------------------------------------------------------------------------------------


def q1_checksum(sha1_digest: bytes) -> str:
    """apk's spelling of a SHA-1: ``Q1`` + base64 of the 20 bytes."""
    return "Q1" + base64.b64encode(sha1_digest).decode("ascii")


def xattr_checksum(xattrs: Iterable[Tuple[str, bytes]]) -> str:
    """The Q1 checksum apk-tools records for a set of extended attributes, or "" for none.

    It is the SHA-1 over the attributes sorted by name, each as the big-endian 32-bit length of the
    name, the name, the length of the value and the value (``apk_fileinfo_hash_xattr_array``).
    """
    pairs = sorted((name.encode("utf-8", "surrogateescape"), value) for name, value in xattrs)
    if not pairs:
        return ""
    hasher = hashlib.sha1()
    for name, value in pairs:
        hasher.update(struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value)
    return q1_checksum(hasher.digest())


@dataclass(frozen=True)
class Acl:
    """Owner, permission bits and extended-attribute checksum of a directory or file entry."""

    mode: int
    uid: int = 0
    gid: int = 0
    xattr_checksum: str = ""  # "Q1..." when the entry has extended attributes

    def line(self, letter: str) -> str:
        """The ``M:``/``a:`` line (without newline), e.g. ``M:0:0:700``."""
        text = f"{letter}:{self.uid}:{self.gid}:{self.mode:o}"
        return text + (":" + self.xattr_checksum if self.xattr_checksum else "")


DEFAULT_DIRECTORY_ACL = Acl(0o755)  # a directory without M:
DEFAULT_FILE_ACL = Acl(0o644)  # a file without a:


@dataclass(frozen=True)
class InstalledFile:
    """One non-directory entry a package owns: its name within the directory, acl and checksum."""

    name: str
    acl: Acl = DEFAULT_FILE_ACL
    checksum: str = ""  # Z:, "Q1..." (none for entries apk has no checksum of)


@dataclass(frozen=True)
class InstalledDirectory:
    """A directory a package ships, with the files it owns in it (in package order)."""

    path: str  # "" for the root, which a package shipping top-level files gets implicitly
    acl: Acl = DEFAULT_DIRECTORY_ACL
    files: Tuple[InstalledFile, ...] = ()


@dataclass(frozen=True)
class InstalledPackage:
    """One stanza of ``lib/apk/db/installed``, and what ``scripts.tar`` and ``triggers`` hold.

    ``package.replaces`` and ``package.replaces_priority`` are the stanza's ``r:`` and ``q:``.
    ``broken`` is the ``f:`` field: ``f`` (files), ``s`` (scripts), ``x`` (xattrs) for what failed.
    """

    package: Package
    directories: Tuple[InstalledDirectory, ...] = ()
    repository_tag: str = ""  # s:, without the '@'
    broken: str = ""  # f:
    scripts: Tuple[Tuple[str, bytes], ...] = ()  # (script name as in SCRIPT_NAMES, content)
    triggers: Tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.package.name}-{self.package.version}"

    def paths(self) -> List[str]:
        """The paths of the files this package owns, as the database lists them."""
        return [
            _join(directory.path, file.name)
            for directory in self.directories
            for file in directory.files
        ]


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


# --- lib/apk/db/installed -------------------------------------------------------------------------


def format_installed_db(packages: Iterable[InstalledPackage]) -> str:
    """The text of ``lib/apk/db/installed`` for ``packages`` (in the order given)."""
    return "".join(_installed_stanza(installed) for installed in packages)


def _installed_stanza(installed: InstalledPackage) -> str:
    # format_index_text writes C..k D p i, then r and q as the installed database has them; drop the
    # blank line it ends the stanza with, to append the installed-only fields.
    lines = [format_index_text([installed.package])[:-1]]
    if installed.repository_tag:
        lines.append(f"s:{installed.repository_tag}\n")
    if installed.broken:
        lines.append(f"f:{installed.broken}\n")
    for directory in installed.directories:
        lines.append(f"F:{directory.path}\n")
        if directory.acl != DEFAULT_DIRECTORY_ACL:
            lines.append(directory.acl.line("M") + "\n")
        for file in directory.files:
            lines.append(f"R:{file.name}\n")
            if file.acl != DEFAULT_FILE_ACL:
                lines.append(file.acl.line("a") + "\n")
            if file.checksum:
                lines.append(f"Z:{file.checksum}\n")
    lines.append("\n")
    return "".join(lines)


def parse_installed_db(text: str, source: str = INSTALLED_PATH) -> List[InstalledPackage]:
    """The packages of an installed database, in file order (scripts and triggers are not in it)."""
    try:
        packages = parse_index_text(text, source)
    except IndexFormatError as error:
        raise DatabaseFormatError(str(error)) from None
    stanzas = _fdb_stanzas(text.split("\n"), source)
    if len(stanzas) != len(packages):  # cannot happen: both split on the same short lines
        raise DatabaseFormatError(
            f"{source}: found {len(stanzas)} file lists for {len(packages)} packages"
        )
    return [
        dataclasses.replace(stanza, package=package) for stanza, package in zip(stanzas, packages)
    ]


class _StanzaReader:
    """The installed-only fields of one stanza, read line by line (``apk_db_index_read``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.directories: List[InstalledDirectory] = []
        self.files: List[InstalledFile] = []
        self.repository_tag = ""
        self.broken = ""

    def read(self, letter: str, value: str, number: int) -> None:
        if letter == "F":
            self._close_directory()
            self.directories.append(InstalledDirectory(value))
        elif letter == "M":
            directory = self._directory(letter, number)
            self.directories[-1] = dataclasses.replace(
                directory, acl=self._acl(value, letter, number)
            )
        elif letter == "R":
            self._directory(letter, number)
            self.files.append(InstalledFile(value))
        elif letter in "aZ":
            if not self.files:
                raise DatabaseFormatError(
                    f"{self.source}, line {number}: '{letter}:' comes before any 'R:' file line"
                )
            file = self.files[-1]
            if letter == "a":
                self.files[-1] = dataclasses.replace(file, acl=self._acl(value, letter, number))
            else:
                self.files[-1] = dataclasses.replace(file, checksum=value)
        elif letter == "s":
            self.repository_tag = value
        elif letter == "f":
            self.broken = value

    def finish(self) -> InstalledPackage:
        self._close_directory()
        return InstalledPackage(
            Package("", ""), tuple(self.directories), self.repository_tag, self.broken
        )

    def _directory(self, letter: str, number: int) -> InstalledDirectory:
        if not self.directories:
            raise DatabaseFormatError(
                f"{self.source}, line {number}: '{letter}:' comes before any 'F:' directory line"
            )
        return self.directories[-1]

    def _close_directory(self) -> None:
        if self.directories and self.files:
            self.directories[-1] = dataclasses.replace(
                self.directories[-1], files=tuple(self.files)
            )
        self.files = []

    def _acl(self, value: str, letter: str, number: int) -> Acl:
        parts = value.split(":")
        try:
            if len(parts) not in (3, 4):
                raise ValueError(value)
            uid, gid, mode = int(parts[0]), int(parts[1]), int(parts[2], 8)
        except ValueError:
            raise DatabaseFormatError(
                f"{self.source}, line {number}: '{letter}:{value}' is not uid:gid:mode (octal)"
                " with an"
                " optional :Q1 checksum of the extended attributes"
            ) from None
        return Acl(mode, uid, gid, parts[3] if len(parts) == 4 else "")


def _fdb_stanzas(lines: Sequence[str], source: str) -> List[InstalledPackage]:
    stanzas: List[InstalledPackage] = []
    reader: Optional[_StanzaReader] = None
    for number, line in enumerate(lines, 1):
        if len(line) < 2:  # ends a stanza, as in parse_index_text
            if reader is not None:
                stanzas.append(reader.finish())
                reader = None
            continue
        reader = reader or _StanzaReader(source)
        reader.read(line[0], line[2:], number)
    if reader is not None:
        stanzas.append(reader.finish())
    return stanzas


# --- lib/apk/db/scripts.tar -----------------------------------------------------------------------

_TAR_BLOCK = 512


def script_file_name(package: Package, script: str) -> str:
    """The name apk gives a script in ``scripts.tar``: ``<name>-<version>.<checksum>.<script>``."""
    return f"{package.name}-{package.version}.{package.checksum}.{script}"


def _octal(value: int, width: int, nul: bool) -> bytes:
    # apk's put_octal: zero-padded octal filling the field, with a NUL last when `nul`.
    digits = width - 1 if nul else width
    text = b"%0*o" % (digits, value)
    if len(text) > digits:
        raise DatabaseFormatError(f"{value} does not fit in a {width}-byte tar field")
    return text + (b"\0" if nul else b"")


def _gnu_header(name: bytes, typeflag: bytes, size: int) -> bytes:
    """One header as ``apk_tar_fill_header`` makes it: root:root, mode 0755, mtime 0, GNU magic."""
    header = bytearray(_TAR_BLOCK)
    header[0:100] = name[:99].ljust(100, b"\0")  # strlcpy: at most 99 bytes and a NUL
    header[100:108] = _octal(0o755, 8, True)
    header[108:116] = _octal(0, 8, True)
    header[116:124] = _octal(0, 8, True)
    header[124:136] = _octal(size, 12, False)
    header[136:148] = _octal(0, 12, False)
    header[148:156] = b" " * 8
    header[156:157] = typeflag
    header[257:265] = b"ustar  \0"
    header[265:297] = b"root".ljust(32, b"\0")
    header[297:329] = b"root".ljust(32, b"\0")
    # The checksum field: six octal digits and a NUL; its last byte stays a space.
    header[148:155] = _octal(sum(header), 7, True)
    return bytes(header)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _TAR_BLOCK)


def format_scripts_tar(packages: Iterable[InstalledPackage]) -> bytes:
    """The bytes of ``lib/apk/db/scripts.tar``: every package's scripts in apk's script order.

    Names over 99 bytes get a GNU ``././@LongLink`` entry before them, as apk writes them.
    """
    out = bytearray()
    for installed in packages:
        scripts: Dict[str, bytes] = dict(installed.scripts)
        for script in SCRIPT_NAMES:
            if script not in scripts:
                continue
            data = scripts[script]
            name = script_file_name(installed.package, script).encode("utf-8", "surrogateescape")
            if len(name) > 99:
                out += _gnu_header(b"././@LongLink", b"L", len(name))
                out += name + b"\0" + _padding(len(name) + 1)
            out += _gnu_header(name, b"0", len(data)) + data + _padding(len(data))
    out += b"\0" * (2 * _TAR_BLOCK)
    return bytes(out)


# --- lib/apk/db/triggers, etc/apk/world, etc/apk/repositories -------------------------------------


def format_triggers(packages: Iterable[InstalledPackage]) -> str:
    """The text of ``lib/apk/db/triggers``: ``<checksum> <glob> ...`` per package with triggers."""
    return "".join(
        " ".join([installed.package.checksum, *installed.triggers]) + "\n"
        for installed in packages
        if installed.triggers
    )


def format_world(world: Iterable[Union[str, Dependency]]) -> str:
    """The text of ``etc/apk/world``: one dependency per line, in the order given, and a newline."""
    return "".join(str(dependency) + "\n" for dependency in world) or "\n"


def format_repositories(repositories: Iterable[str]) -> str:
    """The text of ``etc/apk/repositories``: one repository (``[@tag ]url``) per line."""
    return "".join(repository + "\n" for repository in repositories) or "\n"


# --- Writing them into a tree ---------------------------------------------------------------------


def init_apk_database(
    tree: FileTree,
    *,
    arch: str,
    keys: Mapping[str, bytes] = {},
    repositories: Sequence[str] = (),
    device_nodes: bool = False,
) -> None:
    """Lay out a fresh root the way ``apk add --initdb`` leaves it before installing packages.

    The base directories (:data:`BASE_DIRECTORIES`, root:root), ``etc/apk/arch``, the keyring as
    ``etc/apk/keys/<name>`` and ``etc/apk/repositories`` (the repositories the image should use at
    run time, which need not be those it was built from). Existing directories are kept as they are.
    """
    if not arch or "\n" in arch or "/" in arch:
        raise DatabaseFormatError(
            f"architecture {arch!r} must be a single word such as x86_64 or aarch64"
        )
    for path, mode in BASE_DIRECTORIES:
        tree.mkdir(path, mode=mode)
    if device_nodes:
        for path, major, minor, mode in DEVICE_NODES:
            tree.mknod(path, CHAR, major=major, minor=minor, mode=mode)
    tree.write_file(ARCH_PATH, arch.encode("utf-8") + b"\n")
    tree.mkdir(KEYS_DIR)
    for name, data in sorted(keys.items()):
        if not name or "/" in name or name in (".", ".."):
            raise DatabaseFormatError(
                f"key file name {name!r} must be a plain file name, e.g. 'alpine-devel@...rsa.pub'"
            )
        tree.write_file(f"{KEYS_DIR}/{name}", data)
    for repository in repositories:
        if not repository.strip() or "\n" in repository:
            raise DatabaseFormatError(
                f"repository {repository!r} must be one non-empty line, e.g. 'https://.../main'"
            )
    tree.write_file(REPOSITORIES_PATH, format_repositories(repositories).encode("utf-8"))


def write_apk_database(
    tree: FileTree,
    installed: Sequence[InstalledPackage],
    *,
    world: Sequence[Union[str, Dependency]],
) -> None:
    """Write the files ``apk_db_write_config`` writes after an install: world, installed,
    scripts.tar and triggers (root:root 0644; ``lib/apk/db`` is made when missing)."""
    tree.mkdir("lib/apk/db")
    tree.mkdir("etc/apk")
    tree.write_file(WORLD_PATH, format_world(world).encode("utf-8"))
    tree.write_file(
        INSTALLED_PATH, format_installed_db(installed).encode("utf-8", "surrogateescape")
    )
    tree.write_file(SCRIPTS_PATH, format_scripts_tar(installed))
    tree.write_file(TRIGGERS_PATH, format_triggers(installed).encode("utf-8"))
