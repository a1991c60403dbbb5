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

Verifying needs no ``cryptography``: importing it costs more than a whole resolve (tens of
milliseconds and some 9 MiB), and RSA PKCS#1 v1.5 verification is one ``pow(s, e, n)`` and a
byte-for-byte comparison with the one encoding a valid signature can have (EMSA-PKCS1-v1_5,
RFC 8017 section 8.2.2; the decrypted block is never parsed, which is what keeps forgeries out).
Keys in the usual form (a PEM ``PUBLIC KEY`` holding a strict-DER RSA SubjectPublicKeyInfo) are
read by :func:`_rsa_key_from_pem`; any other file goes to ``cryptography``, which then decides as
it always has. Making signatures (and :meth:`Keyring.lookup`'s key objects) still use it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from apkoci.errors import ApkociError

if TYPE_CHECKING:  # imported where needed: see the module's docstring and new_digest
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

SIGNATURE_PREFIX = ".SIGN."

# apk-tools' signature algorithm names -> the hashlib name of the digest they sign.
DIGEST_OF_ALGORITHM: Mapping[str, str] = {"RSA": "sha1", "RSA256": "sha256", "RSA512": "sha512"}

# The DER of each digest's DigestInfo up to the digest itself (RFC 8017 section 9.2, note 1):
# SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING (the digest follows) }.
_DIGEST_INFO_PREFIXES: Mapping[str, bytes] = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
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


class _Key:
    """A trusted public key. (A plain class: each dataclass costs a command line's start time.)"""

    def __init__(self, modulus: int, exponent: int, source: str, der: bytes) -> None:
        self.modulus = modulus  # n
        self.exponent = exponent  # e
        self.source = source  # where it was loaded from, for error messages
        self.der = der  # canonical encoding (DER SubjectPublicKeyInfo), to tell keys apart
        self._public_key: Optional["rsa.RSAPublicKey"] = None

    @property
    def public_key(self) -> "rsa.RSAPublicKey":
        """The key as a ``cryptography`` object (imports it: only :meth:`Keyring.lookup` asks)."""
        if self._public_key is None:
            from cryptography.hazmat.primitives.serialization import load_der_public_key

            self._public_key = load_der_public_key(self.der)  # type: ignore[assignment]
        return self._public_key  # type: ignore[return-value]


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
            keyring._add(name, _load_public_key(pem, source=name))
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
                        key = _load_public_key(child.read_bytes(), source=str(child))
                    except KeyringError:
                        continue
                    keyring._add(child.name, key)
            elif path.is_file():
                keyring._add(path.name, _load_public_key(path.read_bytes(), str(path)))
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
            keyring._add(name, key)
        return keyring

    @property
    def names(self) -> Tuple[str, ...]:
        """The key file names, sorted."""
        return tuple(sorted(self._keys))

    def lookup(self, key_name: str) -> Optional["rsa.RSAPublicKey"]:
        """The key a signature names: by its exact name, else by the name minus ``.rsa.pub``."""
        key = self._find(key_name)
        return key.public_key if key else None

    def _find(self, key_name: str) -> Optional[_Key]:
        key = self._keys.get(key_name)
        if key is None and key_name.endswith(_KEY_SUFFIX):
            key = self._keys.get(key_name[: -len(_KEY_SUFFIX)])
        return key

    def __contains__(self, key_name: object) -> bool:
        return isinstance(key_name, str) and self._find(key_name) is not None

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self.names)!r})"

    def describe(self) -> str:
        """The key names, for error messages."""
        return f"the keyring has: {', '.join(self.names)}" if self._keys else "the keyring is empty"

    def _add(self, name: str, key: _Key) -> None:
        existing = self._keys.get(name)
        if existing is not None and existing.der != key.der:
            raise KeyringError(
                f"two different public keys are both named {name!r} ({existing.source} and "
                f"{key.source}): signatures name their key by file name, so keep only the right one"
            )
        self._keys[name] = key


def _load_public_key(pem: bytes, source: str) -> _Key:
    fast = _rsa_key_from_pem(pem)
    if fast is not None:
        modulus, exponent, der = fast
        return _Key(modulus=modulus, exponent=exponent, source=source, der=der)
    # Anything else (another PEM label, another key type, a file that is no key at all) is for
    # cryptography to judge, with its own words in the message.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        public_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyringError(
            f"{source} is not a PEM public key ({error}); a keyring entry must be an "
            "`*.rsa.pub` file such as the ones in /etc/apk/keys"
        ) from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyringError(f"{source} is not an RSA public key; APK signatures use RSA keys")
    numbers = public_key.public_numbers()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Key(modulus=numbers.n, exponent=numbers.e, source=source, der=der)


# --- Reading RSA public keys without cryptography ------------------------------------------------

_PEM_BEGIN = b"-----BEGIN PUBLIC KEY-----"
_PEM_END = b"-----END PUBLIC KEY-----"
# DER of SubjectPublicKeyInfo's AlgorithmIdentifier for RSA: SEQUENCE { OID rsaEncryption, NULL }.
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")


def _rsa_key_from_pem(pem: bytes) -> Optional[Tuple[int, int, bytes]]:
    """``(n, e, der)`` of a PEM file that is exactly one ``PUBLIC KEY`` block holding an RSA key
    in strict DER; None for anything else (then cryptography decides).

    Strict on purpose: whatever this accepts, cryptography accepts too, with the same numbers,
    so the fast path never changes which files are keys. That is why the base64 must be the
    canonical spelling, the DER minimal, and ``e`` what cryptography checks (odd, 3 <= e < n).
    """
    lines = pem.strip().split(b"\n")
    if len(lines) < 3 or lines[0].rstrip(b"\r") != _PEM_BEGIN:
        return None
    if lines[-1].rstrip(b"\r") != _PEM_END:
        return None
    body = b"".join(line.rstrip(b"\r") for line in lines[1:-1])
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(der) != body:
        return None
    numbers = _rsa_numbers_from_spki(der)
    if numbers is None:
        return None
    modulus, exponent = numbers
    if exponent < 3 or exponent >= modulus or exponent % 2 == 0:
        return None
    return modulus, exponent, der


def _rsa_numbers_from_spki(der: bytes) -> Optional[Tuple[int, int]]:
    """``(n, e)`` of a DER SubjectPublicKeyInfo of an RSA key; None unless it is exactly
    ``SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { SEQUENCE { INTEGER n,
    INTEGER e } } }`` with minimal lengths, positive minimal integers and no byte left over."""
    spki = _der_contents(der, 0, 0x30)
    if spki is None or spki[1] != len(der):
        return None
    start, _ = spki
    if der[start : start + len(_RSA_ALGORITHM)] != _RSA_ALGORITHM:
        return None
    bits = _der_contents(der, start + len(_RSA_ALGORITHM), 0x03)
    if bits is None or bits[1] != len(der) or bits[0] >= len(der) or der[bits[0]] != 0:
        return None  # a BIT STRING whose first byte (the unused bits) must be 0
    key = _der_contents(der, bits[0] + 1, 0x30)
    if key is None or key[1] != len(der):
        return None
    integers: List[int] = []
    position = key[0]
    for _ in range(2):
        integer = _der_contents(der, position, 0x02)
        if integer is None:
            return None
        value = der[integer[0] : integer[1]]
        if not value or value[0] & 0x80 or (len(value) > 1 and value[0] == 0 and value[1] < 0x80):
            return None  # empty, negative or not minimal
        integers.append(int.from_bytes(value, "big"))
        position = integer[1]
    if position != len(der):
        return None
    return integers[0], integers[1]


def _der_contents(der: bytes, position: int, tag: int) -> Optional[Tuple[int, int]]:
    """Where the contents of the DER element at ``position`` start and end, if it has ``tag``
    and a minimally encoded length that fits in ``der``."""
    if position + 2 > len(der) or der[position] != tag:
        return None
    length = der[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der) or der[start] == 0:
            return None
        length = int.from_bytes(der[start : start + count], "big")
        start += count
        if length < 0x80:
            return None  # long form for a short length is not DER
    end = start + length
    return (start, end) if end <= len(der) else None


# CPython's own implementations of the digests signatures use: (module, constructor) to try, by
# hashlib name (3.12 merged _sha256 and _sha512 into _sha2).
_BUILTIN_DIGESTS: Mapping[str, Sequence[Tuple[str, str]]] = {
    "sha1": (("_sha1", "sha1"),),
    "sha256": (("_sha2", "sha256"), ("_sha256", "sha256")),
    "sha512": (("_sha2", "sha512"), ("_sha512", "sha512")),
}


def new_digest(name: str) -> "hashlib._Hash":
    """A hash object for the digest ``name`` (a hashlib name): CPython's own implementation when
    there is one, else hashlib's. What a signature covers is small (an index is under a MiB), and
    for it importing hashlib, which loads OpenSSL, costs as much time as hashing and adds 4 MiB
    to a command's memory."""
    for module_name, constructor in _BUILTIN_DIGESTS.get(name, ()):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        return getattr(module, constructor)()  # type: ignore[no-any-return]
    import hashlib

    return hashlib.new(name)


def digests_of(chunks: Iterable[bytes], digest_names: Iterable[str]) -> Dict[str, bytes]:
    """The digests named (hashlib names) of the concatenated chunks, in one pass."""
    hashers = {name: new_digest(name) for name in set(digest_names)}
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
        for key in [keyring._find(signature.key_name)]
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


def _verifies(key: _Key, value: bytes, digest_name: str, digest: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 verification (RFC 8017 section 8.2.2) of ``value`` over ``digest``."""
    size = (key.modulus.bit_length() + 7) // 8
    if len(value) != size:  # as OpenSSL: the signature has exactly the modulus' length
        return False
    signature = int.from_bytes(value, "big")
    if signature >= key.modulus:
        return False
    encoded = pow(signature, key.exponent, key.modulus).to_bytes(size, "big")
    return encoded == _pkcs1_encoding(digest_name, digest, size)


def _pkcs1_encoding(digest_name: str, digest: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5: ``00 01 FF..FF 00 DigestInfo``, ``size`` bytes (empty when too small)."""
    digest_info = _DIGEST_INFO_PREFIXES[digest_name] + digest
    padding_length = size - len(digest_info) - 3
    if padding_length < 8:  # RFC 8017: "intended encoded message length too short"
        return b""
    return b"\x00\x01" + b"\xff" * padding_length + b"\x00" + digest_info


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
) -> "rsa.RSAPrivateKey":
    """An RSA private key (e.g. ``melange.rsa``) from PEM bytes, for :func:`sign`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyringError(f"{source} is not a PEM private key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyringError(f"{source} is not an RSA private key; APK signatures use RSA keys")
    return key


def sign(
    private_key: "rsa.RSAPrivateKey",
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
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    digest = digests_of(signed, [digest_name])[digest_name]
    value = private_key.sign(digest, padding.PKCS1v15(), Prehashed(_cryptography_hash(digest_name)))
    return Signature(algorithm=algorithm, key_name=key_name, value=value)


def _cryptography_hash(digest_name: str) -> "hashes.HashAlgorithm":
    from cryptography.hazmat.primitives import hashes

    algorithms: Dict[str, Callable[[], hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1,
        "sha256": hashes.SHA256,
        "sha512": hashes.SHA512,
    }
    return algorithms[digest_name]()
