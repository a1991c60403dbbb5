"""Locking an ``apko.yaml``: resolve its packages per architecture and pin every file.

``lock_configuration(config_path)`` does what ``apko lock`` does: for each architecture, load the
repositories' signed indexes, resolve ``contents.packages`` the way apk-tools would on an empty root
(:func:`apkoci.apk.solver.resolve`), and record each chosen package with the byte ranges and
digests of its gzip members, plus (our extension) the SHA-256 and size of the whole ``.apk``. Every
package is read to compute them: local ones in place, remote ones downloaded to a temporary folder.
Each is also checked against its index entry (control checksum) and its own ``datahash``, so a lock
never pins a file that apk-tools would refuse.

Following apko (``pkg/build`` and ``internal/cli/lock.go``):

- packages are resolved from ``build_repositories`` and ``repositories`` together, sorted and
  without duplicates (apko puts them in a Go string set); ``runtime_repositories`` are only
  written to the image, but listed in the lock; the world is ``contents.packages``, also sorted
  and deduplicated;
- repositories, keys and package URLs are written as the configuration spells them (a relative
  path stays relative), the architecture appended: ``<repo>/<arch>/<name>-<version>.apk``;
- keyring entries are sorted by name; packages are listed per architecture in install order, the
  architectures in the order asked for (or the configuration's ``archs``).

Where we differ, on purpose: relative local paths (repositories, keys) are relative to the
configuration file's folder, not to the working directory; credentials in a URL
(``https://user:token@host``) are used but never written into the lock; a package's
``architecture`` is the architecture it was locked for (apko copies the index's ``A:`` field, the
same in every index built with ``--rewrite-arch``, and ``noarch`` otherwise, which would leave the
package out of every architecture's install); inline keys (``name:``/``content:``) have no URL and
are not listed in the lock's keyring (the lock's ``config.checksum`` covers them).

A lock is *stale* when its configuration changed: :func:`check_fresh` compares the lock's
``config.checksum`` with :func:`apkoci.config.configuration_checksum` of the configuration.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from apkoci.apk.index import Package
from apkoci.apk.repository import (
    DEFAULT_TIMEOUT_SECONDS,
    INDEX_FILENAME,
    Repository,
    RepositoryIndex,
    fetch_url,
    load_index,
    redact_url,
)
from apkoci.apk.signature import Keyring
from apkoci.apk.solver import ResolvedPackage, resolve
from apkoci.config import (
    Arch,
    Contents,
    KeyringEntry,
    configuration_checksum,
    find_arch,
    load_configuration,
)
from apkoci.errors import ApkociError
from apkoci.lock.fetch import download, is_remote, local_path, naming_source, without_credentials
from apkoci.lock.lockfile import (
    Lock,
    LockConfig,
    LockContents,
    LockedPackage,
    LockError,
    LockKeyring,
    LockRepository,
    packages_for_arch,
)
from apkoci.lock.packagefile import measure_package

PathLike = Union[str, "os.PathLike[str]"]

# Packages are read (downloaded) this many at a time; the lock does not depend on it.
DEFAULT_JOBS = 8

REGENERATE_HINT = (
    "`apkoci lock {config} -o {lock}` (in a Pants repository: `./pants generate-lockfiles`)"
)


class StaleLockError(ApkociError):
    """The lock was made from a different version of its configuration."""


# --- Spellings written into the lock --------------------------------------------------------------


def _strip_scheme(url: str) -> str:
    """apko's ``stripURLScheme``: the name of a keyring entry or repository."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


def lock_base(spelling: str) -> str:
    """A repository as the lock writes it: without ``@tag`` prefixes (apko's ``RemoveLabel``),
    credentials or a trailing ``/``."""
    words = spelling.split()
    while words and words[0].startswith("@"):
        words = words[1:]
    base = words[0] if words else spelling
    return without_credentials(base).rstrip("/") or base


def lock_repository(spelling: str, arch: Arch) -> LockRepository:
    base = f"{lock_base(spelling)}/{arch.apk}"
    return LockRepository(
        name=_strip_scheme(base), url=f"{base}/{INDEX_FILENAME}", architecture=arch.apk
    )


def lock_keyring(
    entries: Sequence[KeyringEntry], remote_keys: Mapping[str, bytes]
) -> Tuple[LockKeyring, ...]:
    """The lock's keyring; ``remote_keys`` (URL -> the bytes fetched) pins each remote key."""
    keys = []
    for entry in entries:
        if entry.is_inline:
            continue
        url = without_credentials(entry.uri)
        fetched = remote_keys.get(entry.uri)
        keys.append(
            LockKeyring(
                name=_strip_scheme(url),
                url=url,
                sha256=hashlib.sha256(fetched).hexdigest() if fetched is not None else None,
                size=len(fetched) if fetched is not None else None,
            )
        )
    return tuple(sorted(keys, key=lambda key: key.name))  # apko sorts by name (stable)


# --- Inputs: architectures, keys, repositories ----------------------------------------------------


def _archs(
    requested: Optional[Sequence[Union[str, Arch]]], configured: Tuple[Arch, ...]
) -> Tuple[Arch, ...]:
    if not requested:
        return configured
    result: List[Arch] = []
    for item in requested:
        arch = item if isinstance(item, Arch) else find_arch(item)
        if arch is None:
            raise LockError(
                f"unknown architecture {item!r}: use apko's or APK's name, e.g. amd64 or x86_64, "
                "arm64 or aarch64"
            )
        if arch not in result:
            result.append(arch)
    return tuple(result)


def load_keyring(
    entries: Sequence[KeyringEntry],
    base_dir: Path,
    timeout: float,
    remote_keys: Optional[Dict[str, bytes]] = None,
) -> Keyring:
    """The keyring of ``entries``; the bytes of each remote key go into ``remote_keys`` (by URL)."""
    keyring = Keyring()
    for entry in entries:
        if entry.is_inline:
            part = Keyring.from_files({entry.name: entry.content.encode("utf-8")})
        elif is_remote(entry.uri):
            name = urllib.parse.urlsplit(entry.uri).path.rstrip("/").rpartition("/")[2]
            data = fetch_url(entry.uri, timeout=timeout, limit=1024 * 1024)
            if remote_keys is not None:
                remote_keys[entry.uri] = data
            part = Keyring.from_files({name or "key.rsa.pub": data})
        else:
            part = Keyring.from_paths([local_path(entry.uri, base_dir)])
        keyring = keyring.merged(part)
    return keyring


@dataclass(frozen=True)
class _Source:
    """A repository packages are resolved from: as written, and parsed (paths made absolute)."""

    spelling: str
    repository: Repository


def resolution_sources(contents: Contents, base_dir: Path) -> Tuple[_Source, ...]:
    sources: List[_Source] = []
    seen = set()
    for spelling in sorted(set(contents.build_repositories + contents.repositories)):
        repository = Repository.parse(spelling, base_dir=base_dir)
        if repository not in seen:  # "./packages" and "packages/" are one repository
            seen.add(repository)
            sources.append(_Source(spelling, repository))
    return tuple(sources)


# --- Locking one package --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    package: Package
    arch: Arch
    source: _Source

    @property
    def location(self) -> str:
        """Where to read the package now (absolute path or URL, credentials included)."""
        return self.source.repository.package_url(self.arch.apk, self.package.filename)

    @property
    def lock_url(self) -> str:
        return f"{lock_base(self.source.spelling)}/{self.arch.apk}/{self.package.filename}"


def _lock_package(job: _Job, scratch: Path, timeout: float) -> LockedPackage:
    package, location = job.package, job.location
    shown = redact_url(location)
    remote = is_remote(location)
    path = scratch / f"{job.arch.apk}-{package.filename}" if remote else local_path(location, ".")
    try:
        if remote:
            download(location, path, limit=package.size or None, timeout=timeout)
        measured = measure_package(path)
        if package.checksum:
            measured.apk.verify_checksum(package.checksum)
        measured.apk.verify_data_hash()
    except ApkociError as error:
        raise LockError(
            f"cannot lock {package.name}-{package.version} for {job.arch.apk}: "
            + naming_source(error, path, shown)
        ) from None
    finally:
        if remote and path.exists():
            path.unlink()
    return LockedPackage(
        name=package.name,
        url=job.lock_url,
        version=package.version,
        architecture=job.arch.apk,
        signature=measured.signature,
        control=measured.control,
        data=measured.data,
        checksum=package.checksum or measured.checksum,
        sha256=measured.sha256,
        size=measured.size,
    )


def _source_of(resolved: ResolvedPackage, sources: Sequence[_Source]) -> _Source:
    for source in sources:
        if source.repository == resolved.repository:
            return source
    raise LockError(
        f"{resolved.package.name}-{resolved.package.version} was resolved from no configured "
        "repository; this is a bug in apkoci, please report it"
    )


# --- Locking a configuration ----------------------------------------------------------------------


def lock_configuration(
    config_path: PathLike,
    archs: Optional[Sequence[Union[str, Arch]]] = None,
    *,
    include_paths: Sequence[PathLike] = (),
    config_name: Optional[str] = None,
    allow_untrusted: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    jobs: int = DEFAULT_JOBS,
) -> Lock:
    """Resolve the configuration at ``config_path`` for ``archs`` and pin every package.

    ``archs`` are apko's or APK's names (``amd64``/``x86_64``); by default the configuration's
    ``archs`` (all of apko's when it names none). ``config_name`` is what the lock records as the
    configuration's name (default: ``config_path`` as given). ``allow_untrusted`` accepts indexes
    no key of the keyring signed. Raises the engine's errors: ConfigError, RepositoryError,
    UnsatisfiableError, LockError (naming the package and URL), ...
    """
    config = load_configuration(config_path, include_paths)
    checksum = configuration_checksum(config_path, include_paths)
    base_dir = Path(os.path.dirname(os.path.abspath(config_path)))
    contents = config.contents
    targets = _archs(archs, config.archs)
    remote_keys: Dict[str, bytes] = {}
    keyring = load_keyring(contents.keyring, base_dir, timeout, remote_keys)
    sources = resolution_sources(contents, base_dir)
    world = sorted({spec.text for spec in contents.packages})

    packages: List[LockedPackage] = []
    build_repositories: List[LockRepository] = []
    runtime_repositories: List[LockRepository] = []
    repositories: List[LockRepository] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    with tempfile.TemporaryDirectory(prefix="apkoci-lock-") as scratch, pool:
        for arch in targets:
            indexes: List[RepositoryIndex] = [
                load_index(
                    source.repository,
                    arch.apk,
                    keyring,
                    allow_untrusted=allow_untrusted,
                    timeout=timeout,
                )
                for source in sources
            ]
            resolution = resolve(world, indexes, arch.apk)
            work = [
                _Job(resolved.package, arch, _source_of(resolved, sources))
                for resolved in resolution.packages
            ]
            # map() yields in install order and raises the first failure in that order.
            packages.extend(pool.map(lambda job: _lock_package(job, Path(scratch), timeout), work))
            build_repositories.extend(lock_repository(s, arch) for s in contents.build_repositories)
            runtime_repositories.extend(
                lock_repository(s, arch) for s in contents.runtime_repositories
            )
            repositories.extend(lock_repository(s, arch) for s in contents.repositories)

    return Lock(
        config=LockConfig(
            name=config_name if config_name is not None else str(config_path), checksum=checksum
        ),
        contents=LockContents(
            keyring=lock_keyring(contents.keyring, remote_keys),
            build_repositories=tuple(build_repositories),
            runtime_repositories=tuple(runtime_repositories),
            repositories=tuple(repositories),
            packages=tuple(packages),
        ),
    )


# --- Is a lock still good? ------------------------------------------------------------------------


def is_stale(lock: Lock, config_path: PathLike, include_paths: Sequence[PathLike] = ()) -> bool:
    """Whether ``lock`` was made from another version of the configuration (or records none)."""
    recorded = lock.config.checksum if lock.config is not None else ""
    return not recorded or recorded != configuration_checksum(config_path, include_paths)


def check_fresh(
    lock: Lock,
    config_path: PathLike,
    lock_path: PathLike,
    include_paths: Sequence[PathLike] = (),
) -> None:
    """Raise :class:`StaleLockError` unless ``lock`` (read from ``lock_path``) was made from the
    configuration at ``config_path`` as it is now."""
    recorded = lock.config.checksum if lock.config is not None else ""
    current = configuration_checksum(config_path, include_paths)
    if recorded == current:
        return
    hint = REGENERATE_HINT.format(config=config_path, lock=lock_path)
    if not recorded:
        raise StaleLockError(
            f"{lock_path} records no configuration checksum (an apko older than 0.13 wrote it?), "
            f"so it cannot be checked against {config_path}: regenerate it with {hint}"
        )
    raise StaleLockError(
        f"{lock_path} is out of date: {config_path} (or a file it includes) changed since the lock "
        f"was written (the configuration's checksum is {current}, the lock has {recorded}). "
        f"Regenerate the lock with {hint}"
    )


__all__ = [
    "DEFAULT_JOBS",
    "StaleLockError",
    "check_fresh",
    "is_stale",
    "lock_configuration",
    "packages_for_arch",
]
