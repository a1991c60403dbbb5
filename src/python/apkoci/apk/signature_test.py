from __future__ import annotations

import base64
import hashlib
import random
from pathlib import Path
from typing import Dict, Optional

import pytest
from apkoci.apk.apkfile import read_signed_head
from apkoci.apk.signature import (
    Keyring,
    KeyringError,
    Signature,
    SignatureError,
    load_private_key,
    parse_signature_name,
    sign,
    signature_from_member,
    verify_signatures,
)
from apkoci.errors import ApkociError
from apkoci.testing import shared_testdata
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

ALPINE_616AE350 = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def keys() -> Dict[str, rsa.RSAPrivateKey]:
    # Freshly made keys: what a test signs with them cannot have been prepared to pass.
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("one.rsa.pub", "two.rsa.pub")
    }


@pytest.fixture(scope="module")
def keyring(keys: Dict[str, rsa.RSAPrivateKey]) -> Keyring:
    return Keyring.from_files({name: _public_pem(key) for name, key in keys.items()})


def test_errors_are_engine_errors() -> None:
    assert issubclass(SignatureError, ApkociError)
    assert issubclass(KeyringError, ApkociError)


def test_keyring_from_directory_holds_every_alpine_key() -> None:
    directory = shared_testdata("alpine", "keys")
    keyring = Keyring.from_paths([directory])
    expected = sorted(path.name for path in directory.iterdir())
    assert list(keyring.names) == expected
    assert len(keyring) == 17
    assert ALPINE_616AE350 in keyring
    assert "melange.rsa.pub" not in keyring


def test_keyring_from_files_and_directories_together(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a key\n")  # skipped in a directory, as apk-tools does
    (tmp_path / ".hidden.rsa.pub").write_text("ignored\n")
    melange = shared_testdata("apko-cli", "melange.rsa.pub")
    (tmp_path / "melange.rsa.pub").write_bytes(melange.read_bytes())
    # apko-cli/melange.rsa.pub and apko-cli/packages/melange.rsa.pub are the same key: no conflict.
    keyring = Keyring.from_paths(
        [tmp_path, melange, shared_testdata("apko-cli", "packages", "melange.rsa.pub")]
    )
    assert keyring.names == ("melange.rsa.pub",)


def test_keyring_refuses_a_file_that_is_not_a_key(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.rsa.pub"
    bogus.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyringError, match=r"bogus\.rsa\.pub is not a PEM public key"):
        Keyring.from_paths([bogus])


def test_keyring_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match=r"does not exist.*contents\.keyring"):
        Keyring.from_paths([tmp_path / "missing.rsa.pub"])


def test_keyring_refuses_a_non_rsa_key() -> None:
    key = dsa.generate_private_key(key_size=1024).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyringError, match="not an RSA public key"):
        Keyring.from_files({"dsa.pub": pem})


def test_keyring_refuses_two_different_keys_under_one_name(
    tmp_path: Path, keys: Dict[str, rsa.RSAPrivateKey]
) -> None:
    other = tmp_path / "melange.rsa.pub"
    other.write_bytes(_public_pem(keys["one.rsa.pub"]))
    with pytest.raises(KeyringError, match="two different public keys are both named"):
        Keyring.from_paths([shared_testdata("apko-cli", "melange.rsa.pub"), other])


def test_keyring_lookup_accepts_a_name_without_the_rsa_pub_suffix(
    keys: Dict[str, rsa.RSAPrivateKey],
) -> None:
    keyring = Keyring.from_files({"proxy-key": _public_pem(keys["one.rsa.pub"])})
    assert "proxy-key.rsa.pub" in keyring
    assert "proxy-key" in keyring
    assert "other.rsa.pub" not in keyring


def test_merged_keyring_has_both_sets_of_names(keyring: Keyring) -> None:
    alpine = Keyring.from_paths([shared_testdata("alpine", "keys")])
    merged = alpine.merged(keyring)
    assert set(merged.names) == set(alpine.names) | {"one.rsa.pub", "two.rsa.pub"}


@pytest.mark.parametrize(
    "name, expected",
    [
        (".SIGN.RSA.alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub", ("RSA", ALPINE_616AE350)),
        (".SIGN.RSA256.melange.rsa.pub", ("RSA256", "melange.rsa.pub")),
        (".SIGN.RSA512.k.rsa.pub", ("RSA512", "k.rsa.pub")),
        (".SIGN.DSA.old.pub", ("DSA", "old.pub")),
    ],
)
def test_parse_signature_name(name: str, expected: tuple) -> None:
    assert parse_signature_name(name) == expected
    assert signature_from_member(name, b"x").member_name == name


@pytest.mark.parametrize(
    "name", [".SIGN.RSA", ".SIGN.RSA.", ".SIGN..key", ".PKGINFO", ".SIGN.RSA.a/b"]
)
def test_parse_signature_name_refuses_malformed_names(name: str) -> None:
    with pytest.raises(SignatureError, match="malformed signature entry name"):
        parse_signature_name(name)


@pytest.mark.parametrize("algorithm", ["RSA", "RSA256", "RSA512"])
def test_sign_then_verify_each_algorithm(
    algorithm: str, keys: Dict[str, rsa.RSAPrivateKey], keyring: Keyring
) -> None:
    data = [b"the compressed ", b"control member"]
    signature = sign(keys["one.rsa.pub"], data, "one.rsa.pub", algorithm)
    assert signature.member_name == f".SIGN.{algorithm}.one.rsa.pub"
    assert verify_signatures([signature], iter(data), keyring, "test.apk") == "one.rsa.pub"


def test_a_changed_byte_is_a_bad_signature(
    keys: Dict[str, rsa.RSAPrivateKey], keyring: Keyring
) -> None:
    signature = sign(keys["one.rsa.pub"], [b"payload"], "one.rsa.pub")
    with pytest.raises(SignatureError) as error:
        verify_signatures([signature], [b"payloaD"], keyring, "x/APKINDEX.tar.gz")
    message = str(error.value)
    assert message.startswith("x/APKINDEX.tar.gz: BAD signature: .SIGN.RSA256.one.rsa.pub")
    assert "one.rsa.pub, two.rsa.pub" in message  # what the keyring has
    assert "allow-untrusted" in message


def test_bad_signature_even_with_allow_untrusted_is_accepted_as_unverified(
    keys: Dict[str, rsa.RSAPrivateKey], keyring: Keyring
) -> None:
    # apko's allow-untrusted skips signature checks altogether; the result says nothing verified.
    signature = sign(keys["one.rsa.pub"], [b"payload"], "one.rsa.pub")
    assert verify_signatures([signature], [b"other"], keyring, "f", allow_untrusted=True) is None


def test_signed_with_a_key_we_do_not_have(keys: Dict[str, rsa.RSAPrivateKey]) -> None:
    signature = sign(keys["one.rsa.pub"], [b"payload"], "one.rsa.pub")
    alpine = Keyring.from_paths([shared_testdata("alpine", "keys")])
    with pytest.raises(SignatureError) as error:
        verify_signatures([signature], [b"payload"], alpine, "pkg.apk")
    message = str(error.value)
    assert "pkg.apk is signed with key one.rsa.pub, but no such key is in the keyring" in message
    assert ALPINE_616AE350 in message
    assert "contents.keyring" in message and "allow-untrusted" in message
    assert verify_signatures([signature], [b"payload"], alpine, "p", allow_untrusted=True) is None


def test_unsigned_and_empty_keyring() -> None:
    with pytest.raises(SignatureError, match=r"f\.apk is not signed .*the keyring is empty"):
        verify_signatures([], [b"payload"], Keyring(), "f.apk")
    assert verify_signatures([], [b"payload"], Keyring(), "f.apk", allow_untrusted=True) is None


def test_any_signature_with_a_known_key_that_verifies_is_enough(
    keys: Dict[str, rsa.RSAPrivateKey], keyring: Keyring
) -> None:
    data = [b"index bytes"]
    bad = sign(keys["one.rsa.pub"], [b"something else"], "one.rsa.pub")
    unknown = sign(keys["one.rsa.pub"], data, "stranger.rsa.pub")
    good = sign(keys["two.rsa.pub"], data, "two.rsa.pub", "RSA")
    assert verify_signatures([unknown, bad, good], data, keyring, "i") == "two.rsa.pub"


def test_unknown_algorithms_are_not_checked(keyring: Keyring) -> None:
    dsa_signature = Signature(algorithm="DSA", key_name="one.rsa.pub", value=b"\x00" * 64)
    with pytest.raises(SignatureError, match=r"DSA\.one\.rsa\.pub use an algorithm apkoci cannot"):
        verify_signatures([dsa_signature], [b"data"], keyring, "old.apk")


def test_sign_refuses_an_unknown_algorithm(keys: Dict[str, rsa.RSAPrivateKey]) -> None:
    with pytest.raises(SignatureError, match="cannot sign with algorithm 'DSA'"):
        sign(keys["one.rsa.pub"], [b"x"], "one.rsa.pub", "DSA")


def test_load_private_key_of_the_shared_private_repository() -> None:
    pem = shared_testdata("apko-cli", "private_packages", "private_pkg_key.rsa").read_bytes()
    key = load_private_key(pem, "private_pkg_key.rsa")
    public = Keyring.from_paths(
        [shared_testdata("apko-cli", "private_packages", "private_pkg_key.rsa.pub")]
    )
    signature = sign(key, [b"hello"], "private_pkg_key.rsa.pub", "RSA")
    assert verify_signatures([signature], [b"hello"], public, "t") == "private_pkg_key.rsa.pub"
    with pytest.raises(KeyringError, match="not a PEM private key"):
        load_private_key(b"garbage", "melange.rsa")


def test_real_index_signature_covers_the_compressed_bytes_after_it() -> None:
    # The real Alpine index, split into its signature and the gzip member it signs.
    path = shared_testdata("alpine", "v3.17-main-aarch64", "APKINDEX.tar.gz")
    with open(path, "rb") as raw:
        head, _ = read_signed_head(raw, str(path))
    assert [s.member_name for s in head.signatures] == [f".SIGN.RSA.{ALPINE_616AE350}"]
    alpine = Keyring.from_paths([shared_testdata("alpine", "keys")])
    signed = head.signed_member.raw
    assert verify_signatures(head.signatures, [signed], alpine, str(path)) == ALPINE_616AE350
    # Not the decompressed bytes, and not one byte less.
    for wrong in (head.signed_member.content, signed[:-1]):
        with pytest.raises(SignatureError, match="BAD signature"):
            verify_signatures(head.signatures, [wrong], alpine, str(path))


# --- Verifying without cryptography, checked against cryptography ---------------------------------
# signature.py reads RSA public keys and checks PKCS#1 v1.5 signatures itself (cryptography costs
# more to import than a resolve takes). These tests hold it to cryptography's answers, on every
# key and signature of the shared test data and on forged and malformed ones.

_NO_NULL_DIGEST_INFO = {  # DigestInfo without the NULL parameters: a spelling PKCS#1 forbids
    "sha1": bytes.fromhex("301f300706052b0e03021a0414"),
    "sha256": bytes.fromhex("302f300b06096086480165030402010420"),
    "sha512": bytes.fromhex("304f300b06096086480165030402030440"),
}


def _cryptography_verifies(
    public_key: rsa.RSAPublicKey, value: bytes, digest_name: str, digest: bytes
) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    algorithm = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512()}
    try:
        public_key.verify(value, digest, padding.PKCS1v15(), Prehashed(algorithm[digest_name]))
    except InvalidSignature:
        return False
    return True


def _shared_public_key_files() -> list:
    root = shared_testdata("alpine", "keys").parents[1]
    files = sorted(root.rglob("*.rsa.pub"))
    assert len(files) >= 20  # the 17 Alpine keys, melange's, Chainguard's, ...
    return files


def test_every_shared_key_reads_as_cryptography_reads_it() -> None:
    from apkoci.apk.signature import _rsa_key_from_pem

    for path in _shared_public_key_files():
        pem = path.read_bytes()
        expected = serialization.load_pem_public_key(pem)
        assert isinstance(expected, rsa.RSAPublicKey)
        fast = _rsa_key_from_pem(pem)
        assert fast is not None, path  # the usual spelling takes the fast path
        numbers = expected.public_numbers()
        der = expected.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert fast == (numbers.n, numbers.e, der), path
        # lookup() still hands out cryptography's key object.
        looked_up = Keyring.from_paths([path]).lookup(path.name)
        assert looked_up is not None and looked_up.public_numbers() == numbers


def test_pem_spellings_read_fast_only_when_cryptography_reads_them_alike() -> None:
    from apkoci.apk.signature import _rsa_key_from_pem

    pem = shared_testdata("alpine", "keys", ALPINE_616AE350).read_bytes()
    lines = pem.strip().split(b"\n")
    body = b"".join(lines[1:-1])
    der = base64.b64decode(body)
    variants = [
        pem,
        pem.replace(b"\n", b"\r\n"),
        pem.rstrip(),
        lines[0] + b"\n" + body + b"\n" + lines[-1],
        lines[0] + b"\n\n" + b"\n".join(lines[1:]),
        b"  \n" + pem,
        b"text before\n" + pem,
        pem + b"text after\n",
        pem.replace(b"\n", b"\r"),
        pem.replace(b"PUBLIC KEY", b"RSA PUBLIC KEY"),
        lines[0] + b"\n" + body[:-2] + b"=\n" + lines[-1],  # padding in the wrong place
        lines[0] + b"\n" + body[:-3] + b"R==\n" + lines[-1],  # non-canonical last character
        lines[0] + b"\n" + body.replace(b"A", b"A ", 1) + b"\n" + lines[-1],
    ]
    # Mangled DER: a long-form length for a short one, a negative modulus, an extra byte, e even.
    variants += [
        _pem(b"\x30\x81" + der[1:2] + der[2:]) if der[1] < 0x80 else _pem(der + b"\x00"),
        _pem(der + b"\x00"),
        _pem(der[:-1]),
        _pem(der[:-1] + bytes([der[-1] ^ 1])),  # e = 65536: even
        _pem(der.replace(bytes.fromhex("0500"), b"", 1)),  # no NULL parameters
    ]
    for variant in variants:
        fast = _rsa_key_from_pem(variant)
        numbers: Optional[rsa.RSAPublicNumbers] = None
        try:
            loaded = serialization.load_pem_public_key(variant)
        except (ValueError, TypeError):
            pass
        else:
            if isinstance(loaded, rsa.RSAPublicKey):
                numbers = loaded.public_numbers()
        if fast is not None:
            assert numbers is not None and (numbers.n, numbers.e) == fast[:2], variant
    assert _rsa_key_from_pem(pem) is not None


def _pem(der: bytes) -> bytes:
    body = base64.b64encode(der)
    return (
        b"-----BEGIN PUBLIC KEY-----\n"
        + b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        + b"\n-----END PUBLIC KEY-----\n"
    )


def _small_private_key(bits: int, seed: int) -> rsa.RSAPrivateKey:
    """An RSA key smaller than cryptography makes (512 bits: too small for a SHA-512 DigestInfo)."""
    generator = random.Random(seed)

    def prime(size: int) -> int:
        while True:
            candidate = generator.getrandbits(size) | (3 << (size - 2)) | 1
            if _is_probable_prime(candidate) and (candidate - 1) % 65537:
                return candidate

    p, q = prime(bits // 2), prime(bits // 2)
    d = pow(65537, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(65537, p * q)
    return rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), public
    ).private_key()


def _is_probable_prime(n: int) -> bool:
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    if any(n % p == 0 for p in small):
        return n in small
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@pytest.fixture(scope="module")
def verification_keys(keys: Dict[str, rsa.RSAPrivateKey]) -> list:
    return [_small_private_key(512, 1), _small_private_key(768, 2), keys["one.rsa.pub"]]


@pytest.mark.parametrize("digest_name", ["sha1", "sha256", "sha512"])
def test_verification_agrees_with_cryptography_on_forged_and_malformed_signatures(
    digest_name: str, verification_keys: list
) -> None:
    from apkoci.apk.signature import _DIGEST_INFO_PREFIXES, _load_public_key, _verifies
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    algorithm = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512()}
    digest = hashlib.new(digest_name, b"signed bytes").digest()
    checked = 0
    for private_key in verification_keys:
        public_key = private_key.public_key()
        key = _load_public_key(_public_pem(private_key), "test")
        n, d = key.modulus, private_key.private_numbers().d
        size = (n.bit_length() + 7) // 8

        def raw_signature(encoded: bytes) -> bytes:
            return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(size, "big")

        def block(block_type: bytes, digest_info: bytes, filler: int = 0xFF) -> Optional[bytes]:
            padding_length = size - len(digest_info) - 3
            if padding_length < 0:
                return None
            return b"\x00" + block_type + bytes([filler]) * padding_length + b"\x00" + digest_info

        info = _DIGEST_INFO_PREFIXES[digest_name] + digest
        other = "sha256" if digest_name == "sha1" else "sha1"
        other_info = _DIGEST_INFO_PREFIXES[other] + hashlib.new(other, b"signed bytes").digest()
        blocks = [
            block(b"\x01", info),
            block(b"\x01", _NO_NULL_DIGEST_INFO[digest_name] + digest),
            block(b"\x01", other_info),
            block(b"\x02", info),
            block(b"\x01", info, filler=0xFE),
            block(b"\x01", b"\x00" + info),  # a zero byte too many between padding and data
        ]
        values = [raw_signature(b) for b in blocks if b is not None]
        if size >= len(info) + 11:
            good = private_key.sign(digest, padding.PKCS1v15(), Prehashed(algorithm[digest_name]))
            values += [good, good[1:], b"\x00" + good, good[:-1] + bytes([good[-1] ^ 1])]
        values += [n.to_bytes(size, "big"), (n - 1).to_bytes(size, "big"), b"", b"\x00" * size]
        for value in values:
            expected = _cryptography_verifies(public_key, value, digest_name, digest)
            assert _verifies(key, value, digest_name, digest) == expected
            checked += expected
    # The 512-bit key cannot carry a SHA-512 DigestInfo; every other key has a good signature.
    assert checked == (2 if digest_name == "sha512" else 3) * 2


def test_verification_agrees_with_cryptography_on_signatures_with_a_leading_zero(
    keys: Dict[str, rsa.RSAPrivateKey],
) -> None:
    from apkoci.apk.signature import _load_public_key, _verifies

    private_key = keys["two.rsa.pub"]
    key = _load_public_key(_public_pem(private_key), "two")
    for attempt in range(5000):  # one signature in 256 starts with a zero byte
        data = [b"attempt %d" % attempt]
        signature = sign(private_key, data, "two.rsa.pub", "RSA256")
        if signature.value[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte")
    digest = hashlib.sha256(data[0]).digest()
    public_key = private_key.public_key()
    for value in (signature.value, signature.value[1:]):
        expected = _cryptography_verifies(public_key, value, "sha256", digest)
        assert _verifies(key, value, "sha256", digest) == expected
    keyring = Keyring.from_files({"two.rsa.pub": _public_pem(private_key)})
    assert verify_signatures([signature], data, keyring, "z") == "two.rsa.pub"


def test_every_shared_signature_verifies_as_with_cryptography() -> None:
    from apkoci.apk.signature import DIGEST_OF_ALGORITHM, _verifies

    root = shared_testdata("alpine", "keys").parents[1]
    keyring = Keyring.from_paths(_shared_public_key_files())
    files = sorted(root.rglob("APKINDEX.tar.gz")) + sorted(root.rglob("*.apk"))
    verified = 0
    for path in files:
        if not path.read_bytes().startswith(b"\x1f\x8b"):
            continue  # a link the checkout kept as text
        with open(path, "rb") as raw:
            head, _ = read_signed_head(raw, str(path))
        signed = head.signed_member.raw
        for signature in head.signatures:
            key = keyring._find(signature.key_name)
            digest_name = DIGEST_OF_ALGORITHM.get(signature.algorithm)
            if key is None or digest_name is None:
                continue
            digest = hashlib.new(digest_name, signed).digest()
            expected = _cryptography_verifies(key.public_key, signature.value, digest_name, digest)
            assert _verifies(key, signature.value, digest_name, digest) == expected, path
            verified += expected
    assert verified >= 8  # every index of the shared data, and the packages signed over control


@pytest.mark.parametrize("name", ["sha1", "sha256", "sha512"])
def test_digests_are_hashlibs(name: str) -> None:
    from apkoci.apk.signature import digests_of, new_digest

    data = [b"some ", b"bytes" * 1000]
    assert digests_of(data, [name]) == {name: hashlib.new(name, b"".join(data)).digest()}
    assert new_digest(name).name == name
