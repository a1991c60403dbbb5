from __future__ import annotations

import base64
import dataclasses
import json
import random

import pytest
from apkoci.sbom.conftest import (
    alpine_base,
    image_facts,
    index_packages,
    installed_db_packages,
    resolved_packages,
    run_pyspdxtools,
)
from apkoci.sbom.facts import IndexFacts, SbomError
from apkoci.sbom.spdx import INDEX_FILE_NAME, image_file_name, image_spdx, index_spdx, spdx_id
from packageurl import PackageURL


def _by_name(document):
    return {package["name"]: package for package in document["packages"]}


def _relations(document, kind):
    ids = {package["SPDXID"]: package["name"] for package in document["packages"]}
    ids["SPDXRef-DOCUMENT"] = "DOCUMENT"
    return {
        (ids[relation["spdxElementId"]], ids[relation["relatedSpdxElement"]])
        for relation in document["relationships"]
        if relation["relationshipType"] == kind
    }


def test_real_images_give_valid_spdx_documents(real_image, check_spdx):
    document = check_spdx(image_spdx(real_image), image_file_name(real_image))
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    packages = _by_name(document)
    assert len(document["packages"]) == len(real_image.packages) + 2  # the image and the OS
    image = packages[real_image.digest]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": real_image.digest[7:]}]
    assert _relations(document, "DESCRIBES") == {("DOCUMENT", real_image.digest)}
    contained = {name for _, name in _relations(document, "CONTAINS")}
    assert contained == {package.name for package in real_image.packages} | {"alpine"}
    for package in real_image.packages:
        described = packages[package.name]
        assert described["versionInfo"] == package.version
        # The index's "Q1" + base64 SHA-1, in hex.
        assert described["checksums"] == [
            {"algorithm": "SHA1", "checksumValue": base64.b64decode(package.checksum[2:]).hex()}
        ]
        (reference,) = described["externalRefs"]
        purl = PackageURL.from_string(reference["referenceLocator"])
        assert (purl.type, purl.namespace, purl.name, purl.version) == (
            "apk",
            "alpine",
            package.name,
            package.version,
        )
        assert purl.qualifiers["arch"] == real_image.apk_arch
        assert described["supplier"] == "Organization: Alpine Linux"


def test_an_alpine_base_image_in_detail(check_spdx):
    packages = resolved_packages("v3.16-main-x86_64", ["alpine-base"])
    facts = image_facts(packages, "x86_64", alpine_base(packages))
    document = check_spdx(image_spdx(facts), "sbom-x86_64.spdx.json")
    described = _by_name(document)
    assert described["alpine"] == {
        "SPDXID": "SPDXRef-OperatingSystem-alpine",
        "name": "alpine",
        "versionInfo": "3.16.3",
        "description": "Alpine Linux v3.16",
        "homepage": "https://alpinelinux.org/",
        "supplier": "Organization: Alpine Linux",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "OPERATING_SYSTEM",
    }
    musl_utils = described["musl-utils"]
    assert (
        musl_utils["licenseDeclared"] == "MIT AND LicenseRef-apk-BSD AND GPL-2.0-or-later"
    )  # "MIT BSD GPL2+"
    assert musl_utils["licenseConcluded"] == "NOASSERTION"
    assert musl_utils["originator"] == "Person: Timo Teräs (timo.teras@iki.fi)"
    assert musl_utils["externalRefs"][0]["referenceLocator"] == (
        "pkg:apk/alpine/musl-utils@1.2.3-r2?arch=x86_64&distro=alpine-3.16.3&upstream=musl"
    )
    assert described["libc-utils"]["licenseDeclared"] == "BSD-2-Clause AND BSD-3-Clause"
    assert document["hasExtractedLicensingInfos"] == [
        {
            "licenseId": "LicenseRef-apk-BSD",
            "name": "BSD",
            "extractedText": "BSD",
            "comment": "Named in the license field of the APK package(s) musl-utils.",
        }
    ]
    depends = _relations(document, "DEPENDS_ON")
    assert ("busybox", "musl") in depends  # so:libc.musl-x86_64.so.1
    assert ("alpine-base", "alpine-baselayout") in depends
    assert ("apk-tools", "libcrypto1.1") in depends
    assert all(package != "musl" for package, _ in depends)
    assert (
        document["documentNamespace"] == "https://spdx.org/spdxdocs/apkoci/base-" + facts.digest[7:]
    )


def test_licenses_spdx_does_not_list_are_declared(check_spdx):
    packages = resolved_packages("v3.16-main-x86_64", ["build-base"])
    facts = image_facts(packages, "x86_64", alpine_base(index_packages("v3.16-main-x86_64")))
    document = check_spdx(image_spdx(facts), "sbom-x86_64.spdx.json")
    described = _by_name(document)
    assert described["binutils"]["licenseDeclared"] == (
        "GPL-2.0-only AND GPL-3.0-or-later AND LGPL-2.0-only AND LicenseRef-apk-BSD"
    )
    assert described["fortify-headers"]["licenseDeclared"] == "LicenseRef-apk-BSD-0"
    assert [info["licenseId"] for info in document["hasExtractedLicensingInfos"]] == [
        "LicenseRef-apk-BSD",
        "LicenseRef-apk-BSD-0",
    ]


def test_pyspdxtools_does_reject_a_broken_document(tmp_path):
    # The check the tests rely on can fail: an undeclared LicenseRef is an error.
    packages = resolved_packages("v3.16-main-x86_64", ["alpine-base"])
    document = json.loads(image_spdx(image_facts(packages, "x86_64", alpine_base(packages))))
    del document["hasExtractedLicensingInfos"]
    path = tmp_path / "broken.spdx.json"
    path.write_text(json.dumps(document))
    result = run_pyspdxtools(path)
    assert result.returncode == 1
    assert "LicenseRef-apk-BSD" in result.stderr


def test_the_index_document_describes_each_platform(check_spdx):
    x86_64 = image_facts(
        resolved_packages("v3.16-main-x86_64", ["alpine-base"]),
        "x86_64",
        alpine_base(index_packages("v3.16-main-x86_64")),
    )
    aarch64 = image_facts(installed_db_packages(), "aarch64", alpine_base(installed_db_packages()))
    index = IndexFacts("sha256:" + "12" * 32, (x86_64, aarch64))
    document = check_spdx(index_spdx(index), INDEX_FILE_NAME)
    described = _by_name(document)
    assert _relations(document, "DESCRIBES") == {("DOCUMENT", index.digest)}
    # As apko relates them.
    assert _relations(document, "VARIANT_OF") == {
        (index.digest, x86_64.digest),
        (index.digest, aarch64.digest),
    }
    assert described[index.digest]["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/base@sha256%3A{'12' * 32}?mediatype=application%2Fvnd.oci.image.index.v1%2Bjson"
        "&repository_url=cgr.dev%2Fapkoci%2Fbase&tag=latest"
    )
    # The same URL as in the image's own document.
    assert described[aarch64.digest]["externalRefs"][0]["referenceLocator"] == aarch64.purl
    assert "arch=arm64" in aarch64.purl
    assert [package["name"] for package in document["packages"]] == [
        index.digest,
        x86_64.digest,
        aarch64.digest,
    ]


def test_documents_are_deterministic():
    packages = installed_db_packages()
    facts = image_facts(packages, "aarch64", alpine_base(packages))
    shuffled = list(packages)
    random.Random(7).shuffle(shuffled)
    assert (
        image_spdx(facts)
        == image_spdx(facts)
        == image_spdx(dataclasses.replace(facts, packages=tuple(shuffled)))
    )
    index = IndexFacts("sha256:" + "34" * 32, (facts,))
    assert index_spdx(index) == index_spdx(index)
    # ... and depend on what they describe.
    assert image_spdx(facts) != image_spdx(dataclasses.replace(facts, digest="sha256:" + "56" * 32))
    assert image_spdx(facts) != image_spdx(dataclasses.replace(facts, packages=tuple(packages[1:])))


def test_an_image_without_os_release(check_spdx):
    packages = resolved_packages("v3.16-main-x86_64", ["busybox"])
    facts = image_facts(
        packages,
        "x86_64",
        alpine_base(index_packages("v3.16-main-x86_64")),
        os_release=(),
        reference="",
    )
    document = check_spdx(image_spdx(facts), "sbom-x86_64.spdx.json")
    names = [package["name"] for package in document["packages"]]
    assert names == [facts.digest, "busybox", "musl"]  # no operating-system package
    assert (
        _by_name(document)["busybox"]["supplier"]
        == "Person: Sören Tempel (soeren+alpine@soeren-tempel.net)"
    )
    assert _by_name(document)["musl"]["externalRefs"][0]["referenceLocator"].startswith(
        "pkg:apk/unknown/musl@"
    )


def test_file_names_and_ids_are_apkos():
    packages = installed_db_packages()
    assert (
        image_file_name(image_facts(packages, "arm64", alpine_base(packages)))
        == "sbom-aarch64.spdx.json"
    )
    assert INDEX_FILE_NAME == "sbom-index.spdx.json"
    assert spdx_id("SPDXRef-Package-libstdc++-12.2.1_git20220924-r4") == (
        "SPDXRef-Package-libstdcC43C43-12.2.1C95git20220924-r4"
    )
    assert spdx_id("SPDXRef-Package-Image-sha256:ab") == "SPDXRef-Package-Image-sha256-ab"


def test_an_incomplete_package_list_is_an_error():
    packages = [package for package in installed_db_packages() if package.name != "musl"]
    facts = image_facts(packages, "aarch64", alpine_base(packages))
    with pytest.raises(
        SbomError, match="depends on so:libc.musl-aarch64.so.1 but no installed package provides it"
    ):
        image_spdx(facts)
