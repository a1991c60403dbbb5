from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import List

import pytest
from apkoci.lock.conftest import apko_lock_text, serve_directory
from apkoci.lock.fetch import FetchError, fetch_locked_packages
from apkoci.lock.lock import lock_configuration
from apkoci.lock.lock_test import _config, _without_extension
from apkoci.lock.lockfile import Lock, LockError, parse_lock

NAMES = ["pretend-baselayout-1.0.0-r0.apk", "replayout-1.0.0-r0.apk"]


def _listing(directory: Path) -> List[str]:
    return sorted(path.name for path in directory.iterdir())


def _same_files(out: Path, repository: Path, arch: str) -> None:
    assert _listing(out) == NAMES
    for name in NAMES:
        assert (out / name).read_bytes() == (repository / arch / name).read_bytes()


@pytest.fixture
def own_repository(apko_cli: Path, tmp_path: Path) -> Path:
    """A writable copy of apko's test repository, to change packages in after locking."""
    repository = tmp_path / "repo" / "packages"
    shutil.copytree(apko_cli / "packages", repository)
    for path in repository.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return repository


def _lock_of(repository: Path, keyring: Path) -> Lock:
    return lock_configuration(_config(repository.parent, "./packages", str(keyring)))


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_fetches_a_lock_with_relative_paths(apko_workdir: Path, apko_cli: Path, tmp_path: Path):
    lock = lock_configuration("apko.yaml")
    written = fetch_locked_packages(lock, "amd64", tmp_path / "out")
    assert [path.name for path in written] == NAMES  # install order
    _same_files(tmp_path / "out", apko_cli / "packages", "x86_64")


def test_relative_paths_are_found_beside_the_configuration_the_lock_names(
    apko_workdir: Path, apko_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(apko_workdir.parent)
    lock = lock_configuration("cli/apko.yaml")
    fetch_locked_packages(lock, "aarch64", tmp_path / "out")
    _same_files(tmp_path / "out", apko_cli / "packages", "aarch64")
    # An explicit base folder wins.
    with pytest.raises(FetchError, match="cannot read .*elsewhere/testdata/packages/aarch64/"):
        fetch_locked_packages(lock, "aarch64", tmp_path / "out2", base_dir=tmp_path / "elsewhere")


def test_fetches_a_lock_apko_wrote(apko_workdir: Path, apko_cli: Path, tmp_path: Path):
    # No sha256 in apko's lock: each file is checked by its control checksum and data digest.
    fetch_locked_packages(parse_lock(apko_lock_text()), "aarch64", tmp_path / "out")
    _same_files(tmp_path / "out", apko_cli / "packages", "aarch64")


def test_fetches_over_http(apko_cli: Path, tmp_path: Path):
    with serve_directory(apko_cli / "packages") as base:
        lock = lock_configuration(_config(tmp_path, base, str(apko_cli / "melange.rsa.pub")))
        fetch_locked_packages(lock, "x86_64", tmp_path / "out")
        fetch_locked_packages(_without_extension(lock), "aarch64", tmp_path / "out-apko")
    _same_files(tmp_path / "out", apko_cli / "packages", "x86_64")
    _same_files(tmp_path / "out-apko", apko_cli / "packages", "aarch64")


def test_a_changed_package_is_refused_and_nothing_half_written_is_left(
    apko_cli: Path, own_repository: Path, tmp_path: Path
):
    lock = _lock_of(own_repository, apko_cli / "melange.rsa.pub")
    victim = own_repository / "x86_64" / "replayout-1.0.0-r0.apk"
    _flip_byte(victim, 2000)  # in the data member
    out = tmp_path / "out"
    with pytest.raises(FetchError) as caught:
        fetch_locked_packages(lock, "x86_64", out)
    message = str(caught.value)
    assert message.startswith(f"replayout-1.0.0-r0 (x86_64) from {victim} has SHA-256 ")
    assert "but the lock says SHA-256 " in message
    # The package before it was fine and stays; of the bad one nothing, not even a temporary.
    assert _listing(out) == ["pretend-baselayout-1.0.0-r0.apk"]


@pytest.mark.parametrize(
    "tamper, expected",
    [
        # Another build of the same package: a different control member, so a different Q1.
        (
            lambda repo: shutil.copyfile(
                repo / "aarch64" / "replayout-1.0.0-r0.apk",
                repo / "x86_64" / "replayout-1.0.0-r0.apk",
            ),
            "has the control checksum Q1u62watWiRSQgVtAIuVuYoDOaVO4=, but the lock says "
            "Q11/HhSewwwOXgl0r0ffb0O0BRtYc=",
        ),
        (
            lambda repo: _flip_byte(repo / "x86_64" / "replayout-1.0.0-r0.apk", 2000),
            "has the data checksum sha256-",
        ),
        (
            lambda repo: (repo / "x86_64" / "replayout-1.0.0-r0.apk").write_bytes(b"<html>"),
            "is not an APK file",
        ),
    ],
)
def test_without_sha256_a_changed_package_is_refused_by_its_checksums(
    apko_cli: Path, own_repository: Path, tmp_path: Path, tamper, expected
):
    lock = _without_extension(_lock_of(own_repository, apko_cli / "melange.rsa.pub"))
    tamper(own_repository)
    out = tmp_path / "out"
    with pytest.raises(FetchError) as caught:
        fetch_locked_packages(lock, "x86_64", out)
    message = str(caught.value)
    assert message.startswith("replayout-1.0.0-r0 (x86_64)")
    assert str(own_repository / "x86_64" / "replayout-1.0.0-r0.apk") in message
    assert expected in message
    assert _listing(out) == ["pretend-baselayout-1.0.0-r0.apk"]


def test_over_http_a_longer_file_or_a_missing_one_is_refused(
    apko_cli: Path, own_repository: Path, tmp_path: Path
):
    with serve_directory(own_repository) as base:
        lock = lock_configuration(_config(tmp_path, base, str(apko_cli / "melange.rsa.pub")))
        victim = own_repository / "aarch64" / "pretend-baselayout-1.0.0-r0.apk"
        victim.write_bytes(victim.read_bytes() + b"\0" * 10)
        with pytest.raises(FetchError, match=r"larger than the 2930 bytes expected"):
            fetch_locked_packages(lock, "aarch64", tmp_path / "out")
        # apko's lock has no size, but its data range ends where the file does.
        with pytest.raises(FetchError, match=r"larger than the 2930 bytes expected"):
            fetch_locked_packages(_without_extension(lock), "aarch64", tmp_path / "out")
        victim.unlink()
        with pytest.raises(FetchError) as caught:
            fetch_locked_packages(lock, "aarch64", tmp_path / "out")
    message = str(caught.value)
    assert message.startswith("pretend-baselayout-1.0.0-r0 (aarch64): fetching ")
    assert f"{base}/aarch64/pretend-baselayout-1.0.0-r0.apk failed: HTTP 404" in message
    assert _listing(tmp_path / "out") == []


def test_an_architecture_the_lock_lacks(apko_workdir: Path, tmp_path: Path):
    lock = replace(lock_configuration("apko.yaml", archs=["x86_64"]))
    with pytest.raises(LockError, match="nothing for aarch64: it covers x86_64"):
        fetch_locked_packages(lock, "aarch64", tmp_path / "out")
