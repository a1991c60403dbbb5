"""apko's lock file format (``apko.lock.json``, version ``v1``): the values, the reader, the writer.

A lock pins what an ``apko.yaml`` resolved to, per architecture: the packages in install order, with
where each was found and checksums of its three gzip members (signature, control, data). apko
writes it with Go's ``json.MarshalIndent(lock, "", "  ")`` plus a final newline, the keys in the
order of its Go structs (``pkg/lock/lock.go``)::

    {
      "version": "v1",
      "config": {"name": "apko.yaml", "checksum": "sha256-<base64>"},
      "contents": {
        "keyring": [{"name", "url"}],
        "build_repositories": [{"name", "url", "architecture"}],
        "runtime_repositories": [...],
        "repositories": [...],
        "packages": [{"name", "url", "version", "architecture",
                      "signature": {"range": "bytes=0-646", "checksum": "sha1-<base64>"},
                      "control": {"range": "bytes=647-1660", "checksum": "sha1-<base64>"},
                      "data": {"range": "bytes=1661-2960", "checksum": "sha256-<base64>"},
                      "checksum": "Q1<base64>"}]
      }
    }

:func:`format_lock` writes exactly those bytes (Go escapes ``<``, ``>`` and ``&`` in strings; so do
we). Ranges are HTTP byte ranges, both ends included. An unsigned package has an empty signature
range and checksum. A lock made from an index alone (no package read, e.g.
``examples/alpine/lock_from_index.py``) has empty ranges and checksums for all three members: the
``Q1`` checksum then pins the control member, and its ``datahash`` the data. The ``Q1``
checksum is the package's identity in its index (base64 SHA-1 of the control member, the same
digest as ``control.checksum``); locks written before apko 0.13 lack it,
and locks of older apko versions lack ``config`` and the repository lists other than
``repositories``: all of them read fine.

Our extension: each package may carry ``"apkoci": {"sha256": "<hex>", "size": <bytes>}``, the
SHA-256 and size of the whole ``.apk`` file, written after ``checksum``. It lets a build fetch and
verify a package in one pass, without reading it as an APK first. apko reads such a lock unchanged:
Go's ``json.Unmarshal`` (which apko's ``lock.FromFile`` uses, without ``DisallowUnknownFields``)
skips object keys its struct does not name.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from apkoci.config.model import find_arch
from apkoci.errors import ApkociError

PathLike = Union[str, "os.PathLike[str]"]

LOCK_VERSION = "v1"
EXTENSION_KEY = "apkoci"

_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Digest sizes of the checksum prefixes a lock uses: "sha1-<base64>", "sha256-<base64>", "Q1...".
_DIGEST_SIZES = {"sha1": 20, "sha256": 32}
_APK_CHECKSUM_SIZES = {"Q1": 20, "Q2": 32}
# What Go's encoding/json escapes in strings that Python's json module leaves alone.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class LockFileError(ApkociError):
    """A lock file that cannot be read: the message names the file and the field."""


class LockError(ApkociError):
    """A lock cannot be made or used as asked (e.g. it has no packages for an architecture)."""


# --- The values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockConfig:
    """``config``: the configuration the lock was made from, to tell when it changed.

    ``name`` is the configuration's path as given to the lock command; ``checksum`` is
    :func:`apkoci.config.configuration_checksum` of it (``sha256-<base64>``, includes and all).
    """

    name: str = ""
    checksum: str = ""


@dataclass(frozen=True)
class LockKeyring:
    """A ``contents.keyring`` entry: ``url`` as written in the configuration, ``name`` the same
    without ``https://`` or ``http://``.

    A remote key also carries our extension, its ``sha256`` and ``size``, so that a build can
    download it pinned (as it downloads packages) instead of trusting whatever the URL serves.
    """

    name: str
    url: str
    sha256: Optional[str] = None
    size: Optional[int] = None


@dataclass(frozen=True)
class LockRepository:
    """A repository for one architecture: ``name`` is ``<repository>/<arch>`` (without a tag or
    an http(s) scheme), ``url`` the index, ``<repository>/<arch>/APKINDEX.tar.gz``."""

    name: str
    url: str
    architecture: str


@dataclass(frozen=True)
class LockRange:
    """One gzip member of a package (apko's ``LockPkgRangeAndChecksum``).

    ``range`` is ``bytes=START-END`` (both included); ``checksum`` is ``sha1-<base64>`` for the
    signature and control members, ``sha256-<base64>`` for the data member. Both are empty for
    the signature of an unsigned package.
    """

    range: str = ""
    checksum: str = ""

    @classmethod
    def of(cls, start: int, end: int, algorithm: str, digest: bytes) -> "LockRange":
        """The member at bytes ``[start, end)`` (``end`` excluded) with its ``algorithm`` digest;
        an empty member (``start == end``) gives the empty range."""
        if start == end:
            return cls()
        return cls(
            range=f"bytes={start}-{end - 1}",
            checksum=f"{algorithm}-{base64.b64encode(digest).decode('ascii')}",
        )

    @property
    def is_empty(self) -> bool:
        return not self.range

    @property
    def bounds(self) -> Optional[Tuple[int, int]]:
        """``(start, end)`` with ``end`` excluded, or None for an empty range."""
        match = _RANGE.match(self.range)
        return (int(match.group(1)), int(match.group(2)) + 1) if match else None

    @property
    def digest(self) -> Optional[Tuple[str, bytes]]:
        """``(algorithm, digest bytes)``, e.g. ``("sha1", b"...")``, or None when empty."""
        algorithm, _, encoded = self.checksum.partition("-")
        if not encoded:
            return None
        return algorithm, base64.b64decode(encoded)


@dataclass(frozen=True)
class LockedPackage:
    """A package of the lock, for one architecture.

    ``url`` is where it was found: ``<repository as written>/<arch>/<name>-<version>.apk`` (a
    relative path for a relative local repository). ``checksum`` is the index identity (``Q1...``;
    empty in locks of apko before 0.13). ``sha256`` (hex) and ``size`` of the whole file are our
    extension: None when apko wrote the lock.
    """

    name: str
    url: str
    version: str
    architecture: str
    signature: LockRange
    control: LockRange
    data: LockRange
    checksum: str = ""
    sha256: Optional[str] = None
    size: Optional[int] = None

    @property
    def filename(self) -> str:
        """``<name>-<version>.apk``, the package's file name in its repository."""
        return f"{self.name}-{self.version}.apk"

    @property
    def file_size(self) -> Optional[int]:
        """The size of the whole file: recorded by us, else where apko's data range ends."""
        if self.size is not None:
            return self.size
        bounds = self.data.bounds
        return bounds[1] if bounds is not None else None

    @property
    def identity(self) -> str:
        """The ``Q1...`` index checksum; derived from ``control`` when the lock predates it."""
        if self.checksum:
            return self.checksum
        digest = self.control.digest
        if digest is None or digest[0] != "sha1":
            return ""
        return "Q1" + base64.b64encode(digest[1]).decode("ascii")

    def __str__(self) -> str:
        return f"{self.name}-{self.version} ({self.architecture})"


@dataclass(frozen=True)
class LockContents:
    """``contents``: keys, repositories per architecture and packages, per architecture in
    install order (all of the first architecture, then all of the next, ...)."""

    keyring: Tuple[LockKeyring, ...] = ()
    build_repositories: Tuple[LockRepository, ...] = ()
    runtime_repositories: Tuple[LockRepository, ...] = ()
    repositories: Tuple[LockRepository, ...] = ()
    packages: Tuple[LockedPackage, ...] = ()


@dataclass(frozen=True)
class Lock:
    """A whole lock file. ``config`` is None in locks of apko versions that did not record it."""

    version: str = LOCK_VERSION
    config: Optional[LockConfig] = None
    contents: LockContents = LockContents()

    @property
    def architectures(self) -> Tuple[str, ...]:
        """The APK architectures the lock covers (``x86_64``, ...), in the order it lists them."""
        seen: Dict[str, None] = {}
        for item in self.contents.packages + self.contents.repositories:
            seen.setdefault(item.architecture, None)
        for repository in self.contents.build_repositories + self.contents.runtime_repositories:
            seen.setdefault(repository.architecture, None)
        return tuple(seen)


def packages_for_arch(lock: Lock, arch: str) -> Tuple[LockedPackage, ...]:
    """The packages ``lock`` has for ``arch`` (apko's ``amd64`` or APK's ``x86_64``), in install
    order. Raises :class:`LockError` when the lock does not cover that architecture."""
    found = find_arch(arch)
    apk_arch = found.apk if found is not None else arch
    if apk_arch not in lock.architectures:
        covered = ", ".join(lock.architectures) or "no architecture at all"
        raise LockError(
            f"the lock has nothing for {arch}: it covers {covered}. Add {arch} to the "
            "configuration's `archs` (or pass --arch) and regenerate the lock with "
            "`apkoci lock <config> -o <lock>`"
        )
    return tuple(package for package in lock.contents.packages if package.architecture == apk_arch)


# --- Writing --------------------------------------------------------------------------------------


def _range_data(member: LockRange) -> Dict[str, Any]:
    return {"range": member.range, "checksum": member.checksum}


def _package_data(package: LockedPackage) -> Dict[str, Any]:
    data: Dict[str, Any] = {
        "name": package.name,
        "url": package.url,
        "version": package.version,
        "architecture": package.architecture,
        "signature": _range_data(package.signature),
        "control": _range_data(package.control),
        "data": _range_data(package.data),
        "checksum": package.checksum,
    }
    if package.sha256 is not None and package.size is not None:
        data[EXTENSION_KEY] = {"sha256": package.sha256, "size": package.size}
    return data


def _keyring_data(key: LockKeyring) -> Dict[str, Any]:
    data: Dict[str, Any] = {"name": key.name, "url": key.url}
    if key.sha256 is not None and key.size is not None:
        data[EXTENSION_KEY] = {"sha256": key.sha256, "size": key.size}
    return data


def _repository_data(repository: LockRepository) -> Dict[str, Any]:
    return {
        "name": repository.name,
        "url": repository.url,
        "architecture": repository.architecture,
    }


def lock_data(lock: Lock) -> Dict[str, Any]:
    """The lock as JSON-ready data, keys in apko's order (dicts keep insertion order)."""
    contents = lock.contents
    data: Dict[str, Any] = {"version": lock.version}
    if lock.config is not None:  # apko: `json:"config,omitempty"` on a pointer
        config: Dict[str, Any] = {}
        # Both fields are `omitempty` in apko.
        if lock.config.name:
            config["name"] = lock.config.name
        if lock.config.checksum:
            config["checksum"] = lock.config.checksum
        data["config"] = config
    data["contents"] = {
        "keyring": [_keyring_data(key) for key in contents.keyring],
        "build_repositories": [_repository_data(r) for r in contents.build_repositories],
        "runtime_repositories": [_repository_data(r) for r in contents.runtime_repositories],
        "repositories": [_repository_data(r) for r in contents.repositories],
        "packages": [_package_data(p) for p in contents.packages],
    }
    return data


def format_lock(lock: Lock) -> str:
    """The lock file's text, byte for byte what apko's ``SaveToFile`` writes for the same lock."""
    text = json.dumps(lock_data(lock), indent=2, ensure_ascii=False)
    # These characters can only occur inside JSON strings, so replacing them everywhere is safe.
    for character, escape in _GO_ESCAPES.items():
        text = text.replace(character, escape)
    return text + "\n"


def write_lock(lock: Lock, path: PathLike) -> None:
    """Write the lock to ``path`` atomically: a reader sees the old file or the new one."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(directory))
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(format_lock(lock))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- Reading --------------------------------------------------------------------------------------

T = TypeVar("T")


class _Reader:
    """Typed access to the parsed JSON of one lock file; every error names the file and field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> LockFileError:
        where = f"{self.source}: {field}" if field else self.source
        return LockFileError(
            f"{where}: {message}; regenerate the lock (`apkoci lock <config> -o <lock>`) rather "
            "than editing it by hand"
        )

    def mapping(self, value: Any, field: str, optional: bool = False) -> Dict[str, Any]:
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, f"expected an object, got {_describe(value)}")
        return value

    def items(
        self,
        parent: Dict[str, Any],
        key: str,
        field: str,
        read: Callable[["_Reader", Any, str], T],
    ) -> Tuple[T, ...]:
        """A list of objects, each read by ``read(reader, value, field)``; absent or null (a nil
        slice in Go) is an empty list."""
        value = parent.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(field, f"expected a list, got {_describe(value)}")
        return tuple(read(self, item, f"{field}[{i}]") for i, item in enumerate(value))

    def string(self, parent: Dict[str, Any], key: str, field: str, required: bool = True) -> str:
        value = parent.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            what = (
                "is missing" if key not in parent else f"expected a string, got {_describe(value)}"
            )
            raise self.fail(f"{field}.{key}" if field else key, what)
        if required and not value:
            raise self.fail(f"{field}.{key}" if field else key, "is empty")
        return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value)


def _check_digest(reader: _Reader, checksum: str, field: str, expected: Tuple[str, ...]) -> None:
    algorithm, separator, encoded = checksum.partition("-")
    size = _DIGEST_SIZES.get(algorithm)
    if not separator or algorithm not in expected or size is None:
        wanted = " or ".join(f"'{a}-<base64>'" for a in expected)
        raise reader.fail(field, f"expected {wanted}, got {checksum!r}")
    _check_base64(reader, encoded, size, field, checksum)


def _check_base64(reader: _Reader, encoded: str, size: int, field: str, whole: str) -> None:
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != size:
        raise reader.fail(field, f"{whole!r} is not the base64 of a {size}-byte digest")


def _read_range(
    reader: _Reader, value: Any, field: str, algorithm: str, optional: bool
) -> LockRange:
    mapping = reader.mapping(value, field, optional=optional)
    member = LockRange(
        range=reader.string(mapping, "range", field, required=False),
        checksum=reader.string(mapping, "checksum", field, required=False),
    )
    if member.is_empty and not member.checksum:
        if optional:
            return member
        raise reader.fail(
            f"{field}.range",
            "is empty, and the package has no checksum either: nothing pins this package",
        )
    match = _RANGE.match(member.range)
    if not match or int(match.group(1)) > int(match.group(2)):
        raise reader.fail(
            f"{field}.range", f"expected 'bytes=START-END' (START <= END), got {member.range!r}"
        )
    _check_digest(reader, member.checksum, f"{field}.checksum", (algorithm,))
    return member


def _read_extension(reader: _Reader, value: Any, field: str) -> Tuple[Optional[str], Optional[int]]:
    if value is None:
        return None, None
    mapping = reader.mapping(value, field)
    sha256 = reader.string(mapping, "sha256", field)
    if not _SHA256_HEX.match(sha256):
        raise reader.fail(f"{field}.sha256", f"expected 64 lower-case hex digits, got {sha256!r}")
    size = mapping.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise reader.fail(
            f"{field}.size", f"expected a whole number of bytes, got {_describe(size)}"
        )
    return sha256, size


def _read_package(reader: _Reader, value: Any, field: str) -> LockedPackage:
    mapping = reader.mapping(value, field)
    checksum = reader.string(mapping, "checksum", field, required=False)
    if checksum:
        kind = checksum[:2]
        if kind not in _APK_CHECKSUM_SIZES:
            raise reader.fail(f"{field}.checksum", f"expected 'Q1<base64>', got {checksum!r}")
        _check_base64(
            reader, checksum[2:], _APK_CHECKSUM_SIZES[kind], f"{field}.checksum", checksum
        )
    sha256, size = _read_extension(reader, mapping.get(EXTENSION_KEY), f"{field}.{EXTENSION_KEY}")
    return LockedPackage(
        name=reader.string(mapping, "name", field),
        url=reader.string(mapping, "url", field),
        version=reader.string(mapping, "version", field),
        architecture=reader.string(mapping, "architecture", field),
        signature=_read_range(reader, mapping.get("signature"), f"{field}.signature", "sha1", True),
        # A lock made from an index alone (no package read) has no member ranges: its Q1
        # checksum pins the control member, whose datahash pins the data (apk-tools' own chain).
        control=_read_range(
            reader, mapping.get("control"), f"{field}.control", "sha1", bool(checksum)
        ),
        data=_read_range(reader, mapping.get("data"), f"{field}.data", "sha256", bool(checksum)),
        checksum=checksum,
        sha256=sha256,
        size=size,
    )


def _read_repository(reader: _Reader, value: Any, field: str) -> LockRepository:
    mapping = reader.mapping(value, field)
    return LockRepository(
        name=reader.string(mapping, "name", field),
        url=reader.string(mapping, "url", field),
        architecture=reader.string(mapping, "architecture", field),
    )


def _read_keyring(reader: _Reader, value: Any, field: str) -> LockKeyring:
    mapping = reader.mapping(value, field)
    sha256, size = _read_extension(reader, mapping.get(EXTENSION_KEY), f"{field}.{EXTENSION_KEY}")
    return LockKeyring(
        name=reader.string(mapping, "name", field),
        url=reader.string(mapping, "url", field),
        sha256=sha256,
        size=size,
    )


def parse_lock(text: str, source: str = "lock file") -> Lock:
    """Parse a lock file's text; errors name ``source`` and the field."""
    reader = _Reader(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise reader.fail(
            "", f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    root = reader.mapping(data, "")
    version = reader.string(root, "version", "")
    if version != LOCK_VERSION:
        raise reader.fail(
            "version", f"is {version!r}, but only lock format {LOCK_VERSION!r} is known"
        )
    config: Optional[LockConfig] = None
    if root.get("config") is not None:
        config_data = reader.mapping(root["config"], "config")
        config = LockConfig(
            name=reader.string(config_data, "name", "config", required=False),
            checksum=reader.string(config_data, "checksum", "config", required=False),
        )
    if "contents" not in root:
        raise reader.fail("contents", "is missing")
    contents = reader.mapping(root["contents"], "contents")

    def repositories(key: str) -> Tuple[LockRepository, ...]:
        return reader.items(contents, key, f"contents.{key}", _read_repository)

    return Lock(
        version=version,
        config=config,
        contents=LockContents(
            keyring=reader.items(contents, "keyring", "contents.keyring", _read_keyring),
            build_repositories=repositories("build_repositories"),
            runtime_repositories=repositories("runtime_repositories"),
            repositories=repositories("repositories"),
            packages=reader.items(contents, "packages", "contents.packages", _read_package),
        ),
    )


def read_lock(path: PathLike) -> Lock:
    """Read and validate the lock file at ``path`` (ours, or one apko wrote)."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise LockFileError(
            f"cannot read lock file {source}: {error.strerror or error}; create it with "
            "`apkoci lock <config> -o <lock>`"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LockFileError(f"{source}: is not UTF-8 text ({error})") from None
    return parse_lock(text, source)


__all__: List[str] = [
    "EXTENSION_KEY",
    "LOCK_VERSION",
    "Lock",
    "LockConfig",
    "LockContents",
    "LockError",
    "LockFileError",
    "LockKeyring",
    "LockRange",
    "LockRepository",
    "LockedPackage",
    "format_lock",
    "lock_data",
    "packages_for_arch",
    "parse_lock",
    "read_lock",
    "write_lock",
]
