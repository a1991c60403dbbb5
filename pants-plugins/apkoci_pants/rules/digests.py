"""Small digest manipulations the steps share: naming files the way the engine looks them up."""

from __future__ import annotations

import posixpath
from typing import Dict, Iterable, Sequence, Tuple

from apkoci_pants.subsystems import ApkoImageError
from pants.engine.fs import CreateDigest, Digest, DigestEntries, Directory, FileEntry
from pants.engine.rules import Get, MultiGet

Placement = Tuple[FileEntry, str]
"""A file and the name it gets."""


def _files(entries: Iterable[object]) -> Tuple[FileEntry, ...]:
    return tuple(entry for entry in entries if isinstance(entry, FileEntry))


async def file_entries(digest: Digest) -> Tuple[FileEntry, ...]:
    return _files(await Get(DigestEntries, Digest, digest))


async def single_files(digests: Sequence[Digest]) -> Tuple[FileEntry, ...]:
    """The one file of each digest (a download, a workspace file, an engine output)."""
    all_entries = await MultiGet(Get(DigestEntries, Digest, digest) for digest in digests)
    singles = []
    for entries in all_entries:
        (entry,) = _files(entries)
        singles.append(entry)
    return tuple(singles)


async def place_files(placements: Sequence[Placement], folder: str, what: str) -> Digest:
    """Each file at `folder/<its name>`; `folder` exists even when there is no file.

    The engine looks packages and keys up by file name (`<name>-<version>.apk`, the key's name in a
    package's signature), so two different files given one name would be ambiguous: an error,
    with `what` (e.g. "the keyring of examples/base:base") saying where they came from.
    """
    placed: Dict[str, FileEntry] = {}
    for entry, name in placements:
        path = posixpath.join(folder, name)
        previous = placed.get(path)
        if previous is not None and previous.file_digest != entry.file_digest:
            raise ApkoImageError(
                f"Two different files are both called {name!r} in {what}: rename one of them."
            )
        placed[path] = FileEntry(path, entry.file_digest, entry.is_executable)
    return await Get(Digest, CreateDigest([Directory(folder), *placed.values()]))


async def single_file_at(digest: Digest, path: str) -> Digest:
    """The one file of `digest` (an engine output) moved to `path`."""
    (entry,) = await single_files([digest])
    return await Get(Digest, CreateDigest([FileEntry(path, entry.file_digest)]))
