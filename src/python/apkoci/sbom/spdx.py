"""SPDX 2.3 JSON SBOMs of an image and of a multi-platform index, the way apko writes them.

apko (``pkg/sbom/generator/spdx/spdx.go``) writes ``sbom-<apk arch>.spdx.json`` for each platform's
image and ``sbom-index.spdx.json`` for the index. An image's document describes:

- the image: a ``CONTAINER`` package named by its digest, with the digest as a SHA256 checksum and
  its ``pkg:oci`` package URL;
- the operating system, from ``/etc/os-release`` (when the image has one): an
  ``OPERATING_SYSTEM`` package named by ``ID``, at ``VERSION_ID``, supplied by ``NAME``;
- every installed APK: name, version, description, the declared license as a valid SPDX expression
  (:mod:`~apkoci.sbom.licenses`; licenses SPDX does not list are declared in
  ``hasExtractedLicensingInfos``), the distribution as supplier, the maintainer as originator, the
  ``C:`` checksum as SHA1 (Q1) or SHA256 (Q2) in hex, and the ``pkg:apk`` package URL.

Relationships: the document ``DESCRIBES`` the image, the image ``CONTAINS`` the operating system
and every APK, and each APK ``DEPENDS_ON`` the installed packages its dependencies resolve to.
(apko writes no ``DEPENDS_ON``; it leaves the operating system unrelated.)

The index's document describes the index (``CONTAINER``, its digest and URL) and each platform's
image, related as apko relates them: the index is a ``VARIANT_OF`` each image.

What apkoci does differently from apko, on purpose: ``documentNamespace`` is unique for each
document (derived from the described digest; apko writes one fixed namespace, which SPDX forbids),
and the bytes are canonical (keys sorted, packages sorted by name, relationships in a fixed order),
so the same facts always give the same file. Layers are not described (apko adds one package per
layer, which repeats what the image's manifest says).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from apkoci.apk.index import Package
from apkoci.sbom.facts import (
    NOASSERTION,
    TOOL_NAME,
    ImageFacts,
    IndexFacts,
    OsInfo,
    SbomError,
    checksum_hash,
    depends_on,
    is_web_url,
    maintainer_person,
    render_document,
    sorted_packages,
)
from apkoci.sbom.licenses import LICENSE_LIST_VERSION, ExtractedLicense, spdx_license

__all__ = ["INDEX_FILE_NAME", "image_file_name", "image_spdx", "index_spdx", "spdx_id"]

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
INDEX_FILE_NAME = "sbom-index.spdx.json"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/apkoci/"

_NOT_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9.\-]")


def image_file_name(facts: ImageFacts) -> str:
    """``sbom-x86_64.spdx.json``: apko names a platform's SBOM by its apk architecture."""
    return f"sbom-{facts.apk_arch}.spdx.json"


def spdx_id(text: str) -> str:
    """An SPDX element id from any text, as apko makes them: ``:`` becomes ``-``, any other
    character SPDX ids cannot hold becomes ``C<code point>`` (``libstdc++`` -> ``libstdcC43C43``).
    """
    return _NOT_ID_CHARACTERS.sub(lambda match: f"C{ord(match.group())}", text.replace(":", "-"))


def image_package_id(digest: str) -> str:
    return spdx_id(f"SPDXRef-Package-Image-{digest}")


def apk_package_id(package: Package) -> str:
    return spdx_id(f"SPDXRef-Package-{package.name}-{package.version}")


# --------------------------------------------------------------------------------------------------
# An image's document


def image_spdx(facts: ImageFacts) -> bytes:
    """The SPDX 2.3 JSON document of one platform's image (see the module docstring)."""
    os = facts.os
    image_id = image_package_id(facts.digest)
    packages: List[Dict[str, Any]] = [
        _image_package(facts.digest, facts.purl, os, facts.platform_name)
    ]
    relationships = [_relationship(DOCUMENT_ID, "DESCRIBES", image_id)]
    if os.id:
        packages.append(_os_package(os))
        relationships.append(_relationship(image_id, "CONTAINS", packages[-1]["SPDXID"]))

    installed = sorted_packages(facts.packages)
    ids = _apk_ids(installed)
    extracted: Dict[str, ExtractedLicense] = {}
    users: Dict[str, List[str]] = {}  # reference id -> the packages whose license names it
    for package in installed:
        packages.append(_apk_package(package, ids[package.name], facts.package_purl(package), os))
        relationships.append(_relationship(image_id, "CONTAINS", ids[package.name]))
        for reference in spdx_license(package.license).extracted:
            extracted[reference.license_id] = reference
            users.setdefault(reference.license_id, []).append(package.name)
    for name, targets in depends_on(installed).items():
        relationships.extend(
            _relationship(ids[name], "DEPENDS_ON", ids[target.name]) for target in targets
        )

    document = _document(
        f"sbom-{facts.digest}", _namespace(facts.purl_name, facts.digest), facts.created_at
    )
    document.update(documentDescribes=[image_id], packages=packages, relationships=relationships)
    if extracted:
        document["hasExtractedLicensingInfos"] = [
            _extracted_licensing_info(extracted[license_id], users[license_id])
            for license_id in sorted(extracted)
        ]
    return render_document(document)


def _apk_ids(packages: List[Package]) -> Dict[str, str]:
    """Each package's SPDX id, by package name; two packages must not come out with one id."""
    ids: Dict[str, str] = {}
    owners: Dict[str, Package] = {}
    for package in packages:
        element_id = apk_package_id(package)
        if element_id in owners:
            other = owners[element_id]
            raise SbomError(
                f"packages {other.name}-{other.version} and {package.name}-{package.version}"
                " would have"
                f" the same SPDX id {element_id}"
            )
        owners[element_id] = package
        ids[package.name] = element_id
    return ids


def _image_package(digest: str, purl: str, os: OsInfo, platform: str) -> Dict[str, Any]:
    return {
        "SPDXID": image_package_id(digest),
        "name": digest,
        "versionInfo": digest,
        "description": f"apkoci container image for {platform}",
        "supplier": _supplier(os),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [_checksum("SHA256", digest.split(":", 1)[1])],
        "externalRefs": [_purl_ref(purl)],
    }


def _os_package(os: OsInfo) -> Dict[str, Any]:
    package: Dict[str, Any] = {
        "SPDXID": spdx_id(f"SPDXRef-OperatingSystem-{os.id}"),
        "name": os.id,
        "description": os.pretty_name or "Operating System",
        "supplier": _supplier(os),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "OPERATING_SYSTEM",
    }
    if os.version_id:
        package["versionInfo"] = os.version_id
    if is_web_url(os.home_url):
        package["homepage"] = os.home_url
    return package


def _apk_package(package: Package, element_id: str, purl: str, os: OsInfo) -> Dict[str, Any]:
    document: Dict[str, Any] = {
        "SPDXID": element_id,
        "name": package.name,
        "versionInfo": package.version,
        "supplier": _supplier(os, package.maintainer),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": spdx_license(package.license).expression,
        "copyrightText": NOASSERTION,
        "sourceInfo": "Package info from the apk database",
        "externalRefs": [_purl_ref(purl)],
    }
    if package.description:
        document["description"] = package.description
    if package.maintainer.strip():
        document["originator"] = _person(package.maintainer)
    if is_web_url(package.url):
        document["homepage"] = package.url
    checksum = checksum_hash(package)
    if checksum is not None:
        document["checksums"] = [_checksum(*checksum)]
    return document


def _supplier(os: OsInfo, maintainer: str = "") -> str:
    """The distribution supplies its packages (apko's rule); without one, the maintainer does."""
    if os.supplier_name:
        return f"Organization: {os.supplier_name}"
    if maintainer.strip():
        return _person(maintainer)
    return NOASSERTION


def _person(maintainer: str) -> str:
    name, email = maintainer_person(maintainer)
    return f"Person: {name} ({email})" if email else f"Person: {name}"


def _extracted_licensing_info(reference: ExtractedLicense, packages: List[str]) -> Dict[str, str]:
    return {
        "licenseId": reference.license_id,
        "name": reference.name,
        # The packages ship no license text; their own words for the license stand in for it.
        "extractedText": reference.name,
        "comment": "Named in the license field of the APK package(s)"
        f" {', '.join(sorted(packages))}.",
    }


# --------------------------------------------------------------------------------------------------
# The index's document


def index_spdx(facts: IndexFacts) -> bytes:
    """The SPDX 2.3 JSON document of a multi-platform index (see the module docstring)."""
    os = facts.os
    index_id = spdx_id(f"SPDXRef-Package-Index-{facts.digest}")
    index_package = {
        "SPDXID": index_id,
        "name": facts.digest,
        "versionInfo": facts.digest,
        "description": "Multi-arch image index",
        "sourceInfo": f"Generated at image build time by {TOOL_NAME}",
        "supplier": _supplier(os),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [_checksum("SHA256", facts.digest.split(":", 1)[1])],
        "externalRefs": [_purl_ref(facts.purl)],
    }
    packages = [index_package]
    relationships = [_relationship(DOCUMENT_ID, "DESCRIBES", index_id)]
    for image in facts.images:  # in the index's order
        packages.append(_image_package(image.digest, image.purl, image.os, image.platform_name))
        relationships.append(_relationship(index_id, "VARIANT_OF", image_package_id(image.digest)))

    document = _document(
        f"sbom-{facts.digest}", _namespace(facts.purl_name, facts.digest), facts.created_at
    )
    document.update(documentDescribes=[index_id], packages=packages, relationships=relationships)
    return render_document(document)


# --------------------------------------------------------------------------------------------------
# Pieces


def _document(name: str, namespace: str, created: str) -> Dict[str, Any]:
    return {
        "SPDXID": DOCUMENT_ID,
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "name": name,
        "documentNamespace": namespace,
        "creationInfo": {
            "created": created,
            "creators": [f"Tool: {TOOL_NAME}"],
            "licenseListVersion": LICENSE_LIST_VERSION,
        },
    }


def _namespace(name: str, digest: str) -> str:
    """A namespace unique to the document: the described image's (or index's) name and digest."""
    return f"{NAMESPACE_BASE}{name}-{digest.split(':', 1)[1]}"


def _relationship(element: str, kind: str, related: str) -> Dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def _checksum(algorithm: str, value: str) -> Dict[str, str]:
    return {"algorithm": algorithm, "checksumValue": value}


def _purl_ref(purl: str) -> Dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }
