"""Tests of the APK writer: what it writes is read back by our reader, by GNU tar and by Python's
tarfile, is laid out like real abuild and melange packages, and is the same bytes every time."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import socket
import stat
import subprocess
import sys
import tarfile
import tracemalloc
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from apkoci.apk.apkfile import PAX_CHECKSUM_SHA1, PkgInfo, control_checksum, read_apk
from apkoci.apk.repository import read_index_archive
from apkoci.apk.signature import Keyring, KeyringError, SignatureError
from apkoci.apk.writer import (
    Owner,
    PackageSpec,
    PackageWriterError,
    SigningKeyPair,
    build_index,
    build_package,
    generate_signing_key,
)
from apkoci.testing import shared_testdata

KEY_NAME = "test.rsa.pub"
EPOCH = 1700000000
SRC_PYTHON = Path(__file__).resolve().parents[2]  # src/python, for builds in a subprocess


# --- Reading the raw bytes back, independently of the writer and the reader -----------------------


@dataclass
class TarEntry:
    typeflag: bytes
    name: str  # after a PAX path record, like tar
    linkname: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    magic: bytes
    content: bytes
    pax: Dict[str, str] = field(default_factory=dict)


@dataclass
class TarLayout:
    entries: List[TarEntry]
    end: int  # offset just past the last entry
    zero_blocks: int  # 512-byte zero blocks after it
    length: int
    pax_magics: List[bytes]


def parse_tar(data: bytes) -> TarLayout:
    """Walk the 512-byte blocks of a tar stream (a cut one too) the way apk-tools does."""
    entries: List[TarEntry] = []
    pax: Dict[str, str] = {}
    pax_magics: List[bytes] = []
    offset = 0
    while offset + 512 <= len(data) and data[offset : offset + 512] != b"\0" * 512:
        block = data[offset : offset + 512]
        checksum = int(block[148:156].strip(b"\0 "), 8)
        assert checksum == sum(block[:148]) + 32 * 8 + sum(block[156:]), f"bad checksum at {offset}"
        size = int(block[124:136].strip(b"\0 ") or b"0", 8)
        content = data[offset + 512 : offset + 512 + size]
        typeflag = block[156:157]
        offset += 512 + -(-size // 512) * 512
        if typeflag == b"x":
            pax_magics.append(block[257:265])
            pax = parse_pax(content)
            continue
        text = lambda raw: raw.split(b"\0", 1)[0].decode()  # noqa: E731
        entries.append(
            TarEntry(
                typeflag=typeflag,
                name=pax.get("path", text(block[0:100])),
                linkname=pax.get("linkpath", text(block[157:257])),
                mode=int(block[100:108].strip(b"\0 "), 8),
                uid=int(block[108:116].strip(b"\0 "), 8),
                gid=int(block[116:124].strip(b"\0 "), 8),
                uname=text(block[265:297]),
                gname=text(block[297:329]),
                magic=block[257:265],
                content=content,
                pax=pax,
            )
        )
        pax = {}
    end = offset
    zeros = 0
    while offset + 512 <= len(data) and data[offset : offset + 512] == b"\0" * 512:
        zeros += 1
        offset += 512
    assert offset == len(data), "non-zero bytes after the end of the archive"
    return TarLayout(entries, end, zeros, len(data), pax_magics)


def parse_pax(content: bytes) -> Dict[str, str]:
    records: Dict[str, str] = {}
    while content:
        length = int(content.split(b" ", 1)[0])
        record, content = content[:length], content[length:]
        assert record.endswith(b"\n")
        key, _, value = record[:-1].split(b" ", 1)[1].partition(b"=")
        records[key.decode()] = value.decode()
    return records


@dataclass
class GzipMember:
    raw: bytes
    content: bytes


def gzip_members(data: bytes) -> List[GzipMember]:
    members = []
    while data:
        decompressor = zlib.decompressobj(31)
        content = decompressor.decompress(data)
        used = len(data) - len(decompressor.unused_data)
        members.append(GzipMember(data[:used], content))
        data = data[used:]
    return members


POSIX_MAGIC = b"ustar\x0000"


def check_apk_layout(path: Path) -> Dict[str, object]:
    """Assert the structure apk-tools expects of a package, and describe it (for comparing ours
    with a real one)."""
    members = gzip_members(path.read_bytes())
    assert len(members) in (2, 3)
    assert all(member.raw[:3] == b"\x1f\x8b\x08" for member in members)
    layouts = [parse_tar(member.content) for member in members]
    *head, control, data = layouts
    description: Dict[str, object] = {"members": len(members)}
    if head:
        (signature,) = head
        assert [entry.name[:10] for entry in signature.entries] in ([".SIGN.RSA."], [".SIGN.RSA2"])
        assert all(
            entry.typeflag == b"0" and entry.magic.startswith(b"ustar")
            for entry in signature.entries
        )
        description["signature"] = _ending(signature)
    names = [entry.name for entry in control.entries]
    assert names[0] == ".PKGINFO"
    assert all(name.startswith(".") and "/" not in name for name in names)
    description["control"] = (_ending(control), {entry.magic for entry in control.entries})
    description["data"] = (
        _ending(data),
        {entry.magic for entry in data.entries} | set(data.pax_magics),
    )
    # Every regular file carries the SHA-1 of its content, every symlink that of its target.
    for entry in data.entries:
        expected = {b"0": entry.content, b"2": entry.linkname.encode()}.get(entry.typeflag)
        if expected is not None:
            assert entry.pax[PAX_CHECKSUM_SHA1] == hashlib.sha1(expected).hexdigest(), entry.name
    pkginfo = PkgInfo.parse(control.entries[0].content.decode())
    assert pkginfo.datahash == hashlib.sha256(members[-1].raw).hexdigest()
    return description


def _ending(layout: TarLayout) -> str:
    """How a tar ends: "cut" when its entries fill the member exactly (no end-of-archive blocks),
    "ended" when the two zero blocks (or more, up to a record) follow the last entry."""
    if layout.zero_blocks == 0 and layout.end == layout.length:
        return "cut"
    assert layout.zero_blocks >= 2, "a single zero block ends no tar"
    return "ended"


# --- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKeyPair:
    return generate_signing_key()


@pytest.fixture(scope="module")
def other_key() -> SigningKeyPair:
    return generate_signing_key()


def keyring(pair: SigningKeyPair) -> Keyring:
    return Keyring.from_files({KEY_NAME: pair.public_pem})


BIG = random.Random(7).randbytes(300_000)  # crosses the writer's 64 KiB chunks
LONG_NAME = (
    "a-file-name-long-enough-that-its-path-does-not-fit-the-hundred-bytes-of-a-ustar-name-field.txt"
)


def make(path: Path, mode: int, content: Optional[bytes] = None) -> None:
    """A file (or, without content, a directory) with exactly ``mode``, whatever the umask."""
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    os.chmod(path, mode)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for directory in (
        "bin",
        "etc",
        "home",
        "usr",
        "usr/bin",
        "usr/share",
        "usr/share/doc",
        "var",
        "run",
    ):
        make(root / directory, 0o755)
    make(root / "var/empty", 0o555)
    make(root / "home/user", 0o700)
    make(root / "home/user/.profile", 0o644, b"export PS1='$ '\n")
    make(root / "etc/motd", 0o644, b"Welcome!\n")
    make(root / "etc/shadow", 0o640, b"root:*:0::::::\n")
    make(root / "usr/bin/hello", 0o755, b"#!/bin/sh\necho hello\n")
    os.link(root / "usr/bin/hello", root / "usr/bin/hello-again")
    make(root / "usr/bin/su", 0o4755, b"\x7fELF pretend setuid binary")
    make(root / "usr/share/big.bin", 0o644, BIG)
    make(root / "usr/share/empty", 0o600, b"")
    make(root / "usr/share/doc" / LONG_NAME, 0o644, b"long\n")
    os.symlink("../usr/bin/hello", root / "bin/sh")
    os.mkfifo(root / "run/initctl", 0o600)
    os.chmod(root / "run/initctl", 0o600)
    return root


OWNERS = {
    "home/user": Owner(1000, 1000, "user", "user"),
    "/home/user/.profile": Owner(1000, 1000),  # no names: apk keeps the numeric ids
    "etc/shadow": Owner(0, 42, group="shadow"),
}

# Depth first, names sorted as bytes ("." < "h"...), parents before their children.
EXPECTED_NAMES = [
    "bin",
    "bin/sh",
    "etc",
    "etc/motd",
    "etc/shadow",
    "home",
    "home/user",
    "home/user/.profile",
    "run",
    "run/initctl",
    "usr",
    "usr/bin",
    "usr/bin/hello",
    "usr/bin/hello-again",
    "usr/bin/su",
    "usr/share",
    "usr/share/big.bin",
    "usr/share/doc",
    f"usr/share/doc/{LONG_NAME}",
    "usr/share/empty",
    "var",
    "var/empty",
]


@pytest.fixture
def scripts(tmp_path: Path) -> Dict[str, Path]:
    paths = {}
    for name in ("pre-install", "post-install", "trigger"):
        paths[name] = tmp_path / f"{name}.sh"
        make(paths[name], 0o644, f"#!/bin/sh\necho {name}\n".encode())  # 0755 in the package anyway
    return paths


def spec(scripts: Dict[str, Path], **changes: object) -> PackageSpec:
    fields: Dict[str, object] = dict(
        name="hello",
        version="2.12.1-r3",
        arch="x86_64",
        description="The GNU Hello program, = signs and all",
        url="https://www.gnu.org/software/hello/",
        license="GPL-3.0-or-later",
        origin="hello-src",
        maintainer="Jane Doe <jane@example.org>",
        packager="Builder <builder@example.org>",
        commit="0123456789abcdef0123456789abcdef01234567",
        depends=["so:libc.musl-x86_64.so.1", "busybox>=1.36", "!hello-legacy"],
        provides=["cmd:hello=2.12.1-r3"],
        install_if=["hello-base", "docs"],
        replaces=["hello-legacy"],
        provider_priority=10,
        replaces_priority=5,
        scripts=scripts,
        triggers=("/usr/share/fonts/*", "/usr/lib/hello"),
    )
    fields.update(changes)
    return PackageSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture
def built(tmp_path: Path, tree: Path, scripts: Dict[str, Path], key: SigningKeyPair) -> Path:
    out = tmp_path / "hello-2.12.1-r3.apk"
    build_package(
        tree,
        spec(scripts),
        out,
        signing_key=key.private_pem,
        key_name=KEY_NAME,
        source_date_epoch=EPOCH,
        owners=OWNERS,
    )
    return out


# --- Packages -------------------------------------------------------------------------------------


def test_package_reads_back_with_every_field(
    tmp_path: Path, tree: Path, scripts: Dict[str, Path], key: SigningKeyPair
) -> None:
    out = tmp_path / "hello.apk"
    returned = build_package(
        tree,
        spec(scripts),
        out,
        signing_key=key.private_pem,
        key_name=KEY_NAME,
        source_date_epoch=EPOCH,
        owners=OWNERS,
    )
    apk = read_apk(out)
    assert returned == apk.package
    package = apk.package
    assert (package.name, package.version, package.arch) == ("hello", "2.12.1-r3", "x86_64")
    assert package.description == "The GNU Hello program, = signs and all"
    assert package.url == "https://www.gnu.org/software/hello/"
    assert package.license == "GPL-3.0-or-later"
    assert package.origin == "hello-src"
    assert package.maintainer == "Jane Doe <jane@example.org>"
    assert package.commit == "0123456789abcdef0123456789abcdef01234567"
    assert package.build_time == EPOCH
    assert [str(dep) for dep in package.depends] == [
        "so:libc.musl-x86_64.so.1",
        "busybox>=1.36",
        "!hello-legacy",
    ]
    assert [str(dep) for dep in package.provides] == ["cmd:hello=2.12.1-r3"]
    assert [str(dep) for dep in package.install_if] == ["hello-base", "docs"]
    assert [str(dep) for dep in package.replaces] == ["hello-legacy"]
    assert (package.provider_priority, package.replaces_priority) == (10, 5)
    # Regular file content, the hard-linked file counted once.
    inodes = {
        (status.st_ino, status.st_size)
        for path in tree.rglob("*")
        for status in [os.lstat(path)]
        if stat.S_ISREG(status.st_mode)
    }
    assert package.installed_size == sum(size for _, size in inodes) > len(BIG)
    assert package.size == out.stat().st_size
    assert package.checksum == control_checksum(apk.control_member.raw)
    assert apk.pkginfo.get("packager") == "Builder <builder@example.org>"
    assert apk.pkginfo.triggers == ("/usr/share/fonts/*", "/usr/lib/hello")
    assert apk.scripts == {name: path.read_bytes() for name, path in scripts.items()}
    control = tarfile.open(fileobj=io.BytesIO(apk.control_member.content))
    modes = {info.name: info.mode for info in control}
    assert modes == {
        ".PKGINFO": 0o644,
        ".post-install": 0o755,
        ".pre-install": 0o755,
        ".trigger": 0o755,
    }


def test_signature_verifies_with_its_key_only(
    built: Path, key: SigningKeyPair, other_key: SigningKeyPair
) -> None:
    apk = read_apk(built)
    assert [signature.member_name for signature in apk.signatures] == [f".SIGN.RSA256.{KEY_NAME}"]
    assert apk.verify_signature(keyring(key)) == KEY_NAME
    with pytest.raises(SignatureError, match="BAD signature"):
        apk.verify_signature(keyring(other_key))  # same key name, different key
    apk.verify_data_hash()


def test_every_data_entry_is_as_on_disk(built: Path, tree: Path) -> None:
    apk = read_apk(built)
    seen = []
    for entry, content in apk.data_entries():
        info, source = entry.info, tree / entry.name
        seen.append(entry.name)
        status = os.lstat(source)
        assert info.mtime == EPOCH
        if info.isdir():
            assert entry.sha1 is None and info.mode == stat.S_IMODE(status.st_mode)
        elif info.issym():
            assert info.linkname == os.readlink(source)
            assert entry.sha1 == hashlib.sha1(info.linkname.encode()).hexdigest()
        elif info.islnk():
            assert (entry.name, info.linkname) == ("usr/bin/hello-again", "usr/bin/hello")
            assert entry.sha1 == hashlib.sha1(source.read_bytes()).hexdigest()
        elif info.isfifo():
            assert entry.sha1 is None and info.mode == 0o600
        else:
            assert content is not None and content.read() == source.read_bytes()
            assert entry.sha1 == hashlib.sha1(source.read_bytes()).hexdigest()
            assert info.mode == stat.S_IMODE(status.st_mode)
        owner = {
            "home/user/.profile": (1000, 1000, "", ""),
            "home/user": (1000, 1000, "user", "user"),
        }
        owner["etc/shadow"] = (0, 42, "root", "shadow")
        assert (info.uid, info.gid, info.uname, info.gname) == owner.get(
            entry.name, (0, 0, "root", "root")
        )
    assert seen == EXPECTED_NAMES
    entries = {entry.name: entry.info for entry, _ in read_apk(built).data_entries()}
    assert entries["usr/bin/su"].mode == 0o4755
    assert entries["var/empty"].mode == 0o555


def test_layout_matches_real_alpine_and_melange_packages(built: Path) -> None:
    ours = check_apk_layout(built)
    for parts in (
        ("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk"),  # abuild: GNU tar + abuild-tar
        ("apko-cli", "packages", "aarch64", "replayout-1.0.0-r0.apk"),  # melange: Go archive/tar
    ):
        real = check_apk_layout(shared_testdata(*parts))
        assert real == ours, parts
    # The gzip headers are byte for byte abuild's (`gzip -n -9`): no name, no time.
    alpine = gzip_members(
        shared_testdata("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk").read_bytes()
    )
    assert (
        {m.raw[:10] for m in gzip_members(built.read_bytes())}
        == {m.raw[:10] for m in alpine}
        == {b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"}
    )
    assert ours == {
        "members": 3,
        "signature": "cut",
        "control": ("cut", {POSIX_MAGIC}),
        "data": ("ended", {POSIX_MAGIC}),
    }


def test_gnu_tar_lists_each_member_and_the_whole_package(built: Path, tmp_path: Path) -> None:
    listings = []
    for number, member in enumerate(gzip_members(built.read_bytes())):
        part = tmp_path / f"member{number}.tar.gz"
        part.write_bytes(member.raw)
        result = subprocess.run(
            f"gzip -dc {part} | tar -tvf -", shell=True, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        complaints = [
            line for line in result.stderr.splitlines() if "APK-TOOLS.checksum" not in line
        ]
        assert complaints == []
        listings.append(result.stdout.splitlines())
    signature, control, data = listings
    assert len(signature) == 1 and signature[0].endswith(f".SIGN.RSA256.{KEY_NAME}")
    assert [line.split()[-1] for line in control] == [
        ".PKGINFO",
        ".post-install",
        ".pre-install",
        ".trigger",
    ]
    lines = {line.split(None, 5)[5]: line for line in data}
    assert lines["bin/sh -> ../usr/bin/hello"].startswith("lrwxrwxrwx root/root")
    assert lines["usr/bin/hello-again link to usr/bin/hello"].startswith("hrwxr-xr-x")
    assert lines["usr/bin/su"].startswith("-rwsr-xr-x root/root")
    assert lines["home/user/.profile"].startswith("-rw-r--r-- 1000/1000")
    assert lines["home/user"].startswith("drwx------ user/user")
    assert lines["etc/shadow"].startswith("-rw-r----- root/shadow")
    assert lines["run/initctl"].startswith("prw-------")
    assert f"usr/share/doc/{LONG_NAME}" in lines
    # Cut signature and control tars make the whole file one archive to GNU tar.
    whole = subprocess.run(["tar", "-tzf", str(built)], capture_output=True, text=True, check=True)
    assert (
        whole.stdout.splitlines()
        == [f".SIGN.RSA256.{KEY_NAME}", ".PKGINFO", ".post-install", ".pre-install", ".trigger"]
        + EXPECTED_NAMES
    )


def test_python_tarfile_reads_each_member(built: Path) -> None:
    names = []
    for member in gzip_members(built.read_bytes()):
        with tarfile.open(fileobj=io.BytesIO(member.raw), mode="r:gz") as archive:
            names.append([info.name for info in archive])
    assert names[0] == [f".SIGN.RSA256.{KEY_NAME}"]
    assert names[1] == [".PKGINFO", ".post-install", ".pre-install", ".trigger"]
    assert names[2] == EXPECTED_NAMES
    with tarfile.open(
        fileobj=io.BytesIO(gzip_members(built.read_bytes())[2].raw), mode="r:gz"
    ) as archive:
        big = archive.extractfile("usr/share/big.bin")
        assert big is not None and big.read() == BIG
        assert (
            archive.getmember("usr/share/big.bin").pax_headers[PAX_CHECKSUM_SHA1]
            == hashlib.sha1(BIG).hexdigest()
        )


BUILD_IN_SUBPROCESS = """
import os, sys
os.umask(int(sys.argv[1], 8))
from apkoci.apk.writer import build_package
from test_spec import SPEC, OWNERS
build_package(sys.argv[2], SPEC, sys.argv[3], signing_key=sys.argv[4], key_name="test.rsa.pub",
              source_date_epoch=1700000000, owners=OWNERS)
"""


def test_builds_are_byte_identical_whatever_the_umask_and_time_zone(
    tmp_path: Path, tree: Path, scripts: Dict[str, Path], key: SigningKeyPair, built: Path
) -> None:
    again = tmp_path / "again.apk"
    build_package(
        tree,
        spec(scripts),
        again,
        signing_key=key.private_pem,
        key_name=KEY_NAME,
        source_date_epoch=EPOCH,
        owners=OWNERS,
    )
    assert again.read_bytes() == built.read_bytes()
    # The same build in other processes, with another umask and time zone.
    private_path, _ = key.write(tmp_path, "test")
    module = tmp_path / "test_spec.py"
    module.write_text(
        "from pathlib import Path\nfrom apkoci.apk.writer import Owner, PackageSpec\n"
        f"SPEC = PackageSpec(**{_spec_source(scripts)})\nOWNERS = {OWNERS!r}\n"
    )
    for umask, zone in (("077", "Asia/Kolkata"), ("000", "America/St_Johns"), ("022", "UTC")):
        out = tmp_path / f"umask-{umask}.apk"
        env = dict(os.environ, TZ=zone, PYTHONPATH=f"{SRC_PYTHON}{os.pathsep}{tmp_path}")
        subprocess.run(
            [
                sys.executable,
                "-c",
                BUILD_IN_SUBPROCESS,
                umask,
                str(tree),
                str(out),
                str(private_path),
            ],
            env=env,
            check=True,
        )
        assert out.read_bytes() == built.read_bytes(), (umask, zone)


def _spec_source(scripts: Dict[str, Path]) -> str:
    """The keyword arguments of ``spec(scripts)`` as Python source."""
    value = spec(scripts)
    fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
    for name in ("depends", "provides", "install_if", "replaces"):
        fields[name] = [str(dep) for dep in fields[name]]
    fields["scripts"] = {name: str(path) for name, path in fields["scripts"]}
    return repr(fields)


def test_unsigned_package_and_sha1_signature(
    tmp_path: Path, tree: Path, scripts: Dict[str, Path], key: SigningKeyPair
) -> None:
    unsigned = tmp_path / "unsigned.apk"
    build_package(tree, spec(scripts), unsigned, owners=OWNERS)
    assert len(gzip_members(unsigned.read_bytes())) == 2
    apk = read_apk(unsigned)
    assert apk.signatures == ()
    with pytest.raises(SignatureError, match="not signed"):
        apk.verify_signature(keyring(key))
    assert apk.verify_signature(keyring(key), allow_untrusted=True) is None
    apk.verify_data_hash()
    assert apk.package.build_time == 0

    # abuild-sign's default: RSA over SHA-1; the key name defaults to the key file's name + ".pub".
    private_path, public_path = key.write(tmp_path, "packager")
    sha1_signed = tmp_path / "sha1.apk"
    build_package(
        tree,
        spec(scripts),
        sha1_signed,
        signing_key=private_path,
        signature_algorithm="RSA",
        owners=OWNERS,
    )
    apk = read_apk(sha1_signed)
    assert [s.member_name for s in apk.signatures] == [".SIGN.RSA.packager.rsa.pub"]
    assert apk.verify_signature(Keyring.from_paths([public_path])) == "packager.rsa.pub"
    # Signing changes the signature member only: the control member, so the identity, is the same.
    assert apk.control_member.raw == read_apk(unsigned).control_member.raw


def test_empty_package_and_minimal_spec(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "meta.apk"
    meta = PackageSpec("meta", "1.0-r0", "noarch", depends=["busybox"])  # type: ignore[arg-type]
    package = build_package(empty, meta, out)
    assert package.origin == "meta" and package.installed_size == 0
    assert [entry.name for entry, _ in read_apk(out).data_entries()] == []
    layout = parse_tar(gzip_members(out.read_bytes())[1].content)
    assert layout.zero_blocks == 2 and layout.entries == []
    pkginfo = read_apk(out).pkginfo
    assert [key for key, _ in pkginfo.fields] == [
        "pkgname",
        "pkgver",
        "builddate",
        "size",
        "arch",
        "origin",
        "depend",
        "datahash",
    ]
    assert (pkginfo.get("builddate"), pkginfo.get("size"), pkginfo.get("depend")) == (
        "0",
        "0",
        "busybox",
    )


def test_big_file_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    block = b"0123456789abcdef" * 65536  # 1 MiB
    with open(root / "big", "wb") as handle:
        for _ in range(48):
            handle.write(block)
    tracemalloc.start()
    try:
        package = build_package(root, PackageSpec("big", "1-r0", "x86_64"), tmp_path / "big.apk")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert package.installed_size == 48 * len(block)
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while writing a 48 MiB file"
    entry, content = next(read_apk(tmp_path / "big.apk").data_entries())
    assert content is not None and entry.sha1 == hashlib.sha1(block * 48).hexdigest()


# --- Indexes --------------------------------------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path, key: SigningKeyPair) -> List[Path]:
    """Three packages; the two versions of alpha sort 1.9 before 1.10 (versions, not strings)."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "README").write_text("hello\n")
    paths = []
    # PackageSpec takes dependency strings and lists too (it parses them).
    packages: List[Tuple[str, str, Dict[str, Any]]] = [
        (
            "beta",
            "2.0-r1",
            dict(depends=["alpha>=1.9", "so:libc.musl-x86_64.so.1"], provides=["cmd:beta=2.0-r1"]),
        ),
        ("alpha", "1.10-r0", dict(description="Alpha, the newer", provider_priority=100)),
        (
            "alpha",
            "1.9-r0",
            dict(url="https://example.org/alpha", license="MIT", maintainer="A <a@b.c>"),
        ),
    ]
    for name, version, extra in packages:
        path = tmp_path / f"{name}-{version}.apk"
        build_package(
            files,
            PackageSpec(name, version, "x86_64", **extra),
            path,
            signing_key=key.private_pem,
            key_name=KEY_NAME,
            source_date_epoch=EPOCH,
        )
        paths.append(path)
    return paths


def test_index_reads_back_with_the_keyring(
    repository: List[Path], tmp_path: Path, key: SigningKeyPair
) -> None:
    out = tmp_path / "APKINDEX.tar.gz"
    written = build_index(
        repository,
        out,
        signing_key=key.private_pem,
        key_name=KEY_NAME,
        description="v3.19.0-test",
        source_date_epoch=EPOCH,
    )
    expected = [read_apk(path).package for path in (repository[2], repository[1], repository[0])]
    assert written == expected
    description, packages = read_index_archive(out, keyring(key), str(out))
    assert description == "v3.19.0-test"
    assert packages == expected
    assert [(p.name, p.version) for p in packages] == [
        ("alpha", "1.9-r0"),
        ("alpha", "1.10-r0"),
        ("beta", "2.0-r1"),
    ]
    assert all(
        p.checksum.startswith("Q1") and p.size == path.stat().st_size
        for p, path in zip(packages, (repository[2], repository[1], repository[0]))
    )


def test_index_signature_and_determinism(
    repository: List[Path], tmp_path: Path, key: SigningKeyPair, other_key: SigningKeyPair
) -> None:
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    build_index(repository, first, signing_key=key.private_pem, key_name=KEY_NAME)
    build_index(list(reversed(repository)), second, signing_key=key.private_pem, key_name=KEY_NAME)
    assert first.read_bytes() == second.read_bytes()
    with pytest.raises(SignatureError, match="BAD signature"):
        read_index_archive(first, keyring(other_key), str(first))
    unsigned = tmp_path / "unsigned.tar.gz"
    build_index(repository, unsigned)
    with pytest.raises(SignatureError, match="not signed"):
        read_index_archive(unsigned, keyring(key), str(unsigned))
    description, packages = read_index_archive(
        unsigned, keyring(key), str(unsigned), allow_untrusted=True
    )
    assert description == "" and len(packages) == 3
    # No DESCRIPTION member when there is no description, as `apk index` does.
    assert [e.name for e in parse_tar(gzip_members(unsigned.read_bytes())[0].content).entries] == [
        "APKINDEX"
    ]


def index_layout(path: Path) -> Tuple[object, ...]:
    signature, index = (parse_tar(member.content) for member in gzip_members(path.read_bytes()))
    assert signature.entries[0].name.startswith(".SIGN.RSA")
    return (
        "cut" if signature.zero_blocks == 0 and signature.end == signature.length else "ended",
        [entry.name for entry in index.entries],
        [entry.typeflag for entry in index.entries],
        [(entry.mode, entry.uid, entry.gid) for entry in index.entries],
        "ended" if index.zero_blocks >= 2 else "cut",
    )


def test_index_layout_matches_a_real_alpine_index(
    repository: List[Path], tmp_path: Path, key: SigningKeyPair
) -> None:
    out = tmp_path / "APKINDEX.tar.gz"
    build_index(
        repository, out, signing_key=key.private_pem, key_name=KEY_NAME, description="v3.16.0"
    )
    real = index_layout(shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz"))
    assert (
        index_layout(out)
        == real
        == ("cut", ["DESCRIPTION", "APKINDEX"], [b"0", b"0"], [(0o644, 0, 0)] * 2, "ended")
    )


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_index_of_real_melange_packages_matches_their_real_index(tmp_path: Path, arch: str) -> None:
    directory = shared_testdata("apko-cli", "packages", arch)
    real_keyring = Keyring.from_paths([shared_testdata("apko-cli", "melange.rsa.pub")])
    _, real = read_index_archive(directory / "APKINDEX.tar.gz", real_keyring, "the real index")
    ours = build_index(sorted(directory.glob("*.apk"), reverse=True), tmp_path / "APKINDEX.tar.gz")
    # Same stanzas (C:, S:, I:, dependencies, ...), in the same order. The one difference: this
    # melange left out `r:` (replaces), which apk-tools 2.14 ignores in an index anyway.
    assert [dataclasses.replace(package, replaces=()) for package in ours] == real
    assert any(package.replaces for package in ours)


# --- Refusals -------------------------------------------------------------------------------------


def test_duplicate_packages_in_an_index(repository: List[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.apk"
    copy.write_bytes(repository[0].read_bytes())
    with pytest.raises(PackageWriterError, match=r"both beta-2\.0-r1\.apk"):
        build_index(repository + [copy], tmp_path / "APKINDEX.tar.gz")


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(version="1.0-foo"), "version '1.0-foo' is not an apk version"),
        (dict(name="hello world"), "not a valid apk package name"),
        (dict(name="hello=1"), "not a valid apk package name"),
        (dict(arch="x86 64"), "arch"),
        (dict(depends=["foo>="]), "depends: invalid dependency 'foo>='"),
        (dict(depends="foo bar"), "must be a list"),
        (dict(description="two\nlines"), "description contains a line break"),
        (dict(triggers=()), "a trigger script needs `triggers`"),
    ],
)
def test_bad_specs_name_the_problem(
    scripts: Dict[str, Path], changes: Dict[str, object], message: str
) -> None:
    with pytest.raises(PackageWriterError, match=message.replace("(", r"\(")):
        spec(scripts, **changes)


def test_unknown_script_name(tmp_path: Path) -> None:
    with pytest.raises(PackageWriterError, match="unknown script 'post-remove'"):
        PackageSpec("x", "1-r0", "noarch", scripts={"post-remove": tmp_path / "x"})  # type: ignore


def test_bad_build_inputs(tmp_path: Path, tree: Path, key: SigningKeyPair) -> None:
    minimal = PackageSpec("hello", "1-r0", "x86_64")
    out = tmp_path / "out.apk"
    with pytest.raises(PackageWriterError, match="not in .*: usr/bin/helo"):
        build_package(tree, minimal, out, owners={"usr/bin/helo": Owner(1, 1)})
    with pytest.raises(PackageWriterError, match="usr/bin/hello: uid 2097152 does not fit"):
        build_package(tree, minimal, out, owners={"usr/bin/hello": Owner(2097152, 0)})
    with pytest.raises(PackageWriterError, match="hard link to usr/bin/hello"):
        build_package(tree, minimal, out, owners={"usr/bin/hello-again": Owner(5, 5)})
    with pytest.raises(PackageWriterError, match="key_name is needed"):
        build_package(tree, minimal, out, signing_key=key.private_pem)
    with pytest.raises(KeyringError, match="not a PEM private key"):
        build_package(tree, minimal, out, signing_key=key.public_pem, key_name=KEY_NAME)
    with pytest.raises(PackageWriterError, match="unknown signature algorithm 'DSA'"):
        build_package(
            tree,
            minimal,
            out,
            signing_key=key.private_pem,
            key_name=KEY_NAME,
            signature_algorithm="DSA",
        )
    with pytest.raises(PackageWriterError, match="does not exist"):
        build_package(tmp_path / "missing", minimal, out)
    with pytest.raises(PackageWriterError, match="directory .* does not exist"):
        build_package(tree, minimal, tmp_path / "no-such-dir" / "out.apk")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tree / "run" / "sock"))
        with pytest.raises(PackageWriterError, match="run/sock is a socket"):
            build_package(tree, minimal, out)
    finally:
        sock.close()
    assert (
        not out.exists()
        and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    )


def test_generated_keys_are_pem_files_apk_tools_can_use(tmp_path: Path) -> None:
    pair = generate_signing_key(bits=1024)
    assert pair.private_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert pair.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    private_path, public_path = pair.write(tmp_path, "local")
    assert (private_path.name, public_path.name) == ("local.rsa", "local.rsa.pub")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert Keyring.from_paths([tmp_path]).names == ("local.rsa.pub",)
