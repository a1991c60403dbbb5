from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Iterator, List

import pytest
from apkoci.apk.apkfile import read_apk
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.writer import PackageSpec, build_package
from apkoci.build.certificates import install_certificates, parse_certificate
from apkoci.build.errors import BuildError
from apkoci.config import AdditionalCertificate, Certificates
from apkoci.install.filetree import FileTree
from apkoci.install.install import install_packages
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def make_certificate(name: str) -> bytes:
    """A self-signed CA certificate (PEM) named ``name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2024, 1, 1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.PEM)


def fingerprint(pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        tree.mkdir("etc/ssl/certs")
        tree.write_file(BUNDLE, b"# system bundle\n", mode=0o644)
        yield tree


def _provider_package(tmp_path: Path, files: dict, provides: List[str]):
    root = tmp_path / "package-files"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    out = tmp_path / "ca-extra-1.0-r0.apk"
    build_package(
        root,
        PackageSpec(
            "ca-extra", "1.0-r0", "x86_64", provides=parse_dependencies(" ".join(provides))
        ),
        out,
    )
    return read_apk(out)


def test_additional_certificates_are_written_and_appended(tree: FileTree) -> None:
    pem = make_certificate("additional")
    # Text around the block is dropped: the PEM is re-encoded from the certificate itself.
    content = "my corporate CA\n" + pem.decode()
    found = install_certificates(
        tree, Certificates(additional=(AdditionalCertificate("corp", content),)), []
    )
    name = f"usr/local/share/ca-certificates/corp-{fingerprint(pem)}.crt"
    assert tree.read_bytes(name) == pem and tree.node(name).mode == 0o644
    assert [certificate.pem for certificate in found] == [pem]
    assert tree.read_bytes(BUNDLE) == b"# system bundle\n" + pem + b"\n"


def test_provider_packages_add_their_certificates(tree: FileTree, tmp_path: Path) -> None:
    first, second = make_certificate("one"), make_certificate("two")
    apk = _provider_package(
        tmp_path,
        {
            "usr/share/ca-certificates/extra/b.crt": second,
            "usr/local/share/ca-certificates/a.pem": first,
            "usr/share/ca-certificates/extra/broken.crt": b"not a certificate",
            "usr/share/doc/readme": b"not a certificate either",
        },
        ["custom-ca-certificates"],
    )
    installed = install_packages(tree, [apk])
    certificates = Certificates(providers=("custom-ca-certificates",))
    found = install_certificates(tree, certificates, installed)
    # Sorted by path, the broken file skipped.
    assert [certificate.pem for certificate in found] == [first, second]
    assert tree.read_bytes(BUNDLE) == b"# system bundle\n" + first + b"\n" + second + b"\n"
    assert tree.read_bytes("etc/ca-certificates.conf") == b"extra/b.crt\n"
    # A package that provides nothing asked for contributes nothing.
    assert install_certificates(tree, Certificates(providers=("other",)), installed) == []


def test_a_missing_bundle_is_not_created(tmp_path: Path) -> None:
    pem = make_certificate("x")
    with FileTree(tmp_path) as tree:
        install_certificates(
            tree, Certificates(additional=(AdditionalCertificate("x", pem.decode()),)), []
        )
        assert not tree.exists(BUNDLE)
        assert tree.exists(f"usr/local/share/ca-certificates/x-{fingerprint(pem)}.crt")


def test_parse_certificate_wants_exactly_one() -> None:
    pem = make_certificate("a")
    with pytest.raises(BuildError, match="found CERTIFICATE, CERTIFICATE"):
        parse_certificate(pem + pem, "two.pem")
    with pytest.raises(BuildError, match="found no PEM block"):
        parse_certificate(b"hello", "none.pem")
    with pytest.raises(BuildError, match="bad.pem: not a valid X.509 certificate"):
        parse_certificate(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "bad.pem"
        )
