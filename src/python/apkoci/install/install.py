"""Installing packages into a :class:`~apkoci.install.filetree.FileTree` as apk-tools 2.14 would.

:func:`install_packages` unpacks packages in the order given (the solver's install order) into the
tree, streaming each package's data tar into a spool of the tree's staging directory (its files
are regions of it, see :class:`~apkoci.install.filetree.Spool`), and returns what apk records
in ``lib/apk/db/installed`` for them. It runs no scripts: they are kept for ``scripts.tar``. The
rules are those of ``apk_db_install_file`` and ``apk_db_migrate_files`` (``src/database.c``):

- Entries whose name starts with ``.`` (``.PKGINFO`` and the like) and files named ``.keep_*`` are
  skipped. Unsafe names (absolute, with ``..`` or control characters) fail the install, and so does
  a file whose directory the package does not list before it, or a hard link to a file not in the
  package.
- Owners are the tar's numbers, except that a user or group *name* found in the tree's
  ``etc/passwd``/``etc/group`` gives that entry's id (and ``root`` is 0). apk reads those files
  once, before the first package, and again only after running a script, so on a fresh root it is
  the numbers that count.
- A file path already owned by another package may be taken over only if both come from the same
  origin or one ``replaces`` the other: when the old owner replaces the new package with a higher
  ``replaces_priority`` the old file stays (and the new package does not own it), otherwise a new
  package that replaces the old one overwrites the file and takes it over. Anything else is a
  :class:`FileConflictError`.
- A file that exists in the tree without being owned by a package (written by the database setup or
  an earlier build step) is overwritten, except under a protected path (``etc/``, by default) where
  an identical file is kept and a different one is written beside it as ``<name>.apk-new``.
- A directory several packages ship gets one set of permissions: the lowest owner uid wins (then the
  lowest gid), and between entries with the same owner the modes are ANDed. Directories that
  existed before the install keep theirs; a symlink where a package ships a directory stays.
  Extended attributes of directories are recorded in the database but not applied, as in apk.
- Each package's directories and files are listed in the database in the order its data tar first
  names them; ``Z:`` is the checksum from the tar's ``APK-TOOLS.checksum.SHA1`` record (for a
  regular file without one it is computed, where apk-tools would record none).

Paths go through the tree's symlinks (a package shipping ``bin/sh`` writes ``usr/bin/sh`` when
``bin`` links to ``usr/bin``), while ownership is by the path as the package names it, as in apk.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from apkoci.apk.apkfile import PAX_CHECKSUM_SHA1, ApkFile, DataContent, DataEntry
from apkoci.apk.dependency import Dependency
from apkoci.apk.index import Package
from apkoci.errors import ApkociError
from apkoci.install.database import (
    DEFAULT_DIRECTORY_ACL,
    Acl,
    InstalledDirectory,
    InstalledFile,
    InstalledPackage,
    q1_checksum,
    xattr_checksum,
)
from apkoci.install.filetree import FileTree, FileTreeError, Node, Spool
from apkoci.install.unpack import Unpacker
from apkoci.oci.layer import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, is_normal_path

_XATTR_PREFIX = "SCHILY.xattr."
# apk's built-in protected paths: "+etc" (changed files), "@etc/init.d" (symlinks), "!etc/apk"
# (all). For an install into a fresh root only "protected or not" matters.
DEFAULT_PROTECTED_PATHS = ("+etc", "@etc/init.d", "!etc/apk")
PROTECTED_PATHS_DIR = "etc/apk/protected_paths.d"

# tar entry types (tarfile's DIRTYPE and LNKTYPE)
_DIRTYPE = b"5"
_LNKTYPE = b"1"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")


class InstallError(ApkociError):
    """A package that cannot be installed into the tree."""


class FileConflictError(InstallError):
    """Two packages ship the same file and neither may take it from the other."""

    def __init__(self, path: str, package: str, owner: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.package = package
        self.owner = owner


@dataclass(frozen=True)
class PackageToInstall:
    """A package file and what the database should record about it.

    ``package`` is the package as the repository index describes it (``ResolvedPackage.package``);
    the install checks the file is that package (its ``C:`` checksum) and records the index stanza,
    as apk does for packages from a repository. Without it the file's ``.PKGINFO`` is recorded.
    ``repository_tag`` is the tag of a pinned repository it comes from (``ResolvedPackage.tag``).
    """

    apk: ApkFile
    package: Optional[Package] = None
    repository_tag: str = ""


# --- Names and ids in the tree -------------------------------------------------------------------


@dataclass(frozen=True)
class IdMap:
    """User and group names to ids, as the tree's ``etc/passwd`` and ``etc/group`` say."""

    users: Tuple[Tuple[str, int], ...] = ()
    groups: Tuple[Tuple[str, int], ...] = ()

    @classmethod
    def from_tree(cls, tree: FileTree) -> "IdMap":
        return cls(_read_id_file(tree, "etc/passwd", 7), _read_id_file(tree, "etc/group", 4))

    def uid(self, name: str, default: int) -> int:
        return _lookup_id(self.users, name, default)

    def gid(self, name: str, default: int) -> int:
        return _lookup_id(self.groups, name, default)


def _read_id_file(tree: FileTree, path: str, fields: int) -> Tuple[Tuple[str, int], ...]:
    """(name, id) of each well-formed line (``name:x:id:...`` with ``fields`` fields); the first of
    two lines with one name counts."""
    node = tree.stat(path)
    if node is None or node.kind != FILE:
        return ()
    entries: Dict[str, int] = {}
    for line in tree.read_bytes(path).decode("utf-8", "surrogateescape").split("\n"):
        parts = line.split(":")
        if len(parts) >= fields and parts[0] and parts[2].isdigit():
            entries.setdefault(parts[0], int(parts[2]))
    return tuple(entries.items())


def _lookup_id(table: Tuple[Tuple[str, int], ...], name: str, default: int) -> int:
    for known, number in table:
        if known == name:
            return number
    return 0 if name == "root" else default


# --- Protected paths -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedPaths:
    """apk's protected paths: ``(pattern, protected)`` in the order they apply (later ones win).

    A pattern names a directory, component by component (``fnmatch`` per component); a directory
    takes its parent's protection unless a pattern names it. ``-pattern`` unprotects.
    """

    patterns: Tuple[Tuple[str, bool], ...]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> "ProtectedPaths":
        patterns = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            protected = line[0] != "-"
            if line[0] in "-+@!":
                line = line[1:]
            patterns.append((line.strip("/"), protected))
        return cls(tuple(patterns))

    @classmethod
    def from_tree(cls, tree: FileTree) -> "ProtectedPaths":
        """The defaults and the tree's ``etc/apk/protected_paths.d/*.list`` (in name order)."""
        lines = list(DEFAULT_PROTECTED_PATHS)
        if tree.is_dir(PROTECTED_PATHS_DIR):
            prefix = tree.resolve(PROTECTED_PATHS_DIR) + "/"
            for path in tree.paths():
                name = path[len(prefix) :]
                node = tree.stat(path)
                if (
                    path.startswith(prefix)
                    and "/" not in name
                    and name.endswith(".list")
                    and node
                    and node.kind == FILE
                ):
                    lines.extend(
                        tree.read_bytes(path).decode("utf-8", "surrogateescape").split("\n")
                    )
        return cls.from_lines(lines)

    def is_protected(self, directory: str) -> bool:
        protected = False
        patterns = self.patterns
        for component in directory.split("/") if directory else ():
            deeper = []
            for pattern, value in patterns:
                head, slash, rest = pattern.partition("/")
                if not fnmatch.fnmatchcase(component, head):
                    continue
                if slash:
                    deeper.append((rest, value))
                else:
                    protected = value
            patterns = tuple(deeper)
        return protected


# --- The installer -------------------------------------------------------------------------------


@dataclass
class _Directory:
    """A directory of one package while it installs: its entry's acl, its files, where it landed."""

    acl: Acl
    physical: Optional[str]  # the tree path it resolved to, None for the implicit root
    files: Dict[str, InstalledFile] = field(default_factory=dict)


@dataclass
class _Package:
    """One package being installed, as the database will record it."""

    source: str
    package: Package
    repository_tag: str
    scripts: Tuple[Tuple[str, bytes], ...]
    triggers: Tuple[str, ...]
    directories: Dict[str, _Directory] = field(default_factory=dict)
    written: Dict[str, str] = field(
        default_factory=dict
    )  # package path -> tree path, for hard links

    @property
    def label(self) -> str:
        return f"{self.package.name}-{self.package.version}"

    def error(self, message: str) -> InstallError:
        """An install error naming this package's file and version."""
        return InstallError(f"{self.source} ({self.label}): {message}")

    def result(self) -> InstalledPackage:
        directories = tuple(
            InstalledDirectory(path, directory.acl, tuple(directory.files.values()))
            for path, directory in self.directories.items()
        )
        return InstalledPackage(
            self.package, directories, self.repository_tag, "", self.scripts, self.triggers
        )


def install_packages(
    tree: FileTree, packages: Sequence[Union[ApkFile, PackageToInstall]]
) -> Tuple[InstalledPackage, ...]:
    """Install ``packages`` into ``tree`` in the order given; returns their installed-database
    records (in the same order) for :func:`apkoci.install.database.write_apk_database`."""
    installer = _Installer(tree)
    items = [
        item if isinstance(item, PackageToInstall) else PackageToInstall(item) for item in packages
    ]
    # Each package's data tar is inflated into a spool of its own, by a helper process that runs
    # ahead of the install (see apkoci.install.unpack).
    jobs = [(item.apk, tree.new_spool()) for item in items]
    with Unpacker(jobs) as unpacker:
        for index, item in enumerate(items):
            installer.install(item, jobs[index][1], lambda: unpacker.entries(index))
    installer.apply_directory_permissions()
    return tuple(package.result() for package in installer.packages)


class _Installer:
    def __init__(self, tree: FileTree) -> None:
        self.tree = tree
        # Read once, before the first package, like apk's id cache and protected paths.
        self.ids = IdMap.from_tree(tree)
        self.protected = ProtectedPaths.from_tree(tree)
        self.packages: List[_Package] = []
        self.owners: Dict[str, _Package] = {}  # package path of a file -> the package owning it
        # The tree paths of the directories this install made (the ones it sets permissions of),
        # with the acl each was made with.
        self.created_directories: Dict[str, Acl] = {}
        # Tar owners, mode and xattrs -> the Acl they give (ids are read once, so it stays).
        self.acls: Dict[Tuple[object, ...], Acl] = {}

    # --- One package ---

    def install(
        self,
        item: PackageToInstall,
        spool: Spool,
        entries: Callable[[], Iterator[Tuple[DataEntry, Optional[DataContent]]]],
    ) -> None:
        """Install one package whose data tar ``entries()`` gives, staged in ``spool``."""
        apk = item.apk
        if item.package is not None and item.package.checksum:
            apk.verify_checksum(item.package.checksum)
        package = _recorded_package(item)
        for other in self.packages:
            if other.package.name == package.name:
                raise InstallError(
                    f"{apk.source}: package {package.name} is given twice ({other.label} and "
                    f"{package.name}-{package.version}); install each package once"
                )
        state = _Package(
            apk.source,
            package,
            item.repository_tag,
            tuple(apk.scripts.items()),
            apk.pkginfo.triggers,
        )
        self.packages.append(state)
        # The package's files are regions of the spool holding its inflated data tar.
        for entry, content in entries():
            try:
                self._install_entry(state, entry, spool, content)
            except FileTreeError as error:
                raise state.error(f"cannot install {entry.name}: {error}") from None

    def _install_entry(
        self, package: _Package, entry: DataEntry, spool: Spool, content: Optional[DataContent]
    ) -> None:
        info = entry.info
        name = info.name
        if name.startswith("."):  # apk skips hidden top-level entries of the data part
            return
        problem = _unsafe_name_problem(name)
        if problem:
            raise package.error(
                f"refusing to install {name!r}: {problem}; the package is broken or malicious, "
                "rebuild it"
            )
        xattrs = _xattrs(entry)
        key = (info.mode, info.uname, info.uid, info.gname, info.gid, xattrs)
        acl = self.acls.get(key)
        if acl is None:  # (a few distinct ones per install: kept, as Acl is a value)
            acl = Acl(
                info.mode & 0o7777,
                self.ids.uid(info.uname, info.uid),
                self.ids.gid(info.gname, info.gid),
                xattr_checksum(xattrs) if xattrs else "",
            )
            if len(self.acls) < 4096:
                self.acls[key] = acl
        if info.type == _DIRTYPE:
            self._install_directory(package, name, acl)
        else:
            self._install_file(package, entry, spool, content, acl, xattrs)

    def _install_directory(self, package: _Package, name: str, acl: Acl) -> None:
        physical, node = self.tree.lstat_resolved(name)
        if node is None:
            try:
                self.tree.mkdir(
                    physical,
                    mode=acl.mode,
                    uid=acl.uid,
                    gid=acl.gid,
                    parents=False,
                    owner=package.package.name,
                )
            except FileTreeError:
                raise package.error(
                    f"cannot create directory {name}: its parent is neither in the package before "
                    "it nor in the image; rebuild the package with its parent directories"
                ) from None
            self.created_directories[physical] = acl
        elif node.kind == SYMLINK:
            physical = self.tree.resolve(physical)  # a symlink to a directory stays, as with apk
            if not self.tree.is_dir(physical):
                raise package.error(
                    f"directory {name} is a symlink to {node.target}, which is not a directory in "
                    "the image"
                )
        elif node.kind != DIR:
            raise package.error(
                f"cannot create directory {name}: a {node.kind} {self._made_by(node)} is there"
            )
        directory = package.directories.get(name)
        if directory is None:
            package.directories[name] = _Directory(acl, physical)
        else:  # the same directory twice in one package: the last entry's metadata counts
            directory.acl = acl

    def _install_file(
        self,
        package: _Package,
        entry: DataEntry,
        spool: Spool,
        content: Optional[DataContent],
        acl: Acl,
        xattrs: Tuple[Tuple[str, bytes], ...],
    ) -> None:
        info = entry.info
        name = info.name
        dirname, _, basename = name.rpartition("/")
        if basename.startswith(".keep_") and len(basename) > len(".keep_"):
            return
        directory = package.directories.get(dirname)
        if directory is None:
            if dirname:
                raise package.error(
                    f"{name} comes without its directory {dirname} before it in the package "
                    "(apk-tools: 'no dirent in archive'); rebuild the package"
                )
            directory = package.directories[""] = _Directory(DEFAULT_DIRECTORY_ACL, None)
        link_target: Optional[str] = None
        if info.type == _LNKTYPE:
            link_target = package.written.get(info.linkname)
            if link_target is None:
                raise package.error(
                    f"{name} is a hard link to {info.linkname}, which the package does not "
                    "install before it; rebuild the package"
                )
        owner = self.owners.get(name)
        if owner is not None and not self._may_take_over(owner, package, name):
            return  # the old owner keeps the file
        physical, existing = self.tree.lstat_resolved(name)
        if existing is not None and existing.kind == DIR:
            raise package.error(
                f"cannot install {name}: a directory {self._made_by(existing)} is there"
            )
        # A file in a protected directory that no package owns is local configuration: apk leaves it
        # and puts the package's version beside it, unless both are the same.
        protected = owner is None and existing is not None and self.protected.is_protected(dirname)
        destination = physical + ".apk-new" if protected else physical
        if content is not None and link_target is None:  # a regular file: the common case
            # (destination is resolved: physical is, and a suffix of its name changes no parent)
            self.tree._place_spooled(
                destination,
                spool,
                content.offset,
                content.size,
                content.sha1,
                acl.mode,
                acl.uid,
                acl.gid,
                xattrs,
                package.package.name,
            )
            written: Tuple[str, str] = (FILE, content.sha1)
            checksum = self._file_checksum(package, entry, content.sha1)
        else:
            node = self._write(package, entry, acl, destination, link_target)
            written = _content_checksum(node)
            if link_target is not None:
                checksum = self._checksum_of(package, info.linkname)
            else:
                checksum = self._checksum(package, entry, node)
        if protected and existing is not None and _content_checksum(existing) == written:
            self.tree.remove(destination)
            destination = physical
        if owner is not None and owner is not package:
            owner.directories[dirname].files.pop(basename, None)  # the new package takes it over
        directory.files[basename] = InstalledFile(basename, acl, checksum)
        self.owners[name] = package
        package.written[name] = destination

    def _checksum(self, package: _Package, entry: DataEntry, node: Node) -> str:
        """The Z: of an entry: the package's recorded SHA-1 (checked against a regular file's
        content), or for a regular file without one the SHA-1 of what was written."""
        if node.kind == FILE:
            return self._file_checksum(package, entry, node.sha1)
        recorded = entry.sha1.lower() if entry.sha1 and _is_sha1_hex(entry.sha1) else ""
        return q1_checksum(bytes.fromhex(recorded)) if recorded else ""

    def _file_checksum(self, package: _Package, entry: DataEntry, sha1: str) -> str:
        """The Z: of a regular file whose content has the hex SHA-1 ``sha1``: the one the package
        records must be that one."""
        recorded = entry.sha1
        if recorded and recorded != sha1 and _is_sha1_hex(recorded) and recorded.lower() != sha1:
            raise package.error(
                f"{entry.name} has SHA-1 {sha1}, but the package records {recorded.lower()}: "
                "the package is corrupt; fetch or rebuild it"
            )
        return q1_checksum(bytes.fromhex(sha1))

    def _write(
        self,
        package: _Package,
        entry: DataEntry,
        acl: Acl,
        destination: str,
        link_target: Optional[str],
    ) -> Node:
        """Make what is not a regular file: a hard link, a symlink, a device or a fifo."""
        info = entry.info
        owner = package.package.name
        if link_target is not None:
            return self.tree.hardlink(destination, link_target)
        if info.issym():
            return self.tree.symlink(
                destination, info.linkname, uid=acl.uid, gid=acl.gid, owner=owner
            )
        kinds = {CHAR: info.ischr(), BLOCK: info.isblk(), FIFO: info.isfifo()}
        for kind, matches in kinds.items():
            if matches:
                return self.tree.mknod(
                    destination,
                    kind,
                    major=info.devmajor,
                    minor=info.devminor,
                    mode=acl.mode,
                    uid=acl.uid,
                    gid=acl.gid,
                    owner=owner,
                )
        raise package.error(
            f"{info.name} is a tar entry of type {info.type!r}, which apk cannot install; "
            "rebuild the package"
        )

    def _checksum_of(self, package: _Package, path: str) -> str:
        dirname, _, basename = path.rpartition("/")
        return package.directories[dirname].files[basename].checksum

    def _may_take_over(self, old: _Package, new: _Package, path: str) -> bool:
        """apk's rule for a file ``old`` owns and ``new`` ships: True overwrites, False keeps."""
        if old is new or (new.package.origin and old.package.origin == new.package.origin):
            return True
        old_priority = old.package.replaces_priority if _replaces(old.package, new.package) else -1
        new_priority = new.package.replaces_priority if _replaces(new.package, old.package) else -1
        if old_priority > new_priority:
            return False
        if new_priority >= 0:
            return True
        raise FileConflictError(
            path,
            new.package.name,
            old.package.name,
            f"{new.source}: {new.label} would overwrite {path}, which {old.label} installed. "
            "Packages may share a file only when they come from the same origin or one replaces "
            f"the other: add '{old.package.name}' to the replaces of {new.package.name} (melange: "
            "dependencies.replaces), or keep only one of the two packages in the image",
        )

    def _made_by(self, node: Node) -> str:
        return f"from {node.owner}" if node.owner else "(not from a package)"

    # --- After all packages ---

    def apply_directory_permissions(self) -> None:
        """Give each directory this install made the permissions apk computes from every package
        shipping it (apk_db_update_directory_permissions)."""
        merged: Dict[str, Acl] = {}
        for package in self.packages:
            for directory in package.directories.values():
                physical = directory.physical
                if physical is not None and physical in self.created_directories:
                    merged[physical] = _merge_acl(merged.get(physical), directory.acl)
        for physical, acl in merged.items():
            made = self.created_directories[physical]
            if (acl.mode, acl.uid, acl.gid) == (made.mode, made.uid, made.gid):
                continue  # (most directories: one package ships them, or all alike)
            self.tree.chmod(physical, acl.mode)
            self.tree.chown(physical, acl.uid, acl.gid)


def _merge_acl(current: Optional[Acl], new: Acl) -> Acl:
    """apk_db_dir_apply_diri_permissions: the lowest uid (then gid) wins; same owners AND modes."""
    if current is None or (new.uid, new.gid) < (current.uid, current.gid):
        return Acl(new.mode, new.uid, new.gid)
    if (new.uid, new.gid) == (current.uid, current.gid):
        return Acl(current.mode & new.mode, current.uid, current.gid)
    return current


def _replaces(package: Package, other: Package) -> bool:
    """Whether one of ``package``'s replaces names ``other`` (apk_dep_is_materialized)."""
    return any(_is_materialized(dependency, other) for dependency in package.replaces)


def _is_materialized(dependency: Dependency, package: Package) -> bool:
    if dependency.name != package.name:
        return dependency.conflict
    if dependency.is_checksum:
        return dependency.version == package.checksum
    return dependency.matches_version(package.version) != dependency.conflict


def _recorded_package(item: PackageToInstall) -> Package:
    """The package the database records: the index stanza (or .PKGINFO), with replaces and their
    priority from .PKGINFO as apk takes them, and no provider priority 0 (apk writes k: only when
    it is set)."""
    from_file = item.apk.package
    package = item.package or from_file
    provider_priority = package.provider_priority or None
    return replace(
        package,
        replaces=from_file.replaces,
        replaces_priority=from_file.replaces_priority,
        provider_priority=provider_priority,
    )


def _unsafe_name_problem(name: str) -> Optional[str]:
    """Why apk would refuse ``name`` (its "malicious file" check, and empty components), or None."""
    if name.startswith("/"):
        return "it is an absolute path"
    if _CONTROL_CHARACTER.search(name):
        return "it contains control characters"
    if not is_normal_path(name):  # (no NUL here: that is a control character)
        return "it has an empty, '.' or '..' component"
    return None


def _xattrs(entry: DataEntry) -> Tuple[Tuple[str, bytes], ...]:
    """The entry's extended attributes from its PAX ``SCHILY.xattr.*`` records, as bytes."""
    headers = entry.info.pax_headers
    if not headers or (len(headers) == 1 and PAX_CHECKSUM_SHA1 in headers):
        return ()  # (most entries: no records, or the checksum only)
    pairs = [
        (key[len(_XATTR_PREFIX) :], value.encode("utf-8", "surrogateescape"))
        for key, value in headers.items()
        if key.startswith(_XATTR_PREFIX) and len(key) > len(_XATTR_PREFIX)
    ]
    return tuple(sorted(pairs)) if pairs else ()


def _is_sha1_hex(text: str) -> bool:
    # apk ignores a checksum record it cannot read as 40 hex digits.
    return _SHA1_HEX.fullmatch(text) is not None


def _content_checksum(node: Node) -> Tuple[str, str]:
    """What apk compares to tell two files apart: the kind and the SHA-1 of content or target."""
    if node.kind == FILE:
        return FILE, node.sha1
    if node.kind == SYMLINK:
        return SYMLINK, hashlib.sha1(node.target.encode("utf-8", "surrogateescape")).hexdigest()
    return node.kind, f"{node.devmajor}:{node.devminor}"
