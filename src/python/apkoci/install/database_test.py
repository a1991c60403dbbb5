from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import pytest
from apkoci.apk.dependency import parse_dependency
from apkoci.apk.index import Package
from apkoci.install.database import (
    Acl,
    DatabaseFormatError,
    InstalledDirectory,
    InstalledFile,
    InstalledPackage,
    format_installed_db,
    format_scripts_tar,
    format_triggers,
    format_world,
    init_apk_database,
    parse_installed_db,
    q1_checksum,
    write_apk_database,
    xattr_checksum,
)
from apkoci.install.filetree import FileTree
from apkoci.oci.layer import CHAR, DIR, FILE
from apkoci.testing import shared_testdata


def _real_installed_db() -> str:
    return shared_testdata("alpine", "installed-db", "alpine-aarch64-installed").read_text()


def test_real_installed_db_round_trips_byte_for_byte() -> None:
    text = _real_installed_db()
    packages = parse_installed_db(text)
    assert len(packages) == text.count("\nP:") + text.startswith("P:")
    assert format_installed_db(packages) == text


def test_real_installed_db_is_read_into_directories_and_files() -> None:
    packages = {
        installed.package.name: installed for installed in parse_installed_db(_real_installed_db())
    }
    baselayout = packages["alpine-baselayout"]
    assert baselayout.package.version == "3.4.3-r1"
    assert [str(dep) for dep in baselayout.package.replaces] == ["alpine-baselayout"]
    directories = {directory.path: directory for directory in baselayout.directories}
    assert directories["root"].acl == Acl(0o700)
    assert directories["tmp"].acl == Acl(0o1777)
    assert directories["etc/crontabs"].files == (
        InstalledFile("root", Acl(0o600), "Q1vfk1apUWI4yLJGhhNRd0kJixfvY="),
    )
    # var/run is a symlink to /run: mode 0777 and the SHA-1 of its target.
    run = next(file for file in directories["var"].files if file.name == "run")
    assert run.acl == Acl(0o777) and run.checksum == q1_checksum(hashlib.sha1(b"/run").digest())
    assert "etc/motd" in baselayout.paths()
    shadow = next(
        f for f in packages["alpine-baselayout-data"].directories[0].files if f.name == "shadow"
    )
    assert shadow.acl == Acl(0o640, 0, 42)


@pytest.mark.parametrize(
    "body, message",
    [
        ("M:0:0:755\n", "'M:' comes before any 'F:'"),
        ("R:file\n", "'R:' comes before any 'F:'"),
        ("F:etc\nZ:Q1abc\n", "'Z:' comes before any 'R:'"),
        ("F:etc\nM:0:x:755\n", "is not uid:gid:mode"),
        ("F:etc\nR:f\na:0:0\n", "is not uid:gid:mode"),
    ],
)
def test_malformed_file_lists_are_errors_naming_the_line(body: str, message: str) -> None:
    text = "P:pkg\nV:1-r0\n" + body + "\n"
    with pytest.raises(DatabaseFormatError, match=message) as error:
        parse_installed_db(text, "installed")
    assert f"installed, line {2 + body.count(chr(10))}:" in str(error.value)  # the body's last line


def _package(name: str = "pkg", **fields: object) -> Package:
    checksum = "Q1" + "A" * 27 + "="
    package = Package(name=name, version="1.0-r0", checksum=checksum)
    return dataclasses.replace(package, **fields)  # type: ignore[arg-type]


def test_installed_stanza_fields_and_order() -> None:
    package = _package(
        arch="x86_64",
        size=10,
        installed_size=20,
        origin="pkg",
        build_time=5,
        commit="abc",
        depends=(parse_dependency("musl"),),
        replaces=(parse_dependency("old"),),
        replaces_priority=3,
    )
    root_file = InstalledFile("top", Acl(0o644), "Q1x")
    installed = InstalledPackage(
        package,
        (
            InstalledDirectory("", files=(root_file,)),
            InstalledDirectory(
                "usr/bin",
                Acl(0o755, 0, 0, "Q1xattrs"),
                (InstalledFile("su", Acl(0o4755)), InstalledFile("ok", checksum="Q1z")),
            ),
        ),
        repository_tag="edge",
        broken="f",
    )
    assert format_installed_db([installed]) == (
        f"C:{package.checksum}\nP:pkg\nV:1.0-r0\nA:x86_64\nS:10\nI:20\nT:\nU:\nL:\n"
        "o:pkg\nt:5\nc:abc\n"
        "D:musl\nr:old\nq:3\ns:edge\nf:f\n"
        "F:\nR:top\nZ:Q1x\n"
        "F:usr/bin\nM:0:0:755:Q1xattrs\nR:su\na:0:0:4755\nR:ok\nZ:Q1z\n\n"
    )
    assert parse_installed_db(format_installed_db([installed])) == [installed]


def test_xattr_checksum_is_sha1_of_sorted_length_prefixed_pairs() -> None:
    assert xattr_checksum([]) == ""
    pairs = [("user.b", b"2"), ("security.capability", b"\x01\x00")]
    expected = hashlib.sha1()
    for name, value in sorted(pairs):
        expected.update(
            struct.pack(">I", len(name)) + name.encode() + struct.pack(">I", len(value)) + value
        )
    assert (
        xattr_checksum(pairs) == xattr_checksum(reversed(pairs)) == q1_checksum(expected.digest())
    )


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = archive.extractfile(member)
    assert file is not None
    return file.read()


def test_scripts_tar_is_written_like_apk_tar_write_entry() -> None:
    long_name = "a" * 80
    installed = [
        InstalledPackage(
            _package(),
            scripts=(("post-install", b"#!/bin/sh\necho hi\n"), ("pre-install", b"#!/bin/sh\n")),
        ),
        InstalledPackage(_package("none")),
        InstalledPackage(_package(long_name), scripts=(("trigger", b"x"),)),
    ]
    data = format_scripts_tar(installed)
    checksum = installed[0].package.checksum
    # apk's script order: pre-install before post-install, whatever the control tar's order.
    first = data[:512]
    assert first[:100].rstrip(b"\0") == f"pkg-1.0-r0.{checksum}.pre-install".encode()
    assert first[100:108] == b"0000755\0" and first[108:116] == b"0000000\0"
    assert first[124:136] == b"%012o" % len(b"#!/bin/sh\n") and first[136:148] == b"0" * 12
    assert first[156:157] == b"0" and first[257:265] == b"ustar  \0"
    assert first[265:297].rstrip(b"\0") == b"root" and first[297:329].rstrip(b"\0") == b"root"
    stored = int(first[148:154], 8)
    assert first[154:156] == b"\0 " and stored == sum(first[:148]) + 8 * 32 + sum(first[156:])
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        contents = {member.name: _read(archive, member) for member in archive}
    assert contents == {
        f"pkg-1.0-r0.{checksum}.pre-install": b"#!/bin/sh\n",
        f"pkg-1.0-r0.{checksum}.post-install": b"#!/bin/sh\necho hi\n",
        f"{long_name}-1.0-r0.{checksum}.trigger": b"x",  # over 99 bytes: a GNU long name entry
    }
    assert data.endswith(b"\0" * 1024) and len(data) % 512 == 0
    assert format_scripts_tar([]) == b"\0" * 1024


def test_triggers_world_and_repositories_text() -> None:
    installed = [
        InstalledPackage(_package("a"), triggers=("/usr/share/fonts/*", "/etc/x")),
        InstalledPackage(_package("b")),
    ]
    assert (
        format_triggers(installed) == f"{installed[0].package.checksum} /usr/share/fonts/* /etc/x\n"
    )
    assert format_world(["busybox", parse_dependency("foo@edge>=1")]) == "busybox\nfoo@edge>=1\n"
    assert format_world([]) == "\n"


def test_init_and_write_database_files(tmp_path: Path) -> None:
    with FileTree(tmp_path) as tree:
        init_apk_database(
            tree,
            arch="aarch64",
            keys={"me.rsa.pub": b"-----BEGIN PUBLIC KEY-----\n"},
            repositories=[
                "https://dl-cdn.alpinelinux.org/alpine/v3.18/main",
                "@edge https://x/edge",
            ],
        )
        assert tree.node("tmp").mode == 0o1777 and tree.node("proc").mode == 0o555
        assert tree.read_bytes("etc/apk/arch") == b"aarch64\n"
        assert tree.read_bytes("etc/apk/keys/me.rsa.pub").startswith(b"-----BEGIN")
        assert tree.read_bytes("etc/apk/repositories") == (
            b"https://dl-cdn.alpinelinux.org/alpine/v3.18/main\n@edge https://x/edge\n"
        )
        assert not tree.exists("dev/null") and not tree.exists("lib/apk/db/lock")
        installed = [InstalledPackage(_package(), scripts=(("post-install", b"#!/bin/sh\n"),))]
        write_apk_database(tree, installed, world=["pkg"])
        assert tree.read_bytes("etc/apk/world") == b"pkg\n"
        assert tree.read_bytes("lib/apk/db/installed").decode() == format_installed_db(installed)
        assert tree.read_bytes("lib/apk/db/scripts.tar") == format_scripts_tar(installed)
        assert tree.read_bytes("lib/apk/db/triggers") == b""
        for path in ("lib/apk/db/installed", "lib/apk/db/scripts.tar", "etc/apk/world"):
            node = tree.node(path)
            assert (node.kind, node.mode, node.uid, node.gid) == (FILE, 0o644, 0, 0)
        assert all(
            tree.node(p).kind == DIR for p in ("var/cache/apk", "var/cache/misc", "lib/apk/db")
        )
    with FileTree(tmp_path) as tree:
        init_apk_database(tree, arch="x86_64", device_nodes=True)
        console = tree.node("dev/console")
        assert (console.kind, console.devmajor, console.devminor, console.mode) == (
            CHAR,
            5,
            1,
            0o600,
        )
        with pytest.raises(DatabaseFormatError, match="plain file name"):
            init_apk_database(tree, arch="x86_64", keys={"../evil": b""})
        with pytest.raises(DatabaseFormatError, match="single word"):
            init_apk_database(tree, arch="x86 64\n")
