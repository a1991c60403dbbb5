"""The data tar reader reads what tarfile reads: real packages, and tars of every format tarfile
writes, cut into chunks of any size; and it refuses what is broken."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import pytest
from apkoci.apk.apkfile import read_apk
from apkoci.apk.datatar import (
    Content,
    GzipMemberError,
    TarFormatError,
    TarReader,
    TruncatedError,
    inflate_last_member,
    parse_pax,
)
from apkoci.testing import shared_testdata

FIELDS = (
    "name",
    "type",
    "mode",
    "uid",
    "gid",
    "size",
    "mtime",
    "linkname",
    "uname",
    "gname",
    "devmajor",
    "devminor",
    "pax_headers",
    "offset",
    "offset_data",
)


def _described(info: tarfile.TarInfo) -> Dict[str, Any]:
    fields = {field: getattr(info, field) for field in FIELDS}
    if info.isdir():  # Python 3.9 keeps a GNU long name's trailing slash; 3.10+ and we do not
        fields["name"] = fields["name"].rstrip("/")
    return fields


def tarfile_members(data: bytes) -> List[Tuple[Dict[str, Any], bytes]]:
    """What tarfile reads from ``data`` (as a stream): each member's fields and content."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        for info in archive:
            handle = archive.extractfile(info) if info.isreg() else None
            members.append((_described(info), handle.read() if handle else b""))
    return members


def reader_members(chunks: Iterator[bytes]) -> List[Tuple[Dict[str, Any], Any]]:
    """What TarReader reads: each member's fields and content, the content of every other regular
    member read whole, of the others 3 bytes and then the SHA-1 of the rest."""
    reader = TarReader(chunks)
    members: List[Tuple[Dict[str, Any], Any]] = []
    for index, (info, data_offset) in enumerate(reader.members()):
        assert data_offset == info.offset_data
        content: Any = b""
        if info.isreg():
            if index % 2:
                content = (reader.read_content(3), reader.content_sha1())
            else:
                content = Content(reader).read()
        members.append((_described(info), content))
    return members


def assert_reads_like_tarfile(data: bytes) -> int:
    """Compares, for the whole data and for it cut into chunks of several sizes; returns how many
    members there are."""
    expected: List[Tuple[Dict[str, Any], Any]] = []
    for index, (fields, whole) in enumerate(tarfile_members(data)):
        content: Any = whole
        if index % 2 and fields["type"] in (b"0", b"\0", b"7"):
            content = (whole[:3], hashlib.sha1(whole[3:]).hexdigest())
        expected.append((fields, content))
    for chunk_size in (len(data) or 1, 1, 7, 511, 512, 513, 10240):
        chunks = iter([data[i : i + chunk_size] for i in range(0, len(data), chunk_size)])
        assert reader_members(chunks) == expected, chunk_size
    return len(expected)


def _every_real_package() -> List[Path]:
    return sorted(
        list(shared_testdata("alpine", "packages").glob("*.apk"))
        + list(shared_testdata("wolfi").glob("*.apk"))
        + list(shared_testdata("apko-cli").glob("**/*.apk"))
    )


def _data_tar(path: Path) -> bytes:
    apk = read_apk(path)
    with open(path, "rb") as raw:
        raw.seek(apk.data_offset)
        return b"".join(inflate_last_member(raw, lambda data: None))


def test_every_real_package_reads_as_tarfile_reads_it() -> None:
    packages = _every_real_package()
    assert len(packages) == 17
    members = sum(assert_reads_like_tarfile(_data_tar(path)) for path in packages)
    assert members > 100


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **fields: Any
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, size, 1700000000
    info.uname, info.gname = "root", "root"
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _tar(entries: Sequence[tarfile.TarInfo], **options: Any) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", **options) as archive:
        for info in entries:
            content = bytes(range(256)) * (info.size // 256 + 1)
            archive.addfile(info, io.BytesIO(content[: info.size]) if info.isreg() else None)
    return buffer.getvalue()


def _everything() -> List[tarfile.TarInfo]:
    long_dir = "usr/" + "d" * 60 + "/" + "e" * 60
    return [
        _info("usr", tarfile.DIRTYPE, mode=0o755),
        _info(long_dir, tarfile.DIRTYPE, mode=0o700),  # > 100 bytes: prefix, L or PAX path
        _info(long_dir + "/" + "f" * 99, size=700, mode=0o4755, uid=1000, gid=1000),
        _info("usr/empty", size=0),
        _info("usr/big-owner", size=5, uid=8**8, gid=8**7 + 1),  # beyond octal: PAX or base-256
        _info("usr/link", tarfile.SYMTYPE, linkname="../" + "t" * 120),  # a long link target
        _info("usr/hard", tarfile.LNKTYPE, linkname="usr/empty"),
        _info("usr/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        _info("usr/disk", tarfile.BLKTYPE, devmajor=8, devminor=0),
        _info("usr/fifo", tarfile.FIFOTYPE, mode=0o600),
        _info("usr/ünïcødé", size=3),
        _info("usr/exact", size=512),
        _info("usr/odd", size=513),
    ]


@pytest.mark.parametrize("tar_format", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_tars_of_every_kind_read_as_tarfile_reads_them(tar_format: int) -> None:
    assert_reads_like_tarfile(_tar(_everything(), format=tar_format))


def test_ustar_tars_with_prefixes_read_as_tarfile_reads_them() -> None:
    entries = [
        info
        for info in _everything()
        if info.uid < 8**7
        and info.gid < 8**7
        and len(info.linkname) <= 100
        and info.name.isascii()
    ]
    assert_reads_like_tarfile(_tar(entries, format=tarfile.USTAR_FORMAT))


def test_pax_records_xattrs_and_global_headers_read_as_tarfile_reads_them() -> None:
    file = _info("usr/bin/ping", size=10, mode=0o755)
    file.pax_headers = {
        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
        "APK-TOOLS.checksum.SHA1": "0" * 40,
        "mtime": "1700000000.25",
        "uname": "nobody",
        "comment": "a = b\nwith a newline",
    }
    directory = _info("usr/bin/", tarfile.DIRTYPE)
    directory.pax_headers = {"path": "usr/bin/"}
    data = _tar(
        [_info("usr", tarfile.DIRTYPE), directory, file, _info("usr/plain", size=1)],
        format=tarfile.PAX_FORMAT,
        pax_headers={"comment": "global", "uid": "7"},
    )
    assert_reads_like_tarfile(data)
    members = [fields for fields, _ in reader_members(iter([data]))]
    assert members[2]["mtime"] == 1700000000.25 and members[2]["uname"] == "nobody"
    assert all(fields["uid"] == 7 for fields in members)  # the global record
    assert members[1]["name"] == "usr/bin"


def _checksummed(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def test_old_style_headers_read_as_tarfile_reads_them() -> None:
    v7_dir = bytearray(_info("usr/share/", size=0).tobuf(tarfile.USTAR_FORMAT))
    v7_dir[156:157] = tarfile.AREGTYPE  # a V7 directory: an old regular file with a trailing /
    contiguous = bytearray(_info("usr/share/data", size=4).tobuf(tarfile.USTAR_FORMAT))
    contiguous[156:157] = tarfile.CONTTYPE
    spaced = bytearray(_info("usr/share/spaced", size=2).tobuf(tarfile.USTAR_FORMAT))
    spaced[100:108] = b"   644 \0"  # old tars: numbers padded with spaces
    spaced[136:148] = b"\0" * 12  # and empty fields
    signed = bytearray(_info("usr/share/signed-" + "\xe9", size=0).tobuf(tarfile.GNU_FORMAT))
    signed[148:156] = b" " * 8  # a checksum over signed bytes, as some old tars compute it
    signed[148:156] = b"%06o\0 " % (sum(b - 256 if b > 127 else b for b in signed))
    data = (
        _checksummed(v7_dir)
        + _checksummed(contiguous)
        + b"data".ljust(512, b"\0")
        + _checksummed(spaced)
        + b"ok".ljust(512, b"\0")
        + bytes(signed)
        + b"\0" * 1024
    )
    assert assert_reads_like_tarfile(data) == 4
    kinds = [fields["type"] for fields, _ in reader_members(iter([data]))]
    assert kinds == [tarfile.DIRTYPE, tarfile.CONTTYPE, tarfile.REGTYPE, tarfile.REGTYPE]


def test_a_cut_archive_ends_where_the_data_does() -> None:
    data = _tar([_info("a", size=3), _info("b", size=600)], format=tarfile.PAX_FORMAT)
    cut = data[: 512 + 512 + 512 + 1024]  # both members, no end-of-archive blocks
    assert [fields["name"] for fields, _ in reader_members(iter([cut]))] == ["a", "b"]


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda data: data[:700], TruncatedError, "inside a member"),
        (lambda data: data[:1600], TruncatedError, "inside a member"),
        (lambda data: data[: 1024 + 100], TruncatedError, "inside a tar header"),
        (lambda data: data[:512] + data[513:], TarFormatError, "bad checksum"),
        (lambda data: data[:1030] + b"X" + data[1031:], TarFormatError, "bad checksum"),
    ],
)
def test_broken_tars_are_refused(damage: Any, error: type, message: str) -> None:
    data = _tar([_info("a", size=3), _info("b", size=600)], format=tarfile.GNU_FORMAT)
    with pytest.raises(error, match=message):
        reader_members(iter([damage(data)]))


def test_broken_pax_records_sparse_files_and_dangling_extensions_are_refused() -> None:
    good = _info("f", size=1)
    good.pax_headers = {"comment": "x"}
    data = _tar([good], format=tarfile.PAX_FORMAT)
    header = bytearray(data[:512])
    record = data[512:1024].rstrip(b"\0")
    broken = record.replace(b"comment=x\n", b"comment=x!")  # no newline where the length says
    with pytest.raises(TarFormatError, match="broken record"):
        reader_members(iter([bytes(header) + broken.ljust(512, b"\0") + data[1024:]]))
    with pytest.raises(TarFormatError, match="broken record"):
        parse_pax(b"99 comment=too short\n", 0)
    assert parse_pax(b"11 a=b=c d\n\0\0", 0) == [("a", "b=c d")]
    sparse = bytearray(data[1024:1536])
    sparse[156:157] = tarfile.GNUTYPE_SPARSE
    with pytest.raises(TarFormatError, match="GNU sparse"):
        reader_members(iter([_checksummed(sparse) + b"\0" * 1024]))
    with pytest.raises(TarFormatError, match="right after the extension header"):
        reader_members(iter([data[:1024] + b"\0" * 1024]))
    header[124:136] = b"%011o\0" % (4 << 20)
    with pytest.raises(TarFormatError, match="real ones are a few hundred"):
        reader_members(iter([_checksummed(header) + data[512:]]))


def test_a_content_read_in_pieces_stops_at_its_end() -> None:
    data = _tar([_info("a", size=1000), _info("b", size=2)], format=tarfile.GNU_FORMAT)
    reader = TarReader(iter([data[i : i + 100] for i in range(0, len(data), 100)]))
    members = reader.members()
    info, offset = next(members)
    assert (info.name, offset) == ("a", 512)
    content = Content(reader)
    assert content.read(10) == bytes(range(10)) and len(content.read(5000)) == 990
    assert content.read() == b"" and content.readable()
    info, offset = next(members)
    assert (info.name, offset, reader.read_content(-1)) == ("b", 2048, b"\0\1")
    assert list(members) == []


def _gzip_chunks(data: bytes, trailing: bytes = b"") -> Tuple[List[bytes], bytes]:
    member = gzip.compress(data, mtime=0)
    raw = io.BytesIO(member + trailing)
    seen: List[bytes] = []
    chunks = list(inflate_last_member(raw, seen.append))
    assert b"".join(seen) == member
    return chunks, member


def test_inflate_checks_the_member_ends_the_file() -> None:
    data = bytes(range(256)) * 20000  # 5 MiB: several chunks of at most 1 MiB
    chunks, member = _gzip_chunks(data)
    assert b"".join(chunks) == data and max(len(chunk) for chunk in chunks) <= 1 << 20
    with pytest.raises(GzipMemberError, match="unexpected bytes") as trailing:
        _gzip_chunks(b"x", trailing=b"junk")
    assert trailing.value.problem == "trailing"
    with pytest.raises(GzipMemberError) as truncated:
        list(inflate_last_member(io.BytesIO(member[:-10]), lambda data: None))
    assert truncated.value.problem == "truncated"
    corrupt = bytearray(member)
    corrupt[20] ^= 0xFF
    with pytest.raises(GzipMemberError) as broken:
        list(inflate_last_member(io.BytesIO(bytes(corrupt)), lambda data: None))
    assert broken.value.problem == "corrupt"
