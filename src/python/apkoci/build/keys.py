"""The keys an image trusts: where each ``contents.keyring`` entry's file comes from.

apko copies every build key into the image's ``/etc/apk/keys`` under the *base name* of its path
or URL (``https://packages.wolfi.dev/os/wolfi-signing.rsa.pub`` becomes
``wolfi-signing.rsa.pub``), and writes inline keys (``name``/``content``) under their ``name``,
re-encoded as one PEM block (``pkg/build/runtime_keyring.go``). The layer step gets the key files
in a folder, named that way (:func:`read_keyring_dir`); ``apkoci build`` puts them there first
(:func:`collect_keyring`).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Dict, Sequence, Union

from apkoci.apk.repository import DEFAULT_TIMEOUT_SECONDS, fetch_url, redact_url
from apkoci.build.errors import BuildError
from apkoci.config import KeyringEntry
from apkoci.lock.fetch import is_remote, local_path
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

PathLike = Union[str, "os.PathLike[str]"]
_MAX_KEY_BYTES = 1024 * 1024


def key_file_name(entry: KeyringEntry) -> str:
    """The file name a keyring entry gets in ``/etc/apk/keys`` (and in a keyring folder)."""
    if entry.is_inline:
        return entry.name
    path = urllib.parse.urlsplit(entry.uri).path if is_remote(entry.uri) else entry.uri
    name = path.rstrip("/").rpartition("/")[2]
    if not name or name in (".", ".."):
        raise BuildError(
            f"keyring entry {redact_url(entry.uri)!r} names no file: give the path or URL of a "
            "public key file, e.g. https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"
        )
    return name


def inline_key_file(entry: KeyringEntry) -> bytes:
    """An inline key's file: its one public key as a PEM block, as apko re-encodes it."""
    try:
        key = load_pem_public_key(entry.content.encode("utf-8"))
    except ValueError as error:
        raise BuildError(
            f"inline key {entry.name!r} is not a PEM public key ({error}); paste the whole "
            "'-----BEGIN PUBLIC KEY-----' block"
        ) from None
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _add(files: Dict[str, bytes], name: str, data: bytes, what: str) -> None:
    if name in files and files[name] != data:
        raise BuildError(
            f"two different keys would be /etc/apk/keys/{name} ({what}): rename one of them"
        )
    files[name] = data


def read_keyring_dir(entries: Sequence[KeyringEntry], directory: PathLike) -> Dict[str, bytes]:
    """The key files of ``entries``: inline ones from the configuration, the others read from
    ``directory``/<file name> (what ``--keyring-dir`` holds)."""
    files: Dict[str, bytes] = {}
    for entry in entries:
        name = key_file_name(entry)
        if entry.is_inline:
            _add(files, name, inline_key_file(entry), "an inline key")
            continue
        path = Path(directory) / name
        try:
            data = path.read_bytes()
        except OSError as error:
            raise BuildError(
                f"the key {redact_url(entry.uri)!r} of contents.keyring should be {path}, but it "
                f"cannot be read ({error.strerror or error}): put the key files in the keyring "
                "folder under their file names"
            ) from None
        _add(files, name, data, redact_url(entry.uri))
    return files


def collect_keyring(
    entries: Sequence[KeyringEntry],
    base_dir: PathLike,
    out_dir: PathLike,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Path:
    """Put the files of the non-inline ``entries`` into ``out_dir`` under their file names, read
    from local paths (relative to ``base_dir``, the configuration's folder) or downloaded."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: Dict[str, bytes] = {}
    for entry in entries:
        if entry.is_inline:
            continue
        if is_remote(entry.uri):
            data = fetch_url(entry.uri, timeout=timeout, limit=_MAX_KEY_BYTES)
        else:
            path = local_path(entry.uri, base_dir)
            try:
                data = path.read_bytes()
            except OSError as error:
                raise BuildError(
                    f"cannot read the key {entry.uri!r} of contents.keyring ({path}: "
                    f"{error.strerror or error}); paths are relative to the configuration's folder"
                ) from None
        _add(files, key_file_name(entry), data, redact_url(entry.uri))
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out
