from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from apkoci.lock.conftest import APKO_CONFIG_CHECKSUM, APKO_PACKAGES, apko_lock_text
from apkoci.lock.lockfile import (
    Lock,
    LockConfig,
    LockContents,
    LockedPackage,
    LockError,
    LockFileError,
    LockRange,
    LockRepository,
    format_lock,
    packages_for_arch,
    parse_lock,
    read_lock,
    write_lock,
)


def _apko_lock() -> Lock:
    return parse_lock(apko_lock_text(), "apko.lock.json")


def test_reads_the_lock_apko_wrote():
    lock = _apko_lock()
    assert lock.version == "v1"
    assert lock.config == LockConfig(name="apko.yaml", checksum=APKO_CONFIG_CHECKSUM)
    assert [key.url for key in lock.contents.keyring] == ["./testdata/melange.rsa.pub"]
    assert lock.contents.build_repositories == ()
    assert lock.contents.repositories == (
        LockRepository(
            "./testdata/packages/x86_64", "./testdata/packages/x86_64/APKINDEX.tar.gz", "x86_64"
        ),
        LockRepository(
            "./testdata/packages/aarch64", "./testdata/packages/aarch64/APKINDEX.tar.gz", "aarch64"
        ),
    )
    assert lock.architectures == ("x86_64", "aarch64")
    replayout = lock.contents.packages[1]
    assert replayout.name == "replayout" and replayout.architecture == "x86_64"
    assert replayout.url == "./testdata/packages/x86_64/replayout-1.0.0-r0.apk"
    assert replayout.control.bounds == (647, 1661)
    assert replayout.data.bounds == (1661, 2961)
    assert replayout.checksum == "Q11/HhSewwwOXgl0r0ffb0O0BRtYc="
    # apko's lock has no whole-file digest: that is our extension.
    assert replayout.sha256 is None and replayout.size is None


def test_writes_what_apko_writes_byte_for_byte():
    assert format_lock(_apko_lock()) == apko_lock_text()


def test_the_extension_round_trips_and_sits_after_apkos_fields(tmp_path: Path):
    lock = _apko_lock()
    package = replace(lock.contents.packages[0], sha256="ab" * 32, size=2930)
    extended = replace(lock, contents=replace(lock.contents, packages=(package,)))
    path = tmp_path / "apko.lock.json"
    write_lock(extended, path)
    assert read_lock(path) == extended
    written = json.loads(path.read_text())["contents"]["packages"][0]
    assert list(written) == (
        "name url version architecture signature control data checksum apkoci".split()
    )
    assert written["apkoci"] == {"sha256": "ab" * 32, "size": 2930}
    assert path.read_text().endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["apko.lock.json"]  # no temporary left


def test_reads_a_lock_of_apko_before_0_13():
    # No config, no checksum per package, only `repositories`: what apko 0.12 wrote.
    data = json.loads(apko_lock_text())
    del data["config"]
    del data["contents"]["build_repositories"]
    del data["contents"]["runtime_repositories"]
    for package in data["contents"]["packages"]:
        del package["checksum"]
    lock = parse_lock(json.dumps(data))
    assert lock.config is None
    first = lock.contents.packages[0]
    assert first.checksum == ""
    # The identity is the control member's SHA-1 either way.
    assert first.identity == APKO_PACKAGES[0][5]


def test_go_nil_slices_read_as_empty():
    data = json.loads(apko_lock_text())
    data["contents"]["build_repositories"] = None
    assert parse_lock(json.dumps(data)).contents.build_repositories == ()


def test_escapes_like_go():
    lock = Lock(
        config=LockConfig(name="a<b>&c\u2028.yaml", checksum=""),
        contents=LockContents(),
    )
    text = format_lock(lock)
    assert '"name": "a\\u003cb\\u003e\\u0026c\\u2028.yaml"' in text
    assert "checksum" not in text  # omitempty, as in apko
    assert parse_lock(text).config == LockConfig(name="a<b>&c\u2028.yaml")


def test_an_unsigned_package_has_an_empty_signature():
    package = LockedPackage(
        name="a",
        url="a-1-r0.apk",
        version="1-r0",
        architecture="x86_64",
        signature=LockRange.of(0, 0, "sha1", b""),
        control=LockRange.of(0, 10, "sha1", b"\0" * 20),
        data=LockRange.of(10, 20, "sha256", b"\0" * 32),
    )
    assert package.signature == LockRange()
    assert package.control.range == "bytes=0-9"
    text = format_lock(Lock(contents=LockContents(packages=(package,))))
    assert '"signature": {\n          "range": "",\n          "checksum": ""\n        }' in text
    assert parse_lock(text).contents.packages == (package,)


@pytest.mark.parametrize(
    "edit, field, message",
    [
        (lambda d: d.update(version="v2"), "version", "only lock format 'v1'"),
        (lambda d: d.pop("contents"), "contents", "is missing"),
        (lambda d: d["contents"].update(packages={}), "contents.packages", "expected a list"),
        (
            lambda d: d["contents"]["packages"][1].pop("url"),
            "contents.packages[1].url",
            "is missing",
        ),
        (
            lambda d: d["contents"]["packages"][0]["control"].update(range="bytes=9-1"),
            "contents.packages[0].control.range",
            "expected 'bytes=START-END'",
        ),
        (
            lambda d: d["contents"]["packages"][0]["data"].update(checksum="sha1-AAAA"),
            "contents.packages[0].data.checksum",
            "expected 'sha256-<base64>'",
        ),
        (
            lambda d: d["contents"]["packages"][0]["control"].update(checksum="sha1-AAAA"),
            "contents.packages[0].control.checksum",
            "not the base64 of a 20-byte digest",
        ),
        (
            lambda d: d["contents"]["packages"][2].update(checksum="X1abc"),
            "contents.packages[2].checksum",
            "expected 'Q1<base64>'",
        ),
        (
            lambda d: d["contents"]["packages"][0].update(apkoci={"sha256": "AB", "size": 1}),
            "contents.packages[0].apkoci.sha256",
            "64 lower-case hex digits",
        ),
        (
            lambda d: d["contents"]["packages"][0].update(apkoci={"sha256": "ab" * 32, "size": -1}),
            "contents.packages[0].apkoci.size",
            "whole number of bytes",
        ),
        (
            lambda d: d["contents"]["repositories"][0].update(architecture=3),
            "contents.repositories[0].architecture",
            "expected a string, got 3",
        ),
    ],
)
def test_bad_locks_name_the_file_and_the_field(tmp_path: Path, edit, field, message):
    data = json.loads(apko_lock_text())
    edit(data)
    path = tmp_path / "broken.lock.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: {field}: "), text
    assert message in text
    assert "apkoci lock" in text  # how to fix it


def test_not_json_and_missing_files(tmp_path: Path):
    path = tmp_path / "x.lock.json"
    path.write_text('{\n  "version": \n')
    with pytest.raises(LockFileError, match=r"x\.lock\.json: is not valid JSON \(line 3"):
        read_lock(path)
    with pytest.raises(LockFileError, match="cannot read lock file .*missing.lock.json"):
        read_lock(tmp_path / "missing.lock.json")


def test_packages_for_arch_keeps_install_order_and_takes_both_spellings():
    lock = _apko_lock()
    names = [p.name for p in packages_for_arch(lock, "arm64")]
    assert names == ["pretend-baselayout", "replayout"]
    assert packages_for_arch(lock, "x86_64") == lock.contents.packages[:2]
    with pytest.raises(LockError, match="nothing for riscv64: it covers x86_64, aarch64"):
        packages_for_arch(lock, "riscv64")


def _index_only(data: dict, checksum: str) -> dict:
    """`data`'s first package as a lock made from an index alone writes it: no ranges."""
    package = data["contents"]["packages"][0]
    for member in ("signature", "control", "data"):
        package[member] = {"range": "", "checksum": ""}
    package.pop("apkoci", None)
    package["checksum"] = checksum
    return data


def test_an_entry_made_from_an_index_alone_is_pinned_by_its_checksum():
    data = _index_only(json.loads(apko_lock_text()), "Q1" + "A" * 27 + "=")
    package = parse_lock(json.dumps(data)).contents.packages[0]
    assert package.control.is_empty and package.data.is_empty
    assert package.identity == "Q1" + "A" * 27 + "="
    assert package.file_size is None and package.sha256 is None


def test_an_entry_with_neither_ranges_nor_a_checksum_is_refused(tmp_path: Path):
    path = tmp_path / "apko.lock.json"
    path.write_text(json.dumps(_index_only(json.loads(apko_lock_text()), "")))
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    message = str(caught.value)
    assert str(path) in message and "contents.packages[0].control.range" in message
    assert "nothing pins this package" in message
