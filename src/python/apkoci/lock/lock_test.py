from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from apkoci.apk.solver import UnsatisfiableError
from apkoci.lock.conftest import APKO_PACKAGES, apko_lock_text, serve_directory
from apkoci.lock.lock import StaleLockError, check_fresh, is_stale, lock_configuration
from apkoci.lock.lockfile import (
    Lock,
    LockError,
    format_lock,
    packages_for_arch,
    parse_lock,
    read_lock,
    write_lock,
)


def _without_extension(lock: Lock) -> Lock:
    packages = tuple(replace(p, sha256=None, size=None) for p in lock.contents.packages)
    return replace(lock, contents=replace(lock.contents, packages=packages))


def _config(directory: Path, repository: str, keyring: str, packages=("replayout",)) -> Path:
    path = directory / "apko.yaml"
    lines = [
        "contents:",
        "  keyring:",
        f"    - {keyring}",
        "  repositories:",
        f"    - {repository}",
    ]
    lines += ["  packages:"] + [f"    - {name}" for name in packages]
    lines += ["archs: [x86_64, aarch64]", ""]
    path.write_text("\n".join(lines))
    return path


def _members(lock: Lock):
    """The lock's packages in the shape of conftest's APKO_PACKAGES."""

    def pair(member):
        return (member.range, member.checksum)

    return [
        (p.name, p.architecture, pair(p.signature), pair(p.control), pair(p.data), p.checksum)
        for p in lock.contents.packages
    ]


def test_locks_apkos_test_configuration_exactly_as_apko_did(apko_workdir: Path):
    lock = lock_configuration("apko.yaml")
    # Field for field (and byte for byte) apko's lock, apart from our extension...
    assert _without_extension(lock) == parse_lock(apko_lock_text())
    assert format_lock(_without_extension(lock)) == apko_lock_text()
    # ... which is the SHA-256 and size of each whole file.
    for package in lock.contents.packages:
        data = (apko_workdir / package.url).read_bytes()
        assert package.sha256 == hashlib.sha256(data).hexdigest()
        assert package.size == len(data)


def test_relative_paths_are_relative_to_the_configuration_not_the_working_directory(
    apko_workdir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(apko_workdir.parent)
    lock = lock_configuration(Path("cli") / "apko.yaml")
    assert lock.config is not None and lock.config.name == "cli/apko.yaml"
    # The lock keeps the configuration's spelling, as apko does.
    assert lock.contents.packages[1].url == "./testdata/packages/x86_64/replayout-1.0.0-r0.apk"
    assert _members(lock) == list(APKO_PACKAGES)


def test_locks_absolute_local_paths(apko_cli: Path, tmp_path: Path):
    config = _config(tmp_path, str(apko_cli / "packages"), str(apko_cli / "melange.rsa.pub"))
    lock = lock_configuration(config)
    assert lock.contents.packages[0].url == str(
        apko_cli / "packages" / "x86_64" / "pretend-baselayout-1.0.0-r0.apk"
    )
    assert lock.contents.keyring[0].url == str(apko_cli / "melange.rsa.pub")
    assert _members(lock) == list(APKO_PACKAGES)


def test_locks_the_architectures_asked_for(apko_workdir: Path):
    lock = lock_configuration("apko.yaml", archs=["arm64"])
    assert lock.architectures == ("aarch64",)
    assert [p.name for p in packages_for_arch(lock, "aarch64")] == [
        "pretend-baselayout",
        "replayout",
    ]
    assert [r.architecture for r in lock.contents.repositories] == ["aarch64"]
    with pytest.raises(LockError, match="unknown architecture 'sparc'"):
        lock_configuration("apko.yaml", archs=["sparc"])


def test_locks_over_http_and_never_writes_credentials(apko_cli: Path, tmp_path: Path):
    with serve_directory(apko_cli / "packages") as base:
        host = base[len("http://") :]
        config = _config(tmp_path, f"http://robot:s3cret@{host}", str(apko_cli / "melange.rsa.pub"))
        lock = lock_configuration(config)
    assert _members(lock) == list(APKO_PACKAGES)
    assert lock.contents.packages[1].url == f"{base}/x86_64/replayout-1.0.0-r0.apk"
    assert lock.contents.repositories[0].name == f"{host}/x86_64"  # apko strips the scheme
    assert lock.contents.repositories[0].url == f"{base}/x86_64/APKINDEX.tar.gz"
    text = format_lock(lock)
    assert "s3cret" not in text and "robot" not in text


def test_a_remote_key_is_pinned_by_sha256_and_size(apko_cli: Path, tmp_path: Path):
    with serve_directory(apko_cli / "packages") as base:
        lock = lock_configuration(_config(tmp_path, base, f"{base}/melange.rsa.pub"))
    key = (apko_cli / "packages" / "melange.rsa.pub").read_bytes()
    (locked,) = lock.contents.keyring
    assert locked.url == f"{base}/melange.rsa.pub"
    assert (locked.sha256, locked.size) == (hashlib.sha256(key).hexdigest(), len(key))
    assert parse_lock(format_lock(lock)).contents.keyring == (locked,)
    # A local key needs no pin: the build reads it from the repository.
    local = lock_configuration(
        _config(tmp_path, str(apko_cli / "packages"), str(apko_cli / "melange.rsa.pub"))
    )
    assert (local.contents.keyring[0].sha256, local.contents.keyring[0].size) == (None, None)


def test_a_package_that_does_not_match_its_index_is_not_locked(apko_cli: Path, tmp_path: Path):
    repository = tmp_path / "packages"
    shutil.copytree(apko_cli / "packages", repository)
    victim = repository / "aarch64" / "replayout-1.0.0-r0.apk"
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF  # inside the data member
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    config = _config(tmp_path, "./packages", str(apko_cli / "melange.rsa.pub"))
    with pytest.raises(LockError) as caught:
        lock_configuration(config)
    message = str(caught.value)
    assert message.startswith("cannot lock replayout-1.0.0-r0 for aarch64: ")
    assert "datahash" in message
    assert str(victim) in message


def test_an_unsatisfiable_world_is_apks_error(apko_cli: Path, tmp_path: Path):
    config = _config(
        tmp_path, str(apko_cli / "packages"), str(apko_cli / "melange.rsa.pub"), ("no-such",)
    )
    with pytest.raises(UnsatisfiableError, match="no-such"):
        lock_configuration(config)


def test_a_changed_configuration_makes_the_lock_stale(apko_workdir: Path):
    lock = lock_configuration("apko.yaml")
    write_lock(lock, "apko.lock.json")
    lock = read_lock("apko.lock.json")
    assert not is_stale(lock, "apko.yaml")
    check_fresh(lock, "apko.yaml", "apko.lock.json")

    # Any edit counts, a comment too: the checksum is apko's, over the raw bytes.
    config = apko_workdir / "apko.yaml"
    config.write_text(config.read_text() + "# a comment\n")
    assert is_stale(lock, "apko.yaml")
    with pytest.raises(StaleLockError) as caught:
        check_fresh(lock, "apko.yaml", "apko.lock.json")
    message = str(caught.value)
    assert message.startswith("apko.lock.json is out of date: apko.yaml ")
    assert "`apkoci lock apko.yaml -o apko.lock.json`" in message
    assert "./pants generate-lockfiles" in message

    # Relocking brings it back.
    write_lock(lock_configuration("apko.yaml"), "apko.lock.json")
    check_fresh(read_lock("apko.lock.json"), "apko.yaml", "apko.lock.json")


def test_a_lock_without_a_config_checksum_cannot_be_fresh(apko_workdir: Path):
    lock = replace(parse_lock(apko_lock_text()), config=None)
    assert is_stale(lock, "apko.yaml")
    with pytest.raises(StaleLockError, match="records no configuration checksum"):
        check_fresh(lock, "apko.yaml", "old.lock.json")


def test_a_tagged_repository_serves_pinned_packages_and_the_tag_stays_out_of_urls(
    apko_cli: Path, tmp_path: Path
):
    repository = f'"@local {apko_cli / "packages"}"'
    keyring = str(apko_cli / "melange.rsa.pub")
    lock = lock_configuration(_config(tmp_path, repository, keyring, ("replayout@local",)))
    assert _members(lock) == list(APKO_PACKAGES)
    assert lock.contents.repositories[0].name == str(apko_cli / "packages" / "x86_64")
    assert all("@local" not in package.url for package in lock.contents.packages)
