from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest
import zstandard
from apkoci.errors import ApkociError
from apkoci.oci.layer import (
    CHAR,
    DIR,
    FILE,
    HARDLINK,
    MEDIA_TYPES,
    SYMLINK,
    Entry,
    LayerError,
    member_header,
    plan_members,
    write_layer,
)
from apkoci.oci.testing_tools import (
    assert_tree_matches,
    entry_bytes,
    is_root,
    require_tool,
    run_tool,
    sample_tree,
)

MTIME = 1700000000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> List[Entry]:
    return sample_tree(tmp_path / "sources")


@pytest.fixture
def plain(tree: List[Entry], tmp_path: Path) -> bytes:
    """The uncompressed tar of the sample tree."""
    layer = write_layer(tree, tmp_path / "plain.tar", compression="none", mtime=MTIME)
    return layer.path.read_bytes()


def test_plain_layer_digests_describe_the_tar(tree: List[Entry], tmp_path: Path) -> None:
    layer = write_layer(tree, tmp_path / "layer.tar", compression="none", mtime=MTIME)
    data = layer.path.read_bytes()
    assert layer.digest == layer.diff_id == sha256(data)
    assert layer.size == len(data)
    assert layer.media_type == "application/vnd.oci.image.layer.v1.tar"
    assert len(data) % 512 == 0 and data.endswith(b"\0" * 1024)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_gzip_layer_decompresses_to_the_exact_tar(
    tree: List[Entry], plain: bytes, tmp_path: Path, threads: int
) -> None:
    # A tiny block size makes the sample tree span many parallel blocks.
    layer = write_layer(
        tree, tmp_path / "layer.tar.gz", mtime=MTIME, threads=threads, block_size=32 * 1024
    )
    blob = layer.path.read_bytes()
    assert layer.media_type == MEDIA_TYPES["gzip"]
    assert layer.digest == sha256(blob) and layer.size == len(blob)
    assert layer.diff_id == sha256(plain)
    assert gzip.decompress(blob) == plain
    gunzip = subprocess.run(
        [require_tool("gzip"), "-dc", str(layer.path)], capture_output=True, check=True
    )
    assert gunzip.stdout == plain
    run_tool([require_tool("gzip"), "-t", str(layer.path)])


def test_gzip_header_is_fixed(tree: List[Entry], tmp_path: Path) -> None:
    blob = write_layer(tree, tmp_path / "layer.tar.gz", mtime=MTIME).path.read_bytes()
    # magic, deflate, no flags (so no file name), mtime 0, XFL 0 for level 6, OS 255 (unknown).
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def test_gzip_output_depends_only_on_input_and_block_size(
    tree: List[Entry], tmp_path: Path
) -> None:
    blobs = {
        threads: write_layer(
            tree, tmp_path / f"t{threads}.gz", mtime=MTIME, threads=threads, block_size=40000
        ).path.read_bytes()
        for threads in (1, 2, 4, 1)
    }
    assert len(set(blobs.values())) == 1
    other_block = write_layer(
        tree, tmp_path / "other.gz", mtime=MTIME, block_size=50000
    ).path.read_bytes()
    assert other_block != blobs[1]
    assert gzip.decompress(other_block) == gzip.decompress(blobs[1])


def test_zstd_layer_decompresses_and_ignores_thread_count(
    tree: List[Entry], plain: bytes, tmp_path: Path
) -> None:
    layers = [
        write_layer(
            tree,
            tmp_path / f"layer{threads}.tar.zst",
            compression="zstd",
            mtime=MTIME,
            threads=threads,
        )
        for threads in (1, 2, 4)
    ]
    blobs = {layer.path.read_bytes() for layer in layers}
    assert len(blobs) == 1
    blob = blobs.pop()
    assert (
        layers[0].media_type == MEDIA_TYPES["zstd"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    )
    assert layers[0].diff_id == sha256(plain) and layers[0].digest == sha256(blob)
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read() == plain
    frame = zstandard.get_frame_parameters(blob)
    assert frame.has_checksum and frame.content_size == zstandard.CONTENTSIZE_UNKNOWN
    unzstd = subprocess.run(
        [require_tool("zstd"), "-dc", str(layers[0].path)], capture_output=True, check=True
    )
    assert unzstd.stdout == plain


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_two_runs_give_identical_bytes(tree: List[Entry], tmp_path: Path, compression: str) -> None:
    first = write_layer(tree, tmp_path / "first", compression=compression, mtime=MTIME)
    # Same tree given in another order, rebuilt from scratch.
    second = write_layer(
        list(reversed(tree)), tmp_path / "second", compression=compression, mtime=MTIME
    )
    assert first.path.read_bytes() == second.path.read_bytes()
    assert (first.digest, first.diff_id, first.size) == (second.digest, second.diff_id, second.size)
    changed = write_layer(tree, tmp_path / "third", compression=compression, mtime=MTIME + 1)
    assert changed.diff_id != first.diff_id


def test_python_tarfile_reads_every_member(tree: List[Entry], plain: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:
        members = {member.name: member for member in archive.getmembers()}
        entries = {entry.path: entry for entry in plan_members(tree)}
        assert list(members) == [entry.path for entry in plan_members(tree)]
        for path, entry in entries.items():
            member = members[path]
            assert member.mode == entry.mode, path
            assert (member.uid, member.gid) == (entry.uid, entry.gid), path
            assert (member.uname, member.gname) == ("", ""), path
            assert member.mtime == MTIME, path
            assert member.linkname == entry.linkname, path
            kinds = {
                FILE: member.isreg(),
                DIR: member.isdir(),
                SYMLINK: member.issym(),
                HARDLINK: member.islnk(),
            }
            assert kinds[entry.kind], path
            if entry.kind == FILE:
                extracted = archive.extractfile(member)
                assert extracted is not None
                assert extracted.read() == entry_bytes(entry), path
        data = members["var/lib/data.bin"]
        assert data.pax_headers["SCHILY.xattr.user.origin"] == "apkoci"
        assert members["usr/bin/tool"].mode == 0o4755 and members["tmp"].mode == 0o1777


def test_hard_link_group_data_goes_to_the_first_member(tree: List[Entry]) -> None:
    planned = {entry.path: entry for entry in plan_members(tree)}
    # bin-alias-parent/tool sorts before usr/bin/tool: it carries the bytes and keeps the metadata.
    carrier, link = planned["bin-alias-parent/tool"], planned["usr/bin/tool"]
    assert carrier.kind == FILE and carrier.mode == 0o4755 and carrier.size > 0
    assert (
        link.kind == HARDLINK and link.linkname == "bin-alias-parent/tool" and link.mode == 0o4755
    )


def test_order_is_component_wise_with_parents_first() -> None:
    entries = [
        Entry.directory("a"),
        Entry.directory("a-b"),
        Entry.file("a/z", data=b""),
        Entry.directory("a/b"),
        Entry.file("a/b/c", data=b""),
        Entry.file("A", data=b""),
    ]
    assert [entry.path for entry in plan_members(entries)] == [
        "A",
        "a",
        "a/b",
        "a/b/c",
        "a/z",
        "a-b",
    ]


def _gnu_listing(path: Path) -> Dict[str, str]:
    listing = run_tool(
        [require_tool("tar"), "--numeric-owner", "--full-time", "-tvf", str(path)]
    ).stdout
    lines: Dict[str, str] = {}
    for line in listing.splitlines():
        fields = line.split(None, 5)
        name = fields[5].split(" -> ")[0].split(" link to ")[0].rstrip("/")
        lines[name] = line
    return lines


def test_gnu_tar_lists_modes_owners_and_links(tree: List[Entry], tmp_path: Path) -> None:
    layer = write_layer(tree, tmp_path / "layer.tar.gz", mtime=MTIME)
    lines = _gnu_listing(layer.path)
    assert set(lines) == {entry.path for entry in tree}
    assert lines["usr/bin/tool"].startswith("hrwsr-xr-x 0/0 ") and lines["usr/bin/tool"].endswith(
        "usr/bin/tool link to bin-alias-parent/tool"
    )
    assert lines["bin-alias-parent/tool"].startswith("-rwsr-xr-x 0/0 ")
    assert lines["bin"].startswith("lrwxrwxrwx 0/0 ") and lines["bin"].endswith("bin -> usr/bin")
    assert lines["tmp"].startswith("drwxrwxrwt 0/0 ")
    assert lines["home/user/notes.txt"].startswith("-rw------- 1000/1000 ")
    assert " 2023-11-14 22:13:20 " in lines["etc/motd"]
    assert "var/lib/ünïcode" in lines


def test_gnu_tar_extracts_the_tree_as_described(tree: List[Entry], tmp_path: Path) -> None:
    layer = write_layer(tree, tmp_path / "layer.tar", compression="none", mtime=MTIME)
    root = tmp_path / "root"
    root.mkdir()
    run_tool(
        [
            require_tool("tar"),
            "--xattrs",
            "--xattrs-include=*",
            "--same-owner",
            "-xpf",
            str(layer.path),
            "-C",
            str(root),
        ]
    )
    assert_tree_matches(root, tree, owners=is_root())


def test_devices_and_fifos(tmp_path: Path) -> None:
    entries = [
        Entry.directory("dev"),
        Entry.device("dev/null", CHAR, 1, 3),
        Entry.fifo("dev/pipe", mode=0o600),
    ]
    layer = write_layer(entries, tmp_path / "dev.tar", compression="none", mtime=0)
    with tarfile.open(layer.path) as archive:
        null, pipe = archive.getmember("dev/null"), archive.getmember("dev/pipe")
    assert null.ischr() and (null.devmajor, null.devminor, null.mode) == (1, 3, 0o666)
    assert pipe.isfifo() and pipe.mode == 0o600
    assert "1,3" in _gnu_listing(layer.path)["dev/null"]


def _typeflags(data: bytes) -> List[bytes]:
    """The type flags of the headers in a tar stream, PAX headers included."""
    flags, offset = [], 0
    while data[offset : offset + 512] != b"\0" * 512:
        header = data[offset : offset + 512]
        flags.append(header[156:157])
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        offset += 512 + -(-size // 512) * 512
    return flags


def test_pax_headers_only_where_ustar_cannot_say_it(tmp_path: Path) -> None:
    long_dir = "p" * 99 + "/" + "q" * 99  # 199 bytes: fits ustar's prefix + name split
    longer = "r" * 120  # one component over 100 bytes: needs PAX
    entries = [
        Entry.directory("plain"),
        Entry.directory("p" * 99),
        Entry.directory(long_dir),
        Entry.directory(longer),
        Entry.file("plain/big-owner", data=b"x", uid=2**21, gid=2**22),
        Entry.symlink("plain/long-link", "t" * 150),
    ]
    layer = write_layer(entries, tmp_path / "pax.tar", compression="none", mtime=MTIME)
    data = layer.path.read_bytes()
    # plain, plain/big-owner (PAX), plain/long-link (PAX), p*99, p*99/q*99 (ustar prefix split),
    # r*120 (PAX)
    assert _typeflags(data) == [b"5", b"x", b"0", b"x", b"2", b"5", b"5", b"x", b"5"]
    with tarfile.open(layer.path) as archive:
        assert archive.getmember(long_dir).isdir() and archive.getmember(longer).isdir()
        owner = archive.getmember("plain/big-owner")
        assert (owner.uid, owner.gid) == (2**21, 2**22)
        assert archive.getmember("plain/long-link").linkname == "t" * 150
    lines = _gnu_listing(layer.path)
    assert set(lines) == {entry.path for entry in entries}
    assert " 2097152/4194304 " in lines["plain/big-owner"]


def test_sizes_beyond_ustar_go_to_pax() -> None:
    huge = Entry("huge", FILE, 0o644, size=2**33 + 5, source="/nonexistent")
    header = member_header(huge, MTIME)
    assert b" size=8589934597\n" in header
    assert header[-512 + 124 : -512 + 136] == b"00000000000\0"  # the ustar size field says 0


def test_binary_xattr_values_survive(tmp_path: Path) -> None:
    capability = b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    entries = [
        Entry.file("ping", data=b"elf", mode=0o755, xattrs={"security.capability": capability})
    ]
    layer = write_layer(entries, tmp_path / "caps.tar", compression="none", mtime=0)
    with tarfile.open(layer.path) as archive:
        value = archive.getmember("ping").pax_headers["SCHILY.xattr.security.capability"]
    assert value.encode("utf-8", "surrogateescape") == capability


def test_missing_parent_is_named(tmp_path: Path) -> None:
    entries = [Entry.directory("usr"), Entry.file("usr/bin/sh", data=b"")]
    with pytest.raises(
        LayerError, match=r"parent directory 'usr/bin' is missing.*Entry.directory\('usr/bin'\)"
    ):
        write_layer(entries, tmp_path / "bad.tar", mtime=0)
    # Nothing half-written is left behind.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "entries, message",
    [
        ([Entry.file("a", data=b""), Entry.file("a", data=b"")], "given twice"),
        (
            [Entry.file("a", data=b""), Entry.file("a/b", data=b"")],
            "parent 'a' is a file, not a directory",
        ),
        ([Entry.hardlink("a", "missing")], "hard link target 'missing' is not in the layer"),
        ([Entry.hardlink("a", "b"), Entry.hardlink("b", "a")], "cycle"),
        ([Entry.directory("d"), Entry.hardlink("a", "d")], "hard link to directory"),
    ],
)
def test_bad_trees_are_refused(entries: List[Entry], message: str, tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=message):
        write_layer(entries, tmp_path / "bad.tar", mtime=0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Entry.file("/etc/passwd", data=b""), "must be relative"),
        (lambda: Entry.directory("etc/"), "must not end with '/'"),
        (lambda: Entry.file("etc/../x", data=b""), r"'\.\.' components"),
        (lambda: Entry.file("x", data=b"", mode=0o100644), "beyond 0o7777"),
        (lambda: Entry("x", "socket", 0o644), "kind 'socket'"),
        (lambda: Entry("x", FILE, 0o644, size=3), "needs a source path or data"),
        (lambda: Entry("x", DIR, 0o755, size=3), "only a file has size"),
        (lambda: Entry("x", SYMLINK, 0o777), "needs a linkname"),
        (lambda: Entry("x", FILE, 0o644, uid=-1), "uid must be a non-negative integer"),
        (lambda: Entry.file("x", data=b"", xattrs={"a=b": b""}), "xattr name"),
        (
            lambda: Entry.file("x", data=b"", xattrs={"user.a": "text"}),  # type: ignore[arg-type]
            "value must be bytes",
        ),
        (lambda: Entry.device("x", FILE, 1, 2), "a device is"),
        (lambda: Entry.file("x", source="/nonexistent/apkoci"), "cannot read source"),
    ],
)
def test_bad_entries_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LayerError, match=message):
        make()


def test_errors_are_apkoci_errors() -> None:
    assert issubclass(LayerError, ApkociError)


def test_source_that_changed_size_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "grows"
    source.write_bytes(b"12345")
    entry = Entry.file("grows", source=source)
    source.write_bytes(b"123456789")
    with pytest.raises(LayerError, match="is 9 bytes, the entry says 5"):
        write_layer([entry], tmp_path / "out.tar.gz", mtime=0)
    assert not (tmp_path / "out.tar.gz").exists() and not (tmp_path / "out.tar.gz.partial").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"compression": "xz"}, "compression 'xz'"),
        ({"mtime": -1}, "mtime"),
        ({"compression": "gzip", "level": 12}, "gzip level"),
        ({"block_size": 100}, "block_size"),
    ],
)
def test_bad_layer_options_are_refused(
    kwargs: Dict[str, object], message: str, tmp_path: Path
) -> None:
    options: Dict[str, object] = {"mtime": 0, **kwargs}
    with pytest.raises(LayerError, match=message):
        write_layer([Entry.directory("d")], tmp_path / "out", **options)  # type: ignore[arg-type]


_MEMORY_PROBE = """
import json, os, resource, sys
from apkoci.oci.layer import Entry, write_layer

work, compression = sys.argv[1], sys.argv[2]
source = os.path.join(work, "big")
with open(source, "wb") as file:  # 50 MiB, half random, written 1 MiB at a time
    for _ in range(50):
        file.write(os.urandom(1 << 19) + bytes(1 << 19))
# Warm up imports, the thread pool and the compressor on a tiny layer first.
write_layer([Entry.directory("warm")], os.path.join(work, "warm"), compression=compression,
            mtime=0, threads=2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
layer = write_layer([Entry.directory("data"), Entry.file("data/big", source=source)],
                    os.path.join(work, "layer"), compression=compression, mtime=0, threads=2)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "size": os.path.getsize(source),
                  "blob": layer.size}))
"""


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_50_mib_layer_is_streamed(compression: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = run_tool([sys.executable, "-c", _MEMORY_PROBE, str(tmp_path), compression], env=env)
    report = json.loads(result.stdout)
    assert report["size"] == 50 << 20 and report["blob"] > 25 << 20
    # Holding the layer (or its blob) would cost at least 50 MiB; streaming costs a few blocks.
    assert report["growth_kib"] < 32 * 1024, report


def test_entries_may_be_regions_of_one_source_file(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    contents = [b"first\n", bytes(range(256)) * 5000, b"", b"last"]
    spool.write_bytes(b"".join(contents))
    entries = [Entry.directory("d")]
    offset = 0
    for index, content in enumerate(contents):
        entries.append(
            Entry(
                f"d/f{index}",
                FILE,
                0o644,
                size=len(content),
                source=str(spool),
                source_offset=offset,
            )
        )
        offset += len(content)
    regions = write_layer(entries, tmp_path / "regions.tar", compression="none", mtime=MTIME)
    copies = []
    for index, content in enumerate(contents):
        (tmp_path / f"f{index}").write_bytes(content)
        copies.append(Entry.file(f"d/f{index}", source=tmp_path / f"f{index}"))
    whole = write_layer(
        [Entry.directory("d"), *copies], tmp_path / "whole.tar", compression="none", mtime=MTIME
    )
    assert regions.path.read_bytes() == whole.path.read_bytes()


def test_bad_regions_are_refused(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(b"0123456789")
    with pytest.raises(LayerError, match="source_offset must be a non-negative integer"):
        Entry("f", FILE, 0o644, size=1, source=str(spool), source_offset=-1)
    with pytest.raises(LayerError, match="needs a source"):
        Entry("f", FILE, 0o644, size=1, data=b"x", source_offset=0)
    short = Entry("f", FILE, 0o644, size=5, source=str(spool), source_offset=8)
    with pytest.raises(LayerError, match=r"is 10 bytes, too short for the 5 bytes at 8"):
        write_layer([short], tmp_path / "layer.tar", compression="none", mtime=MTIME)
    assert not (tmp_path / "layer.tar").exists()


def test_region_sources_kept_open_are_bounded(tmp_path: Path) -> None:
    from apkoci.oci.layer import _Sources

    sources = _Sources(limit=2)
    entries = []
    for index in range(5):
        path = tmp_path / f"spool{index}"
        path.write_bytes(b"x" * 10)
        entries.append(Entry(f"f{index}", FILE, 0o644, size=3, source=str(path), source_offset=2))
    try:
        for entry in entries + entries[::-1]:
            descriptor, offset = sources.region(entry)
            assert os.pread(descriptor, 3, offset) == b"xxx"
            assert len(sources._open) <= 2
    finally:
        sources.close()
    assert not sources._open


def test_a_failing_background_call_is_raised_in_the_writing_thread() -> None:
    from apkoci.oci.layer import _Background

    calls: List[int] = []

    def fail(value: int) -> None:
        raise OSError(f"disk full at {value}")

    background = _Background(depth=1)
    background.submit(calls.append, 1)
    background.submit(fail, 2)
    try:
        background.submit(calls.append, 3)  # skipped, as an earlier call failed
    except OSError:
        pass  # (or refused already, when the failure came first)
    with pytest.raises(OSError, match="disk full at 2"):
        background.finish()
    assert calls == [1]
    background.finish(quiet=True)
