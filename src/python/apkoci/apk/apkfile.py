"""Reading ``.apk`` package files (APK v2) without extracting them to disk.

An APK v2 file is gzip members written one after the other, each a tar stream:

1. optionally a *signature* member: ``.SIGN.<ALGORITHM>.<key name>`` entries (see signature.py);
2. the *control* member: ``.PKGINFO`` and the install scripts (``.pre-install``, ...);
3. the *data* member: the files to install, each regular file carrying a PAX record
   ``APK-TOOLS.checksum.SHA1`` with the hex SHA-1 of its content.

The signature and control tars are "cut" (their end-of-archive blocks are stripped) so that
``tar -xzf`` reads the concatenation as one archive. What makes the format checkable are the raw,
*compressed* bytes of each member, which is why this module splits the file itself instead of
letting gzip run the members together:

- the package's identity, the ``C:Q1...`` field of an APKINDEX, is base64(SHA-1) of the compressed
  control member (:func:`control_checksum`);
- ``datahash`` in ``.PKGINFO`` is the hex SHA-256 of the compressed data member (:func:`data_hash`);
- the signature covers the compressed control member (see signature.py for the old layout).

Use :func:`read_apk` to open a package: it reads only the signature and control members (a few KiB);
:meth:`ApkFile.data_entries` streams the data member entry by entry, and checks ``datahash`` as it
goes. Nothing holds the data member in memory. The data tar is read by the small reader of
:mod:`apkoci.apk.datatar` (tarfile's results, at a fraction of its cost); an install uses
:meth:`ApkFile.spool_data` or :meth:`ApkFile.spooled_entries`, which hand the inflated tar to a
spool and say where each file's content is in it instead of giving it as a stream.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import (
    IO,
    TYPE_CHECKING,
    BinaryIO,
    Callable,
    Dict,
    Generator,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Union,
    cast,
)

from apkoci.apk.dependency import Dependency, DependencyError, parse_dependencies
from apkoci.apk.index import Package
from apkoci.apk.signature import (
    Keyring,
    Signature,
    is_signature_member,
    new_digest,
    signature_from_member,
    verify_signatures,
)
from apkoci.errors import ApkociError

if TYPE_CHECKING:
    import tarfile

    from apkoci.apk.datatar import TarReader

# The PAX record apk-tools (and melange) store each regular file's hex SHA-1 in.
PAX_CHECKSUM_SHA1 = "APK-TOOLS.checksum.SHA1"

# The control member's names for install scripts (apk-tools' apk_script_types), without the dot.
SCRIPT_NAMES = (
    "pre-install",
    "post-install",
    "pre-deinstall",
    "post-deinstall",
    "pre-upgrade",
    "post-upgrade",
    "trigger",
)

_CHUNK = 64 * 1024
# Signature and control members are read into memory; real ones are a few KiB. The bound keeps a
# corrupt or hostile file from exhausting memory before we notice it is not a package.
MAX_CONTROL_BYTES = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ADB_MAGIC = b"ADB"  # APK v3 (apk-tools 3 "adb" format)


class ApkFormatError(ApkociError):
    """The file is not a well-formed APK v2 package (or index archive)."""


class ApkIntegrityError(ApkociError):
    """The file is well formed but its content does not match its recorded checksums."""


# --- Checksums: shared by the reader here and the APK writer -------------------------------------


def control_checksum(control_member: bytes, kind: str = "Q1") -> str:
    """The package identity apk-tools puts in an index's ``C:`` field: ``Q1`` + base64(SHA-1)
    of the compressed control member, e.g. ``Q11/HhSewwwOXgl0r0ffb0O0BRtYc=``.

    ``kind="Q2"`` gives the SHA-256 variant (``Q2`` + base64(SHA-256)) of apk-tools 3 indexes.
    """
    digest_names = {"Q1": "sha1", "Q2": "sha256"}
    if kind not in digest_names:
        raise ValueError(f"unknown checksum kind {kind!r}: use Q1 or Q2")
    digest = new_digest(digest_names[kind])
    digest.update(control_member)
    return kind + base64.b64encode(digest.digest()).decode("ascii")


def data_hash(data_member_chunks: Iterable[bytes]) -> str:
    """The ``datahash`` of ``.PKGINFO``: hex SHA-256 of the compressed data member."""
    import hashlib  # (here: OpenSSL's SHA-256 is the fast one for data members of many MiB)

    hasher = hashlib.sha256()
    for chunk in data_member_chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


# --- Splitting a file into its gzip members ------------------------------------------------------


@dataclass(frozen=True)
class GzipMember:
    """One gzip member of an APK file or index archive, read into memory (small members only)."""

    offset: int  # where it starts in the file
    raw: bytes  # its compressed bytes, exactly as in the file
    content: bytes  # the decompressed tar (possibly cut: without end-of-archive blocks)


def _read_member(
    raw: BinaryIO, pending: bytes, offset: int, source: str
) -> Tuple[GzipMember, bytes]:
    """Read one whole (small) gzip member; returns it and the input read past its end.

    The member is wanted whole, so each input chunk is inflated at once (an index's member is
    some 2 MiB), only capped at the size no signature, control or index member comes near.
    """
    decompressor = zlib.decompressobj(wbits=31)
    pieces: List[bytes] = []  # the member's compressed bytes
    output: List[bytes] = []
    size = 0
    data = pending
    while True:
        if not data:
            data = raw.read(_CHUNK)
            if not data:
                raise ApkFormatError(
                    f"{source}: the file ends in the middle of a gzip member (truncated "
                    "download?); fetch it again"
                )
        try:
            chunk = decompressor.decompress(data, MAX_CONTROL_BYTES + 1 - size)
        except zlib.error as error:
            raise ApkFormatError(
                f"{source}: corrupt gzip data ({error}); fetch the file again"
            ) from None
        output.append(chunk)
        size += len(chunk)
        if size > MAX_CONTROL_BYTES:
            raise ApkFormatError(
                f"{source}: the gzip member at byte {offset} unpacks to more than "
                f"{MAX_CONTROL_BYTES} bytes, far more than any signature or control member; "
                "this is not an APK package or index"
            )
        if decompressor.eof:
            rest = decompressor.unused_data
            pieces.append(data[: len(data) - len(rest)])
            content = b"".join(output)
            return GzipMember(offset=offset, raw=b"".join(pieces), content=content), rest
        pieces.append(data)  # all of it was consumed: the output cap was not reached
        data = b""


def _check_magic(first_bytes: bytes, source: str) -> None:
    if first_bytes.startswith(_GZIP_MAGIC):
        return
    if first_bytes.startswith(_ADB_MAGIC):
        raise ApkFormatError(
            f"{source} is an APK v3 (adb) file; apkoci reads APK v2 packages and indexes only"
        )
    raise ApkFormatError(
        f"{source} is not an APK file (it does not start with a gzip member: {first_bytes[:8]!r}); "
        "check the path, or whether a download saved an error page instead"
    )


def _tar_files(member: GzipMember, source: str) -> List[Tuple[str, bytes]]:
    """(name, content) of the regular files in a small member's tar; other entries are skipped."""
    plain = _plain_tar_files(member.content)
    if plain is not None:
        return plain
    import tarfile

    files: List[Tuple[str, bytes]] = []
    try:
        # Plain "r:" on the decompressed bytes: tarfile copes with cut archives (no end blocks).
        with tarfile.open(fileobj=io.BytesIO(member.content), mode="r:") as archive:
            for info in archive:
                handle = archive.extractfile(info) if info.isreg() else None
                files.append((info.name, handle.read() if handle else b""))
    except tarfile.TarError as error:
        raise ApkFormatError(
            f"{source}: the gzip member at byte {member.offset} is not a tar archive ({error})"
        ) from None
    return files


_TAR_BLOCK = 512
# (start, end) of a tar header's number fields: mode, uid, gid, size, mtime, checksum, devmajor,
# devminor.
_TAR_NUMBER_FIELDS = (
    (100, 108),
    (108, 116),
    (116, 124),
    (124, 136),
    (136, 148),
    (148, 156),
    (329, 337),
    (337, 345),
)


def _plain_tar_files(content: bytes) -> Optional[List[Tuple[str, bytes]]]:
    """The files of a tar of plain regular files only, read as tarfile reads them; None for any
    other tar, or anything unusual in one (then tarfile reads it, and judges it).

    Signature, control and index members are such tars. Reading them here spares importing
    tarfile (with shutil, bz2, lzma, ...), which costs more than reading a few headers. Headers
    qualify with a type of 0, octal numbers, an unsigned checksum that is right, ASCII names and
    data that is all there; the checks follow tarfile's (``TarInfo.frombuf``, ``TarFile.next``).
    """
    files: List[Tuple[str, bytes]] = []
    offset, end = 0, len(content)
    while offset < end:
        header = content[offset : offset + _TAR_BLOCK]
        if len(header) < _TAR_BLOCK or header[156:157] not in (b"0", b"\0"):
            return None  # a truncated header, or another type of entry
        if header.count(0) == _TAR_BLOCK:
            return files if files else None  # the end-of-archive block
        numbers = []
        for start, stop in _TAR_NUMBER_FIELDS:
            field = header[start:stop]
            if field[0] in (0o200, 0o377):
                return None  # base-256 numbers
            try:
                numbers.append(int(field.split(b"\0", 1)[0].decode("ascii").strip() or "0", 8))
            except (UnicodeDecodeError, ValueError):
                return None
        if min(numbers) < 0 or numbers[5] != 256 + sum(header[:148]) + sum(header[156:]):
            return None  # a negative number; a checksum only tarfile's signed variant may accept
        name = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        if not (name.isascii() and prefix.isascii()) or name.endswith(b"/") or not name:
            return None
        size = numbers[3]
        data = offset + _TAR_BLOCK
        offset = data + -(-size // _TAR_BLOCK) * _TAR_BLOCK
        if offset > end:
            return None  # the data (and its padding) is cut short
        path = (prefix + b"/" + name if prefix else name).decode("ascii")
        files.append((path, content[data : data + size]))
    return files if files else None


@dataclass(frozen=True)
class SignedHead:
    """The start of an APK file or index: its signatures and the first member they sign."""

    signatures: Tuple[Signature, ...]
    signed_member: GzipMember  # the control member of a package, the index member of an index
    signed_files: Tuple[Tuple[str, bytes], ...]  # the regular files of that member's tar


def read_signed_head(raw: BinaryIO, source: str) -> Tuple[SignedHead, bytes]:
    """Read the signature member(s) and the member after them from a file opened at its start.

    Returns the head and the input already read past it (to pass on with the rest of ``raw``).
    Signature members are the leading members whose every tar entry is ``.SIGN.*``.
    """
    first = raw.read(_CHUNK)
    _check_magic(first, source)
    signatures: List[Signature] = []
    pending, offset = first, 0
    while True:
        member, pending = _read_member(raw, pending, offset, source)
        files = _tar_files(member, source)
        offset += len(member.raw)
        signature_files = [(name, value) for name, value in files if is_signature_member(name)]
        if not files or len(signature_files) != len(files):
            break
        signatures.extend(signature_from_member(name, value) for name, value in signature_files)
        if not pending:
            pending = raw.read(_CHUNK)
        if not pending:
            raise ApkFormatError(f"{source} holds only signatures: the signed content is missing")
    if signature_files:
        raise ApkFormatError(
            f"{source}: the gzip member at byte {member.offset} mixes signature entries "
            f"({', '.join(name for name, _ in signature_files)}) with other files; signatures "
            "must have a gzip member of their own"
        )
    head = SignedHead(tuple(signatures), member, tuple(files))
    return head, pending


# --- .PKGINFO ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PkgInfo:
    """The ``key = value`` lines of a ``.PKGINFO``, in file order.

    Keys may repeat (``depend``, ``provides``, ``replaces``, ``install_if``, ``triggers``); for
    single-valued keys the last line wins, as in apk-tools. Comment lines (``#``) are dropped, and
    so are lines without `` = ``, which apk-tools ignores too.
    """

    fields: Tuple[Tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> "PkgInfo":
        fields = []
        for line in text.split("\n"):
            if not line or line.startswith("#"):
                continue
            key, separator, value = line.partition(" = ")
            if separator:
                fields.append((key, value))
        return cls(tuple(fields))

    def get(self, key: str, default: str = "") -> str:
        """The value of a single-valued key (the last one), or ``default``."""
        for field_key, value in reversed(self.fields):
            if field_key == key:
                return value
        return default

    def get_all(self, key: str) -> Tuple[str, ...]:
        """Every value of a repeatable key, in file order."""
        return tuple(value for field_key, value in self.fields if field_key == key)

    @property
    def datahash(self) -> str:
        """The hex SHA-256 of the compressed data member, or "" for old packages without it."""
        return self.get("datahash")

    @property
    def triggers(self) -> Tuple[str, ...]:
        """The paths (globs) whose changes run this package's trigger script."""
        return tuple(path for line in self.get_all("triggers") for path in line.split())

    def format(self) -> str:
        """The ``.PKGINFO`` text (the writer's side of :meth:`parse`)."""
        return "".join(f"{key} = {value}\n" for key, value in self.fields)

    @classmethod
    def from_package(
        cls, package: Package, datahash: str, extra: Iterable[Tuple[str, str]] = ()
    ) -> "PkgInfo":
        """The ``.PKGINFO`` that describes ``package`` (for the APK writer).

        ``package.size`` is not written (it is the size of the finished .apk, known only later);
        ``package.installed_size`` becomes ``size``. ``extra`` adds fields such as
        ``("packager", ...)`` or ``("triggers", ...)`` before ``datahash``.
        """
        fields: List[Tuple[str, str]] = [
            ("pkgname", package.name),
            ("pkgver", package.version),
            ("pkgdesc", package.description),
            ("url", package.url),
            ("builddate", str(package.build_time)),
            ("size", str(package.installed_size)),
            ("arch", package.arch),
            ("origin", package.origin),
            ("commit", package.commit),
            ("maintainer", package.maintainer),
            ("license", package.license),
        ]
        fields = [(key, value) for key, value in fields if value]
        for key, dependencies in _DEPENDENCY_KEYS:
            fields.extend((key, str(dep)) for dep in getattr(package, dependencies))
        if package.provider_priority is not None:
            fields.append(("provider_priority", str(package.provider_priority)))
        if package.replaces_priority:
            fields.append(("replaces_priority", str(package.replaces_priority)))
        fields.extend(extra)
        if datahash:
            fields.append(("datahash", datahash))
        return cls(tuple(fields))


# .PKGINFO key -> Package field, for the dependency lists (written in this order).
_DEPENDENCY_KEYS = (
    ("depend", "depends"),
    ("provides", "provides"),
    ("install_if", "install_if"),
    ("replaces", "replaces"),
)


def package_from_pkginfo(pkginfo: PkgInfo, checksum: str, size: int, source: str) -> Package:
    """The Package a ``.PKGINFO`` describes; ``checksum`` and ``size`` come from the file itself.

    Key meanings follow apk-tools' ``read_info_line``: note that ``.PKGINFO``'s ``size`` is the
    *installed* size, while ``Package.size`` is the size of the .apk file.
    """
    name, version = pkginfo.get("pkgname"), pkginfo.get("pkgver")
    if not name or not version:
        raise ApkFormatError(
            f"{source}: .PKGINFO has no {'pkgname' if not name else 'pkgver'}; it is not a valid "
            "package (rebuild it with melange or abuild)"
        )

    def integer(key: str) -> Optional[int]:
        value = pkginfo.get(key)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise ApkFormatError(
                f"{source}: .PKGINFO {key} = {value!r} is not a whole number"
            ) from None

    def dependencies(key: str) -> Tuple[Dependency, ...]:
        parsed: List[Dependency] = []
        for value in pkginfo.get_all(key):
            try:
                parsed.extend(parse_dependencies(value))
            except DependencyError as error:
                raise ApkFormatError(f"{source}: .PKGINFO {key} = {value!r}: {error}") from None
        return tuple(parsed)

    return Package(
        name=name,
        version=version,
        arch=pkginfo.get("arch"),
        size=size,
        installed_size=integer("size") or 0,
        description=pkginfo.get("pkgdesc"),
        url=pkginfo.get("url"),
        license=pkginfo.get("license"),
        origin=pkginfo.get("origin"),
        maintainer=pkginfo.get("maintainer"),
        build_time=integer("builddate") or 0,
        commit=pkginfo.get("commit"),
        checksum=checksum,
        provider_priority=integer("provider_priority"),
        replaces_priority=integer("replaces_priority") or 0,
        depends=dependencies("depend"),
        provides=dependencies("provides"),
        install_if=dependencies("install_if"),
        replaces=dependencies("replaces"),
    )


# --- The package file ----------------------------------------------------------------------------


class DataContent(NamedTuple):
    """Where a regular file's content is in a package's inflated data tar, and its SHA-1."""

    offset: int
    size: int
    sha1: str  # hex, computed from the content as it streamed by


# (as apkoci.apk.datatar.REGULAR_TYPES: ordinary, old and contiguous files; that module is imported
# only for the data member)
_REGULAR_TYPES = (b"0", b"\0", b"7")

_GZIP_PROBLEMS: Dict[str, Callable[[Exception], str]] = {
    "truncated": lambda error: (
        "the file ends in the middle of a gzip member (truncated download?); fetch it again"
    ),
    "corrupt": lambda error: f"{error}; fetch the file again",
    "trailing": lambda error: (
        "unexpected bytes after the data member (a package is signature, control and data "
        "members only); fetch or rebuild it"
    ),
    "unreadable": lambda error: f"cannot read the data member ({error})",
}


def _tee(chunks: Iterator[bytes], sink: Callable[[bytes], object]) -> Iterator[bytes]:
    for chunk in chunks:
        sink(chunk)
        yield chunk


def _spooled_entries(
    reader: "TarReader",
) -> Iterator[Tuple["DataEntry", Optional[DataContent]]]:
    for info, offset in reader.members():
        sha1 = info.pax_headers.get(PAX_CHECKSUM_SHA1) or None
        content: Optional[DataContent] = None
        if info.type in _REGULAR_TYPES:
            content = DataContent(offset, info.size, reader.content_sha1())
        yield DataEntry(info=info, sha1=sha1), content


@dataclass(frozen=True)
class DataEntry:
    """One entry of the data tar: its tar header, and the checksum apk-tools recorded for it."""

    info: tarfile.TarInfo
    # Hex SHA-1 of the content from the PAX record APK-TOOLS.checksum.SHA1; None where absent
    # (directories, and files of packages built without it).
    sha1: Optional[str]

    @property
    def name(self) -> str:
        """The path as stored in the archive (relative, e.g. ``usr/bin/hello``; not sanitized)."""
        return self.info.name


@dataclass(frozen=True)
class ApkFile:
    """An opened APK v2 package: its signatures, control files and package metadata.

    The data member is not read until :meth:`data_entries`, :meth:`verify_data_hash` or (for old
    packages without ``datahash``) :meth:`verify_signature` stream it from ``path``.
    """

    path: Path
    signatures: Tuple[Signature, ...]
    control_member: GzipMember
    control_files: Tuple[Tuple[str, bytes], ...]  # (".PKGINFO", ...), (".post-install", ...)
    pkginfo: PkgInfo
    package: Package  # .checksum is the Q1 control checksum, .size the file's size in bytes
    data_offset: int  # where the data member starts

    @property
    def source(self) -> str:
        """How errors name the file."""
        return str(self.path)

    @property
    def checksum(self) -> str:
        """The ``Q1...`` identity (an index's ``C:`` field)."""
        return self.package.checksum

    def control_file(self, name: str) -> Optional[bytes]:
        """The content of a control file such as ``.PKGINFO`` or ``.post-install``, or None."""
        return _file_named(self.control_files, name)

    @property
    def scripts(self) -> Dict[str, bytes]:
        """The install scripts, by apk-tools' name (``post-install``, ``trigger``, ...)."""
        return {name[1:]: data for name, data in self.control_files if name[1:] in SCRIPT_NAMES}

    def verify_checksum(self, expected: str) -> None:
        """Check the package is the one an index lists (its ``C:`` field), as apk-tools does
        before installing from a repository. Raises ApkIntegrityError on mismatch."""
        kind = "Q2" if expected.startswith("Q2") else "Q1"
        actual = control_checksum(self.control_member.raw, kind)
        if actual != expected:
            raise ApkIntegrityError(
                f"{self.source}: control checksum is {actual}, but the index lists {expected} "
                f"for {self.package.name}-{self.package.version}: the file is not the package "
                "the index describes (stale cache or a changed repository); fetch it again"
            )

    def verify_signature(self, keyring: Keyring, allow_untrusted: bool = False) -> Optional[str]:
        """Check the package's signature; returns the key name that verified (see signature.py).

        With a ``datahash`` the signature covers the control member (and :meth:`verify_data_hash`
        the data); without one it covers control and data members together.
        """
        signed: Iterable[bytes] = [self.control_member.raw]
        if not self.pkginfo.datahash:
            signed = itertools.chain([self.control_member.raw], self._raw_data_chunks())
        return verify_signatures(
            self.signatures, signed, keyring, self.source, allow_untrusted=allow_untrusted
        )

    def verify_data_hash(self) -> None:
        """Check ``datahash`` against the data member (streamed, never held in memory).

        Raises ApkIntegrityError on mismatch; a package without ``datahash`` has nothing to check.
        """
        if self.pkginfo.datahash:
            self._check_data_hash(data_hash(self._raw_data_chunks()))

    def data_entries(self) -> Generator[Tuple[DataEntry, Optional[IO[bytes]]], None, None]:
        """Stream the data tar: ``(entry, content)`` per entry, in archive order.

        ``content`` is a readable file for regular files (None otherwise) and is only valid until
        the next entry is requested. Once the last entry is passed, ``datahash`` is checked
        (ApkIntegrityError on mismatch) and so is the end of the file (nothing may follow).
        """
        from apkoci.apk.datatar import Content

        with self._data_tar(None) as reader:
            for info, _ in reader.members():
                sha1 = info.pax_headers.get(PAX_CHECKSUM_SHA1) or None
                content = Content(reader) if info.type in _REGULAR_TYPES else None
                yield DataEntry(info=info, sha1=sha1), cast(Optional[IO[bytes]], content)

    def spool_data(
        self, sink: Callable[[bytes], object]
    ) -> Generator[Tuple[DataEntry, Optional[DataContent]], None, None]:
        """Stream the data tar into ``sink`` and say where in it each entry's content is.

        ``sink`` is given every byte of the inflated data tar, in order, in chunks of up to 1 MiB;
        each ``(entry, content)`` comes once the entry's content has passed, ``content`` saying
        where it is in what ``sink`` got (offset and size) and its SHA-1 (None for entries that
        are not regular files). Checks as :meth:`data_entries` does. This is how an install
        stages a package's files without one copy or one file per content.
        """
        with self._data_tar(sink) as reader:
            yield from _spooled_entries(reader)

    def spooled_entries(
        self, inflated: Iterator[bytes], data_sha256: Callable[[], str]
    ) -> Generator[Tuple[DataEntry, Optional[DataContent]], None, None]:
        """What :meth:`spool_data` yields, for a data member inflated elsewhere (by a helper
        process that writes it to a spool, see :mod:`apkoci.install.unpack`).

        ``inflated`` gives the inflated data tar in order, raising
        :class:`~apkoci.apk.datatar.GzipMemberError` where the member cannot be read;
        ``data_sha256`` the hex SHA-256 of the compressed member once ``inflated`` has ended.
        """
        with self._reading(inflated, data_sha256) as reader:
            yield from _spooled_entries(reader)

    @contextlib.contextmanager
    def _data_tar(self, sink: Optional[Callable[[bytes], object]]) -> Iterator["TarReader"]:
        """A reader of the data tar, inflated here (each chunk given to ``sink`` first)."""
        import hashlib  # (here, as in data_hash)

        from apkoci.apk.datatar import inflate_last_member

        hasher = hashlib.sha256()
        with open(self.path, "rb") as raw:
            raw.seek(self.data_offset)
            chunks = inflate_last_member(raw, hasher.update)
            if sink is not None:
                chunks = _tee(chunks, sink)
            with self._reading(chunks, hasher.hexdigest) as reader:
                yield reader

    @contextlib.contextmanager
    def _reading(
        self, inflated: Iterator[bytes], data_sha256: Callable[[], str]
    ) -> Iterator["TarReader"]:
        """A reader of the inflated data tar; on leaving, the rest of the member is read and
        ``datahash`` checked. Errors name the file."""
        from apkoci.apk.datatar import GzipMemberError, TarFormatError, TarReader

        try:
            reader = TarReader(inflated)
            yield reader
            reader.drain()  # the tar ends before the gzip member does (padding)
        except GzipMemberError as error:
            message = _GZIP_PROBLEMS[error.problem](error)
            raise ApkFormatError(f"{self.source}: {message}") from None
        except TarFormatError as error:
            raise ApkFormatError(
                f"{self.source}: the data member is not a valid tar archive ({error})"
            ) from None
        if self.pkginfo.datahash:
            self._check_data_hash(data_sha256())

    def _raw_data_chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as raw:
            raw.seek(self.data_offset)
            for chunk in iter(lambda: raw.read(_CHUNK), b""):
                yield chunk

    def _check_data_hash(self, actual: str) -> None:
        if actual != self.pkginfo.datahash:
            raise ApkIntegrityError(
                f"{self.source}: the data member's SHA-256 is {actual}, but .PKGINFO's datahash "
                f"says {self.pkginfo.datahash}: the package's files were changed or corrupted "
                "after it was built; fetch it again"
            )


def _file_named(files: Iterable[Tuple[str, bytes]], name: str) -> Optional[bytes]:
    return next((data for file_name, data in files if file_name == name), None)


def read_apk(path: Union[str, "os.PathLike[str]"]) -> ApkFile:
    """Open an APK v2 package: read its signature and control members and parse ``.PKGINFO``.

    Only the first few KiB are read; the data member is streamed later on demand. Raises
    ApkFormatError for anything that is not a well-formed package.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise ApkFormatError(f"cannot open package {source}: {error.strerror}") from None
    with raw:
        file_size = os.fstat(raw.fileno()).st_size
        head, pending = read_signed_head(raw, source)
        control_files = head.signed_files
        pkginfo_bytes = _file_named(control_files, ".PKGINFO")
        if pkginfo_bytes is None:
            names = ", ".join(name for name, _ in control_files) or "nothing"
            raise ApkFormatError(
                f"{source}: the control member has no .PKGINFO (it holds {names}); this is not an "
                "APK v2 package"
            )
        data_offset = head.signed_member.offset + len(head.signed_member.raw)
        if not pending and not raw.read(1):
            raise ApkFormatError(f"{source}: the data member is missing (the file is truncated)")
    pkginfo = PkgInfo.parse(_decode(pkginfo_bytes, source, ".PKGINFO"))
    package = package_from_pkginfo(
        pkginfo, control_checksum(head.signed_member.raw), file_size, source
    )
    return ApkFile(
        path=path,
        signatures=head.signatures,
        control_member=head.signed_member,
        control_files=control_files,
        pkginfo=pkginfo,
        package=package,
        data_offset=data_offset,
    )


def _decode(data: bytes, source: str, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApkFormatError(f"{source}: {what} is not UTF-8 text ({error})") from None
