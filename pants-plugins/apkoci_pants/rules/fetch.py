"""Fetching what a layer installs: the locked packages of one arch, and the keyring.

A package the lock pins (apkoci's sha256 and size) is one `DownloadFile`: Pants checks it, caches
it, and downloads it once for every image and arch that uses it. A package of a local repository
is taken from the image's staged repositories (workspace folders, or `apk_repository` targets
built there). Only a lock that pins nothing (written by apko itself) needs the engine's `fetch`
step, which downloads and checks against the lock's APK checksums.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Optional

from apkoci_pants.rules.config import StagedConfig, is_local, workspace_path
from apkoci_pants.rules.digests import file_entries, place_files, single_files
from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.rules.lock import CheckedLock, regenerate_command
from apkoci_pants.rules.lockfile import LockfileError, Pin
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    Digest,
    DigestSubset,
    DownloadFile,
    FileDigest,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

PACKAGES_FOLDER = "packages"
KEYRING_FOLDER = "keys"
# Where the fetch step writes, inside the configuration's folder in the sandbox.
_FETCH_OUTPUT = ".apkoci-fetched"


@dataclass(frozen=True)
class PinnedDownload:
    """A file the lock file `lockfile` pins; `regenerate` is the command that rewrites it."""

    url: str
    pin: Pin
    lockfile: str
    regenerate: str


@rule(desc="Downloading a pinned file", level=LogLevel.DEBUG)
async def download_pinned(request: PinnedDownload) -> Digest:
    try:
        # Pants checks the sha256 and size, caches the file, and downloads a URL only once.
        return await Get(
            Digest, DownloadFile(request.url, FileDigest(request.pin.sha256, request.pin.size))
        )
    except Exception as error:
        raise LockfileError(
            f"Downloading {request.url}, which {request.lockfile} pins, failed: {error}\n"
            "If the repository changed the file since the lock was written, lock again with "
            f"`{request.regenerate}`."
        ) from error


def _pinned(url: str, pin: Optional[Pin], lock: CheckedLock, address: Address) -> PinnedDownload:
    assert pin is not None, f"{url} has no pin: callers download only pinned files this way"
    return PinnedDownload(url, pin, lock.lock.path, regenerate_command(address))


@dataclass(frozen=True)
class ArchPackagesRequest:
    config: StagedConfig
    lock: CheckedLock
    arch: str


@dataclass(frozen=True)
class ArchPackages:
    """`packages/<name>-<version>.apk` for every locked package of `arch`."""

    arch: str
    count: int
    digest: Digest


@rule(desc="Fetching locked APK packages")
async def fetch_arch_packages(request: ArchPackagesRequest) -> ArchPackages:
    staged, arch = request.config, request.arch
    packages = request.lock.lock.packages_for(arch)
    what = f"the {arch} packages of {staged.address}"

    if any(p.pin is None and not is_local(p.url) for p in packages):
        inputs = await Get(Digest, MergeDigests([request.lock.digest, staged.repositories_digest]))
        result = await Get(
            EngineResult,
            EngineProcess(
                argv=(
                    "fetch",
                    "--lockfile",
                    staged.relative(request.lock.lock.path),
                    "--arch",
                    arch,
                    "--output",
                    _FETCH_OUTPUT,
                    # Relative package paths in a lock are relative to the configuration's folder.
                    "--base-dir",
                    ".",
                ),
                description=(
                    f"Fetching {len(packages)} {arch} packages of {staged.address} "
                    "(the lock file does not pin their sha256)"
                ),
                input_digest=inputs,
                output_directories=(_FETCH_OUTPUT,),
                working_directory=staged.directory or None,
            ),
        )
        fetched = await Get(Digest, RemovePrefix(result.output_digest, _FETCH_OUTPUT))
        digest = await Get(Digest, AddPrefix(fetched, PACKAGES_FOLDER))
        return ArchPackages(arch, len(packages), digest)

    remote = [p for p in packages if not is_local(p.url)]
    local = [p for p in packages if is_local(p.url)]
    downloads = await MultiGet(
        Get(Digest, PinnedDownload, _pinned(p.url, p.pin, request.lock, staged.address))
        for p in remote
    )
    # Local packages come from the staged repositories: workspace folders or built ones.
    local_paths = [
        workspace_path(
            p.url, staged.directory, f"The url of {p.filename} in {request.lock.lock.path}"
        )
        for p in local
    ]
    local_files = await MultiGet(
        Get(Digest, DigestSubset(staged.repositories_digest, PathGlobs([path])))
        for path in local_paths
    )
    missing = [path for path, digest in zip(local_paths, local_files) if digest == EMPTY_DIGEST]
    if missing:
        raise LockfileError(
            f"The lock file {request.lock.lock.path} of {staged.address} names "
            f"{', '.join(missing)}, which the configuration's local repositories do not hold "
            f"(any more): lock again with `{regenerate_command(staged.address)}`."
        )
    files = await single_files([*downloads, *local_files])
    # A local package rebuilt since the lock (an edited `apk_package`) is caught here, by the
    # pin, with the command that fixes it.
    changed = [
        path
        for path, package, entry in zip(local_paths, local, files[len(remote) :])
        if package.pin is not None
        and (entry.file_digest.fingerprint, entry.file_digest.serialized_bytes_length)
        != (package.pin.sha256, package.pin.size)
    ]
    if changed:
        raise LockfileError(
            f"{', '.join(changed)} changed since {request.lock.lock.path} was written (its "
            f"sha256 or size differs from the lock's): lock again with "
            f"`{regenerate_command(staged.address)}`."
        )
    names = [p.filename for p in (*remote, *local)]
    digest = await place_files(list(zip(files, names)), PACKAGES_FOLDER, what)
    return ArchPackages(arch, len(packages), digest)


@dataclass(frozen=True)
class KeyringRequest:
    config: StagedConfig
    lock: CheckedLock


@dataclass(frozen=True)
class Keyring:
    """`keys/<name>` for every key the configuration trusts."""

    digest: Digest


@rule(desc="Fetching the keyring of an apko image")
async def fetch_keyring(request: KeyringRequest) -> Keyring:
    staged = request.config
    remote = [key for key in request.lock.lock.keyring if not is_local(key.url)]
    unpinned = [key.url for key in remote if key.pin is None]
    if unpinned:
        raise LockfileError(
            f"The lock file {request.lock.lock.path} of {staged.address} does not pin the key(s) "
            f"{', '.join(unpinned)}: with no `apkoci` sha256 and size, Pants cannot download them "
            "reproducibly. Put each key in the repository and list its path (relative to the "
            "configuration) in the keyring instead, then run "
            f"`{regenerate_command(staged.address)}`."
        )
    downloads = await MultiGet(
        Get(Digest, PinnedDownload, _pinned(key.url, key.pin, request.lock, staged.address))
        for key in remote
    )
    # Local keys keep their file names, as they do when apk copies them to /etc/apk/keys.
    local = await file_entries(staged.keyring_digest)
    downloaded = await single_files(downloads)
    digest = await place_files(
        [
            *((entry, posixpath.basename(entry.path)) for entry in local),
            *zip(downloaded, (key.filename for key in remote)),
        ],
        KEYRING_FOLDER,
        f"the keyring of {staged.address}",
    )
    return Keyring(digest)


def rules():
    return collect_rules()
