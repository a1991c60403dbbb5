"""Getting the locked packages of one architecture: download or copy, verify, then keep.

``fetch_locked_packages(lock, arch, out_dir)`` writes ``out_dir/<name>-<version>.apk`` for each
package the lock has for ``arch``, in install order. Each file is streamed to a temporary name in
``out_dir``, verified against its lock entry (:func:`~apkoci.lock.packagefile.verify_package_file`)
and only then renamed into place, so a failed or interrupted fetch leaves no file that looks
complete.

A package's ``url`` is an ``http(s)://`` URL, a ``file://`` URL or a local path. A relative path
(a relative local repository in the configuration) is taken relative to ``base_dir``; by default
that is the folder of the configuration the lock was made from (``config.name``, itself relative
to the working directory), which is where :func:`apkoci.lock.lock.lock_configuration` resolved it.
For a lock apko wrote in the configuration's own folder this is also apko's rule (the working
directory).

Credentials are never written into a lock (see lock.py); a URL that carries them
(``https://user:token@host/...``, e.g. in a configuration being locked) is fetched with Basic
authentication and shown with the password hidden.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from apkoci.apk.repository import DEFAULT_TIMEOUT_SECONDS, http_request, redact_url
from apkoci.errors import ApkociError
from apkoci.lock.lockfile import Lock, LockedPackage, packages_for_arch
from apkoci.lock.packagefile import PackageVerificationError, verify_package_file

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1024 * 1024
_REMOTE_SCHEMES = ("http", "https")


class FetchError(ApkociError):
    """A locked package could not be fetched, or what was fetched is not the locked package."""


# --- Where a package is ---------------------------------------------------------------------------


def is_remote(url: str) -> bool:
    """Whether ``url`` is fetched over http(s) (else it is a local path or ``file://`` URL)."""
    return urllib.parse.urlsplit(url).scheme in _REMOTE_SCHEMES


def local_path(url: str, base_dir: PathLike) -> Path:
    """The file a local ``url`` (a path or ``file://`` URL) names; relative paths are relative to
    ``base_dir``."""
    if url.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    path = Path(url)
    return path if path.is_absolute() else Path(base_dir) / path


def default_base_dir(lock: Lock) -> Path:
    """Where relative package paths of ``lock`` are: the folder of the configuration it was made
    from (``config.name`` is relative to the working directory), else the working directory."""
    name = lock.config.name if lock.config is not None else ""
    return Path(os.path.dirname(name)) if name else Path(".")


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part (for what is written down, e.g. into a lock)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _REMOTE_SCHEMES or "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def naming_source(error: Exception, path: Path, shown: str) -> str:
    """``error``'s message about the file at ``path`` (e.g. a temporary download), speaking of
    ``shown`` (where the file came from) instead, and naming it once at least."""
    message = str(error).replace(str(path), shown)
    return message if shown in message else f"{shown}: {message}"


# --- Streaming a URL or a file --------------------------------------------------------------------


@contextmanager
def _open_remote(url: str, timeout: float) -> Iterator[BinaryIO]:
    """GET ``url``, sending credentials in it as Basic authentication (urllib does not)."""
    shown = redact_url(url)
    try:
        response = urllib.request.urlopen(http_request(url), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        hint = " (was the package removed from its repository?)" if error.code == 404 else ""
        raise FetchError(
            f"fetching {shown} failed: HTTP {error.code} {error.reason}{hint}"
        ) from None
    except urllib.error.URLError as error:
        raise FetchError(f"cannot fetch {shown}: {error.reason}") from None
    except (OSError, ValueError) as error:
        raise FetchError(f"cannot fetch {shown}: {error}") from None
    with response:
        yield response


@contextmanager
def _open_source(url: str, base_dir: PathLike, timeout: float) -> Iterator[BinaryIO]:
    if is_remote(url):
        with _open_remote(url, timeout) as stream:
            yield stream
        return
    path = local_path(url, base_dir)
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise FetchError(f"cannot read {path}: {error.strerror or error}") from None
    with stream:
        yield stream


def download(
    url: str,
    destination: PathLike,
    *,
    base_dir: PathLike = ".",
    limit: Optional[int] = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Tuple[str, int]:
    """Stream ``url`` (http(s), ``file://`` or a path) into the file ``destination``.

    Returns the hex SHA-256 and the size of what was written. More than ``limit`` bytes is an
    error (a lock or an index says how big the file is). Raises :class:`FetchError` naming the URL.
    """
    shown = redact_url(url)
    sha256 = hashlib.sha256()
    size = 0
    with _open_source(url, base_dir, timeout) as stream, open(destination, "wb") as out:
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (OSError, ValueError) as error:  # timeouts and resets in the middle of a read
                raise FetchError(f"cannot fetch {shown}: {error}") from None
            if not chunk:
                break
            size += len(chunk)
            if limit is not None and size > limit:
                raise FetchError(
                    f"{shown} is larger than the {limit} bytes expected: it is not the file that "
                    "was locked (or indexed)"
                )
            sha256.update(chunk)
            out.write(chunk)
    return sha256.hexdigest(), size


# --- Fetching a lock's packages -------------------------------------------------------------------


def fetch_package(
    package: LockedPackage,
    out_dir: PathLike,
    *,
    base_dir: PathLike = ".",
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Path:
    """Fetch one locked package to ``out_dir/<name>-<version>.apk``, verified; returns the path.

    Nothing is left at the final name unless the file verified, and no temporary file is left
    behind on failure.
    """
    out_dir = Path(out_dir)
    target = out_dir / package.filename
    # Errors name what was read: the URL (password hidden), or the file a local path names.
    shown = (
        redact_url(package.url)
        if is_remote(package.url)
        else str(local_path(package.url, base_dir))
    )
    handle, temporary_name = tempfile.mkstemp(prefix=f".{package.filename}.", dir=str(out_dir))
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        try:
            download(
                package.url,
                temporary,
                base_dir=base_dir,
                limit=package.file_size,
                timeout=timeout,
            )
            verify_package_file(temporary, package, source=shown)
        except PackageVerificationError as error:
            raise FetchError(naming_source(error, temporary, shown)) from None
        except ApkociError as error:
            raise FetchError(f"{package}: {naming_source(error, temporary, shown)}") from None
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return target


def fetch_locked_packages(
    lock: Lock,
    arch: str,
    out_dir: PathLike,
    *,
    base_dir: Optional[PathLike] = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Tuple[Path, ...]:
    """Fetch every package ``lock`` has for ``arch`` (``x86_64`` or ``amd64``) into ``out_dir``.

    Returns the files written, in install order. ``base_dir`` is where relative package paths are
    (default: :func:`default_base_dir`). Raises :class:`FetchError` naming the package and URL.
    """
    packages = packages_for_arch(lock, arch)
    base = Path(base_dir) if base_dir is not None else default_base_dir(lock)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    for package in packages:
        written.append(fetch_package(package, out, base_dir=base, timeout=timeout))
    return tuple(written)
