"""APK v2 signatures: the keyring of trusted public keys, and checking `.SIGN.*` members.

A signed `.apk` or `APKINDEX.tar.gz` starts with a gzip member holding a tar with one entry per
signature, named ``.SIGN.<ALGORITHM>.<key file name>``; the entry's content is an RSA PKCS#1 v1.5
signature. What it signs are the raw, *compressed* bytes that follow the signature member(s):

- an index: the rest of the file (the gzip'ed tar with ``DESCRIPTION`` and ``APKINDEX``);
- a package whose ``.PKGINFO`` has a ``datahash``: only the control member (the data member is
  covered by that ``datahash`` instead);
- an old package without ``datahash``: the control and data members together.

(apk-tools ``src/extract_v2.c``, ``apk_sign_ctx_mpart_cb``; checked against the real Alpine, Wolfi
and melange files in the shared test data.)

Algorithms, as apk-tools names them: ``RSA`` = SHA-1, ``RSA256`` = SHA-256, ``RSA512`` = SHA-512.
``DSA`` signatures are obsolete and are not checked (apko skips them too).

Several signatures: apk-tools checks only the *first* signature whose key it has; apko accepts the
file when *any* signature with a known key verifies. We follow apko, which is what apkoci emulates;
the two differ only for a file carrying a bad signature by one trusted key and a good signature by
another.

The key is found by the file name in the signature entry, exactly as apk-tools looks it up in
``/etc/apk/keys``. Like apko, a keyring entry named without the ``.rsa.pub`` suffix also matches
(keys fetched through proxies often lose their file name's extension).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from apkoci.errors import ApkociError

SIGNATURE_PREFIX = ".SIGN."

# apk-tools' signature algorithm names -> the hashlib name of the digest they sign.
DIGEST_OF_ALGORITHM: Mapping[str, str] = {"RSA": "sha1", "RSA256": "sha256", "RSA512": "sha512"}

_CRYPTOGRAPHY_HASHES: Mapping[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha512": hashes.SHA512(),
}

# The suffix melange and abuild give public key files; apko also matches keys stored without it.
_KEY_SUFFIX = ".rsa.pub"

# How we tell users to get past a signature problem (the apko.yaml spelling of the options).
_FIX = (
    "add the public key it was signed with to the keyring (`contents.keyring` in apko.yaml), "
    "or set `allow-untrusted` to skip signature checks"
)


class KeyringError(ApkociError):
    """A keyring file or directory cannot be used (missing, not a PEM RSA public key, ...)."""


class SignatureError(ApkociError):
    """A file is unsigned, signed only by keys we do not have, or carries a bad signature."""


@dataclass(frozen=True)
class Signature:
    """One ``.SIGN.<algorithm>.<key_name>`` entry of a signature member."""

    algorithm: str  # "RSA", "RSA256", "RSA512" (or an algorithm we cannot check, e.g. "DSA")
    key_name: str  # the key's file name, e.g. "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"
    value: bytes  # the raw RSA signature

    @property
    def member_name(self) -> str:
        """The tar entry name this signature is stored under."""
        return f"{SIGNATURE_PREFIX}{self.algorithm}.{self.key_name}"

    @property
    def digest_name(self) -> Optional[str]:
        """The hashlib name of the digest it signs; None when we cannot check this algorithm."""
        return DIGEST_OF_ALGORITHM.get(self.algorithm)

    def __repr__(self) -> str:  # the signature bytes are noise in test failures and logs
        return f"Signature({self.member_name!r})"


def is_signature_member(name: str) -> bool:
    """Whether a tar entry name is a signature entry (``.SIGN.*``)."""
    return name.startswith(SIGNATURE_PREFIX)


def parse_signature_name(name: str) -> Tuple[str, str]:
    """Split ``.SIGN.RSA256.melange.rsa.pub`` into ``("RSA256", "melange.rsa.pub")``.

    Raises SignatureError for a name that is not ``.SIGN.<ALGORITHM>.<key name>``.
    """
    algorithm, dot, key_name = name[len(SIGNATURE_PREFIX) :].partition(".")
    if not is_signature_member(name) or not algorithm or not dot or not key_name or "/" in key_name:
        raise SignatureError(
            f"malformed signature entry name {name!r}: expected .SIGN.<ALGORITHM>.<key file name>, "
            "e.g. .SIGN.RSA256.melange.rsa.pub"
        )
    return algorithm, key_name


def signature_from_member(name: str, value: bytes) -> Signature:
    """The Signature stored in the tar entry ``name`` with content ``value``."""
    algorithm, key_name = parse_signature_name(name)
    return Signature(algorithm=algorithm, key_name=key_name, value=value)


@dataclass(frozen=True)
class _Key:
    public_key: rsa.RSAPublicKey
    source: str  # where it was loaded from, for error messages
    der: bytes  # canonical encoding, to tell identical keys loaded twice from different ones


class Keyring:
    """The RSA public keys we trust, by key file name (what ``/etc/apk/keys`` holds).

    Build it with :meth:`from_paths` (key files and directories of key files, as apko.yaml's
    ``contents.keyring`` lists them) or :meth:`from_files` (name -> PEM bytes).
    """

    def __init__(self, keys: Optional[Mapping[str, _Key]] = None) -> None:
        self._keys: Dict[str, _Key] = dict(keys or {})

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> "Keyring":
        """A keyring from ``{key file name: PEM bytes}``."""
        keyring = cls()
        for name, pem in files.items():
            keyring._add(name, _load_public_key(pem, source=name), source=name)
        return keyring

    @classmethod
    def from_paths(cls, paths: Iterable[Union[str, "os.PathLike[str]"]]) -> "Keyring":
        """A keyring from key files and directories.

        A file is loaded under its file name and must be a PEM RSA public key. A directory
        contributes every regular, non-hidden file in it that is a PEM public key; other files
        are skipped, as apk-tools does with ``/etc/apk/keys``.
        """
        keyring = cls()
        for entry in paths:
            path = Path(entry)
            if path.is_dir():
                for child in sorted(path.iterdir()):
                    if child.name.startswith(".") or not child.is_file():
                        continue
                    try:
                        public_key = _load_public_key(child.read_bytes(), source=str(child))
                    except KeyringError:
                        continue
                    keyring._add(child.name, public_key, source=str(child))
            elif path.is_file():
                keyring._add(path.name, _load_public_key(path.read_bytes(), str(path)), str(path))
            else:
                raise KeyringError(
                    f"keyring entry {path} does not exist: fix the path in `contents.keyring` "
                    "(relative paths are relative to the directory apkoci runs in)"
                )
        return keyring

    def merged(self, other: "Keyring") -> "Keyring":
        """A keyring with the keys of both (the same name must mean the same key)."""
        keyring = Keyring(self._keys)
        for name, key in other._keys.items():
            keyring._add(name, key.public_key, key.source)
        return keyring

    @property
    def names(self) -> Tuple[str, ...]:
        """The key file names, sorted."""
        return tuple(sorted(self._keys))

    def lookup(self, key_name: str) -> Optional[rsa.RSAPublicKey]:
        """The key a signature names: by its exact name, else by the name minus ``.rsa.pub``."""
        key = self._keys.get(key_name)
        if key is None and key_name.endswith(_KEY_SUFFIX):
            key = self._keys.get(key_name[: -len(_KEY_SUFFIX)])
        return key.public_key if key else None

    def __contains__(self, key_name: object) -> bool:
        return isinstance(key_name, str) and self.lookup(key_name) is not None

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self.names)!r})"

    def describe(self) -> str:
        """The key names, for error messages."""
        return f"the keyring has: {', '.join(self.names)}" if self._keys else "the keyring is empty"

    def _add(self, name: str, public_key: rsa.RSAPublicKey, source: str) -> None:
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        existing = self._keys.get(name)
        if existing is not None and existing.der != der:
            raise KeyringError(
                f"two different public keys are both named {name!r} ({existing.source} and "
                f"{source}): signatures name their key by file name, so keep only the right one"
            )
        self._keys[name] = _Key(public_key=public_key, source=source, der=der)


def _load_public_key(pem: bytes, source: str) -> rsa.RSAPublicKey:
    try:
        public_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyringError(
            f"{source} is not a PEM public key ({error}); a keyring entry must be an "
            "`*.rsa.pub` file such as the ones in /etc/apk/keys"
        ) from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyringError(f"{source} is not an RSA public key; APK signatures use RSA keys")
    return public_key


def digests_of(chunks: Iterable[bytes], digest_names: Iterable[str]) -> Dict[str, bytes]:
    """The digests named (hashlib names) of the concatenated chunks, in one pass."""
    hashers = {name: hashlib.new(name) for name in set(digest_names)}
    if hashers:
        for chunk in chunks:
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.digest() for name, hasher in hashers.items()}


def verify_signatures(
    signatures: Sequence[Signature],
    signed: Iterable[bytes],
    keyring: Keyring,
    source: str,
    allow_untrusted: bool = False,
) -> Optional[str]:
    """Check ``signatures`` over the bytes ``signed`` yields (consumed lazily, in one pass).

    Returns the name of the key that verified. With ``allow_untrusted`` a file that cannot be
    verified is accepted and None is returned. Otherwise raises SignatureError naming ``source``,
    the keys the file wants, the keys the keyring has, and the fix.
    """
    candidates = [
        (signature, digest_name, key)
        for signature in signatures
        for digest_name in [signature.digest_name]
        if digest_name is not None
        for key in [keyring.lookup(signature.key_name)]
        if key is not None
    ]
    if candidates:
        digests = digests_of(signed, (digest_name for _, digest_name, _ in candidates))
        for signature, digest_name, key in candidates:
            if _verifies(key, signature.value, digest_name, digests[digest_name]):
                return signature.key_name
    if allow_untrusted:
        return None
    tried = [signature for signature, _, _ in candidates]
    raise SignatureError(_failure_message(signatures, tried, keyring, source))


def _verifies(key: rsa.RSAPublicKey, value: bytes, digest_name: str, digest: bytes) -> bool:
    algorithm = Prehashed(_CRYPTOGRAPHY_HASHES[digest_name])
    try:
        key.verify(value, digest, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def _failure_message(
    signatures: Sequence[Signature],
    tried: Sequence[Signature],
    keyring: Keyring,
    source: str,
) -> str:
    if not signatures:
        return (
            f"{source} is not signed (it has no .SIGN.* signature entry), so it cannot be "
            f"trusted; {keyring.describe()}. Sign it (e.g. `melange sign-index`, `abuild-sign`), "
            "or set `allow-untrusted` to accept unsigned files"
        )
    if tried:
        names = ", ".join(signature.member_name for signature in tried)
        return (
            f"{source}: BAD signature: {names} does not verify with the keyring's key of that "
            f"name ({keyring.describe()}). Either the file was changed after it was signed, or "
            "the keyring holds a different key under the same name (melange's default key name "
            f"`melange.rsa.pub` is shared by many keys): {_FIX}"
        )
    wanted = ", ".join(signature.key_name for signature in signatures)
    unchecked = [s.member_name for s in signatures if s.digest_name is None]
    note = f" ({', '.join(unchecked)} use an algorithm apkoci cannot check)" if unchecked else ""
    return (
        f"{source} is signed with key {wanted}{note}, but no such key is in the keyring "
        f"({keyring.describe()}): {_FIX}"
    )


# --- The writer's side: making signatures --------------------------------------------------------


def load_private_key(
    pem: bytes, source: str, password: Optional[bytes] = None
) -> rsa.RSAPrivateKey:
    """An RSA private key (e.g. ``melange.rsa``) from PEM bytes, for :func:`sign`."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyringError(f"{source} is not a PEM private key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyringError(f"{source} is not an RSA private key; APK signatures use RSA keys")
    return key


def sign(
    private_key: rsa.RSAPrivateKey,
    signed: Iterable[bytes],
    key_name: str,
    algorithm: str = "RSA256",
) -> Signature:
    """Sign the bytes ``signed`` yields, as ``.SIGN.<algorithm>.<key_name>``.

    ``key_name`` must be the file name its public key is installed under (``<name>.rsa.pub``).
    The caller stores ``signature.value`` in a tar entry named ``signature.member_name``.
    """
    digest_name = DIGEST_OF_ALGORITHM.get(algorithm)
    if digest_name is None:
        raise SignatureError(
            f"cannot sign with algorithm {algorithm!r}: use one of {', '.join(DIGEST_OF_ALGORITHM)}"
        )
    digest = digests_of(signed, [digest_name])[digest_name]
    value = private_key.sign(
        digest, padding.PKCS1v15(), Prehashed(_CRYPTOGRAPHY_HASHES[digest_name])
    )
    return Signature(algorithm=algorithm, key_name=key_name, value=value)
