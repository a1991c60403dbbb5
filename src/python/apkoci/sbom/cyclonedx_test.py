from __future__ import annotations

import base64
import dataclasses
import json
import random
import uuid

from apkoci.sbom.conftest import (
    alpine_base,
    image_facts,
    index_packages,
    installed_db_packages,
    resolved_packages,
)
from apkoci.sbom.cyclonedx import INDEX_FILE_NAME, image_cyclonedx, image_file_name, index_cyclonedx
from apkoci.sbom.facts import IndexFacts
from packageurl import PackageURL


def _valid(data: bytes, errors) -> dict:
    assert errors(data) == []
    return json.loads(data)


def test_real_images_give_valid_cyclonedx_1_5_documents(real_image, cyclonedx_1_5_errors):
    bom = _valid(image_cyclonedx(real_image), cyclonedx_1_5_errors)
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.5", 1)
    assert bom["serialNumber"] == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, real_image.purl)}"
    assert bom["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    image = bom["metadata"]["component"]
    assert (image["type"], image["name"], image["version"], image["purl"]) == (
        "container",
        "base",
        real_image.digest,
        real_image.purl,
    )
    components = {component["name"]: component for component in bom["components"]}
    assert components["alpine"]["type"] == "operating-system"
    for package in real_image.packages:
        component = components[package.name]
        assert component["version"] == package.version
        assert component["hashes"] == [
            {"alg": "SHA-1", "content": base64.b64decode(package.checksum[2:]).hex()}
        ]
        assert PackageURL.from_string(component["purl"]).name == package.name
        assert component["bom-ref"] == component["purl"]
    # Every reference of the dependency graph is a component, and every component is in it.
    refs = {component["bom-ref"] for component in bom["components"]} | {image["bom-ref"]}
    assert {dependency["ref"] for dependency in bom["dependencies"]} == refs
    assert all(set(dependency["dependsOn"]) <= refs for dependency in bom["dependencies"])


def test_licenses_and_dependencies_of_an_alpine_base_image(cyclonedx_1_5_errors):
    packages = resolved_packages("v3.16-main-x86_64", ["alpine-base"])
    facts = image_facts(packages, "x86_64", alpine_base(packages))
    bom = _valid(image_cyclonedx(facts), cyclonedx_1_5_errors)
    components = {component["name"]: component for component in bom["components"]}
    assert components["ca-certificates-bundle"]["licenses"] == [{"expression": "MPL-2.0 AND MIT"}]
    # SPDX does not list "BSD": the package's own words, as a license name.
    assert components["musl-utils"]["licenses"] == [{"license": {"name": "MIT BSD GPL2+"}}]
    assert components["musl-utils"]["author"] == "Timo Teräs <timo.teras@iki.fi>"
    assert components["musl-utils"]["supplier"] == {"name": "Alpine Linux"}
    dependencies = {
        dependency["ref"]: dependency["dependsOn"] for dependency in bom["dependencies"]
    }
    assert dependencies[components["busybox"]["bom-ref"]] == [components["musl"]["bom-ref"]]
    assert dependencies[components["musl"]["bom-ref"]] == []
    assert (
        len(dependencies[bom["metadata"]["component"]["bom-ref"]]) == len(packages) + 1
    )  # + the OS


def test_the_schema_check_does_reject_a_broken_document(cyclonedx_1_5_errors):
    packages = installed_db_packages()
    bom = json.loads(image_cyclonedx(image_facts(packages, "aarch64", alpine_base(packages))))
    bom["components"][1]["type"] = "package"  # not a CycloneDX component type
    bom["unknown"] = True  # the strict schema allows no other properties
    errors = cyclonedx_1_5_errors(json.dumps(bom).encode())
    assert errors and any("package" in error or "unknown" in error for error in errors)


def test_the_index_document(cyclonedx_1_5_errors):
    x86_64 = image_facts(
        resolved_packages("v3.16-main-x86_64", ["alpine-base"]),
        "x86_64",
        alpine_base(index_packages("v3.16-main-x86_64")),
    )
    aarch64 = image_facts(installed_db_packages(), "aarch64", alpine_base(installed_db_packages()))
    index = IndexFacts("sha256:" + "12" * 32, (x86_64, aarch64))
    bom = _valid(index_cyclonedx(index), cyclonedx_1_5_errors)
    subject = bom["metadata"]["component"]
    assert (subject["type"], subject["version"], subject["purl"]) == (
        "container",
        index.digest,
        index.purl,
    )
    assert [component["purl"] for component in bom["components"]] == [x86_64.purl, aarch64.purl]
    assert bom["dependencies"][0] == {
        "ref": index.purl,
        "dependsOn": sorted([x86_64.purl, aarch64.purl]),
    }


def test_documents_are_deterministic():
    packages = installed_db_packages()
    facts = image_facts(packages, "aarch64", alpine_base(packages))
    shuffled = list(packages)
    random.Random(7).shuffle(shuffled)
    first = image_cyclonedx(facts)
    assert (
        first
        == image_cyclonedx(facts)
        == image_cyclonedx(dataclasses.replace(facts, packages=tuple(shuffled)))
    )
    assert first != image_cyclonedx(dataclasses.replace(facts, digest="sha256:" + "56" * 32))
    index = IndexFacts("sha256:" + "34" * 32, (facts,))
    assert index_cyclonedx(index) == index_cyclonedx(index)


def test_file_names_are_apkos():
    packages = installed_db_packages()
    assert (
        image_file_name(image_facts(packages, "aarch64", alpine_base(packages)))
        == "sbom-aarch64.cdx"
    )
    assert INDEX_FILE_NAME == "sbom-index.cdx"
