from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest
from apkoci_pants import register
from apkoci_pants.rules.config import StagedConfig, StagedConfigRequest, apko_checksum
from apkoci_pants.rules.fetch import ArchPackages, ArchPackagesRequest, Keyring, KeyringRequest
from apkoci_pants.rules.lock import CheckedLock, CheckedLockRequest
from apkoci_pants.target_types import ApkoImageConfigField
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

# What runs the engine's processes (as in package_test.py).
INHERITED_ENV = {"PATH", "PYENV_ROOT", "HOME", "CI"} | {
    name for name in os.environ if name.startswith("PANTS_PEX_CLI_")
}
OPTIONS = [
    "--python-bootstrap-search-path=['<PATH>', '<PYENV>']",
    "--subprocess-environment-env-vars=['XDG_CONFIG_DIRS=/nonexistent']",
]
# A real Alpine package (aarch64) and its identity (its index stanza's `C:`, the SHA-1 of its
# control member).
BASELAYOUT = "alpine-baselayout-3.2.0-r23.apk"
BASELAYOUT_Q1 = "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc="

CONFIG = b"contents:\n  keyring: [./keys/local.rsa.pub]\n  repositories: [./repo]\n"


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=register.target_types(),
        rules=[
            *register.rules(),
            QueryRule(StagedConfig, [StagedConfigRequest]),
            QueryRule(CheckedLock, [CheckedLockRequest]),
            QueryRule(ArchPackages, [ArchPackagesRequest]),
            QueryRule(Keyring, [KeyringRequest]),
            QueryRule(DigestContents, [Digest]),
        ],
    )
    runner.set_options(OPTIONS, env_inherit=INHERITED_ENV)
    runner.write_files(
        {
            "img/BUILD": "apko_image()",
            "img/apko.yaml": CONFIG,
            "img/keys/local.rsa.pub": "local key",
            "img/repo/x86_64/APKINDEX.tar.gz": "index",
            "img/repo/x86_64/local-1.0-r0.apk": "local package",
        }
    )
    return runner


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An HTTP server for `tmp_path`: a remote repository without the network."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def pin(content: bytes) -> dict:
    return {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def checked_lock(rule_runner: RuleRunner, keyring: list, packages: list):
    lock = {
        "version": "v1",
        "config": {"name": "apko.yaml", "checksum": apko_checksum([CONFIG])},
        "contents": {
            "keyring": keyring,
            "repositories": [{"name": "r", "url": "u", "architecture": "x86_64"}],
            "packages": packages,
        },
    }
    rule_runner.write_files({"img/apko.lock.json": json.dumps(lock)})
    target = rule_runner.get_target(Address("img"))
    staged = rule_runner.request(
        StagedConfig, [StagedConfigRequest(target.address, target[ApkoImageConfigField])]
    )
    checked = rule_runner.request(CheckedLock, [CheckedLockRequest(staged, "img/apko.lock.json")])
    return staged, checked


def files(rule_runner: RuleRunner, digest: Digest) -> dict:
    return {f.path: f.content for f in rule_runner.request(DigestContents, [digest])}


def package(name: str, url: str, **extra) -> dict:
    return {"name": name, "version": "1.0-r0", "architecture": "x86_64", "url": url, **extra}


def test_packages_come_from_the_workspace_and_pinned_downloads(
    rule_runner: RuleRunner, server: str, tmp_path: Path
) -> None:
    remote = b"remote package"
    (tmp_path / "x86_64").mkdir()
    # The file name in the URL is not the one the engine looks for: the package is renamed.
    (tmp_path / "x86_64" / "remote-1.0-r0%2Bx.apk").write_bytes(remote)
    staged, lock = checked_lock(
        rule_runner,
        keyring=[],
        packages=[
            package("local", "./repo/x86_64/local-1.0-r0.apk"),
            package("remote", f"{server}/x86_64/remote-1.0-r0%252Bx.apk", apkoci=pin(remote)),
        ],
    )
    fetched = rule_runner.request(ArchPackages, [ArchPackagesRequest(staged, lock, "x86_64")])
    assert fetched.count == 2
    assert files(rule_runner, fetched.digest) == {
        "packages/local-1.0-r0.apk": b"local package",
        "packages/remote-1.0-r0.apk": remote,
    }
    # An arch without packages still gets its (empty) folder.
    empty = rule_runner.request(ArchPackages, [ArchPackagesRequest(staged, lock, "aarch64")])
    assert (empty.count, files(rule_runner, empty.digest)) == (0, {})


def test_a_download_that_does_not_match_its_pin_fails(
    rule_runner: RuleRunner, server: str, tmp_path: Path
) -> None:
    (tmp_path / "changed-1.0-r0.apk").write_bytes(b"not what was locked")
    staged, lock = checked_lock(
        rule_runner,
        keyring=[],
        packages=[package("changed", f"{server}/changed-1.0-r0.apk", apkoci=pin(b"locked"))],
    )
    with pytest.raises(ExecutionError, match="changed-1.0-r0.apk, which img/apko.lock.json pins"):
        rule_runner.request(ArchPackages, [ArchPackagesRequest(staged, lock, "x86_64")])


def test_keyring(rule_runner: RuleRunner, server: str, tmp_path: Path) -> None:
    (tmp_path / "remote.rsa.pub").write_bytes(b"remote key")
    staged, lock = checked_lock(
        rule_runner,
        keyring=[
            {"name": "./keys/local.rsa.pub", "url": "./keys/local.rsa.pub"},
            {"name": "remote", "url": f"{server}/remote.rsa.pub", "apkoci": pin(b"remote key")},
        ],
        packages=[],
    )
    keyring = rule_runner.request(Keyring, [KeyringRequest(staged, lock)])
    assert files(rule_runner, keyring.digest) == {
        "keys/local.rsa.pub": b"local key",
        "keys/remote.rsa.pub": b"remote key",
    }


def test_an_unpinned_remote_key_is_refused(rule_runner: RuleRunner) -> None:
    staged, lock = checked_lock(
        rule_runner,
        keyring=[{"name": "k", "url": "https://example.com/k.rsa.pub"}],
        packages=[],
    )
    with pytest.raises(ExecutionError, match="does not pin the key.*https://example.com/k.rsa.pub"):
        rule_runner.request(Keyring, [KeyringRequest(staged, lock)])


def index_only(name: str, version: str, url: str, checksum: str) -> dict:
    """A lock entry made from an index alone (examples/alpine/lock_from_index.py): Q1 only."""
    empty = {"range": "", "checksum": ""}
    return {
        "name": name,
        "url": url,
        "version": version,
        "architecture": "aarch64",
        "signature": empty,
        "control": empty,
        "data": empty,
        "checksum": checksum,
    }


def real_package(*parts: str) -> Path:
    # The engine's modules reach the tests as the resources of src/python:engine-modules.
    from apkoci.testing import shared_testdata  # pants: no-infer-dep

    return shared_testdata(*parts)


def test_a_package_pinned_by_its_index_checksum_alone_is_fetched_and_verified(
    rule_runner: RuleRunner, server: str, tmp_path: Path
) -> None:
    real = real_package("alpine", "packages", BASELAYOUT)
    shutil.copy(real, tmp_path / BASELAYOUT)
    staged, lock = checked_lock(
        rule_runner,
        keyring=[],
        packages=[
            index_only("alpine-baselayout", "3.2.0-r23", f"{server}/{BASELAYOUT}", BASELAYOUT_Q1)
        ],
    )
    fetched = rule_runner.request(ArchPackages, [ArchPackagesRequest(staged, lock, "aarch64")])
    assert fetched.count == 1
    assert files(rule_runner, fetched.digest) == {f"packages/{BASELAYOUT}": real.read_bytes()}


def test_a_package_that_is_not_the_indexed_one_is_refused(
    rule_runner: RuleRunner, server: str, tmp_path: Path
) -> None:
    # Another real package, served where the locked one was.
    shutil.copy(real_package("wolfi", "hello-2.12-r0.apk"), tmp_path / BASELAYOUT)
    staged, lock = checked_lock(
        rule_runner,
        keyring=[],
        packages=[
            index_only("alpine-baselayout", "3.2.0-r23", f"{server}/{BASELAYOUT}", BASELAYOUT_Q1)
        ],
    )
    with pytest.raises(ExecutionError, match=f"but the lock says {BASELAYOUT_Q1}"):
        rule_runner.request(ArchPackages, [ArchPackagesRequest(staged, lock, "aarch64")])
