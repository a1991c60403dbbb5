"""One deterministic tar layer, written from a description of a file tree.

A layer is described by :class:`Entry` values, one per member: what kind of node it is, its
permission bits, numeric owners, link target, extended attributes and, for regular files, where
its bytes come from (a file on disk read at write time, or a few bytes held in memory). Owners are
always numbers given by the caller: an install runs without root, so they come from package
metadata and never from the disk.

:func:`write_layer` turns the entries into a tar that depends on nothing but the entries, their
bytes and the chosen ``mtime``:

- members are sorted by path, component by component in byte order (the order a lexical directory
  walk gives, so parents always come before their children); every parent directory must itself be
  an entry, or the write fails naming the missing parent;
- headers are POSIX ustar with a PAX extended header only where ustar cannot say it (names that do
  not fit or are not ASCII, big owners or sizes, extended attributes as ``SCHILY.xattr.*``);
- uname/gname are empty, owners numeric, every mtime is the given one, nothing comes from the host;
- a group of hard links is always written with its data on the member that sorts first, the others
  linking to it, so extractors never meet a link before its target.

The tar is streamed: it is cut into fixed-size blocks, hashed (the ``diff_id``), compressed and
hashed again (the blob ``digest``) on the way to disk, so memory stays at a few blocks whatever the
layer size. The hashing and the writing of the blob run in a thread of their own, beside the one
that makes the tar. An entry's bytes may be a region of a bigger file (``source_offset``: the
spool an install stages a package's files in); such files are opened once per layer. gzip is
compressed in parallel the way pigz does it (see :class:`_ParallelGzip`); zstd uses the
``zstandard`` library's multi-threaded mode, whose output does not depend on the number of threads.

Blob bytes are reproducible for the same inputs and the same zlib / libzstd versions; a different
compression library may emit different (equally valid) bytes, and then a different digest.

The tar helpers (:func:`write_tar`) are reused by :mod:`apkoci.oci.dockerarchive`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import struct
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import (
    IO,
    Any,
    BinaryIO,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    Union,
    cast,
)

from apkoci.errors import ApkociError


class LayerError(ApkociError):
    """A layer could not be written: a bad entry, a missing parent, a source file that changed."""


# Entry kinds and their tar type flags.
FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
HARDLINK = "hardlink"
CHAR = "char"
BLOCK = "block"
FIFO = "fifo"

_TYPEFLAGS: Dict[str, bytes] = {
    FILE: b"0",
    HARDLINK: b"1",
    SYMLINK: b"2",
    CHAR: b"3",
    BLOCK: b"4",
    DIR: b"5",
    FIFO: b"6",
}
KINDS = tuple(_TYPEFLAGS)

# Compression names accepted by write_layer and the OCI media types of their blobs.
MEDIA_TYPES: Dict[str, str] = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DEFAULT_LEVELS: Dict[str, int] = {"gzip": 6, "zstd": 3, "none": 0}

DEFAULT_BLOCK_SIZE = (
    1 << 20
)  # The unit of parallel gzip compression; part of what defines the output.

_TAR_BLOCK = 512
_NUMBER_FIELDS = ("mode", "uid", "gid", "size", "devmajor", "devminor")
_READ_SIZE = 1 << 20
_MAX_MODE = 0o7777
_XattrsInput = Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]]]


def _fs_bytes(text: str) -> bytes:
    # surrogateescape lets names that were not valid UTF-8 on their way in go out as the same bytes.
    return text.encode("utf-8", "surrogateescape")


# An empty, "." or ".." component (a leading, trailing or doubled "/" makes an empty one).
_UNUSUAL_COMPONENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")


def is_normal_path(path: str) -> bool:
    """Whether ``path`` is a layer path as it stands: relative, without NUL and without empty, ``.``
    or ``..`` components (``usr/bin/sh``, but not ``/usr``, ``usr/``, ``usr//bin`` or ``a/..``)."""
    if "\0" in path:
        return False
    if path and path[0] not in "/." and path[-1] != "/" and "//" not in path and "/." not in path:
        return True  # (the usual path: none of the substrings an unusual component needs)
    return not _UNUSUAL_COMPONENT.search(path)


def _path_problem(path: object) -> Optional[str]:
    """Why ``path`` is not a valid layer path, or None when it is."""
    if isinstance(path, str) and is_normal_path(path):
        return None  # the common case, checked at C speed; the rest says what is wrong
    if not isinstance(path, str) or not path:
        return "must be a non-empty string"
    if path.startswith("/"):
        return "must be relative (no leading '/'), e.g. 'usr/bin/sh'"
    if path.endswith("/"):
        return "must not end with '/' (directories are named without it)"
    if "\0" in path:
        return "must not contain NUL"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "must not contain empty, '.' or '..' components"
    return None


def _normalize_xattrs(path: str, xattrs: _XattrsInput) -> Tuple[Tuple[str, bytes], ...]:
    pairs = list(xattrs.items()) if isinstance(xattrs, Mapping) else list(xattrs)
    seen = set()
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise LayerError(
                f"layer entry {path!r}: xattrs must be (name, bytes) pairs, got {pair!r}"
            )
        name, value = pair
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            raise LayerError(
                f"layer entry {path!r}: xattr name {name!r} must be a non-empty string "
                "without '=' or NUL"
            )
        if not isinstance(value, bytes):
            raise LayerError(
                f"layer entry {path!r}: xattr {name!r} value must be bytes, "
                f"got {type(value).__name__}"
            )
        if name in seen:
            raise LayerError(f"layer entry {path!r}: xattr {name!r} is given twice")
        seen.add(name)
    return tuple(sorted(pairs))


@dataclass(frozen=True)
class Entry:
    """One member of a layer.

    ``path`` is relative with no leading or trailing slash (``usr/bin/sh``). ``mode`` holds the
    permission bits including setuid/setgid/sticky (at most ``0o7777``), never the file type, which
    is ``kind``. For a ``file``, the bytes come from ``source`` (a path on disk, read when the
    layer is written, so it must still be ``size`` bytes long then; or, with ``source_offset``, the
    ``size`` bytes from there) or from ``data`` (small generated files); a hard link's
    ``linkname`` is the layer path of the member it links to, a symlink's is its target as stored.
    Use the ``Entry.file`` / ``directory`` / ``symlink`` / ``hardlink`` / ``device`` / ``fifo``
    constructors for the common cases.
    """

    path: str
    kind: str
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    linkname: str = ""
    xattrs: Tuple[Tuple[str, bytes], ...] = ()
    devmajor: int = 0
    devminor: int = 0
    source: Optional[str] = None
    data: Optional[bytes] = None
    # Where the bytes start in ``source`` when they are a region of it (a staging spool holding
    # many files); None when the whole file is the content.
    source_offset: Optional[int] = None

    def __post_init__(self) -> None:
        problem = _path_problem(self.path)
        if problem:
            raise LayerError(f"layer entry path {self.path!r} {problem}")
        where = f"layer entry {self.path!r}"
        if self.kind not in _TYPEFLAGS:
            raise LayerError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        mode, uid, gid, size = self.mode, self.uid, self.gid, self.size
        if not (  # the usual entry, checked in one go; the loop says what is wrong otherwise
            type(mode) is int
            and type(uid) is int
            and type(gid) is int
            and type(size) is int
            and self.devmajor == 0
            and self.devminor == 0
            and mode >= 0
            and uid >= 0
            and gid >= 0
            and size >= 0
        ):
            for name in _NUMBER_FIELDS:
                value = getattr(self, name)
                is_int = type(value) is int or (
                    isinstance(value, int) and not isinstance(value, bool)
                )
                if not is_int or value < 0:
                    raise LayerError(
                        f"{where}: {name} must be a non-negative integer, got {value!r}"
                    )
        if self.mode > _MAX_MODE:
            raise LayerError(
                f"{where}: mode {oct(self.mode)} has bits beyond 0o7777; give permission bits only "
                "(the file type is the entry's kind)"
            )
        if self.xattrs != ():  # most entries have none: nothing to normalize
            object.__setattr__(self, "xattrs", _normalize_xattrs(self.path, self.xattrs))
        if self.source is not None and type(self.source) is not str:
            object.__setattr__(self, "source", os.fspath(self.source))
        if self.source_offset is not None:
            offset = self.source_offset
            if type(offset) is not int or offset < 0 or self.source is None:
                raise LayerError(
                    f"{where}: source_offset must be a non-negative integer, and needs a source "
                    f"(got {offset!r})"
                )
        self._check_kind_fields(where)

    def _check_kind_fields(self, where: str) -> None:
        if self.kind == FILE:
            if self.source is not None and self.data is not None:
                raise LayerError(f"{where}: give either source or data for a file, not both")
            if self.data is not None and len(self.data) != self.size:
                raise LayerError(
                    f"{where}: size is {self.size} but data holds {len(self.data)} bytes"
                )
            if self.source is None and self.data is None and self.size:
                raise LayerError(
                    f"{where}: a file of {self.size} bytes needs a source path or data"
                )
        else:
            if self.size or self.source is not None or self.data is not None:
                raise LayerError(
                    f"{where}: only a file has size, source or data (this is a {self.kind})"
                )
        if self.kind in (SYMLINK, HARDLINK):
            if not self.linkname or "\0" in self.linkname:
                raise LayerError(f"{where}: a {self.kind} needs a linkname without NUL")
            if self.kind == HARDLINK and _path_problem(self.linkname):
                raise LayerError(
                    f"{where}: hard link target {self.linkname!r} {_path_problem(self.linkname)} "
                    "(it names another member of the layer)"
                )
        elif self.linkname:
            raise LayerError(
                f"{where}: only a symlink or hardlink has a linkname (this is a {self.kind})"
            )
        if not (self.devmajor or self.devminor):
            return
        if self.kind not in (CHAR, BLOCK):
            raise LayerError(f"{where}: only char and block devices have device numbers")
        for name in ("devmajor", "devminor"):
            if not _fits_octal(getattr(self, name), 8):
                raise LayerError(
                    f"{where}: {name} {getattr(self, name)} is too big for a tar header"
                )

    # Constructors for the usual kinds of members.

    @classmethod
    def file(
        cls,
        path: str,
        *,
        source: Union[str, "os.PathLike[str]", None] = None,
        data: Optional[bytes] = None,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: _XattrsInput = (),
    ) -> "Entry":
        """A regular file; its size is taken from ``data`` or from ``source`` on disk now."""
        if source is not None and data is None:
            try:
                size = os.stat(source).st_size
            except OSError as error:
                raise LayerError(
                    f"layer entry {path!r}: cannot read source {os.fspath(source)!r}: {error}"
                ) from error
        else:
            size = len(data) if data is not None else 0
        pairs = _normalize_xattrs(path, xattrs)
        source_name = None if source is None else os.fspath(source)
        return cls(path, FILE, mode, uid, gid, size, source=source_name, data=data, xattrs=pairs)

    @classmethod
    def directory(
        cls, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0, xattrs: _XattrsInput = ()
    ) -> "Entry":
        return cls(path, DIR, mode, uid, gid, xattrs=_normalize_xattrs(path, xattrs))

    @classmethod
    def symlink(cls, path: str, target: str, *, uid: int = 0, gid: int = 0) -> "Entry":
        return cls(path, SYMLINK, 0o777, uid, gid, linkname=target)

    @classmethod
    def hardlink(cls, path: str, target: str) -> "Entry":
        """A hard link to the member at layer path ``target``; it shares that member's metadata."""
        return cls(path, HARDLINK, 0o644, linkname=target)

    @classmethod
    def device(
        cls,
        path: str,
        kind: str,
        major: int,
        minor: int,
        *,
        mode: int = 0o666,
        uid: int = 0,
        gid: int = 0,
    ) -> "Entry":
        if kind not in (CHAR, BLOCK):
            raise LayerError(
                f"layer entry {path!r}: a device is {CHAR!r} or {BLOCK!r}, not {kind!r}"
            )
        return cls(path, kind, mode, uid, gid, devmajor=major, devminor=minor)

    @classmethod
    def fifo(cls, path: str, *, mode: int = 0o644, uid: int = 0, gid: int = 0) -> "Entry":
        return cls(path, FIFO, mode, uid, gid)


@dataclass(frozen=True)
class Layer:
    """A written layer blob: where it is and how the image refers to it."""

    digest: str  # "sha256:<hex>" of the blob as stored (compressed)
    diff_id: str  # "sha256:<hex>" of the uncompressed tar
    size: int  # bytes of the blob
    media_type: str
    path: Path


# --------------------------------------------------------------------------------------------------
# Ordering and validating the members of a tree.


def member_order_key(path: str) -> bytes:
    """The key layer members are sorted by: their paths component by component in byte order, so
    that a directory's whole subtree follows it directly, as in a lexical directory walk (``usr``,
    ``usr/bin``, ``usr-local``)."""
    # Comparing the paths as bytes with "/" made the lowest byte gives exactly that order
    # (components never hold NUL), without splitting them.
    return _fs_bytes(path).replace(b"/", b"\0")


def _final_hardlink_target(entry: Entry, by_path: Mapping[str, Entry]) -> Entry:
    seen = {entry.path}
    current = entry
    while current.kind == HARDLINK:
        target = by_path.get(current.linkname)
        if target is None:
            raise LayerError(
                f"layer entry {entry.path!r}: hard link target {current.linkname!r} is not in the "
                "layer; add the target as an entry or make this a regular file"
            )
        if target.path in seen:
            raise LayerError(
                f"layer entry {entry.path!r}: hard links form a cycle through {target.path!r}"
            )
        seen.add(target.path)
        current = target
    if current.kind == DIR:
        raise LayerError(
            f"layer entry {entry.path!r}: hard link to directory {current.path!r} is not allowed"
        )
    return current


def _regroup_hardlinks(by_path: Dict[str, Entry]) -> None:
    """Give each hard-link group's data to the member that sorts first; the others link to it.

    Hard links are names of one inode, so which name carries the data is free; tar extractors need
    the carrier to come first, and the write order is by path.
    """
    groups: Dict[str, List[str]] = {}
    for entry in by_path.values():
        if entry.kind == HARDLINK:
            groups.setdefault(_final_hardlink_target(entry, by_path).path, []).append(entry.path)
    for target_path, link_paths in groups.items():
        target = by_path[target_path]
        names = sorted([target_path, *link_paths], key=member_order_key)
        carrier = names[0]
        by_path[carrier] = dataclasses.replace(target, path=carrier)
        for name in names[1:]:
            by_path[name] = Entry(
                name, HARDLINK, target.mode, target.uid, target.gid, linkname=carrier
            )


def plan_members(entries: Iterable[Entry]) -> List[Entry]:
    """The members of a tree in the order they are written, after checking the tree is whole.

    Raises :class:`LayerError` for a path given twice, a missing parent directory, a parent that is
    not a directory, or a hard link whose target is missing.
    """
    by_path: Dict[str, Entry] = {}
    for entry in entries:
        if not isinstance(entry, Entry):
            raise LayerError(f"a layer member must be an Entry, got {type(entry).__name__}")
        if entry.path in by_path:
            raise LayerError(f"layer entry {entry.path!r} is given twice; keep one of them")
        by_path[entry.path] = entry
    for entry in by_path.values():
        parent = entry.path.rpartition("/")[0]
        if not parent:
            continue
        parent_entry = by_path.get(parent)
        if parent_entry is None:
            raise LayerError(
                f"layer entry {entry.path!r}: parent directory {parent!r} is missing; "
                f"add Entry.directory({parent!r}) to the layer"
            )
        if parent_entry.kind != DIR:
            raise LayerError(
                f"layer entry {entry.path!r}: parent {parent!r} is a {parent_entry.kind}, "
                "not a directory"
            )
    _regroup_hardlinks(by_path)
    return sorted(by_path.values(), key=lambda entry: member_order_key(entry.path))


# --------------------------------------------------------------------------------------------------
# Tar headers.


class _Writable(Protocol):
    """What the tar writer writes into: anything with ``write(bytes)``."""

    def write(self, data: bytes) -> object:
        ...


def _fits_octal(value: int, width: int) -> bool:
    # A numeric field of `width` bytes holds width-1 octal digits and a NUL.
    return value < 8 ** (width - 1)


# The ustar header fields in order (POSIX.1-1988): name, mode, uid, gid, size, mtime, checksum,
# typeflag, linkname, magic and version, uname, gname, devmajor, devminor, prefix, 12 bytes unused.
# struct pads each field with NULs (and would cut a longer value, which callers never give).
_USTAR_FIELDS = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_CHECKSUM_FIELD = slice(148, 156)
_MAX_OCTAL_8 = 8**7  # what a numeric field of 8 bytes holds: 7 octal digits and a NUL
_MAX_OCTAL_12 = 8**11


def _byte_sum(block: bytes) -> int:
    """The sum of a 512-byte block's bytes, as the tar checksum wants it, at C speed.

    adler32's low half is 1 + the sum of the bytes modulo 65521; a 256-byte half sums to at most
    65280, so the modulo never bites and two halves give the exact sum.
    """
    return (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2


def _ustar_header(
    name: bytes,
    prefix: bytes,
    *,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes,
    devmajor: int = 0,
    devminor: int = 0,
) -> bytes:
    header = _USTAR_FIELDS.pack(
        name,
        b"%07o\0" % mode,
        b"%07o\0" % uid,
        b"%07o\0" % gid,
        b"%011o\0" % size,
        b"%011o\0" % mtime,
        b" " * 8,  # the checksum is computed with its own field as spaces
        typeflag,
        linkname,
        b"ustar\x0000",
        b"",  # uname: empty, owners are numeric
        b"",  # gname
        b"%07o\0" % devmajor,
        b"%07o\0" % devminor,
        prefix,
    )
    checksum = b"%06o\0 " % _byte_sum(header)
    return header[: _CHECKSUM_FIELD.start] + checksum + header[_CHECKSUM_FIELD.stop :]


def _split_ustar_name(name: bytes) -> Optional[Tuple[bytes, bytes]]:
    """(name, prefix) fields for ``name`` in plain ustar, or None when it needs a PAX path."""
    if not name.isascii():
        return None
    if len(name) <= 100:
        return name, b""
    # The prefix holds up to 155 bytes before a '/', the name field the rest (never empty, so a
    # directory's trailing slash cannot be the split point).
    cut = name.rfind(b"/", 0, min(156, len(name) - 1))
    if cut <= 0 or len(name) - cut - 1 > 100:
        return None
    return name[cut + 1 :], name[:cut]


def _pax_record(key: bytes, value: bytes) -> bytes:
    # "<length> <key>=<value>\n" where the length counts its own digits too.
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    if len(str(length)) > len(str(len(body))):
        length += 1
    return str(length).encode("ascii") + body


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _TAR_BLOCK)


def member_header(entry: Entry, mtime: int) -> bytes:
    """The header block(s) of one member: a PAX extended header where needed, then the ustar one."""
    name = _fs_bytes(entry.path + ("/" if entry.kind == DIR else ""))
    linkname = _fs_bytes(entry.linkname)
    records: List[bytes] = []
    split = _split_ustar_name(name)
    if split is None:
        records.append(_pax_record(b"path", name))
        split = (name[:100], b"")
    if not (linkname.isascii() and len(linkname) <= 100):
        records.append(_pax_record(b"linkpath", linkname))
    uid, gid, size = entry.uid, entry.gid, entry.size
    if uid >= _MAX_OCTAL_8 or gid >= _MAX_OCTAL_8 or size >= _MAX_OCTAL_12:  # rare: say it in PAX
        numbers = {}
        for key, value, width in (("uid", uid, 8), ("gid", gid, 8), ("size", size, 12)):
            if _fits_octal(value, width):
                numbers[key] = value
            else:
                records.append(_pax_record(key.encode("ascii"), str(value).encode("ascii")))
                numbers[key] = 0
        uid, gid, size = numbers["uid"], numbers["gid"], numbers["size"]
    for xattr_name, xattr_value in entry.xattrs:
        records.append(_pax_record(b"SCHILY.xattr." + _fs_bytes(xattr_name), xattr_value))
    header = _ustar_header(
        split[0],
        split[1],
        mode=entry.mode,
        uid=uid,
        gid=gid,
        size=size,
        mtime=mtime,
        typeflag=_TYPEFLAGS[entry.kind],
        linkname=linkname,
        devmajor=entry.devmajor,
        devminor=entry.devminor,
    )
    if not records:
        return header
    pax_data = b"".join(records)
    pax_header = _ustar_header(
        b"././@PaxHeader",
        b"",
        mode=0o644,
        uid=0,
        gid=0,
        size=len(pax_data),
        mtime=mtime,
        typeflag=b"x",
        linkname=b"",
    )
    return pax_header + pax_data + _padding(len(pax_data)) + header


def _check_mtime(mtime: int) -> None:
    if (
        isinstance(mtime, bool)
        or not isinstance(mtime, int)
        or mtime < 0
        or not _fits_octal(mtime, 12)
    ):
        raise LayerError(
            f"layer mtime must be a whole number of seconds since 1970 (>= 0), got {mtime!r}"
        )


class _Sources:
    """Open descriptors of the files that hold regions of many entries (spools), for one write.

    A file that is all one entry's content is opened for that entry and closed after it; one that
    holds regions is opened at its first entry and kept open (the last ``limit`` of them used).
    """

    def __init__(self, limit: int = 64) -> None:
        # path -> (descriptor, size when last looked at), the most recently used last
        self._open: "OrderedDict[str, Tuple[int, int]]" = OrderedDict()
        self._limit = limit

    def region(self, entry: Entry) -> Tuple[int, int]:
        """A descriptor of ``entry``'s source and where its bytes start, checked to be there."""
        assert entry.source is not None and entry.source_offset is not None
        opened = self._open.get(entry.source)
        if opened is None:
            if len(self._open) >= self._limit:
                os.close(self._open.popitem(last=False)[1][0])
            descriptor = os.open(entry.source, os.O_RDONLY)
            opened = self._open[entry.source] = (descriptor, os.fstat(descriptor).st_size)
        else:
            self._open.move_to_end(entry.source)
        descriptor, size = opened
        end = entry.source_offset + entry.size
        if end > size:  # the spool may have grown since it was opened: look again
            size = os.fstat(descriptor).st_size
            self._open[entry.source] = (descriptor, size)
            if end > size:
                raise LayerError(
                    f"layer entry {entry.path!r}: source {entry.source!r} is {size} bytes, too "
                    f"short for the {entry.size} bytes at {entry.source_offset}"
                )
        return descriptor, entry.source_offset

    def close(self) -> None:
        for descriptor, _ in self._open.values():
            os.close(descriptor)
        self._open.clear()


def _write_file_content(entry: Entry, out: "_Writable", sources: _Sources) -> None:
    if entry.data is not None:
        out.write(entry.data)
    elif entry.source is not None:
        try:
            if entry.source_offset is not None:
                descriptor, position = sources.region(entry)
                _copy_range(entry, descriptor, position, out)
            else:
                # Plain descriptor reads: a layer opens one file per member, and a buffered file
                # object would only add its own cost (and a copy) to each.
                descriptor = os.open(entry.source, os.O_RDONLY)
                try:
                    size_now = os.fstat(descriptor).st_size
                    if size_now != entry.size:
                        raise LayerError(
                            f"layer entry {entry.path!r}: source {entry.source!r} is {size_now} "
                            f"bytes, the entry says {entry.size}; it changed after the entry was "
                            "made"
                        )
                    _copy_range(entry, descriptor, 0, out)
                finally:
                    os.close(descriptor)
        except OSError as error:
            raise LayerError(
                f"layer entry {entry.path!r}: cannot read source {entry.source!r}: {error}"
            ) from error
    out.write(_padding(entry.size))


def _copy_range(entry: Entry, descriptor: int, position: int, out: "_Writable") -> None:
    """Write ``entry.size`` bytes of the file from ``position`` into ``out``."""
    remaining = entry.size
    while remaining:
        chunk = os.pread(descriptor, min(_READ_SIZE, remaining), position)
        if not chunk:
            raise LayerError(
                f"layer entry {entry.path!r}: source {entry.source!r} shrank while being read"
            )
        out.write(chunk)
        position += len(chunk)
        remaining -= len(chunk)


def write_tar(entries: Iterable[Entry], out: "_Writable", *, mtime: int) -> None:
    """Write the entries as a complete, deterministic tar stream into ``out`` (has write())."""
    _check_mtime(mtime)
    sources = _Sources()
    try:
        for entry in plan_members(entries):
            out.write(member_header(entry, mtime))
            if entry.kind == FILE:
                _write_file_content(entry, out, sources)
    finally:
        sources.close()
    out.write(b"\0" * (2 * _TAR_BLOCK))  # end of archive


# --------------------------------------------------------------------------------------------------
# Streaming: blocks, hashes and compressors.


class _Background:
    """Calls run in order by one thread of its own, so that the thread writing the tar does not
    wait for them: hashing and file writes, which release the GIL while they work.

    At most ``depth`` calls wait their turn (each holds a block of the layer, which bounds
    memory). An exception in a call is raised again by the next :meth:`submit` or by
    :meth:`finish`.
    """

    def __init__(self, depth: int = 8) -> None:
        import queue
        import threading

        self._calls: "queue.Queue[Optional[Tuple[Callable[..., object], Any]]]" = queue.Queue(
            maxsize=depth
        )
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="apkoci-layer-io", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            if self._error is None:
                function, argument = call
                try:
                    function(argument)
                except BaseException as error:  # raised in the writing thread
                    self._error = error

    def submit(self, function: Callable[[Any], object], argument: Any) -> None:
        if self._error is not None:
            raise self._error
        self._calls.put((function, argument))

    def finish(self, quiet: bool = False) -> None:
        """Wait for every call; raise the first error one had (unless ``quiet``: another error
        is on its way already)."""
        if self._thread.is_alive():
            self._calls.put(None)
            self._thread.join()
        if self._error is not None and not quiet:
            raise self._error


class HashingWriter:
    """Writes to a binary file while counting and hashing (sha256) everything that goes through;
    in the thread of ``background`` when one is given (the data must then stay unchanged)."""

    def __init__(  # type: ignore[no-untyped-def]
        self, file, background: Optional[_Background] = None
    ) -> None:
        self._file = file
        self._sha256 = hashlib.sha256()
        self._background = background
        self.size = 0

    def write(self, data: bytes) -> int:
        if self._background is not None:
            self._background.submit(self._write_now, data)
        else:
            self._write_now(data)
        self.size += len(data)
        return len(data)

    def _write_now(self, data: bytes) -> None:
        self._sha256.update(data)
        self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._sha256.hexdigest()


class _Plain:
    """No compression: the blob is the tar."""

    def __init__(self, out: HashingWriter) -> None:
        self._out = out

    def add(self, block: bytes, last: bool) -> None:
        self._out.write(block)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


_GZIP_WINDOW = (
    32 * 1024
)  # deflate's window: the dictionary each block inherits from the previous one


def _deflate_block(block: bytes, dictionary: bytes, level: int, last: bool) -> bytes:
    """One block as a raw deflate stream ending on a byte boundary (sync flush), or the last one.

    Priming it with the previous block's last 32 KiB keeps the ratio close to a single stream.
    Runs in a worker thread: zlib releases the GIL while it compresses.
    """
    if dictionary:
        compressor = zlib.compressobj(
            level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, dictionary
        )
    else:
        compressor = zlib.compressobj(
            level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY
        )
    return compressor.compress(block) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
    )


def _gzip_header(level: int) -> bytes:
    # RFC 1952: no flags (no name, no comment), mtime 0, XFL from the level, OS 255 "unknown" so the
    # bytes do not depend on the building host.
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    return b"\x1f\x8b\x08\x00" + b"\0\0\0\0" + bytes((xfl, 255))


class _ParallelGzip:
    """gzip the pigz way: blocks deflated independently in threads, concatenated in input order.

    Each block's compressed bytes depend only on the block and the 32 KiB before it, so the output
    depends only on the input and the block size, never on thread timing. At most ``2 * threads``
    blocks are in flight, which bounds memory.
    """

    def __init__(self, out: HashingWriter, level: int, threads: int) -> None:
        self._out = out
        self._level = level
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="apkoci-gzip")
        self._in_flight: Deque["Future[bytes]"] = deque()
        self._max_in_flight = 2 * threads
        self._crc = 0
        self._length = 0
        self._dictionary = b""
        out.write(_gzip_header(level))

    def add(self, block: bytes, last: bool) -> None:
        self._crc = zlib.crc32(block, self._crc)
        self._length += len(block)
        self._in_flight.append(
            self._pool.submit(_deflate_block, block, self._dictionary, self._level, last)
        )
        self._dictionary = bytes(block[-_GZIP_WINDOW:])
        while len(self._in_flight) > self._max_in_flight:
            self._out.write(self._in_flight.popleft().result())

    def finish(self) -> None:
        while self._in_flight:
            self._out.write(self._in_flight.popleft().result())
        self._pool.shutdown()
        self._out.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._length & 0xFFFFFFFF))

    def abort(self) -> None:
        self._in_flight.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


_ZSTD_JOB_SIZE = (
    2 << 20
)  # Input per zstd worker job: bounds memory; part of what defines the output.


class _Zstd:
    """zstd through ``zstandard``, always in multi-threaded mode with a fixed job size.

    libzstd's multi-threaded output is the same for any number of workers >= 1 (it differs from the
    single-threaded mode, which is never used here) and does not depend on how the input is cut into
    writes; it does depend on the job size, which is fixed. 2 MiB jobs keep memory to a few MiB
    per thread (the default, 4 windows, is 8 MiB at level 3) for well under 1% of ratio. The frame
    records a checksum but no content size, whether or not the size is known.
    """

    def __init__(self, out: HashingWriter, level: int, threads: int) -> None:
        import zstandard

        parameters = zstandard.ZstdCompressionParameters.from_level(
            level,
            threads=max(1, threads),
            job_size=_ZSTD_JOB_SIZE,
            write_checksum=True,
            write_content_size=False,
            write_dict_id=False,
        )
        self._flush_frame = zstandard.FLUSH_FRAME
        # (HashingWriter is not an IO[bytes], but has the write() the stream writer calls)
        self._writer = zstandard.ZstdCompressor(compression_params=parameters).stream_writer(
            cast(IO[bytes], out), closefd=False
        )

    def add(self, block: bytes, last: bool) -> None:
        self._writer.write(block)

    def finish(self) -> None:
        self._writer.flush(self._flush_frame)
        self._writer.close()

    def abort(self) -> None:
        pass


class _LayerStream:
    """What the tar is written into: cuts it into blocks, hashes them (the diff_id), compresses.

    A block is handed on only once a byte beyond it arrives, so the compressor always knows which
    block is the last one. Bytes are copied once, into the block being filled; a full block is
    handed on as it is (the compressor may keep it: a new one is started).
    """

    def __init__(
        self,
        compressor: Union[_Plain, _ParallelGzip, _Zstd],
        block_size: int,
        background: Optional[_Background] = None,
    ) -> None:
        self._compressor = compressor
        self._block_size = block_size
        self._block = bytearray(block_size)
        self._fill = 0
        self._sha256 = hashlib.sha256()
        self._background = background

    def write(self, data: bytes) -> None:
        size = len(data)
        fill = self._fill
        if fill + size <= self._block_size:  # the common case: it fits in the block
            self._block[fill : fill + size] = data
            self._fill = fill + size
            return
        view = memoryview(data)
        position = 0
        while position < size:
            if self._fill == self._block_size:  # full, and more is coming: not the last block
                self._hand_on(self._block, last=False)
                self._block = bytearray(self._block_size)
                self._fill = 0
            count = min(self._block_size - self._fill, size - position)
            self._block[self._fill : self._fill + count] = view[position : position + count]
            self._fill += count
            position += count

    def close(self) -> None:
        block = self._block if self._fill == self._block_size else self._block[: self._fill]
        self._hand_on(block, last=True)
        self._block = bytearray()
        self._fill = 0
        self._compressor.finish()

    def _hand_on(self, block: bytearray, last: bool) -> None:
        if self._background is not None:
            self._background.submit(self._sha256.update, block)  # (the block is not reused)
        else:
            self._sha256.update(block)
        self._compressor.add(block, last)

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._sha256.hexdigest()


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` through; it appears there only if the block ends without error.

    The bytes go to ``<path>.partial`` first, which is removed on error.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as file:
            yield file
        os.replace(partial, path)
    except BaseException:
        try:
            os.unlink(partial)
        except FileNotFoundError:
            pass
        raise


def default_threads() -> int:
    """Compression threads to use; the output is the same for any number."""
    return max(1, min(8, os.cpu_count() or 1))


def write_layer(
    entries: Iterable[Entry],
    out_path: Union[str, "os.PathLike[str]"],
    *,
    compression: str = "gzip",
    mtime: int,
    level: Optional[int] = None,
    threads: Optional[int] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Layer:
    """Write the entries as one deterministic layer blob at ``out_path`` and describe it.

    ``compression`` is ``gzip``, ``zstd`` or ``none``; ``mtime`` (seconds since 1970) is stamped on
    every member, ``level`` defaults to 6 for gzip and 3 for zstd. The same entries, bytes, mtime,
    compression, level and block size always give the same blob, whatever ``threads`` is. The blob
    is written to a temporary sibling and renamed into place, so a failed write leaves no file
    behind.
    """
    if compression not in MEDIA_TYPES:
        raise LayerError(
            f"layer compression {compression!r} is not one of {', '.join(MEDIA_TYPES)}"
        )
    if block_size < _GZIP_WINDOW:
        raise LayerError(f"layer block_size {block_size} is too small; use at least {_GZIP_WINDOW}")
    level = DEFAULT_LEVELS[compression] if level is None else level
    if compression == "gzip" and level not in range(1, 10):
        raise LayerError(f"gzip level {level!r} must be 1 (fastest) to 9 (smallest)")
    if compression == "zstd" and level not in range(-7, 23):
        raise LayerError(f"zstd level {level!r} must be -7 (fastest) to 22 (smallest)")
    threads = default_threads() if threads is None else max(1, threads)
    out_path = Path(out_path)
    with atomic_output(out_path) as file:
        # Hashing (the diff_id and the digest) and writing the blob run beside the tar writer.
        background = _Background()
        blob = HashingWriter(file, background)
        compressor: Union[_Plain, _ParallelGzip, _Zstd]
        try:
            if compression == "gzip":
                compressor = _ParallelGzip(blob, level, threads)
            elif compression == "zstd":
                compressor = _Zstd(blob, level, threads)
            else:
                compressor = _Plain(blob)
        except BaseException:
            background.finish(quiet=True)
            raise
        stream = _LayerStream(compressor, block_size, background)
        try:
            write_tar(entries, stream, mtime=mtime)
            stream.close()
        except BaseException:
            compressor.abort()
            background.finish(quiet=True)
            raise
        background.finish()
    return Layer(
        digest=blob.digest,
        diff_id=stream.diff_id,
        size=blob.size,
        media_type=MEDIA_TYPES[compression],
        path=out_path,
    )
