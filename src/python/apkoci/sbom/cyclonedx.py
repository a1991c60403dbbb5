"""CycloneDX 1.5 JSON SBOMs of an image and of a multi-platform index.

The same facts as :mod:`~apkoci.sbom.spdx`, in CycloneDX's terms (apko writes the files as
``sbom-<apk arch>.cdx`` and ``sbom-index.cdx``, see ``pkg/sbom/generator/cyclonedx``):

- ``metadata.component`` is what the BOM is about: the image (``container``, named by its
  repository's last part, at its digest, with a SHA-256 hash and its ``pkg:oci`` URL), or the index;
- ``components`` are what it holds: the operating system (``operating-system``, from
  ``/etc/os-release``) and every installed APK (``library``: name, version, description, license,
  supplier, maintainer as author, homepage, the ``C:`` checksum as a hash, ``pkg:apk`` URL; the
  package URL is its ``bom-ref``); for an index, its platforms' images;
- ``dependencies`` give every component's direct dependencies: the image depends on everything it
  holds, each APK on the installed packages its dependencies resolve to, the index on its images.

A license that is a valid SPDX expression of listed licenses only is written as an ``expression``;
one that names licenses SPDX does not list is written with the package's own words as a license
``name`` (CycloneDX has nowhere to declare ``LicenseRef-`` texts).

``serialNumber`` is a name-based UUID (version 5) of the described image's or index's package URL,
which holds its digest, so the same facts always give the same document; ``metadata.timestamp`` is
the build time. apko writes CycloneDX 1.4 with the packages nested inside a layer component; this is
1.5 with the packages at the top, which is where CycloneDX tools look for them.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

from apkoci.apk.index import Package
from apkoci.sbom.facts import (
    TOOL_NAME,
    ImageFacts,
    IndexFacts,
    OsInfo,
    checksum_hash,
    depends_on,
    is_web_url,
    maintainer_person,
    render_document,
    sorted_packages,
)
from apkoci.sbom.licenses import spdx_license

__all__ = ["INDEX_FILE_NAME", "image_cyclonedx", "image_file_name", "index_cyclonedx"]

SPEC_VERSION = "1.5"
INDEX_FILE_NAME = "sbom-index.cdx"
# CycloneDX's names for the hash algorithms of an APK checksum.
_HASH_ALGORITHMS = {"SHA1": "SHA-1", "SHA256": "SHA-256"}


def image_file_name(facts: ImageFacts) -> str:
    """``sbom-x86_64.cdx``: apko names a platform's SBOM by its apk architecture."""
    return f"sbom-{facts.apk_arch}.cdx"


def image_cyclonedx(facts: ImageFacts) -> bytes:
    """The CycloneDX 1.5 JSON document of one platform's image (see the module docstring)."""
    os = facts.os
    image = _image_component(facts, os)
    components: List[Dict[str, Any]] = []
    if os.id:
        components.append(_os_component(os))
    installed = sorted_packages(facts.packages)
    purls = {package.name: facts.package_purl(package) for package in installed}
    components.extend(_apk_component(package, purls[package.name], os) for package in installed)

    dependencies = [
        _dependency(image["bom-ref"], [component["bom-ref"] for component in components])
    ]
    if os.id:
        dependencies.append(_dependency(components[0]["bom-ref"], []))
    for name, targets in depends_on(installed).items():
        dependencies.append(_dependency(purls[name], [purls[target.name] for target in targets]))
    return render_document(_bom(facts.purl, facts.created_at, image, components, dependencies))


def index_cyclonedx(facts: IndexFacts) -> bytes:
    """The CycloneDX 1.5 JSON document of a multi-platform index (see the module docstring)."""
    index: Dict[str, Any] = {
        "bom-ref": facts.purl,
        "type": "container",
        "name": facts.purl_name,
        "version": facts.digest,
        "description": "Multi-arch image index",
        "purl": facts.purl,
        "hashes": [{"alg": "SHA-256", "content": facts.digest.split(":", 1)[1]}],
    }
    _add_supplier(index, facts.os)
    images = [_image_component(image, image.os) for image in facts.images]  # in the index's order
    dependencies = [_dependency(index["bom-ref"], [image["bom-ref"] for image in images])]
    dependencies.extend(_dependency(image["bom-ref"], []) for image in images)
    return render_document(_bom(facts.purl, facts.created_at, index, images, dependencies))


def _bom(
    subject_purl: str,
    timestamp: str,
    subject: Dict[str, Any],
    components: List[Dict[str, Any]],
    dependencies: List[Dict[str, Any]],
) -> Dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, subject_purl)}",
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": TOOL_NAME}]},
            "component": subject,
        },
        "components": components,
        "dependencies": dependencies,
    }


def _image_component(facts: ImageFacts, os: OsInfo) -> Dict[str, Any]:
    component = {
        "bom-ref": facts.purl,
        "type": "container",
        "name": facts.purl_name,
        "version": facts.digest,
        "description": f"{TOOL_NAME} container image for {facts.platform_name}",
        "purl": facts.purl,
        "hashes": [{"alg": "SHA-256", "content": facts.digest.split(":", 1)[1]}],
    }
    _add_supplier(component, os)
    return component


def _os_component(os: OsInfo) -> Dict[str, Any]:
    component: Dict[str, Any] = {
        "bom-ref": f"operating-system:{os.id}" + (f"@{os.version_id}" if os.version_id else ""),
        "type": "operating-system",
        "name": os.id,
        "description": os.pretty_name or "Operating System",
    }
    if os.version_id:
        component["version"] = os.version_id
    _add_supplier(component, os)
    _add_website(component, os.home_url)
    return component


def _apk_component(package: Package, purl: str, os: OsInfo) -> Dict[str, Any]:
    component: Dict[str, Any] = {
        "bom-ref": purl,
        "type": "library",
        "name": package.name,
        "version": package.version,
        "purl": purl,
    }
    if package.description:
        component["description"] = package.description
    if package.maintainer.strip():
        name, email = maintainer_person(package.maintainer)
        component["author"] = f"{name} <{email}>" if email else name
    license = spdx_license(package.license)
    if license.is_listed:
        component["licenses"] = [{"expression": license.expression}]
    elif license.extracted:
        component["licenses"] = [{"license": {"name": package.license.strip()}}]
    checksum = checksum_hash(package)
    if checksum is not None:
        algorithm, value = checksum
        component["hashes"] = [{"alg": _HASH_ALGORITHMS[algorithm], "content": value}]
    _add_supplier(component, os)
    _add_website(component, package.url)
    return component


def _add_supplier(component: Dict[str, Any], os: OsInfo) -> None:
    if os.supplier_name:
        component["supplier"] = {"name": os.supplier_name}


def _add_website(component: Dict[str, Any], url: str) -> None:
    if is_web_url(url):
        component["externalReferences"] = [{"type": "website", "url": url}]


def _dependency(ref: str, depends: List[str]) -> Dict[str, Any]:
    return {"ref": ref, "dependsOn": sorted(set(depends))}
