from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from apkoci.install.filetree import FileTree, FileTreeError, normalize_path
from apkoci.oci.layer import CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, write_layer


@pytest.fixture
def tree(tmp_path: Path):
    with FileTree(tmp_path) as tree:
        yield tree


def test_normalize_path() -> None:
    assert normalize_path("/usr//bin/./sh/") == "usr/bin/sh"
    assert normalize_path("/") == ""
    with pytest.raises(FileTreeError, match=r"'\.\.' is not allowed"):
        normalize_path("usr/../etc")
    with pytest.raises(FileTreeError, match="NUL"):
        normalize_path("a\0b")


def test_files_are_staged_on_disk_with_metadata_as_given(tree: FileTree) -> None:
    tree.mkdir("usr/bin")
    node = tree.write_file("usr/bin/su", b"#!/bin/sh\n", mode=0o4755, uid=0, gid=42, owner="shadow")
    assert (node.kind, node.mode, node.uid, node.gid, node.owner) == (FILE, 0o4755, 0, 42, "shadow")
    assert node.sha1 == hashlib.sha1(b"#!/bin/sh\n").hexdigest() and node.size == 10
    assert tree.read_bytes("/usr/bin/su") == b"#!/bin/sh\n"
    staged = list(tree.staging_dir.iterdir())
    assert [path.read_bytes() for path in staged] == [b"#!/bin/sh\n"]
    # Replacing a file drops its old content from the staging directory.
    tree.write_file("usr/bin/su", b"new")
    assert [path.read_bytes() for path in tree.staging_dir.iterdir()] == [b"new"]


def test_mkdir_makes_parents_and_keeps_existing_directories(tree: FileTree) -> None:
    tree.mkdir("var/lib/app", mode=0o700, uid=1000, gid=1000)
    assert tree.node("var").mode == 0o755 and tree.node("var/lib").uid == 0
    assert (tree.node("var/lib/app").mode, tree.node("var/lib/app").uid) == (0o700, 1000)
    tree.mkdir("var/lib/app", mode=0o755)  # mkdir -p leaves an existing directory alone
    assert tree.node("var/lib/app").mode == 0o700
    with pytest.raises(FileTreeError, match="exists already"):
        tree.mkdir("var/lib/app", exist_ok=False)
    with pytest.raises(FileTreeError, match="does not exist"):
        tree.mkdir("opt/a/b", parents=False)
    tree.write_file("var/file", b"")
    with pytest.raises(FileTreeError, match="a file is there"):
        tree.mkdir("var/file")


def test_parent_symlinks_are_followed_and_the_last_one_is_replaced(tree: FileTree) -> None:
    tree.mkdir("usr/lib")
    tree.symlink("lib", "usr/lib")
    tree.mkdir("var")
    tree.symlink("var/run", "/run")
    tree.mkdir("run")
    tree.write_file("lib/libc.so", b"elf")  # goes through the relative symlink
    tree.write_file("var/run/pid", b"1")  # and through the absolute one
    assert tree.node("usr/lib/libc.so").kind == FILE and "lib/libc.so" not in tree.paths()
    assert tree.read_bytes("run/pid") == b"1"
    assert tree.resolve("var/run/pid") == "run/pid"
    assert tree.node("lib", follow_symlinks=False).kind == SYMLINK and tree.node("lib").kind == DIR
    # Writing at a symlink's own path replaces the symlink.
    tree.write_file("lib", b"not a link any more")
    assert tree.node("lib", follow_symlinks=False).kind == FILE


def test_symlink_loops_and_files_used_as_directories_are_errors(tree: FileTree) -> None:
    tree.symlink("a", "b")
    tree.symlink("b", "a")
    with pytest.raises(FileTreeError, match="too many levels of symlinks"):
        tree.write_file("a/x", b"")
    assert not tree.exists("a")
    tree.write_file("f", b"")
    with pytest.raises(FileTreeError, match="f is a file, not a directory"):
        tree.write_file("f/x", b"")
    with pytest.raises(FileTreeError, match="its directory nope does not exist"):
        tree.write_file("nope/x", b"")


def test_a_directory_is_not_replaced_by_a_file(tree: FileTree) -> None:
    tree.mkdir("etc")
    for make in (lambda: tree.write_file("etc", b""), lambda: tree.symlink("etc", "x")):
        with pytest.raises(FileTreeError, match="a directory is there"):
            make()


def test_hard_links_share_content_and_metadata(tree: FileTree) -> None:
    tree.mkdir("bin")
    tree.write_file("bin/b", b"busybox", mode=0o755)
    tree.hardlink("bin/a", "bin/b")
    tree.chmod("bin/a", 0o4755)
    assert tree.node("bin/b").mode == 0o4755 and tree.node("bin/b").links == 2
    entries = {entry.path: entry for entry in tree.entries()}
    # The first path in layer order carries the data, the other links to it.
    assert entries["bin/a"].kind == FILE and entries["bin/a"].size == 7
    assert (entries["bin/b"].kind, entries["bin/b"].linkname, entries["bin/b"].mode) == (
        HARDLINK,
        "bin/a",
        0o4755,
    )
    tree.remove("bin/a")
    assert tree.read_bytes("bin/b") == b"busybox" and tree.node("bin/b").links == 1
    with pytest.raises(FileTreeError, match="not a regular file"):
        tree.hardlink("bin/c", "bin")


def test_chmod_and_chown_recursive(tree: FileTree) -> None:
    tree.mkdir("srv/data/sub")
    tree.write_file("srv/data/sub/f", b"x")
    tree.symlink("srv/data/link", "/etc/passwd")
    tree.chown("srv/data", 1000, 1001, recursive=True)
    tree.chmod("srv/data", 0o750, recursive=True)
    for path in ("srv/data", "srv/data/sub", "srv/data/sub/f"):
        node = tree.node(path, follow_symlinks=False)
        assert (node.uid, node.gid, node.mode) == (1000, 1001, 0o750), path
    link = tree.node("srv/data/link", follow_symlinks=False)
    assert (link.uid, link.mode) == (
        1000,
        0o777,
    )  # chown -R changes links, chmod has none to change
    assert tree.node("srv").uid == 0
    tree.chown("srv", gid=5)
    assert (tree.node("srv").uid, tree.node("srv").gid) == (0, 5)
    with pytest.raises(FileTreeError, match="does not exist"):
        tree.chmod("missing", 0o644)
    with pytest.raises(FileTreeError, match="0o7777"):
        tree.chmod("srv", 0o10000)


def test_remove(tree: FileTree) -> None:
    tree.mkdir("a/b")
    tree.write_file("a/b/c", b"c")
    with pytest.raises(FileTreeError, match="not empty"):
        tree.remove("a")
    tree.remove("a", recursive=True)
    assert len(tree) == 0 and list(tree.staging_dir.iterdir()) == []


def test_entries_are_in_layer_order_and_write_a_layer(tree: FileTree, tmp_path: Path) -> None:
    tree.mkdir("usr/bin")
    tree.mkdir("usr-local")
    tree.write_file(
        "usr/bin/tool", b"tool", mode=0o755, xattrs={"security.capability": b"\x01\x02"}
    )
    tree.symlink("usr/bin/alias", "tool", uid=3)
    tree.mknod("dev-null", CHAR, major=1, minor=3, mode=0o666)
    tree.mknod("pipe", FIFO)
    tree.hardlink("usr/bin/tool2", "usr/bin/tool")
    paths = [entry.path for entry in tree.entries()]
    # Component-wise order: usr's subtree comes before usr-local, although "usr-" < "usr/" as text.
    assert paths == [
        "dev-null",
        "pipe",
        "usr",
        "usr/bin",
        "usr/bin/alias",
        "usr/bin/tool",
        "usr/bin/tool2",
        "usr-local",
    ]
    layer = write_layer(tree.entries(), tmp_path / "layer.tar", compression="none", mtime=0)
    with tarfile.open(layer.path) as archive:
        members = {member.name.rstrip("/"): member for member in archive.getmembers()}
        tool = archive.extractfile(members["usr/bin/tool"])
        assert tool is not None and tool.read() == b"tool"
        assert members["usr/bin/tool"].pax_headers["SCHILY.xattr.security.capability"] == "\x01\x02"
        assert members["usr/bin/tool2"].islnk() and members["usr/bin/alias"].linkname == "tool"
        assert members["dev-null"].ischr() and (
            members["dev-null"].devmajor,
            members["dev-null"].devminor,
        ) == (1, 3)


def test_open_streams_content(tree: FileTree) -> None:
    data = bytes(range(256)) * 10000
    tree.write_stream("blob", io.BytesIO(data))
    with tree.open("blob") as file:
        assert file.read() == data
    with pytest.raises(FileTreeError, match="not a regular file"):
        tree.mkdir("d")
        tree.read_bytes("d")


def test_close_removes_the_staging_directory(tmp_path: Path) -> None:
    tree = FileTree(tmp_path)
    tree.write_file("f", b"x")
    staging = tree.staging_dir
    assert staging.parent == tmp_path and staging.exists()
    tree.close()
    assert not staging.exists() and len(tree) == 0


def test_spooled_files_are_regions_of_one_staging_file(tree: FileTree, tmp_path: Path) -> None:
    spool = tree.new_spool()
    first, second = b"#!/bin/sh\n", bytes(range(256)) * 4000
    spool.write(b"header" + first)
    spool.write(second)
    tree.mkdir("usr/bin")
    sha1 = hashlib.sha1(first).hexdigest()
    node = tree.write_spooled("usr/bin/a", spool, 6, len(first), sha1, mode=0o755, gid=7)
    assert (node.kind, node.size, node.sha1, node.mode, node.gid) == (FILE, 10, sha1, 0o755, 7)
    big_sha1 = hashlib.sha1(second).hexdigest()
    tree.write_spooled("usr/bin/b", spool, 6 + len(first), len(second), big_sha1)
    assert tree.read_bytes("usr/bin/a") == first  # (the spool is flushed for reading)
    with tree.open("usr/bin/b") as file:
        assert file.read(5) == second[:5] and file.read() == second[5:]
    # Staged in the spool only: no file per content.
    assert [path.name for path in tree.staging_dir.iterdir()] == [Path(spool.path).name]
    tree.hardlink("usr/bin/c", "usr/bin/a")
    tree.remove("usr/bin/a")  # a spool keeps what it holds
    assert tree.read_bytes("usr/bin/c") == first and os.path.getsize(spool.path) == spool.size
    entries = {entry.path: entry for entry in tree.entries()}
    assert (entries["usr/bin/b"].source, entries["usr/bin/b"].source_offset) == (spool.path, 16)
    layer = write_layer(tree.entries(), tmp_path / "layer.tar", compression="none", mtime=0)
    with tarfile.open(layer.path) as archive:
        assert archive.extractfile("usr/bin/b").read() == second  # type: ignore[union-attr]
        assert archive.extractfile("usr/bin/c").read() == first  # type: ignore[union-attr]


def test_spooled_files_must_be_written_to_the_spool_first(tree: FileTree) -> None:
    spool = tree.new_spool()
    spool.write(b"abc")
    sha1 = hashlib.sha1(b"abc").hexdigest()
    with pytest.raises(FileTreeError, match="bytes 1 to 4 are not in"):
        tree.write_spooled("f", spool, 1, 3, sha1)
    with pytest.raises(FileTreeError, match="is not a hex SHA-1"):
        tree.write_spooled("f", spool, 0, 3, sha1.upper())
    with FileTree(tree.staging_dir) as other:
        with pytest.raises(FileTreeError, match="is not one of this tree's"):
            other.write_spooled("f", spool, 0, 3, sha1)
    # Another process may write the spool (after this writer is done): it says how far.
    spool.flush()
    with open(spool.path, "ab") as elsewhere:
        elsewhere.write(b"def")
    spool.mark_written(6)
    node = tree.write_spooled("f", spool, 3, 3, hashlib.sha1(b"def").hexdigest())
    assert tree.read_bytes("f") == b"def" and node.size == 3
    with pytest.raises(FileTreeError, match="does not shrink"):
        spool.mark_written(2)


def test_lstat_resolved_follows_parents_not_the_last_symlink(tree: FileTree) -> None:
    tree.mkdir("usr/lib")
    tree.symlink("lib", "usr/lib")
    tree.symlink("usr/lib/libc.so", "libc.so.6")
    assert tree.lstat_resolved("lib/x") == ("usr/lib/x", None)
    path, node = tree.lstat_resolved("lib/libc.so")
    assert path == "usr/lib/libc.so" and node is not None and node.kind == SYMLINK
    # A directory replaced by a symlink is seen as one (what the resolution remembers is dropped).
    tree.mkdir("opt/a")
    assert tree.lstat_resolved("opt/a/f") == ("opt/a/f", None)
    tree.remove("opt", recursive=True)
    tree.mkdir("srv")
    tree.symlink("opt", "srv")
    assert tree.lstat_resolved("opt/a/f") == ("srv/a/f", None)
