"""The lock file (apko's `apko.lock.json`, version v1) as the backend reads it.

What matters here: the configuration checksum (is the lock stale?), the architectures, and for
each package where to get it and how to check it. apkoci's lock step adds to each package, and
to each remote key, `"apkoci": {"sha256": "<hex>", "size": <bytes>}`, so a build can download it
as a pinned, cached file; a lock apko wrote lacks that and its packages go through the engine's
`fetch` step instead.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from apkoci_pants.subsystems import ApkoImageError

LOCK_VERSION = "v1"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class LockfileError(ApkoImageError):
    """A lock file that cannot be used; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Pin:
    """The SHA-256 and size of a whole downloaded file."""

    sha256: str
    size: int


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    arch: str
    url: str
    pin: Optional[Pin]

    @property
    def filename(self) -> str:
        """The name the engine looks the package up by in a packages folder."""
        return f"{self.name}-{self.version}.apk"


@dataclass(frozen=True)
class LockedKey:
    name: str
    url: str
    pin: Optional[Pin]

    @property
    def filename(self) -> str:
        """A key's file name is its name in package signatures (`.SIGN.RSA.<file name>`)."""
        return posixpath.basename(self.url.rstrip("/"))


@dataclass(frozen=True)
class ApkoLock:
    path: str
    config_checksum: str
    keyring: Tuple[LockedKey, ...]
    packages: Tuple[LockedPackage, ...]
    archs: Tuple[str, ...]

    def packages_for(self, arch: str) -> Tuple[LockedPackage, ...]:
        return tuple(package for package in self.packages if package.arch == arch)


class _Reader:
    """Reads the entries of one lock file; errors name the file, the entry and the fix."""

    def __init__(self, path: str, regenerate: str) -> None:
        self.path = path
        self.regenerate = regenerate

    def fail(self, where: str, problem: str) -> LockfileError:
        return LockfileError(
            f"{self.path}: {where}: {problem}. The lock file is broken: write it again with "
            f"`{self.regenerate}`."
        )

    def text(self, entry: Dict[str, Any], key: str, where: str) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
        return value

    def pin(self, entry: Dict[str, Any], where: str) -> Optional[Pin]:
        extension = entry.get("apkoci")
        if extension is None:
            return None
        if not isinstance(extension, dict):
            raise self.fail(f"{where}.apkoci", f"expected a mapping, got {extension!r}")
        sha256, size = extension.get("sha256"), extension.get("size")
        if not isinstance(sha256, str) or not _SHA256_HEX.match(sha256):
            raise self.fail(f"{where}.apkoci.sha256", f"expected 64 hex digits, got {sha256!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise self.fail(f"{where}.apkoci.size", f"expected a byte count, got {size!r}")
        return Pin(sha256, size)

    def entries(self, container: Dict[str, Any], key: str, where: str) -> List[Dict[str, Any]]:
        value = container.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail(f"{where}.{key}", "expected a list of mappings")
        return value


def parse_lock(path: str, content: bytes, regenerate: str) -> ApkoLock:
    """Read a lock file; `path` names it and `regenerate` is the command that rewrites it."""
    reader = _Reader(path, regenerate)
    try:
        document = json.loads(content)
    except ValueError as error:
        raise reader.fail("the file", f"not JSON ({error})") from error
    if not isinstance(document, dict):
        raise reader.fail("the file", "expected a JSON object")
    if document.get("version") != LOCK_VERSION:
        raise reader.fail("version", f"expected {LOCK_VERSION!r}, got {document.get('version')!r}")
    config, contents = document.get("config"), document.get("contents")
    if not isinstance(config, dict) or not isinstance(contents, dict):
        raise reader.fail("the file", "expected `config` and `contents` mappings")

    keyring = tuple(
        LockedKey(
            name=reader.text(entry, "name", where),
            url=reader.text(entry, "url", where),
            pin=reader.pin(entry, where),
        )
        for index, entry in enumerate(reader.entries(contents, "keyring", "contents"))
        for where in [f"contents.keyring[{index}]"]
    )
    packages = tuple(
        LockedPackage(
            name=reader.text(entry, "name", where),
            version=reader.text(entry, "version", where),
            arch=reader.text(entry, "architecture", where),
            url=reader.text(entry, "url", where),
            pin=reader.pin(entry, where),
        )
        for index, entry in enumerate(reader.entries(contents, "packages", "contents"))
        for where in [f"contents.packages[{index}]"]
    )
    repository_archs = {
        reader.text(entry, "architecture", f"contents.{key}[{index}]")
        for key in ("repositories", "build_repositories")
        for index, entry in enumerate(reader.entries(contents, key, "contents"))
    }
    archs = tuple(sorted(repository_archs | {package.arch for package in packages}))
    if not archs:
        raise reader.fail("contents", "no repository and no package, so no architecture")
    return ApkoLock(
        path=path,
        config_checksum=reader.text(config, "checksum", "config"),
        keyring=keyring,
        packages=packages,
        archs=archs,
    )


def lock_for_arch(content: bytes, arch: str) -> bytes:
    """The lock with only `arch`'s packages and repositories, and without the config checksum.

    This is what a layer step gets: editing the configuration's entrypoint, or relocking another
    arch, leaves it byte-identical, so the layer stays a cache hit. Canonical JSON (sorted keys).
    """
    document = json.loads(content)
    contents = dict(document["contents"])
    for key in ("packages", "repositories", "build_repositories", "runtime_repositories"):
        if key in contents:
            contents[key] = [entry for entry in contents[key] if entry.get("architecture") == arch]
    document = {**document, "config": {**document["config"], "checksum": ""}, "contents": contents}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
