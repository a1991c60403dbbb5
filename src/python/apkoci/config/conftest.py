"""Fixtures for the configuration tests: files written on the fly, a real key, a new certificate."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path
from typing import Callable

import pytest
from apkoci.testing import shared_testdata
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """``write_config(text, name="apko.yaml")`` writes a dedented YAML file under ``tmp_path``."""

    def write(text: str, name: str = "apko.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture(scope="session")
def certificate_pem() -> str:
    """A self-signed CA certificate made for the test run (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apkoci test CA")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def public_key_pem() -> str:
    """melange's RSA public key from apko's CLI test data."""
    return shared_testdata("apko-cli", "melange.rsa.pub").read_text()


def indented(text: str, spaces: int) -> str:
    """``text`` indented for a YAML literal block nested ``spaces`` deep."""
    return textwrap.indent(text.strip("\n"), " " * spaces)


@pytest.fixture
def complete_config(write_config: WriteConfig, certificate_pem: str, public_key_pem: str) -> Path:
    """An ``apko.yaml`` that sets every key there is, including an ``include`` of ``base.yaml``."""
    write_config(
        """
        contents:
          repositories:
            - https://base.example/os
          packages:
            - base-package
        environment:
          FROM_BASE: base
          SHARED: base
        """,
        name="base.yaml",
    )
    return write_config(
        f"""
        include: base.yaml
        contents:
          build_repositories:
            - ./packages/
          runtime_repositories:
            - https://runtime.example/os
          repositories:
            - https://packages.wolfi.dev/os
            - "@local ./local-packages"
          keyring:
            - https://packages.wolfi.dev/os/wolfi-signing.rsa.pub
            - name: inline.rsa.pub
              content: |
{indented(public_key_pem, 16)}
          runtime_keyring:
            - name: runtime.rsa.pub
              content: |
{indented(public_key_pem, 16)}
          packages:
            - wolfi-base
            - busybox=1.36.1-r0
            - python-3.12>=3.12.1
            - mine@local
        entrypoint:
          command: /usr/bin/python3 -m http.server
        cmd: --bind 0.0.0.0
        stop-signal: SIGTERM
        work-dir: /srv
        accounts:
          run-as: 65532
          groups:
            - groupname: nonroot
              gid: 65532
              members: [nonroot]
          users:
            - username: nonroot
              uid: 65532
              gid: 65532
              shell: /bin/ash
            - username: other
              uid: 1000
              homedir: /var/other
        archs: [x86_64, arm64, armv7, 386]
        environment:
          SHARED: mine
          PORT: 8000
        paths:
          - path: /srv
            type: directory
            uid: 65532
            gid: 65532
            permissions: 0o755
            recursive: true
          - path: /srv/ready
            type: empty-file
            permissions: 0644
          - path: /srv/link
            type: symlink
            source: /srv/ready
            permissions: 511
          - path: /srv/hard
            type: hardlink
            source: /srv/ready
            permissions: 0x1a4
          - path: /etc/motd
            type: permissions
            permissions: 0o600
        vcs-url: https://github.com/example/image@0123abcd
        annotations:
          org.opencontainers.image.title: example
        volumes:
          - /srv/data
        layering:
          strategy: origin
          budget: 5
        certificates:
          additional:
            - name: test-ca
              content: |
{indented(certificate_pem, 16)}
          providers:
            - custom-ca-certificates
        """
    )
