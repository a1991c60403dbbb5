"""Helpers for this package's tests: the real container tools, a sample tree, and a tree check.

The tests prove the artifacts with the tools people use on them (GNU tar, umoci, skopeo,
oci-image-tool, podman). Install them with::

    apt-get update && apt-get install -y umoci skopeo oci-image-tool podman runc

:func:`require_tool` skips a test whose tool is missing, or fails it under ``CI=true``: a skipped
proof is a failed promise there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence

from apkoci.oci.layer import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Entry

TOOL_PACKAGES = "umoci skopeo oci-image-tool podman runc"

_KIND_OF_MODE = {
    stat.S_IFREG: FILE,
    stat.S_IFDIR: DIR,
    stat.S_IFLNK: SYMLINK,
    stat.S_IFCHR: CHAR,
    stat.S_IFBLK: BLOCK,
    stat.S_IFIFO: FIFO,
}


def require_tool(name: str) -> str:
    """The path of command-line tool ``name``; skips the test where it is missing (fails in CI)."""
    import pytest

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: apt-get install -y {TOOL_PACKAGES}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_tool(args: Sequence[str], **kwargs: Any) -> "subprocess.CompletedProcess[str]":
    """Run a tool and return its result; a non-zero exit fails with the tool's own output."""
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def is_root() -> bool:
    return os.geteuid() == 0


def sample_tree(directory: Path) -> List[Entry]:
    """A small tree with every common kind of member; file contents are written under ``directory``.

    It has setuid and sticky bits, non-root owners, a hard link that sorts before its target, a
    symlink, a long path that needs the ustar prefix, a non-ASCII name and an extended attribute.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / "tool"
    tool.write_bytes(b"#!/bin/sh\necho tool\n" + bytes(range(256)) * 64)
    data = directory / "data.bin"
    data.write_bytes(hashlib.sha256(b"apkoci").digest() * 4096)
    long_dir = "usr/share/" + "d" * 120
    return [
        Entry.directory("bin-alias-parent"),
        Entry.hardlink("bin-alias-parent/tool", "usr/bin/tool"),
        Entry.symlink("bin", "usr/bin"),
        Entry.directory("etc"),
        Entry.file("etc/motd", data="welcome to apkoci, café\n".encode()),
        Entry.directory("home"),
        Entry.directory("home/user", mode=0o700, uid=1000, gid=1000),
        Entry.file("home/user/notes.txt", data=b"private\n", mode=0o600, uid=1000, gid=1000),
        Entry.directory("tmp", mode=0o1777),
        Entry.directory("usr"),
        Entry.directory("usr/bin"),
        Entry.file("usr/bin/tool", source=tool, mode=0o4755),
        Entry.directory("usr/share"),
        Entry.directory(long_dir),
        Entry.file(long_dir + "/readme", data=b"a path longer than 100 bytes\n", gid=50),
        Entry.directory("var"),
        Entry.directory("var/lib"),
        Entry.file(
            "var/lib/data.bin",
            source=data,
            mode=0o640,
            uid=0,
            gid=42,
            xattrs={"user.origin": b"apkoci"},
        ),
        Entry.file("var/lib/empty", mode=0o600),
        Entry.file("var/lib/ünïcode", data=b"name is not ascii\n"),
    ]


def entry_bytes(entry: Entry) -> bytes:
    """The bytes a file entry holds, read from its source or data."""
    if entry.data is not None:
        return entry.data
    if entry.source is not None:
        return Path(entry.source).read_bytes()
    return b""


def assert_tree_matches(
    root: Path, entries: Sequence[Entry], *, owners: bool = True, xattrs: bool = True
) -> None:
    """Check that the extracted tree under ``root`` holds every entry as described.

    Kind, permission bits (setuid/sticky included), owners, file bytes, symlink targets, hard links
    (same inode as their target) and extended attributes. ``owners``/``xattrs`` False skip those
    checks where the extractor cannot apply them (not root, a filesystem without user xattrs).
    """
    by_path: Dict[str, Entry] = {entry.path: entry for entry in entries}
    for entry in entries:
        where = root / entry.path
        info = os.lstat(where)
        if entry.kind == HARDLINK:
            target = os.lstat(root / entry.linkname)
            assert (info.st_dev, info.st_ino) == (
                target.st_dev,
                target.st_ino,
            ), f"{entry.path} is not linked"
            entry = by_path[entry.linkname]
            if entry.kind == HARDLINK:
                continue
        kind = _KIND_OF_MODE.get(stat.S_IFMT(info.st_mode))
        assert kind == entry.kind, f"{entry.path}: found a {kind}, expected a {entry.kind}"
        if entry.kind == SYMLINK:
            assert os.readlink(where) == entry.linkname, f"{entry.path}: wrong symlink target"
            continue
        assert (
            stat.S_IMODE(info.st_mode) == entry.mode
        ), f"{entry.path}: mode {oct(stat.S_IMODE(info.st_mode))}, expected {oct(entry.mode)}"
        if owners:
            assert (info.st_uid, info.st_gid) == (
                entry.uid,
                entry.gid,
            ), f"{entry.path}: wrong owners"
        if entry.kind == FILE:
            assert where.read_bytes() == entry_bytes(entry), f"{entry.path}: wrong content"
        if xattrs:
            for name, value in entry.xattrs:
                assert (
                    os.getxattr(where, name, follow_symlinks=False) == value
                ), f"{entry.path}: xattr {name}"


def arch_tree(directory: Path, arch: str) -> List[Entry]:
    """The sample tree plus an ``etc/apk/arch`` file naming ``arch``, so platforms differ."""
    return sample_tree(directory) + [
        Entry.directory("etc/apk"),
        Entry.file("etc/apk/arch", data=arch.encode() + b"\n"),
    ]


def build_sample_artifacts(out: Path, *, mtime: int = 1700000000) -> List[Path]:
    """Build every kind of artifact from the sample tree under ``out``; return the files written.

    Two platforms (gzip for x86_64, zstd for aarch64) under an index in a layout, and a docker
    archive of the x86_64 image. Used to prove builds are byte-identical across environments.
    """
    from apkoci.oci.dockerarchive import write_docker_archive
    from apkoci.oci.image import ContainerConfig, build_image, build_index, platform_for_arch
    from apkoci.oci.layer import write_layer
    from apkoci.oci.layout import write_layout

    out.mkdir(parents=True, exist_ok=True)
    config = ContainerConfig(
        entrypoint=("/usr/bin/tool",), env=(("PATH", "/usr/bin"),), user="1000"
    )
    images = []
    for arch, compression in (("x86_64", "gzip"), ("aarch64", "zstd")):
        layer = write_layer(
            arch_tree(out / "src" / arch, arch),
            out / f"{arch}.layer",
            compression=compression,
            mtime=mtime,
        )
        images.append(build_image([layer], platform_for_arch(arch), created=mtime, config=config))
    write_docker_archive(
        out / "image.tar", images[0], tags=["example.com/sample:latest"], mtime=mtime
    )
    index = build_index([image.descriptor() for image in images])
    layout = write_layout(out / "layout", images, index=index, tags=["latest"], platform_tags=True)
    return sorted([out / "image.tar", *(path for path in layout.rglob("*") if path.is_file())])


def podman_command(root: Path) -> List[str]:
    """podman on a throw-away storage root under ``root``, with the flags that work as root
    without systemd (vfs storage, cgroupfs, runc, file events)."""
    return [
        require_tool("podman"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--runtime",
        require_tool("runc"),
        "--events-backend",
        "file",
        "--root",
        str(root / "storage"),
        "--runroot",
        str(root / "run"),
    ]
