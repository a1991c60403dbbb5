"""Reading the data tar of a package: a small tar reader for what packages hold, made for speed.

:mod:`tarfile` spends most of an install's reading time on the way to the bytes (its stream
layer, header classes and a regular expression per PAX record: some 100 us per member of a
package's data tar on a 2-core build machine, where this reader takes 15 us). This reader
parses the headers itself from the inflated data as it streams by and gives :class:`tarfile.TarInfo`
values with the fields tarfile would give them, so callers see no difference. It reads what real
packages use, whatever built them (abuild's GNU tar and abuild-tar, melange's Go archive/tar,
Python's tarfile):

- ustar and GNU headers (with a ustar ``prefix``, octal or base-256 numbers, the unsigned or
  signed checksum);
- PAX extended (``x``) and global (``g``) headers, among them ``APK-TOOLS.checksum.SHA1``,
  ``SCHILY.xattr.*``, ``path``, ``linkpath``, ``size``, ``uid``, ``gid``, ``uname``, ``gname``,
  ``mtime``;
- GNU long names and long link targets (``L``, ``K``).

Where an archive stacks several of these on one member the first one read wins, as with tarfile;
a directory's trailing ``/`` is dropped however its name came (as tarfile does since Python 3.10).
GNU sparse files, which no package tool writes and apk-tools cannot install, are refused. Unlike
tarfile, a header with a bad checksum or a broken PAX record is an error rather than a quiet end
of the archive; the archive ends at its first zero block or where the data ends.

The data comes in as an iterator of ``bytes`` chunks (:func:`inflate_last_member` gives them from
a gzip member), so nothing holds a whole archive; :class:`TarReader` yields each member with where
its content starts in the stream, and can hash the content (SHA-1) on the way past it.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple

BLOCK = 512
# The ustar header: name, mode, uid, gid, size, mtime, checksum, type, linkname, magic + version,
# uname, gname, devmajor, devminor, prefix (and 12 unused bytes).
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_SPACES_SUM = 8 * ord(" ")  # the checksum counts its own field as spaces
_SIGNED = struct.Struct("148b8x356b")
_adler32 = zlib.adler32  # its low half is 1 + the byte sum (see oci.layer._byte_sum)

# Regular files: tarfile's REGULAR_TYPES less GNU sparse files, which this reader refuses.
REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_PAX_LOCAL = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)
_GNU_LONG = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_EXTENSIONS = (*_PAX_LOCAL, tarfile.XGLTYPE, *_GNU_LONG)
# Types whose data tarfile does not skip (any other type's data is skipped, by its size).
_DATALESS = (
    tarfile.LNKTYPE,
    tarfile.SYMTYPE,
    tarfile.DIRTYPE,
    tarfile.FIFOTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
)
# PAX records that set a member's field: keyword -> (TarInfo attribute, conversion of the text).
_PAX_FIELDS: Dict[str, Tuple[str, Optional[Callable[[str], object]]]] = {
    "path": ("name", None),
    "linkpath": ("linkname", None),
    "uname": ("uname", None),
    "gname": ("gname", None),
    "mtime": ("mtime", float),
    "uid": ("uid", int),
    "gid": ("gid", int),
    "size": ("size", int),
}
# PAX records and GNU long names are read into memory: real ones are a few hundred bytes. The bound
# keeps a corrupt size from asking for gigabytes.
MAX_EXTENSION_BYTES = 1 << 20

# Input read per inflate call, and the most output one call may give (which bounds memory when
# the data is very compressible).
_RAW_CHUNK = 256 * 1024
_MAX_CHUNK = 1 << 20


class TarFormatError(Exception):
    """The data is not a tar archive this reader accepts; the message says where and why."""


class TruncatedError(TarFormatError):
    """The data ends inside a header or a member's content."""


def _text(field: bytes) -> str:
    """A NUL-terminated text field, as tarfile decodes it (UTF-8, undecodable bytes kept)."""
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str, offset: int) -> int:
    """A numeric field: octal digits (tarfile's ``nti``), or GNU's base-256 form."""
    try:
        # The common case (digits, maybe spaces, then NULs) in one call; int() takes the same
        # octal spellings tarfile's int(text.strip(), 8) does. Anything else fails here.
        return int(field.rstrip(b" \0"), 8)
    except ValueError:
        return _unusual_number(field, what, offset)


def _unusual_number(field: bytes, what: str, offset: int) -> int:
    if field[0] in (0o200, 0o377):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0o377 else value
    digits = field.split(b"\0", 1)[0]
    try:
        if not digits.isascii():
            raise ValueError(digits)
        return int(digits.strip() or b"0", 8)
    except ValueError:
        raise TarFormatError(
            f"the tar header at byte {offset} has a {what} field that is no number: {field!r}"
        ) from None


_NUMBER_NAMES = ("mode", "uid", "gid", "mtime", "devmajor", "devminor")


def _numbers(fields: Tuple[bytes, ...], offset: int) -> Tuple[int, ...]:
    """A member header's mode, uid, gid, mtime, devmajor and devminor fields as numbers."""
    return tuple(_number(field, what, offset) for field, what in zip(fields, _NUMBER_NAMES))


def parse_pax(data: bytes, offset: int) -> List[Tuple[str, str]]:
    """The ``(keyword, value)`` records of a PAX header's data: ``"<length> <key>=<value>\\n"``
    each, the length counting the whole record. Decoded as tarfile decodes them."""
    records = []
    position, end = 0, len(data)
    while position < end:
        if data[position] == 0:  # NUL padding after the records (some writers leave it)
            if data.count(0, position) == end - position:
                break
        space = data.find(b" ", position, position + 21)
        try:
            length = int(data[position:space]) if space > position else 0
        except ValueError:
            length = 0
        record_end = position + length
        equals = data.find(b"=", space, record_end)
        if length <= 0 or record_end > end or equals < 0 or data[record_end - 1] != 0x0A:
            raise TarFormatError(
                f"the PAX header at byte {offset} has a broken record at {position}: "
                f"{data[position:position + 40]!r}"
            )
        keyword = data[space + 1 : equals].decode("utf-8", "surrogateescape")
        value = data[equals + 1 : record_end - 1].decode("utf-8", "surrogateescape")
        records.append((keyword, value))
        position = record_end
    return records


def _apply_pax(info: tarfile.TarInfo, headers: Dict[str, str], fresh: bool = False) -> None:
    """What tarfile's ``_apply_pax_info`` does with the records that say a member's fields.
    ``fresh``: ``headers`` is the member's own dict, kept rather than copied."""
    for keyword, value in headers.items():
        field = _PAX_FIELDS.get(keyword)
        if field is None:
            continue  # (most records: checksums, xattrs, comments)
        attribute, convert = field
        if convert is None:
            setattr(info, attribute, value.rstrip("/") if keyword == "path" else value)
        else:
            try:
                setattr(info, attribute, convert(value))
            except ValueError:
                setattr(info, attribute, 0)
    info.pax_headers = headers if fresh else dict(headers)


class TarReader:
    """Members of a tar read from an iterator of chunks (see the module documentation).

    :meth:`members` yields ``(info, data_offset)``: the member's TarInfo and where its content
    starts in the stream. A regular member's content is then read with :meth:`read_content`, or
    passed by :meth:`content_sha1` or :meth:`skip_content`; whatever of it is left unread is
    skipped when the next member is asked for.

    This is the hot loop of an install (one pass per member of every package), so it is written
    for few calls per member: the common case of each step is inline, the rest in helpers.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._position = 0  # in _buffer
        self._start = 0  # the stream offset of _buffer[0]
        self._content_left = 0  # of the current member's content, still to pass
        self._padding = 0  # after the current member's content
        self._names: Dict[bytes, str] = {}  # decoded uname/gname fields (a few distinct ones)

    @property
    def offset(self) -> int:
        """Where the reader is in the stream."""
        return self._start + self._position

    def _fill(self) -> bool:
        """Move on to the next chunk (once the current one is used up); False at the end."""
        for chunk in self._chunks:
            if chunk:
                self._start += len(self._buffer)
                self._buffer, self._position = chunk, 0
                return True
        return False

    def _take(self, size: int) -> bytes:
        """The next ``size`` bytes, or fewer where the stream ends."""
        buffer, position = self._buffer, self._position
        if position + size <= len(buffer):
            self._position = position + size
            return buffer[position : position + size]
        pieces = [buffer[position:]]
        have = len(pieces[0])
        self._position = len(buffer)
        while have < size and self._fill():
            piece = self._buffer[: size - have]
            self._position = len(piece)
            pieces.append(piece)
            have += len(piece)
        return b"".join(pieces)

    def _skip(self, size: int, hasher: Optional["hashlib._Hash"] = None) -> int:
        """Pass ``size`` bytes (hashing them); returns how many there were before the end."""
        left = size
        while left:
            available = len(self._buffer) - self._position
            if not available:
                if not self._fill():
                    break
                continue
            count = min(left, available)
            if hasher is not None:
                position = self._position
                hasher.update(memoryview(self._buffer)[position : position + count])
            self._position += count
            left -= count
        return size - left

    def read_content(self, size: int) -> bytes:
        """Up to ``size`` bytes (all with -1) of the current member's content; b"" at its end."""
        if size < 0 or size > self._content_left:
            size = self._content_left
        if not size:
            return b""
        data = self._take(size)
        self._content_left -= len(data)
        if len(data) < size:
            raise TruncatedError(f"the data ends inside a member's content (byte {self.offset})")
        return data

    def skip_content(self, hasher: Optional["hashlib._Hash"] = None) -> None:
        """Pass the rest of the current member's content, hashing it when ``hasher`` is given."""
        left = self._content_left
        self._content_left = 0
        if left and self._skip(left, hasher) < left:
            raise TruncatedError(f"the data ends inside a member's content (byte {self.offset})")

    def content_sha1(self) -> str:
        """Pass the rest of the current member's content; the hex SHA-1 of what was passed."""
        left, position = self._content_left, self._position
        if position + left <= len(self._buffer):  # all in the current chunk: one hash call
            self._content_left = 0
            self._position = position + left
            return hashlib.sha1(memoryview(self._buffer)[position : position + left]).hexdigest()
        hasher = hashlib.sha1()
        self.skip_content(hasher)
        return hasher.hexdigest()

    def members(self) -> Iterator[Tuple[tarfile.TarInfo, int]]:
        """Each member in archive order, with the stream offset of its content."""
        global_headers: Dict[str, str] = {}
        # Extension headers waiting for their member: (type, value) in the order read.
        pending: List[Tuple[bytes, object]] = []
        first = 0  # where the member's first header (maybe an extension header) starts
        # Decoded mode, uid, gid, mtime, devmajor and devminor fields (members share a few).
        numbers_of: Dict[Tuple[bytes, ...], Tuple[int, ...]] = {}
        names = self._names
        unpack, adler32, new_info = _HEADER.unpack, _adler32, tarfile.TarInfo
        while True:
            left = self._content_left + self._padding  # of the previous member, to pass
            if left:
                self._content_left = self._padding = 0
                if self._position + left <= len(self._buffer):
                    self._position += left
                elif self._skip(left) < left:
                    raise TruncatedError(f"the data ends inside a member (byte {self.offset})")
            buffer, position = self._buffer, self._position
            offset = self._start + position
            if position + BLOCK <= len(buffer):
                header = buffer[position : position + BLOCK]
                self._position = position + BLOCK
            else:
                header = self._take(BLOCK)
                if len(header) < BLOCK:
                    if header or pending:
                        raise TruncatedError(f"the data ends inside a tar header (byte {offset})")
                    return  # a "cut" archive: no end-of-archive blocks
            if not header[0] and header.count(0) == BLOCK:
                if pending:
                    raise TarFormatError(
                        f"the archive ends right after the extension header at byte {first}"
                    )
                return
            if not pending:
                first = offset
            # The header, its common case inline (see _number for the numbers' spellings).
            (
                name,
                mode,
                uid,
                gid,
                size_field,
                mtime,
                checksum,
                kind,
                linkname,
                _magic,
                uname,
                gname,
                devmajor,
                devminor,
                prefix,
            ) = unpack(header)
            try:
                recorded = int(checksum.rstrip(b" \0") or b"0", 8)
                size = int(size_field.rstrip(b" \0") or b"0", 8)
            except ValueError:
                recorded = _number(checksum, "checksum", offset)
                size = _number(size_field, "size", offset)
            unsigned = (adler32(header[:256]) & 0xFFFF) + (adler32(header[256:]) & 0xFFFF) - 2
            if recorded != unsigned + _SPACES_SUM - sum(checksum) and recorded != (
                _SPACES_SUM + sum(_SIGNED.unpack_from(header))
            ):
                raise TarFormatError(
                    f"the tar header at byte {offset} has a bad checksum (the data is corrupt)"
                )
            if kind in _EXTENSIONS:
                self._extension(kind, size, offset, global_headers, pending)
                continue
            if kind == tarfile.GNUTYPE_SPARSE:
                raise TarFormatError(
                    f"the tar member at byte {offset} is a GNU sparse file, which apk cannot "
                    "install"
                )
            fields = (mode, uid, gid, mtime, devmajor, devminor)
            numbers = numbers_of.get(fields)
            if numbers is None:
                numbers = _numbers(fields, offset)
                if len(numbers_of) < 256:
                    numbers_of[fields] = numbers
            text = name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if kind == tarfile.AREGTYPE and text.endswith("/"):
                kind = tarfile.DIRTYPE  # the old V7 way to say "directory"
            if kind == tarfile.DIRTYPE:
                text = text.rstrip("/")
            if prefix[0]:
                text = _text(prefix) + "/" + text
            info = new_info(text)
            info.mode, info.uid, info.gid, info.mtime, info.devmajor, info.devminor = numbers
            info.size = size
            info.chksum = recorded
            info.type = kind
            if linkname[0]:
                info.linkname = _text(linkname)
            user = names.get(uname)
            group = names.get(gname)
            info.uname = self._name(uname) if user is None else user
            info.gname = self._name(gname) if group is None else group
            if global_headers:
                _apply_pax(info, global_headers)
            if pending:
                self._apply_extensions(info, pending)
                if any(key.startswith("GNU.sparse.") for key in info.pax_headers):
                    raise TarFormatError(
                        f"the tar member {info.name!r} is a GNU sparse file, which apk cannot "
                        "install"
                    )
            info.offset = first
            info.offset_data = data_offset = self._start + self._position
            if kind not in _DATALESS:
                self._content_left = info.size
                self._padding = -info.size % BLOCK
            yield info, data_offset

    def drain(self) -> None:
        """Read the stream to its end (what follows the archive's end: zero blocks, padding)."""
        self._start += len(self._buffer)
        self._buffer, self._position = b"", 0
        for chunk in self._chunks:
            self._start += len(chunk)

    def _name(self, field: bytes) -> str:
        """A uname/gname field decoded, remembered for the next member (a bounded few)."""
        text = _text(field)
        if len(self._names) < 64:
            self._names[field] = text
        return text

    def _extension(
        self,
        kind: bytes,
        size: int,
        offset: int,
        global_headers: Dict[str, str],
        pending: List[Tuple[bytes, object]],
    ) -> None:
        """Read an extension header's data: global records now, the others for their member."""
        if not 0 <= size <= MAX_EXTENSION_BYTES:
            raise TarFormatError(
                f"the extension header at byte {offset} says its data is {size} bytes; real ones "
                "are a few hundred"
            )
        padded = size + -size % BLOCK
        buffer, position = self._buffer, self._position
        if position + padded <= len(buffer):
            data = buffer[position : position + size]
            self._position = position + padded
        else:
            data = self._take(padded)
            if len(data) < padded:
                raise TruncatedError(f"the data ends inside the extension header at byte {offset}")
            data = data[:size]
        if kind == tarfile.XGLTYPE:
            global_headers.update(parse_pax(data, offset))
        elif kind in _GNU_LONG:
            pending.append((kind, _text(data)))
        else:
            local = dict(global_headers) if global_headers else {}
            local.update(parse_pax(data, offset))
            pending.append((tarfile.XHDTYPE, local))

    @staticmethod
    def _apply_extensions(info: tarfile.TarInfo, pending: List[Tuple[bytes, object]]) -> None:
        """Apply the extension headers read before the member: innermost (last read) first, so
        that the first one read has the last word, as in tarfile's recursion."""
        for kind, value in reversed(pending):
            if kind == tarfile.XHDTYPE:
                assert isinstance(value, dict)
                _apply_pax(info, value, fresh=True)
            elif kind == tarfile.GNUTYPE_LONGNAME:
                assert isinstance(value, str)
                info.name = value.rstrip("/") if info.type == tarfile.DIRTYPE else value
            else:
                assert isinstance(value, str)
                info.linkname = value
        pending.clear()


# --- The inflated bytes of a gzip member ----------------------------------------------------------


class GzipMemberError(Exception):
    """The gzip member cannot be read to its end: ``problem`` is ``truncated``, ``corrupt`` or
    ``trailing`` (bytes follow the member where nothing may)."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def inflate_last_member(raw: BinaryIO, on_raw: Callable[[bytes], object]) -> Iterator[bytes]:
    """The inflated bytes of the gzip member at ``raw``'s position, which must end the file, in
    chunks of at most 1 MiB. Every compressed byte of the member is passed to ``on_raw`` (to
    hash it) before the output it gives is yielded.
    """
    # wbits=31: a gzip header and trailer (the CRC and size are checked at the member's end).
    decompressor = zlib.decompressobj(wbits=31)
    data = b""
    while True:
        if not data:
            data = raw.read(_RAW_CHUNK)
            if not data:
                raise GzipMemberError("the file ends in the middle of a gzip member", "truncated")
        try:
            output = decompressor.decompress(data, _MAX_CHUNK)
        except zlib.error as error:
            raise GzipMemberError(f"corrupt gzip data ({error})", "corrupt") from None
        # Output is capped per call: input zlib has not looked at yet waits in unconsumed_tail.
        rest = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
        on_raw(data[: len(data) - len(rest)] if rest else data)
        if output:
            yield output
        if decompressor.eof:
            if rest or raw.read(1):
                raise GzipMemberError("unexpected bytes after the gzip member", "trailing")
            return
        data = rest


class Content(io.RawIOBase):
    """The current member's content as a readable binary file, valid until the next member."""

    def __init__(self, reader: TarReader) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        return self._reader.read_content(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._reader.read_content(-1)

    def readinto(self, buffer: "memoryview") -> int:  # type: ignore[override]
        data = self._reader.read_content(len(buffer))
        buffer[: len(data)] = data
        return len(data)
