"""Write an apko lock file from local copies of a configuration's indexes, with no network.

`./pants generate-lockfiles` (the engine's `apkoci lock`) reads every package it locks, to pin
its whole file (apkoci's `"apkoci": {"sha256", "size"}`) and its gzip members' byte ranges. That
needs the packages. This script needs only each repository's `APKINDEX.tar.gz` and the keys that
sign it: it resolves the configuration's packages from the index, exactly as `apkoci lock` does
(the engine's solver), and writes a lock in apko's format that pins each package by its index
checksum (`checksum`, the `Q1...` SHA-1 of its control member) alone, without ranges or apkoci's
sha256. A build checks every package it downloads against that checksum, and the package's data
against the hash its control member holds.

It is how `examples/alpine/apko.lock.json` was made, from the Alpine 3.16 index kept with the
test data:

    PYTHONPATH=src/python python3 examples/alpine/lock_from_index.py examples/alpine/apko.yaml \\
        --index x86_64=../shared/testdata/alpine/v3.16-main-x86_64/APKINDEX.tar.gz \\
        --keys ../shared/testdata/alpine/keys

With the network, `./pants generate-lockfiles --resolve=examples/alpine:image` writes a fully
pinned lock instead (and replaces this one).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from apkoci.apk.repository import Repository, RepositoryIndex, read_index_archive
from apkoci.apk.signature import Keyring
from apkoci.apk.solver import resolve
from apkoci.config import configuration_checksum, load_configuration
from apkoci.config.model import KeyringEntry
from apkoci.errors import ApkociError

# The engine's own spelling of repositories and keys in a lock (what `apkoci lock` writes).
from apkoci.lock.fetch import is_remote
from apkoci.lock.lock import lock_base, lock_keyring, lock_repository
from apkoci.lock.lockfile import (
    Lock,
    LockConfig,
    LockContents,
    LockedPackage,
    LockRange,
    write_lock,
)


class OfflineLockError(ApkociError):
    """The configuration cannot be locked from the indexes given; says what to pass instead."""


def _index_files(items: Sequence[str]) -> Dict[str, Path]:
    files: Dict[str, Path] = {}
    for item in items:
        arch, found, path = item.partition("=")
        if not found or not arch or not path:
            raise OfflineLockError(
                f"--index {item!r} must read ARCH=FILE, e.g. x86_64=./APKINDEX.tar.gz"
            )
        files[arch] = Path(path)
    return files


def _index_checksum_only(package_name: str, version: str, arch: str, url: str, checksum: str):
    """A lock entry pinned by the index checksum alone: no member ranges, no apkoci sha256."""
    return LockedPackage(
        name=package_name,
        url=url,
        version=version,
        architecture=arch,
        signature=LockRange(),
        control=LockRange(),
        data=LockRange(),
        checksum=checksum,
    )


def _local_copies(entries: Sequence[KeyringEntry], key_paths: Sequence[Path]) -> Dict[str, bytes]:
    """Remote key URL -> the bytes of the local key file of the same name: what pins the key.

    A build downloads each remote key pinned by its sha256 and size, as it does packages.
    """
    files = {
        path.name: path
        for given in key_paths
        for path in (sorted(given.iterdir()) if given.is_dir() else [given])
    }
    copies = {}
    for entry in entries:
        if entry.is_inline or not is_remote(entry.uri):
            continue
        name = urllib.parse.urlsplit(entry.uri).path.rstrip("/").rpartition("/")[2]
        if name not in files:
            raise OfflineLockError(
                f"the keyring names {entry.uri}, and no key file {name} was given: pass its "
                "local copy with --keys"
            )
        copies[entry.uri] = files[name].read_bytes()
    return copies


def lock_from_indexes(
    config_path: Path, index_files: Dict[str, Path], key_paths: Sequence[Path]
) -> Lock:
    """The lock of `config_path` for the archs of `index_files` (arch -> local APKINDEX.tar.gz).

    The configuration must have one repository (the one the indexes are copies of): with more,
    which index belongs to which would be a guess.
    """
    config = load_configuration(config_path)
    contents = config.contents
    spellings = sorted(set(contents.build_repositories + contents.repositories))
    if len(spellings) != 1:
        raise OfflineLockError(
            f"{config_path} has {len(spellings)} repositories to resolve from; this script "
            "reads one index per arch, so it locks configurations with exactly one. Lock this "
            "one with the network: `./pants generate-lockfiles`."
        )
    (spelling,) = spellings
    repository = Repository.parse(spelling)
    configured = [arch.apk for arch in config.archs]
    missing = [arch for arch in configured if arch not in index_files]
    if missing:
        raise OfflineLockError(
            f"{config_path} builds for {', '.join(configured)}, but no index was given for "
            f"{', '.join(missing)}: pass --index {missing[0]}=<its APKINDEX.tar.gz>."
        )
    keyring = Keyring.from_paths(key_paths)
    world = sorted({spec.text for spec in contents.packages})

    packages: List[LockedPackage] = []
    for arch in configured:
        source = str(index_files[arch])
        description, index_packages = read_index_archive(index_files[arch], keyring, source)
        index = RepositoryIndex(repository, arch, description, index_packages)
        for resolved in resolve(world, [index], arch).packages:
            package = resolved.package
            if not package.checksum.startswith("Q1"):
                raise OfflineLockError(
                    f"{package.name}-{package.version} has no Q1 checksum in {source}, so "
                    "nothing would pin it: lock with the network instead."
                )
            packages.append(
                _index_checksum_only(
                    package.name,
                    package.version,
                    arch,
                    f"{lock_base(spelling)}/{arch}/{package.filename}",
                    package.checksum,
                )
            )

    def per_arch(spellings: Sequence[str]):
        return tuple(lock_repository(s, arch) for arch in config.archs for s in spellings)

    return Lock(
        config=LockConfig(
            name=os.path.basename(config_path), checksum=configuration_checksum(config_path)
        ),
        contents=LockContents(
            keyring=lock_keyring(contents.keyring, _local_copies(contents.keyring, key_paths)),
            build_repositories=per_arch(contents.build_repositories),
            runtime_repositories=per_arch(contents.runtime_repositories),
            repositories=per_arch(contents.repositories),
            packages=tuple(packages),
        ),
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="the apko.yaml to lock")
    parser.add_argument(
        "--index",
        action="append",
        default=[],
        required=True,
        metavar="ARCH=FILE",
        help="a local copy of the repository's <ARCH>/APKINDEX.tar.gz; one per arch",
    )
    parser.add_argument(
        "--keys",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="public keys (files, or a folder of them) that sign the indexes",
    )
    parser.add_argument(
        "--output", "-o", type=Path, help="the lock to write (default: <config stem>.lock.json)"
    )
    args = parser.parse_args(argv)
    output = args.output or args.config.with_name(args.config.stem + ".lock.json")
    try:
        lock = lock_from_indexes(args.config, _index_files(args.index), args.keys)
    except ApkociError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    write_lock(lock, output)
    print(f"wrote {output}: {len(lock.contents.packages)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
