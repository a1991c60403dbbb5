"""The file tree of an image while it is built: metadata in memory, file contents on disk.

A :class:`FileTree` maps paths (relative, ``usr/bin/sh``) to what is there: a directory, regular
file, symlink, device node or fifo, with its permission bits (setuid and friends included), numeric
owners, extended attributes and the package that put it there. Nothing comes from the disk of the
building host: an install runs without root, so owners are the ones the packages (or later build
steps) give, never those of the files in the staging directory.

The bytes of regular files live in a staging directory; the tree never holds them in memory. A
file written through :meth:`FileTree.write_stream` gets a staging file of its own. An install
stages a whole package at once instead: a :class:`Spool` (:meth:`FileTree.new_spool`) is one
append-only file that the package's inflated data tar is streamed into, and each of its files is a
region of it (:meth:`FileTree.write_spooled`), since creating a file per content costs more than
writing the content on many file systems. Hard links are paths sharing one content and one set of
metadata, as they share an inode on a real file system.

Paths are resolved the way the kernel does inside a chroot: a symlink met in a *parent* component
is followed (an absolute target starts again at the root of the tree, ``..`` stops at the root), so
installing ``lib/foo`` when ``lib`` is a symlink to ``usr/lib`` writes ``usr/lib/foo``. The last
component is not followed by the writing operations (a new file replaces a symlink, as apk's
rename does); the reading ones (:meth:`FileTree.read_bytes`, :meth:`FileTree.stat`) follow it.

:meth:`FileTree.entries` gives the tree as :class:`apkoci.oci.layer.Entry` values, sorted so that
every directory comes before what is in it, ready for :func:`apkoci.oci.layer.write_layer`. The
entries point at the staging files (and regions of the spools), so write the layer before closing
the tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import (
    IO,
    BinaryIO,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    Union,
)

from apkoci.errors import ApkociError
from apkoci.oci.layer import (
    BLOCK,
    CHAR,
    DIR,
    FIFO,
    FILE,
    HARDLINK,
    SYMLINK,
    Entry,
    is_normal_path,
    member_order_key,
)

Xattrs = Tuple[Tuple[str, bytes], ...]
XattrsInput = Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]]]

_CHUNK = 1 << 20
_MAX_SYMLINK_HOPS = 40  # Linux gives up (ELOOP) after this many symlinks in one lookup
_MAX_MODE = 0o7777
_SPECIAL_KINDS = (CHAR, BLOCK, FIFO)


class FileTreeError(ApkociError):
    """An operation on the tree that cannot be done: a missing parent, a directory in the way."""


@dataclass(frozen=True)
class Node:
    """What is at one path of the tree (a snapshot, like the result of ``lstat``).

    ``kind`` is one of the layer kinds ``file``, ``dir``, ``symlink``, ``char``, ``block`` and
    ``fifo``; hard links are ``file`` nodes whose ``links`` is above one. ``sha1`` is the hex SHA-1
    of a file's content, ``target`` a symlink's target as stored. ``owner`` names the package that
    created the node, or is None for what build steps or the database setup made.
    """

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    xattrs: Xattrs = ()
    size: int = 0
    sha1: str = ""
    target: str = ""
    devmajor: int = 0
    devminor: int = 0
    owner: Optional[str] = None
    links: int = 1


class _Inode:
    """The mutable record behind one or more paths (several only for hard-linked files)."""

    __slots__ = (
        "kind",
        "mode",
        "uid",
        "gid",
        "xattrs",
        "size",
        "sha1",
        "source",
        "offset",
        "spool",
        "target",
        "devmajor",
        "devminor",
        "owner",
        "links",
    )

    def __init__(
        self,
        kind: str,
        mode: int,
        uid: int,
        gid: int,
        xattrs: Xattrs = (),
        owner: Optional[str] = None,
    ) -> None:
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.xattrs = xattrs
        self.owner = owner
        self.size = 0
        self.sha1 = ""
        self.source: Optional[str] = None  # the staging file of a regular file
        # Where the content starts in ``source`` when it is a region of a spool (None: the whole
        # file is the content).
        self.offset: Optional[int] = None
        self.spool: Optional[Spool] = None
        self.target = ""
        self.devmajor = 0
        self.devminor = 0
        self.links = 1

    def snapshot(self, path: str) -> Node:
        return Node(
            path,
            self.kind,
            self.mode,
            self.uid,
            self.gid,
            self.xattrs,
            self.size,
            self.sha1,
            self.target,
            self.devmajor,
            self.devminor,
            self.owner,
            self.links,
        )


_SHA1_HEX = re.compile(r"[0-9a-f]{40}")


class Spool:
    """An append-only staging file holding many contents, each a region (offset, size) of it.

    Made by :meth:`FileTree.new_spool`; what is written to it stays until the tree is closed, even
    when the files it holds are removed or replaced. One writer: this object's :meth:`write`, or
    another process appending to the file that says how far with :meth:`mark_written`. The file
    is open only while :meth:`write` is in use (up to :meth:`flush`), so that a tree may have a
    spool for each of many packages.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._file: Optional[BinaryIO] = None
        self.size = 0  # bytes written so far: where the next one goes

    def write(self, data: bytes) -> int:
        if self._file is None:
            self._file = open(self.path, "ab")
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def mark_written(self, size: int) -> None:
        """Say that another writer (a helper process, see :mod:`apkoci.install.unpack`) has
        appended to the file up to ``size`` bytes."""
        if size < self.size:
            raise FileTreeError(f"{self.path}: a spool does not shrink ({self.size} to {size})")
        self.size = size

    def flush(self) -> None:
        """Make everything written so far readable through the file (and close it for now)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    close = flush


class _Region(io.RawIOBase):
    """``size`` bytes of a file from ``offset``, as a readable binary file (pread, no seeking)."""

    def __init__(self, path: str, offset: int, size: int) -> None:
        super().__init__()
        self._descriptor = os.open(path, os.O_RDONLY)
        self._position = offset
        self._end = offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview") -> int:  # type: ignore[override]
        count = min(len(buffer), self._end - self._position)
        if count <= 0:
            return 0
        data = os.pread(self._descriptor, count, self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._descriptor)
        super().close()


def normalize_path(path: str) -> str:
    """``path`` as the tree keys it: relative, no empty or ``.`` components, no trailing slash.

    ``/usr/bin/``, ``./usr/bin`` and ``usr//bin`` all become ``usr/bin``; the root is ``""``. A
    ``..`` component is refused rather than guessed at.
    """
    if not isinstance(path, str) or "\0" in path:
        raise FileTreeError(f"invalid path {path!r}: a path is a string without NUL characters")
    if is_normal_path(path):
        return path  # as nearly every path is
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise FileTreeError(
            f"invalid path {path!r}: '..' is not allowed; name the path from the root"
        )
    return "/".join(parts)


def _checked_mode(mode: int, path: str) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= _MAX_MODE:
        raise FileTreeError(f"{path}: mode {mode!r} must be permission bits between 0 and 0o7777")
    return mode


def _checked_id(value: int, what: str, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FileTreeError(f"{path}: {what} {value!r} must be a non-negative number")
    return value


def _checked_xattrs(xattrs: XattrsInput, path: str) -> Xattrs:
    pairs = list(xattrs.items()) if isinstance(xattrs, Mapping) else list(xattrs)
    for name, value in pairs:
        if not isinstance(name, str) or not name or not isinstance(value, bytes):
            raise FileTreeError(
                f"{path}: an extended attribute is a (non-empty name, bytes) pair, got {name!r}"
            )
    return tuple(sorted(pairs))


def _checked_inode(
    kind: str,
    path: str,
    mode: int,
    uid: int,
    gid: int,
    xattrs: XattrsInput = (),
    owner: Optional[str] = None,
) -> _Inode:
    """A new inode of ``kind`` for ``path`` with its metadata checked (errors name ``path``)."""
    return _Inode(
        kind,
        _checked_mode(mode, path),
        _checked_id(uid, "uid", path),
        _checked_id(gid, "gid", path),
        _checked_xattrs(xattrs, path) if xattrs else (),
        owner,
    )


class FileTree:
    """An image's file tree; see the module documentation. Use it as a context manager (or call
    :meth:`close`) so the staging directory is removed once the layer is written.

    ``staging_dir`` is where contents are kept (a new private folder is made inside it); by default
    a temporary folder of the system.
    """

    def __init__(self, staging_dir: Union[str, "os.PathLike[str]", None] = None) -> None:
        self._staging = Path(tempfile.mkdtemp(prefix="apkoci-tree-", dir=staging_dir))
        self._nodes: Dict[str, _Inode] = {}
        self._next_content = 0
        self._spools: List[Spool] = []
        # Directories whose every component is a directory (no symlink, nothing missing): paths
        # below them resolve to themselves. Forgotten whenever a directory is removed.
        self._plain_dirs: Set[str] = set()

    # --- Lifetime ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the staging directory; the tree's file contents are gone afterwards."""
        for spool in self._spools:
            spool.close()
        self._spools.clear()
        shutil.rmtree(self._staging, ignore_errors=True)
        self._nodes.clear()
        self._plain_dirs.clear()

    def __enter__(self) -> "FileTree":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def staging_dir(self) -> Path:
        return self._staging

    # --- Looking things up ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.exists(path, follow_symlinks=False)

    def paths(self) -> List[str]:
        """Every path of the tree, parents first (the layer order)."""
        return sorted(self._nodes, key=member_order_key)

    def resolve(self, path: str, follow_symlinks: bool = True) -> str:
        """The path ``path`` names once symlinks in its parents (and, with ``follow_symlinks``, in
        its last component) are followed. Parts that do not exist are kept as they are."""
        return self._resolve(normalize_path(path), follow_symlinks)

    def stat(self, path: str, follow_symlinks: bool = True) -> Optional[Node]:
        """What is at ``path`` (None when nothing is), following symlinks like ``stat``, or not
        following the last one like ``lstat``."""
        resolved = self.resolve(path, follow_symlinks)
        inode = self._nodes.get(resolved)
        return inode.snapshot(resolved) if inode is not None else None

    def lstat_resolved(self, path: str) -> Tuple[str, Optional[Node]]:
        """Where ``path`` lands with the symlinks in its parents followed, and what is there (not
        following a last symlink): ``resolve(path, False)`` and ``stat`` of it in one walk."""
        resolved = self._resolve(normalize_path(path), follow_final=False)
        inode = self._nodes.get(resolved)
        return resolved, (inode.snapshot(resolved) if inode is not None else None)

    def node(self, path: str, follow_symlinks: bool = True) -> Node:
        """Like :meth:`stat`, for a path that must exist (FileTreeError otherwise)."""
        resolved, inode = self._existing(path, follow_symlinks)
        return inode.snapshot(resolved)

    def exists(self, path: str, follow_symlinks: bool = True) -> bool:
        if normalize_path(path) == "":
            return True
        try:
            return self.stat(path, follow_symlinks) is not None
        except FileTreeError:  # a loop, or a file where a directory should be
            return False

    def is_dir(self, path: str) -> bool:
        if normalize_path(path) == "":
            return True
        node = self.stat(path)
        return node is not None and node.kind == DIR

    def read_bytes(self, path: str) -> bytes:
        """The content of a (small) regular file, following symlinks."""
        with self.open(path) as file:
            return file.read()

    def open(self, path: str) -> BinaryIO:
        """The content of a regular file as a binary file to read (follows symlinks)."""
        resolved, inode = self._existing(path, follow_symlinks=True)
        if inode.kind != FILE or inode.source is None:
            raise FileTreeError(f"{path}: is a {inode.kind}, not a regular file")
        if inode.offset is None:
            return open(inode.source, "rb")
        if inode.spool is not None:
            inode.spool.flush()
        return io.BufferedReader(_Region(inode.source, inode.offset, inode.size), _CHUNK)

    # --- Creating ---------------------------------------------------------------------------------

    def mkdir(
        self,
        path: str,
        *,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        xattrs: XattrsInput = (),
        parents: bool = True,
        exist_ok: bool = True,
        owner: Optional[str] = None,
    ) -> str:
        """Make a directory (``mkdir -p`` by default: missing parents are made ``0755`` root:root
        and an existing directory is left as it is). Returns the path made, symlinks resolved."""
        resolved = self._resolve(normalize_path(path), follow_final=True)
        if resolved == "":
            return resolved
        existing = self._nodes.get(resolved)
        if existing is not None:
            if existing.kind != DIR:
                raise FileTreeError(f"cannot make directory {path}: a {existing.kind} is there")
            if not exist_ok:
                raise FileTreeError(f"cannot make directory {path}: it exists already")
            return resolved
        parent = resolved.rpartition("/")[0]
        if parent and parent not in self._nodes and parents:
            self.mkdir(parent, parents=True)
        self._check_parent(resolved, path)
        self._nodes[resolved] = _checked_inode(DIR, path, mode, uid, gid, xattrs, owner)
        return resolved

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: XattrsInput = (),
        owner: Optional[str] = None,
    ) -> Node:
        """Create or replace the regular file at ``path`` with ``data`` (staged on disk)."""
        return self.write_stream(
            path, io.BytesIO(data), mode=mode, uid=uid, gid=gid, xattrs=xattrs, owner=owner
        )

    def write_stream(
        self,
        path: str,
        stream: IO[bytes],
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: XattrsInput = (),
        owner: Optional[str] = None,
    ) -> Node:
        """Create or replace the regular file at ``path`` with what ``stream`` holds, copied to the
        staging directory a chunk at a time. A symlink at ``path`` is replaced, not followed."""
        resolved = self._resolve(normalize_path(path), follow_final=False)
        inode = _checked_inode(FILE, path, mode, uid, gid, xattrs, owner)
        self._check_replaceable(resolved, path)
        self._stage(inode, stream)
        self._put(resolved, inode)
        return inode.snapshot(resolved)

    def new_spool(self) -> Spool:
        """A new spool in the staging directory, for :meth:`write_spooled` (see the module doc)."""
        self._next_content += 1
        spool = Spool(str(self._staging / f"spool-{self._next_content:08d}"))
        self._spools.append(spool)
        return spool

    def write_spooled(
        self,
        path: str,
        spool: Spool,
        offset: int,
        size: int,
        sha1: str,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: XattrsInput = (),
        owner: Optional[str] = None,
    ) -> Node:
        """Create or replace the regular file at ``path`` with the ``size`` bytes at ``offset`` of
        ``spool`` (written already), whose hex SHA-1 the caller computed as they were written. A
        symlink at ``path`` is replaced, not followed."""
        if spool not in self._spools:
            raise FileTreeError(f"{path}: the spool {spool.path} is not one of this tree's")
        if not (0 <= offset and 0 <= size and offset + size <= spool.size):
            raise FileTreeError(
                f"{path}: bytes {offset} to {offset + size} are not in {spool.path}, which holds "
                f"{spool.size}; write the content to the spool first"
            )
        if not _SHA1_HEX.fullmatch(sha1):
            raise FileTreeError(f"{path}: {sha1!r} is not a hex SHA-1 (40 lower-case digits)")
        resolved = self._resolve(normalize_path(path), follow_final=False)
        checked = _checked_inode(FILE, path, mode, uid, gid, xattrs, owner)
        inode = self._place_spooled(
            resolved, spool, offset, size, sha1, mode, uid, gid, checked.xattrs, owner
        )
        return inode.snapshot(resolved)

    def _place_spooled(
        self,
        resolved: str,
        spool: Spool,
        offset: int,
        size: int,
        sha1: str,
        mode: int,
        uid: int,
        gid: int,
        xattrs: Xattrs,
        owner: Optional[str],
    ) -> _Inode:
        """:meth:`write_spooled` at a path resolved already (as :meth:`lstat_resolved` gives it)
        with arguments checked already: what the installer calls for each file it unpacks."""
        self._check_replaceable(resolved, resolved)
        inode = _Inode(FILE, mode, uid, gid, xattrs, owner)
        inode.source, inode.offset, inode.spool = spool.path, offset, spool
        inode.size, inode.sha1 = size, sha1
        self._put(resolved, inode)
        return inode

    def symlink(
        self, path: str, target: str, *, uid: int = 0, gid: int = 0, owner: Optional[str] = None
    ) -> Node:
        """Create or replace ``path`` with a symlink to ``target`` (stored as given)."""
        if not isinstance(target, str) or not target or "\0" in target:
            raise FileTreeError(
                f"{path}: a symlink target is a non-empty string without NUL, got {target!r}"
            )
        resolved = self._resolve(normalize_path(path), follow_final=False)
        inode = _checked_inode(SYMLINK, path, 0o777, uid, gid, owner=owner)
        inode.target = target
        self._check_replaceable(resolved, path)
        self._put(resolved, inode)
        return inode.snapshot(resolved)

    def hardlink(self, path: str, target: str) -> Node:
        """Make ``path`` another name of the regular file at ``target`` (content and metadata)."""
        resolved_target, inode = self._existing(target, follow_symlinks=False)
        if inode.kind != FILE:
            raise FileTreeError(
                f"cannot hard link {path} to {target}: it is a {inode.kind}, not a regular file"
            )
        resolved = self._resolve(normalize_path(path), follow_final=False)
        if resolved == resolved_target:
            return inode.snapshot(resolved)
        self._check_replaceable(resolved, path)
        self._put(resolved, inode)
        inode.links += 1
        return inode.snapshot(resolved)

    def mknod(
        self,
        path: str,
        kind: str,
        *,
        major: int = 0,
        minor: int = 0,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        owner: Optional[str] = None,
    ) -> Node:
        """Create or replace ``path`` with a ``char`` or ``block`` device or a ``fifo``."""
        if kind not in _SPECIAL_KINDS:
            raise FileTreeError(f"{path}: mknod makes {', '.join(_SPECIAL_KINDS)}, not {kind!r}")
        resolved = self._resolve(normalize_path(path), follow_final=False)
        inode = _checked_inode(kind, path, mode, uid, gid, owner=owner)
        if kind != FIFO:
            inode.devmajor = _checked_id(major, "device major", path)
            inode.devminor = _checked_id(minor, "device minor", path)
        self._check_replaceable(resolved, path)
        self._put(resolved, inode)
        return inode.snapshot(resolved)

    # --- Changing ---------------------------------------------------------------------------------

    def remove(self, path: str, recursive: bool = False) -> None:
        """Remove ``path`` (a symlink itself, not its target); a directory only when empty, or with
        everything in it when ``recursive``."""
        resolved, inode = self._existing(path, follow_symlinks=False)
        inside = self._subtree(resolved) if inode.kind == DIR else []
        if inside and not recursive:
            raise FileTreeError(
                f"cannot remove directory {path}: it is not empty (remove it recursively)"
            )
        for member in [resolved, *inside]:
            self._unlink(member)

    def chmod(self, path: str, mode: int, recursive: bool = False) -> None:
        """Set the permission bits of ``path`` (following a symlink, as chmod does) and, when
        ``recursive``, of everything below it except symlinks, which have no mode of their own."""
        _checked_mode(mode, path)
        for inode in self._targets(path, recursive):
            if inode.kind != SYMLINK:
                inode.mode = mode

    def chown(
        self,
        path: str,
        uid: Optional[int] = None,
        gid: Optional[int] = None,
        recursive: bool = False,
    ) -> None:
        """Set the owners of ``path`` (following a symlink, as chown does) and, when ``recursive``,
        of everything below it (symlinks included, not followed: ``chown -R``). None keeps one."""
        if uid is not None:
            _checked_id(uid, "uid", path)
        if gid is not None:
            _checked_id(gid, "gid", path)
        for inode in self._targets(path, recursive):
            inode.uid = inode.uid if uid is None else uid
            inode.gid = inode.gid if gid is None else gid

    def set_xattrs(self, path: str, xattrs: XattrsInput) -> None:
        """Replace the extended attributes of ``path`` (following a symlink)."""
        _, inode = self._existing(path, follow_symlinks=True)
        inode.xattrs = _checked_xattrs(xattrs, path)

    # --- Output -----------------------------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """The tree as layer entries, parents first. Of paths sharing one content the first one
        carries it and the others are hard links to it."""
        for spool in self._spools:
            spool.flush()
        carriers: Dict[int, str] = {}
        for path in self.paths():
            inode = self._nodes[path]
            if inode.kind == FILE:
                carrier = carriers.setdefault(id(inode), path)
                if carrier != path:
                    yield Entry(path, HARDLINK, inode.mode, inode.uid, inode.gid, linkname=carrier)
                else:
                    yield Entry(
                        path,
                        FILE,
                        inode.mode,
                        inode.uid,
                        inode.gid,
                        inode.size,
                        xattrs=inode.xattrs,
                        source=inode.source,
                        source_offset=inode.offset,
                    )
            elif inode.kind == SYMLINK:
                yield Entry(path, SYMLINK, 0o777, inode.uid, inode.gid, linkname=inode.target)
            elif inode.kind == DIR:
                yield Entry(path, DIR, inode.mode, inode.uid, inode.gid, xattrs=inode.xattrs)
            else:
                yield Entry(
                    path,
                    inode.kind,
                    inode.mode,
                    inode.uid,
                    inode.gid,
                    devmajor=inode.devmajor,
                    devminor=inode.devminor,
                )

    # --- Internals --------------------------------------------------------------------------------

    def _resolve(self, path: str, follow_final: bool) -> str:
        """Walk ``path`` (normalized) component by component, following symlinks (module doc)."""
        if self._resolves_to_itself(path, follow_final):
            return path
        pending: Deque[str] = deque(path.split("/") if path else ())
        resolved: List[str] = []
        hops = 0
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":  # only symlink targets bring these; the root is its own parent
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            inode = self._nodes.get(candidate)
            is_last = not pending
            if inode is not None and inode.kind == SYMLINK and (follow_final or not is_last):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise FileTreeError(
                        f"{path}: too many levels of symlinks (a symlink loop at {candidate}?)"
                    )
                if inode.target.startswith("/"):
                    resolved = []
                pending.extendleft(reversed(inode.target.split("/")))
                continue
            if inode is not None and inode.kind != DIR and not is_last:
                raise FileTreeError(f"{path}: {candidate} is a {inode.kind}, not a directory")
            resolved.append(part)
        return "/".join(resolved)

    def _resolves_to_itself(self, path: str, follow_final: bool) -> bool:
        """Whether the walk of ``path`` (normalized) meets no symlink to follow and no file where a
        directory should be: then it is its own resolution. The common case, checked with a dict
        lookup per parent instead of the walk, or one set lookup when the parent is known to be
        a directory all the way up (``_plain_dirs``)."""
        nodes = self._nodes
        parent_end = path.rfind("/")
        if parent_end > 0 and path[:parent_end] not in self._plain_dirs:
            cut = path.find("/")
            every_parent_exists = True
            while cut >= 0:
                inode = nodes.get(path[:cut])
                if inode is None:
                    every_parent_exists = False
                elif inode.kind != DIR:
                    return False
                cut = path.find("/", cut + 1)
            if every_parent_exists:
                self._plain_dirs.add(path[:parent_end])
        if follow_final:
            inode = nodes.get(path)
            return inode is None or inode.kind != SYMLINK
        return True

    def _existing(self, path: str, follow_symlinks: bool) -> Tuple[str, _Inode]:
        resolved = self._resolve(normalize_path(path), follow_symlinks)
        inode = self._nodes.get(resolved)
        if inode is None:
            where = (
                f" ({resolved} after following symlinks)"
                if resolved != normalize_path(path)
                else ""
            )
            raise FileTreeError(f"{path}{where} does not exist in the image")
        return resolved, inode

    def _check_parent(self, resolved: str, path: str) -> None:
        parent = resolved.rpartition("/")[0]
        if not parent:
            return
        inode = self._nodes.get(parent)
        if inode is None:
            raise FileTreeError(
                f"cannot create {path}: its directory {parent} does not exist; create it first"
            )
        if inode.kind != DIR:
            raise FileTreeError(
                f"cannot create {path}: {parent} is a {inode.kind}, not a directory"
            )

    def _check_replaceable(self, resolved: str, path: str) -> None:
        if resolved == "":
            raise FileTreeError(f"{path!r} is the root directory of the image")
        self._check_parent(resolved, path)
        existing = self._nodes.get(resolved)
        if existing is not None and existing.kind == DIR:
            raise FileTreeError(f"cannot create {path}: a directory is there (remove it first)")

    def _put(self, resolved: str, inode: _Inode) -> None:
        if resolved in self._nodes:
            self._unlink(resolved)
        self._nodes[resolved] = inode

    def _unlink(self, resolved: str) -> None:
        inode = self._nodes.pop(resolved)
        if inode.kind == DIR:
            self._plain_dirs.clear()
        inode.links -= 1
        if inode.links == 0 and inode.source is not None and inode.offset is None:
            os.unlink(inode.source)  # (a spool keeps what it holds until the tree is closed)

    def _stage(self, inode: _Inode, stream: IO[bytes]) -> None:
        """Copy ``stream`` into a new staging file, hashing it on the way."""
        self._next_content += 1
        source = str(self._staging / f"{self._next_content:08d}")
        hasher = hashlib.sha1()
        size = 0
        with open(source, "wb") as out:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        inode.source, inode.size, inode.sha1 = source, size, hasher.hexdigest()

    def _subtree(self, resolved: str) -> List[str]:
        prefix = resolved + "/" if resolved else ""
        return sorted(
            (path for path in self._nodes if path.startswith(prefix) and path != resolved),
            key=member_order_key,
        )

    def _targets(self, path: str, recursive: bool) -> List[_Inode]:
        """The records chmod/chown change: ``path``'s (symlinks followed) and its subtree's."""
        if normalize_path(path) == "":
            if not recursive:
                raise FileTreeError(
                    "the root directory of the image has no metadata of its own to change"
                )
            return [self._nodes[member] for member in self._subtree("")]
        resolved, inode = self._existing(path, follow_symlinks=True)
        inodes = [inode]
        if recursive and inode.kind == DIR:
            inodes.extend(self._nodes[member] for member in self._subtree(resolved))
        # Hard links share one record; change it once.
        unique: Dict[int, _Inode] = {id(item): item for item in inodes}
        return list(unique.values())
