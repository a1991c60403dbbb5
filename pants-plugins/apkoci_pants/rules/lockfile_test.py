from __future__ import annotations

import json

import pytest
from apkoci_pants.rules.lockfile import LockfileError, Pin, lock_for_arch, parse_lock

SHA = "ab" * 32
REGENERATE = "pants generate-lockfiles --resolve=img:img"


def package(name: str, arch: str, **extra) -> dict:
    return {
        "name": name,
        "url": f"https://example.com/os/{arch}/{name}-1.0-r0.apk",
        "version": "1.0-r0",
        "architecture": arch,
        "checksum": "Q1abc=",
        **extra,
    }


def lock_document(**contents) -> dict:
    return {
        "version": "v1",
        "config": {"name": "apko.yaml", "checksum": "sha256-xyz="},
        "contents": {
            "keyring": [
                {"name": "example.com/key.rsa.pub", "url": "https://example.com/key.rsa.pub"},
                {"name": "./local.rsa.pub", "url": "./local.rsa.pub"},
            ],
            "repositories": [
                {"name": f"example.com/os/{arch}", "url": "u", "architecture": arch}
                for arch in ("x86_64", "aarch64")
            ],
            "packages": [
                package("busybox", "x86_64", apkoci={"sha256": SHA, "size": 123}),
                package("busybox", "aarch64"),
            ],
            **contents,
        },
    }


def encode(document: dict) -> bytes:
    return json.dumps(document).encode()


def test_parse_lock() -> None:
    lock = parse_lock("img/apko.lock.json", encode(lock_document()), REGENERATE)
    assert lock.config_checksum == "sha256-xyz="
    assert lock.archs == ("aarch64", "x86_64")
    (x86,) = lock.packages_for("x86_64")
    assert (x86.filename, x86.pin) == ("busybox-1.0-r0.apk", Pin(SHA, 123))
    assert lock.packages_for("aarch64")[0].pin is None
    assert [key.filename for key in lock.keyring] == ["key.rsa.pub", "local.rsa.pub"]


def test_archs_of_a_lock_without_packages() -> None:
    lock = parse_lock("l", encode(lock_document(packages=[])), REGENERATE)
    assert lock.archs == ("aarch64", "x86_64")
    with pytest.raises(LockfileError, match="no architecture"):
        parse_lock("l", encode(lock_document(packages=[], repositories=[])), REGENERATE)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"version": "v2"}, "version: expected 'v1', got 'v2'"),
        ({**lock_document(), "config": {"name": "apko.yaml"}}, "config.checksum"),
        (lock_document(packages=[{"name": "a"}]), r"contents.packages\[0\].version"),
        (
            lock_document(packages=[package("a", "x86_64", apkoci={"sha256": "no", "size": 1})]),
            r"contents.packages\[0\].apkoci.sha256: expected 64 hex digits",
        ),
        (
            lock_document(packages=[package("a", "x86_64", apkoci={"sha256": SHA, "size": -1})]),
            r"apkoci.size: expected a byte count",
        ),
        (lock_document(keyring="k"), "contents.keyring: expected a list of mappings"),
    ],
)
def test_broken_locks(document: dict, message: str) -> None:
    with pytest.raises(LockfileError, match=message) as error:
        parse_lock("img/apko.lock.json", encode(document), REGENERATE)
    assert str(error.value).startswith("img/apko.lock.json: ")
    assert REGENERATE in str(error.value)


def test_not_json() -> None:
    with pytest.raises(LockfileError, match="not JSON"):
        parse_lock("l", b"{", REGENERATE)


def test_lock_for_arch_keeps_only_what_the_layer_needs() -> None:
    document = lock_document(
        runtime_repositories=[{"name": "r", "url": "r", "architecture": "aarch64"}]
    )
    x86 = json.loads(lock_for_arch(encode(document), "x86_64"))
    assert x86["config"] == {"name": "apko.yaml", "checksum": ""}
    assert [p["architecture"] for p in x86["contents"]["packages"]] == ["x86_64"]
    assert [r["architecture"] for r in x86["contents"]["repositories"]] == ["x86_64"]
    assert x86["contents"]["runtime_repositories"] == []
    assert x86["contents"]["keyring"] == document["contents"]["keyring"]

    # Another config checksum, or another arch's packages, give the same bytes.
    changed = lock_document()
    changed["config"]["checksum"] = "sha256-other="
    changed["contents"]["packages"][1]["version"] = "2.0-r0"
    changed["contents"]["runtime_repositories"] = []
    assert lock_for_arch(encode(changed), "x86_64") == lock_for_arch(encode(document), "x86_64")
