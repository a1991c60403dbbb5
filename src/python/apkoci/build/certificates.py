"""The configuration's ``certificates``: extra CA certificates the image trusts.

What apko does (``pkg/build/certificates.go``), in place of running ``update-ca-certificates``:

- each ``additional`` certificate (one PEM block each) is written to
  ``/usr/local/share/ca-certificates/<name>-<sha256 of its DER>.crt`` (0644, the folder 0755);
- every installed package that provides one of the ``providers`` names contributes its ``.crt``
  and ``.pem`` files (sorted by path; a file that does not hold exactly one certificate is
  skipped); those under ``/usr/share/ca-certificates/`` are also listed, relative to that folder,
  at the end of ``/etc/ca-certificates.conf``;
- all of them, additional first, are appended to each CA bundle the image has
  (``/etc/ssl/certs/ca-certificates.crt``, and AWS ECS's
  ``/var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem``), each as a PEM block re-encoded
  from its DER followed by an empty line. A bundle the image does not have is not created.

A package provides a name when one of its ``provides`` has that name (apko compares the whole
``provides`` entry, so ``custom-ca-certificates=1.0`` would not count there). Not done: apko also
adds the certificates to a Java truststore at ``/etc/ssl/certs/java/cacerts`` when the image has
one; apkoci leaves that file as the packages made it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

from apkoci.build.errors import BuildError
from apkoci.config import Certificates
from apkoci.install.database import InstalledPackage
from apkoci.install.filetree import FileTree, FileTreeError
from apkoci.oci.layer import FILE
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

CA_CERTIFICATES_DIR = "usr/local/share/ca-certificates"
CA_CERTIFICATES_CONF = "etc/ca-certificates.conf"
SYSTEM_CA_CERTIFICATES_DIR = "usr/share/ca-certificates/"
CA_BUNDLES = (
    "etc/ssl/certs/ca-certificates.crt",
    "var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem",
)
_CERTIFICATE_SUFFIXES = (".crt", ".pem")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class Certificate:
    """A CA certificate: its PEM block (re-encoded, nothing around it) and SHA-256 fingerprint."""

    pem: bytes
    fingerprint: str


def parse_certificate(data: bytes, source: str) -> Certificate:
    """The one certificate of a PEM text; anything else is a :class:`BuildError`."""
    blocks = _PEM_BLOCK.findall(data)
    if len(blocks) != 1 or blocks[0][0] != b"CERTIFICATE":
        found = ", ".join(kind.decode() for kind, _ in blocks) or "no PEM block"
        raise BuildError(f"{source}: expected one CERTIFICATE PEM block, found {found}")
    body = b"".join(line for line in blocks[0][1].split() if b":" not in line)
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error) as error:
        raise BuildError(f"{source}: not a valid X.509 certificate ({error})") from None
    der = certificate.public_bytes(Encoding.DER)
    return Certificate(certificate.public_bytes(Encoding.PEM), hashlib.sha256(der).hexdigest())


def _provides(installed: InstalledPackage, names: Sequence[str]) -> bool:
    return any(provided.name in names for provided in installed.package.provides)


def _package_certificates(
    tree: FileTree, installed: Sequence[InstalledPackage], providers: Sequence[str]
) -> List[str]:
    return sorted(
        path
        for package in installed
        if _provides(package, providers)
        for path in package.paths()
        if path.endswith(_CERTIFICATE_SUFFIXES)
    )


def _append(tree: FileTree, path: str, data: bytes) -> None:
    """Append to the file at ``path`` (through symlinks), keeping its mode and owners."""
    physical = tree.resolve(path)
    node = tree.stat(physical)
    old = tree.read_bytes(physical) if node is not None else b""
    mode, uid, gid = (node.mode, node.uid, node.gid) if node is not None else (0o644, 0, 0)
    tree.write_file(physical, old + data, mode=mode, uid=uid, gid=gid)


def install_certificates(
    tree: FileTree, certificates: Optional[Certificates], installed: Sequence[InstalledPackage]
) -> List[Certificate]:
    """Add the configured certificates to the tree (see the module docstring); returns them."""
    if certificates is None:
        return []
    found: List[Certificate] = []
    try:
        if certificates.additional:
            tree.mkdir(CA_CERTIFICATES_DIR)
        for additional in certificates.additional:
            certificate = parse_certificate(
                additional.content.encode("utf-8"), f"certificates.additional {additional.name!r}"
            )
            name = f"{CA_CERTIFICATES_DIR}/{additional.name}-{certificate.fingerprint}.crt"
            tree.write_file(name, certificate.pem)
            found.append(certificate)
        registered = []
        for path in _package_certificates(tree, installed, certificates.providers):
            try:
                certificate = parse_certificate(tree.read_bytes(path), f"/{path}")
            except BuildError:
                continue  # apko skips package files that are not exactly one certificate
            found.append(certificate)
            if path.startswith(SYSTEM_CA_CERTIFICATES_DIR):
                registered.append(path[len(SYSTEM_CA_CERTIFICATES_DIR) :])
        if registered:
            _append(tree, CA_CERTIFICATES_CONF, "".join(f"{p}\n" for p in registered).encode())
        appended = b"".join(certificate.pem + b"\n" for certificate in found)
        for bundle in CA_BUNDLES:
            node = tree.stat(bundle) if tree.exists(bundle) else None
            if node is not None and node.kind == FILE and appended:
                _append(tree, bundle, appended)
    except FileTreeError as error:
        raise BuildError(f"cannot install the certificates: {error}") from None
    return found
