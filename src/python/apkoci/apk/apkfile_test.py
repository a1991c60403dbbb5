from __future__ import annotations

import gc
import gzip
import hashlib
import io
import os
import re
import tarfile
import tracemalloc
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from apkoci.apk.apkfile import (
    PAX_CHECKSUM_SHA1,
    ApkFile,
    ApkFormatError,
    ApkIntegrityError,
    PkgInfo,
    control_checksum,
    data_hash,
    package_from_pkginfo,
    read_apk,
)
from apkoci.apk.signature import Keyring, SignatureError, sign
from apkoci.testing import shared_testdata
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALPINE_616AE350 = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"


# --- Building small packages the way abuild/melange do (test helpers, also used by
# repository_test) -------------------------------------------------------------------------------


def tar_bytes(
    files: Sequence[Tuple[str, bytes]], cut: bool, pax: Optional[Dict[str, Dict[str, str]]] = None
) -> bytes:
    """A PAX tar of regular files; ``cut`` strips the end-of-archive blocks like abuild-tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.pax_headers = dict((pax or {}).get(name, {}))
            archive.addfile(info, io.BytesIO(content))
        end_of_entries = archive.offset
    data = buffer.getvalue()
    return data[:end_of_entries] if cut else data


def gzip_member(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def signature_member(key: rsa.RSAPrivateKey, key_name: str, signed: bytes, algorithm: str) -> bytes:
    signature = sign(key, [signed], key_name, algorithm)
    return gzip_member(tar_bytes([(signature.member_name, signature.value)], cut=True))


def write_apk(
    path: Path,
    pkginfo: Sequence[Tuple[str, str]],
    files: Sequence[Tuple[str, bytes]],
    key: Optional[rsa.RSAPrivateKey] = None,
    datahash: Optional[str] = None,
    level: int = 9,
) -> Path:
    """A package: optional RSA256 signature by ``key`` as ``test.rsa.pub``, control, data."""
    pax = {name: {PAX_CHECKSUM_SHA1: hashlib.sha1(content).hexdigest()} for name, content in files}
    data = gzip_member(tar_bytes(files, cut=False, pax=pax), level)
    fields = tuple(pkginfo) + (("datahash", data_hash([data]) if datahash is None else datahash),)
    control = gzip_member(tar_bytes([(".PKGINFO", PkgInfo(fields).format().encode())], cut=True))
    signature = signature_member(key, "test.rsa.pub", control, "RSA256") if key else b""
    path.write_bytes(signature + control + data)
    return path


@pytest.fixture(scope="module")
def test_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


HELLO_PKGINFO = (("pkgname", "hello"), ("pkgver", "1.0-r0"), ("arch", "x86_64"), ("size", "6"))


# --- Real packages -------------------------------------------------------------------------------


def _index_entries(index: Path) -> Dict[str, Dict[str, str]]:
    """name -> {field letter: value} from an APKINDEX.tar.gz, read with tarfile (independently)."""
    with tarfile.open(index) as archive:
        handle = archive.extractfile("APKINDEX")
        assert handle is not None
        text = handle.read().decode()
    entries = {}
    for stanza in text.strip().split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines())
        entries[fields["P"]] = fields
    return entries


REPOSITORIES = [
    ("apko-cli", "packages", "x86_64"),
    ("apko-cli", "packages", "aarch64"),
    ("apko-cli", "private_packages", "packages", "x86_64"),
    ("apko-cli", "private_packages", "packages", "aarch64"),
]


@pytest.mark.parametrize("parts", REPOSITORIES, ids="/".join)
def test_checksum_and_size_match_the_real_index(parts: Tuple[str, ...]) -> None:
    directory = shared_testdata(*parts)
    entries = _index_entries(directory / "APKINDEX.tar.gz")
    apks = sorted(directory.glob("*.apk"))
    assert len(apks) == len(entries) >= 2
    for path in apks:
        apk = read_apk(path)
        entry = entries[apk.package.name]
        assert apk.checksum == entry["C"], path
        assert apk.package.size == int(entry["S"]) == path.stat().st_size
        assert apk.package.installed_size == int(entry["I"])
        assert apk.package.version == entry["V"]
        assert apk.package.arch == entry["A"] == parts[-1]
        assert path.name == apk.package.filename
        apk.verify_checksum(entry["C"])


def test_alpine_package_pkginfo_in_full() -> None:
    apk = read_apk(shared_testdata("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk"))
    package = apk.package
    assert (package.name, package.version, package.arch) == (
        "alpine-baselayout",
        "3.2.0-r23",
        "aarch64",
    )
    assert package.description == "Alpine base dir structure and init scripts"
    assert package.url == "https://git.alpinelinux.org/cgit/aports/tree/main/alpine-baselayout"
    assert package.installed_size == 339968
    assert package.size == 11012
    assert package.build_time == 1662926906
    assert package.origin == "alpine-baselayout"
    assert package.commit == "348653a9ba0701e8e968b3344e72313a9ef334e4"
    assert package.maintainer == "Natanael Copa <ncopa@alpinelinux.org>"
    assert package.license == "GPL-2.0-only"
    # `depend` repeats, and a comment sits between the lines.
    assert [str(d) for d in package.depends] == [
        "alpine-baselayout-data=3.2.0-r23",
        "/bin/sh",
        "so:libc.musl-aarch64.so.1",
    ]
    assert [str(p) for p in package.provides] == ["cmd:mkmntdirs=3.2.0-r23"]
    assert apk.pkginfo.get("packager") == "Buildozer <alpine-devel@lists.alpinelinux.org>"
    assert (
        apk.pkginfo.datahash == "1a3a8e47d2287da6d505d973412cee1ad64bcc17bc5995069e4e932055ecb0c4"
    )
    # The same package as listed in the rsa256-signed test index (C: field).
    assert apk.checksum == "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc="
    assert sorted(apk.scripts) == ["post-install", "post-upgrade", "pre-install", "pre-upgrade"]
    assert apk.scripts["pre-install"].startswith(b"#!/bin/sh")
    assert [s.member_name for s in apk.signatures] == [f".SIGN.RSA.{ALPINE_616AE350}"]


def test_file_name_does_not_decide_the_package() -> None:
    # The shared "3.4.0-r0" file is a copy of 3.2.0-r23: the content says what it is.
    apk = read_apk(shared_testdata("alpine", "packages", "alpine-baselayout-3.4.0-r0.apk"))
    assert apk.package.version == "3.2.0-r23"
    assert apk.package.filename == "alpine-baselayout-3.2.0-r23.apk"


def test_repeated_replaces_and_unsigned_package() -> None:
    apk = read_apk(shared_testdata("wolfi", "replaces-0.0.1-r0.apk"))
    assert [str(r) for r in apk.package.replaces] == ["foo", "bar"]
    assert apk.signatures == ()
    with pytest.raises(SignatureError, match=r"replaces-0\.0\.1-r0\.apk is not signed"):
        apk.verify_signature(Keyring.from_paths([shared_testdata("apko-cli", "melange.rsa.pub")]))
    assert apk.verify_signature(Keyring(), allow_untrusted=True) is None


def _every_real_package() -> List[Path]:
    return sorted(
        list(shared_testdata("alpine", "packages").glob("*.apk"))
        + list(shared_testdata("wolfi").glob("*.apk"))
        + list(shared_testdata("apko-cli").glob("**/*.apk"))
    )


def test_every_real_package_streams_with_correct_file_checksums() -> None:
    packages = _every_real_package()
    assert len(packages) == 17
    regular = 0
    for path in packages:
        apk = read_apk(path)
        apk.verify_data_hash()
        for entry, content in apk.data_entries():
            if entry.info.isreg():
                assert content is not None
                assert entry.sha1 == hashlib.sha1(content.read()).hexdigest(), entry.name
                regular += 1
            else:
                assert content is None
    assert regular > 20


def test_hello_wolfi_data_entries() -> None:
    apk = read_apk(shared_testdata("wolfi", "hello-wolfi-2.12.1-r0.apk"))
    entries = {entry.name: entry for entry, _ in apk.data_entries()}
    assert entries["usr/bin/hello"].sha1 == "5445a8546f7818d0d624f62328bee1c4ffdf0c2d"
    assert entries["usr/bin/hello"].info.size == 47736
    assert entries["usr/bin"].info.isdir() and entries["usr/bin"].sha1 is None
    assert [str(d) for d in apk.package.depends] == ["so:ld-linux-x86-64.so.2", "so:libc.so.6"]
    assert apk.package.url == ""  # melange writes "url = " with an empty value


def test_stopping_early_closes_the_file() -> None:
    apk = read_apk(shared_testdata("wolfi", "hello-wolfi-2.12.1-r0.apk"))
    entries = apk.data_entries()
    first, _ = next(entries)
    assert first.name == "usr"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entries.close()
        del entries
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


SIGNED_BY = [
    (
        ("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk"),
        ("alpine", "keys"),
        ALPINE_616AE350,
    ),
    (
        ("apko-cli", "packages", "x86_64", "replayout-1.0.0-r0.apk"),
        ("apko-cli", "melange.rsa.pub"),
        "melange.rsa.pub",
    ),
    (
        ("apko-cli", "packages", "aarch64", "custom-ca-certs-1-1.0.0-r0.apk"),
        ("apko-cli", "packages", "melange.rsa.pub"),
        "melange.rsa.pub",
    ),
    (
        ("apko-cli", "private_packages", "packages", "x86_64", "package-x-1.0.0-r0.apk"),
        ("apko-cli", "private_packages", "private_pkg_key.rsa.pub"),
        "private_pkg_key.rsa.pub",
    ),
]


@pytest.mark.parametrize("package, keys, key_name", SIGNED_BY, ids=[p[-1] for p, _, _ in SIGNED_BY])
def test_real_package_signatures_verify(
    package: Tuple[str, ...], keys: Tuple[str, ...], key_name: str
) -> None:
    apk = read_apk(shared_testdata(*package))
    assert apk.verify_signature(Keyring.from_paths([shared_testdata(*keys)])) == key_name


def test_hello_wolfi_is_not_signed_by_the_apko_cli_melange_key() -> None:
    # Both are called melange.rsa.pub, but they are different keys.
    apk = read_apk(shared_testdata("wolfi", "hello-wolfi-2.12.1-r0.apk"))
    keyring = Keyring.from_paths([shared_testdata("apko-cli", "melange.rsa.pub")])
    with pytest.raises(SignatureError) as error:
        apk.verify_signature(keyring)
    message = str(error.value)
    assert "hello-wolfi-2.12.1-r0.apk: BAD signature: .SIGN.RSA.melange.rsa.pub" in message
    assert "the keyring has: melange.rsa.pub" in message


def test_wolfi_hello_wants_a_key_nobody_has() -> None:
    apk = read_apk(shared_testdata("wolfi", "hello-2.12-r0.apk"))
    with pytest.raises(
        SignatureError, match="signed with key local-melange.rsa.pub, but no such key"
    ):
        apk.verify_signature(Keyring.from_paths([shared_testdata("alpine", "keys")]))


def test_private_package_does_not_verify_with_the_melange_key() -> None:
    apk = read_apk(
        shared_testdata(
            "apko-cli", "private_packages", "packages", "x86_64", "package-y-1.0.0-r0.apk"
        )
    )
    with pytest.raises(SignatureError, match="private_pkg_key.rsa.pub, but no such key"):
        apk.verify_signature(Keyring.from_paths([shared_testdata("apko-cli", "melange.rsa.pub")]))


def test_pkginfo_round_trips_through_the_writer_helpers() -> None:
    apk = read_apk(shared_testdata("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk"))
    written = PkgInfo.from_package(apk.package, apk.pkginfo.datahash, [("packager", "me")])
    reparsed = PkgInfo.parse(written.format())
    assert reparsed == written
    again = package_from_pkginfo(reparsed, apk.checksum, apk.package.size, "written")
    assert again == apk.package
    assert reparsed.datahash == apk.pkginfo.datahash and reparsed.get("packager") == "me"


def test_pkginfo_parsing_rules() -> None:
    text = (
        "# comment\npkgname = a\npkgver = 1-r0\nno separator line\ntriggers = /usr/lib/* /etc\n"
        "triggers = /opt\nurl = \npkgver = 2-r0\nweird = a = b\n"
    )
    info = PkgInfo.parse(text)
    assert info.get("pkgver") == "2-r0"  # the last one wins, as in apk-tools
    assert info.get("url") == ""
    assert info.get("weird") == "a = b"
    assert info.triggers == ("/usr/lib/*", "/etc", "/opt")
    assert info.get_all("pkgver") == ("1-r0", "2-r0")
    assert info.get("missing", "default") == "default"


# --- Synthetic packages: what must fail, fails ---------------------------------------------------


def test_synthetic_package_verifies_and_streams(
    tmp_path: Path, test_key: rsa.RSAPrivateKey
) -> None:
    path = write_apk(
        tmp_path / "hello-1.0-r0.apk", HELLO_PKGINFO, [("hello", b"hello\n")], test_key
    )
    apk = read_apk(path)
    keyring = Keyring.from_files({"test.rsa.pub": public_pem(test_key)})
    assert apk.verify_signature(keyring) == "test.rsa.pub"
    assert [(e.name, c.read() if c else None) for e, c in apk.data_entries()] == [
        ("hello", b"hello\n")
    ]
    assert apk.checksum == control_checksum(apk.control_member.raw)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_wrong_datahash_is_an_integrity_error(tmp_path: Path) -> None:
    path = write_apk(tmp_path / "x.apk", HELLO_PKGINFO, [("hello", b"hello\n")], datahash="00" * 32)
    apk = read_apk(path)
    with pytest.raises(
        ApkIntegrityError, match=r"x\.apk: the data member's SHA-256 is [0-9a-f]{64}"
    ):
        apk.verify_data_hash()
    with pytest.raises(ApkIntegrityError, match="datahash"):
        list(apk.data_entries())


def test_changed_data_byte_is_caught(tmp_path: Path) -> None:
    path = write_apk(tmp_path / "x.apk", HELLO_PKGINFO, [("hello", b"hello\n" * 100)])
    data = bytearray(path.read_bytes())
    data[-12] ^= 0xFF  # inside the deflate stream of the data member
    path.write_bytes(bytes(data))
    with pytest.raises(ApkIntegrityError):
        read_apk(path).verify_data_hash()
    with pytest.raises((ApkIntegrityError, ApkFormatError)):
        list(read_apk(path).data_entries())


def test_changed_control_breaks_signature_and_checksum(
    tmp_path: Path, test_key: rsa.RSAPrivateKey
) -> None:
    signed = write_apk(tmp_path / "a.apk", HELLO_PKGINFO, [("hello", b"hi\n")], test_key)
    original = read_apk(signed)
    # Same signature member, but the control member of a package with another version.
    other = write_apk(
        tmp_path / "b.apk", HELLO_PKGINFO + (("pkgver", "2.0-r0"),), [("hello", b"hi\n")]
    )
    other_apk = read_apk(other)
    forged = tmp_path / "forged.apk"
    data = signed.read_bytes()
    forged.write_bytes(data[: original.control_member.offset] + other.read_bytes())
    forged_apk = read_apk(forged)
    assert forged_apk.package.version == "2.0-r0"
    keyring = Keyring.from_files({"test.rsa.pub": public_pem(test_key)})
    with pytest.raises(SignatureError, match="BAD signature"):
        forged_apk.verify_signature(keyring)
    with pytest.raises(
        ApkIntegrityError, match=re.escape(f"but the index lists {original.checksum}")
    ):
        forged_apk.verify_checksum(original.checksum)
    assert other_apk.checksum == forged_apk.checksum


def test_trailing_bytes_after_the_data_member(tmp_path: Path) -> None:
    path = write_apk(tmp_path / "x.apk", HELLO_PKGINFO, [("hello", b"hello\n")])
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(ApkFormatError, match="unexpected bytes after the data member"):
        list(read_apk(path).data_entries())


def test_not_a_package_at_all() -> None:
    # The shared rsa256-signed "package" is a 45-byte text file (a symlink's target path).
    path = shared_testdata("signing", "rsa256-signed", "alpine-baselayout-3.2.0-r23.apk")
    with pytest.raises(ApkFormatError, match=r"is not an APK file \(it does not start with a gzip"):
        read_apk(path)


def test_v3_truncated_missing_and_control_without_pkginfo(tmp_path: Path) -> None:
    v3 = tmp_path / "v3.apk"
    v3.write_bytes(b"ADB.pckg" + b"\0" * 100)
    with pytest.raises(ApkFormatError, match="APK v3"):
        read_apk(v3)
    with pytest.raises(ApkFormatError, match="cannot open package"):
        read_apk(tmp_path / "missing.apk")
    whole = write_apk(tmp_path / "whole.apk", HELLO_PKGINFO, [("hello", b"hello\n")]).read_bytes()
    control_end = read_apk(tmp_path / "whole.apk").data_offset
    truncated = tmp_path / "truncated.apk"
    truncated.write_bytes(whole[: control_end - 5])
    with pytest.raises(ApkFormatError, match="ends in the middle of a gzip member"):
        read_apk(truncated)
    truncated.write_bytes(whole[:control_end])
    with pytest.raises(ApkFormatError, match="the data member is missing"):
        read_apk(truncated)
    no_pkginfo = tmp_path / "no-pkginfo.apk"
    no_pkginfo.write_bytes(gzip_member(tar_bytes([(".post-install", b"#!/bin/sh\n")], True)) * 2)
    with pytest.raises(ApkFormatError, match=r"no \.PKGINFO \(it holds \.post-install\)"):
        read_apk(no_pkginfo)


def test_bad_pkginfo_values_name_the_field(tmp_path: Path) -> None:
    cases = [
        ((("pkgver", "1-r0"),), "has no pkgname"),
        (HELLO_PKGINFO + (("builddate", "yesterday"),), r"builddate = 'yesterday' is not a whole"),
        (HELLO_PKGINFO + (("depend", "foo=not!valid"),), r"depend = 'foo=not!valid'"),
    ]
    for index, (pkginfo, message) in enumerate(cases):
        path = write_apk(tmp_path / f"{index}.apk", pkginfo, [("f", b"")])
        with pytest.raises(ApkFormatError, match=message):
            read_apk(path)


def test_data_member_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    content = os.urandom(size)  # incompressible: the compressed member is as big as the file
    path = write_apk(tmp_path / "big.apk", HELLO_PKGINFO, [("big", content)], level=1)
    expected = hashlib.sha1(content).hexdigest()
    del content
    apk = read_apk(path)
    tracemalloc.start()
    try:
        for entry, stream in apk.data_entries():
            assert stream is not None
            read = stream.read  # (the lambda would not see the narrowing above)
            hasher = hashlib.sha1()
            for chunk in iter(lambda: read(65536), b""):
                hasher.update(chunk)
            assert hasher.hexdigest() == entry.sha1 == expected
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > size
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while streaming a {size}-byte package"


def test_apkfile_is_a_value() -> None:
    path = shared_testdata("wolfi", "replaces-0.0.1-r0.apk")
    assert read_apk(path) == read_apk(path)
    assert isinstance(read_apk(str(path)), ApkFile)


# --- Small tars read without tarfile, checked against tarfile ------------------------------------
# Signature, control and index members are read by apkfile's own small reader when they are plain
# (see _plain_tar_files), and by tarfile otherwise; either way the files must be tarfile's.


def _tarfile_files(content: bytes) -> Optional[List[Tuple[str, bytes]]]:
    """What tarfile reads (the regular files), or None when it refuses the tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as archive:
            return [
                (info.name, archive.extractfile(info).read())  # type: ignore[union-attr]
                for info in archive
                if info.isreg()
            ]
    except tarfile.TarError:
        return None


def _assert_plain_reading_agrees(content: bytes) -> bool:
    """The small reader gives up or gives tarfile's answer; returns whether it read it."""
    from apkoci.apk.apkfile import _plain_tar_files

    plain = _plain_tar_files(content)
    if plain is not None:
        assert plain == _tarfile_files(content)
    return plain is not None


def test_small_members_of_every_shared_file_read_as_tarfile_reads_them() -> None:
    from apkoci.apk.apkfile import _read_member

    root = shared_testdata("alpine", "keys").parents[1]
    read_plainly = 0
    for path in sorted(root.rglob("APKINDEX.tar.gz")) + sorted(root.rglob("*.apk")):
        data = path.read_bytes()
        if not data.startswith(b"\x1f\x8b"):
            continue  # a link the checkout kept as text
        raw, pending, offset = io.BytesIO(data[64:]), data[:64], 0
        for _ in range(2):  # the signature member, then the control (or index) member
            member, pending = _read_member(raw, pending, offset, str(path))
            offset += len(member.raw)
            read_plainly += _assert_plain_reading_agrees(member.content)
    assert read_plainly >= 30


def _tar(entries: Sequence[tarfile.TarInfo], contents: Sequence[bytes], **options: Any) -> bytes:
    buffer = io.BytesIO()
    archive = tarfile.open(fileobj=buffer, mode="w", **options)
    with archive:
        for info, content in zip(entries, contents):
            archive.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return buffer.getvalue()


def _entry(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime = size, kind, 1700000000
    return info


def test_unusual_tars_are_left_to_tarfile_or_read_alike() -> None:
    plain = _tar([_entry(".PKGINFO", 5), _entry(".post-install", 3)], [b"hello", b"sh\n"])
    assert _assert_plain_reading_agrees(plain)
    assert _assert_plain_reading_agrees(plain[: 4 * 512])  # cut: no end-of-archive blocks
    long_name = "d/" * 60 + "file"
    cases = [
        plain[: 2 * 512 + 100],  # the second header cut short
        plain[: 512 + 3],  # the data cut short
        plain[:512] + b"\0" * 1024,  # the end blocks right after the header (data missing)
        b"\0" * 1024,
        b"",
        b"not a tar at all" * 64,
        _tar([_entry(long_name, 2)], [b"ok"], format=tarfile.GNU_FORMAT),
        _tar([_entry(long_name, 2)], [b"ok"], format=tarfile.PAX_FORMAT),
        _tar([_entry(long_name, 2)], [b"ok"], format=tarfile.USTAR_FORMAT),  # name in the prefix
        _tar([_entry("dir", 0, tarfile.DIRTYPE), _entry("dir/f", 1)], [b"", b"x"]),
        _tar([_entry("link", 0, tarfile.SYMTYPE), _entry("f", 1)], [b"", b"x"]),
        _tar([_entry("näme", 1)], [b"x"], format=tarfile.GNU_FORMAT),
        plain.replace(b"0000005", b"000000x", 1),  # a size that is no octal number
        plain.replace(b"00000000005", b"-0000000005", 1),  # a negative size
    ]
    # A header whose checksum is off, and one whose size field is base-256.
    broken = bytearray(plain)
    broken[148:156] = b"0000001\0"
    cases.append(bytes(broken))
    big = bytearray(plain)
    big[124:136] = b"\x80" + (5).to_bytes(11, "big")
    cases.append(bytes(big))
    read = [_assert_plain_reading_agrees(content) for content in cases]
    assert read == [i in (2, 8) for i in range(len(cases))]  # zeros for data; a ustar prefix
