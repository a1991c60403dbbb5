from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

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
