"""What a lock records about one ``.apk`` file, and checking a file against a lock entry.

An APK v2 package is signature, control and data gzip members one after the other (see
:mod:`apkoci.apk.apkfile`). apko's lock records each member's byte range and digest: SHA-1 for
signature and control, SHA-256 for data (the data digest is also the ``datahash`` of ``.PKGINFO``).
We add the SHA-256 and size of the whole file.

:func:`measure_package` computes all of it in one pass over the file; :func:`verify_package_file`
checks a file against a :class:`~apkoci.lock.lockfile.LockedPackage` before it is used, by the
whole-file SHA-256 when the lock has it (our locks), else by apk-tools' chain of trust (apko's
locks): the control member must have the locked ``Q1`` identity, and the data member must match
the lock's data checksum and the ``datahash`` that control member declares.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

from apkoci.apk.apkfile import ApkFile, read_apk
from apkoci.errors import ApkociError
from apkoci.lock.lockfile import LockedPackage, LockRange

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1024 * 1024


class PackageVerificationError(ApkociError):
    """A package file is not the one its lock entry describes."""


@dataclass(frozen=True)
class MeasuredPackage:
    """A package file as a lock sees it: its members' ranges and digests, its size and SHA-256."""

    apk: ApkFile  # the opened package (its .package is the .PKGINFO metadata)
    size: int
    sha256: str  # hex, of the whole file
    signature: LockRange
    control: LockRange
    data: LockRange

    @property
    def checksum(self) -> str:
        """The ``Q1...`` identity: what an index lists as the package's ``C:``."""
        return self.apk.checksum


def _hash_file(path: Path, data_start: Optional[int] = None) -> Tuple[str, int, bytes]:
    """Hex SHA-256 and size of the whole file, and the SHA-256 of its bytes from ``data_start``
    (of nothing when None)."""
    whole, data = hashlib.sha256(), hashlib.sha256()
    position = 0
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            whole.update(chunk)
            if data_start is not None and position + len(chunk) > data_start:
                data.update(chunk[max(0, data_start - position) :])
            position += len(chunk)
    return whole.hexdigest(), position, data.digest()


def measure_package(path: PathLike) -> MeasuredPackage:
    """Read a package and compute what a lock entry records about it (one pass over the file).

    Raises ApkFormatError (naming ``path``) for a file that is not an APK v2 package.
    """
    path = Path(path)
    apk = read_apk(path)
    control_start = apk.control_member.offset  # the signature members come before it
    with open(path, "rb") as stream:
        signature_bytes = stream.read(control_start)
    sha256, size, data_digest = _hash_file(path, apk.data_offset)
    return MeasuredPackage(
        apk=apk,
        size=size,
        sha256=sha256,
        signature=LockRange.of(0, control_start, "sha1", hashlib.sha1(signature_bytes).digest()),
        control=LockRange.of(
            control_start,
            apk.data_offset,
            "sha1",
            hashlib.sha1(apk.control_member.raw).digest(),
        ),
        data=LockRange.of(apk.data_offset, size, "sha256", data_digest),
    )


def file_sha256(path: PathLike) -> Tuple[str, int]:
    """Hex SHA-256 and size of a file, streamed."""
    sha256, size, _ = _hash_file(Path(path))
    return sha256, size


def verify_package_file(
    path: PathLike, locked: LockedPackage, source: Optional[str] = None
) -> None:
    """Check that the file at ``path`` is the package ``locked`` describes.

    With our extension (``locked.sha256``) the whole file must have that SHA-256 and size. Without
    it (a lock written by apko), the control member must have the locked identity (``Q1``) and the
    data member the locked data checksum and the ``datahash`` of the control member's
    ``.PKGINFO``. ``source`` names the file in errors (default: ``path``). Raises
    :class:`PackageVerificationError`.
    """
    source = source or str(path)
    if locked.sha256 is not None:
        sha256, size = file_sha256(path)
        if size != locked.size or sha256 != locked.sha256:
            found = f"{size} bytes" if size != locked.size else f"SHA-256 {sha256}"
            wanted = f"{locked.size} bytes" if size != locked.size else f"SHA-256 {locked.sha256}"
            raise _mismatch(source, locked, f"has {found}, but the lock says {wanted}")
        return
    try:
        measured = measure_package(path)
    except ApkociError as error:  # not an APK at all: the message names the file; say `source`
        raise PackageVerificationError(
            f"{locked}: {str(error).replace(str(path), source)}"
        ) from None
    identity = locked.identity
    if not identity:
        raise PackageVerificationError(
            f"{locked}: the lock records neither a checksum nor a control digest for it, so "
            "the file cannot be verified; regenerate the lock with `apkoci lock <config> -o <lock>`"
        )
    if measured.checksum != identity:
        raise _mismatch(
            source,
            locked,
            f"has the control checksum {measured.checksum}, but the lock says {identity}",
        )
    if locked.data.checksum and measured.data.checksum != locked.data.checksum:
        raise _mismatch(
            source,
            locked,
            f"has the data checksum {measured.data.checksum}, but the lock says "
            f"{locked.data.checksum}",
        )
    datahash = measured.apk.pkginfo.datahash
    if datahash and measured.data.digest is not None and measured.data.digest[1].hex() != datahash:
        raise _mismatch(
            source,
            locked,
            f"has a data member whose SHA-256 is {measured.data.digest[1].hex()}, but its "
            f".PKGINFO declares datahash {datahash}",
        )
    if not datahash and not locked.data.checksum:
        raise PackageVerificationError(
            f"{locked} from {source}: neither the package (no datahash) nor the lock (no data "
            "checksum) pins its files, so they cannot be verified; regenerate the lock with "
            "`apkoci lock <config> -o <lock>`"
        )


def _mismatch(source: str, locked: LockedPackage, what: str) -> PackageVerificationError:
    return PackageVerificationError(
        f"{locked} from {source} {what}: the file is not the package that was locked (changed in "
        "its repository since, corrupted, or tampered with). If the change is expected, "
        "regenerate the lock with `apkoci lock <config> -o <lock>`"
    )
