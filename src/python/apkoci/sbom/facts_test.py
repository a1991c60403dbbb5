from __future__ import annotations

import dataclasses
import hashlib

import pytest
from apkoci.apk.apkfile import read_apk
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.index import Package
from apkoci.errors import ApkociError
from apkoci.sbom.conftest import (
    alpine_base,
    image_facts,
    index_packages,
    installed_db_packages,
    resolved_packages,
)
from apkoci.sbom.facts import (
    ImageFacts,
    IndexFacts,
    SbomError,
    checksum_hash,
    depends_on,
    is_web_url,
    maintainer_person,
    parse_os_release,
)
from apkoci.testing import shared_testdata
from packageurl import PackageURL

DIGEST = "sha256:" + "ab" * 32


def test_os_release_values_are_unquoted():
    text = (
        '# comment\n\nNAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.3\n'
        'PRETTY_NAME=\'Wolfi "rolling"\'\nQUOTED="a \\"b\\" \\\\ \\$c"\n'
    )
    assert parse_os_release(text) == {
        "NAME": "Alpine Linux",
        "ID": "alpine",
        "VERSION_ID": "3.16.3",
        "PRETTY_NAME": 'Wolfi "rolling"',
        "QUOTED": 'a "b" \\ $c',
    }


@pytest.mark.parametrize("line", ["NAME", "1D=x", 'NAME="Alpine'])
def test_a_broken_os_release_line_is_an_error_naming_the_line(line):
    with pytest.raises(SbomError, match="os-release, line 2"):
        parse_os_release("ID=alpine\n" + line)


def test_image_facts_accept_both_spellings_of_an_architecture():
    amd64 = ImageFacts(DIGEST, "amd64", (), 0)
    x86_64 = ImageFacts(DIGEST, "x86_64", (), 0)
    assert amd64.apk_arch == x86_64.apk_arch == "x86_64"
    assert ImageFacts(DIGEST, "arm64", (), 0).platform_name == "linux/arm64/v8"
    assert ImageFacts(DIGEST, "armv7", (), 0).platform.architecture == "arm"


def test_image_facts_keep_os_release_as_sorted_pairs():
    facts = ImageFacts(DIGEST, "x86_64", [], 0, os_release={"VERSION_ID": "3.18", "ID": "alpine"})
    assert facts.os_release == (("ID", "alpine"), ("VERSION_ID", "3.18"))
    assert facts.os.distro == "alpine-3.18"
    assert hash(facts) == hash(dataclasses.replace(facts))  # a value: hashable and comparable


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"digest": "sha256:AB"}, "image digest 'sha256:AB' is not a digest"),
        ({"arch": "sparc"}, "architecture 'sparc' is not known; use one of 386, aarch64"),
        ({"created": -1}, "seconds since 1970"),
        ({"reference": "cgr.dev/x/y:"}, "ends in ':' without a tag"),
        ({"reference": "cgr.dev//y"}, "is not of the form"),
        ({"reference": "a b"}, "white space"),
        (
            {"packages": (Package("musl", "1.2.3-r2"), Package("musl", "1.2.4-r0"))},
            "lists package 'musl' twice",
        ),
    ],
)
def test_bad_image_facts_are_errors(changes, message):
    values = dict(digest=DIGEST, arch="x86_64", packages=(), created=0)
    values.update(changes)
    with pytest.raises(ApkociError, match=message):
        ImageFacts(**values)


def test_index_images_must_share_reference_and_time_and_differ_in_platform():
    image = ImageFacts(DIGEST, "x86_64", (), 100, reference="cgr.dev/a/b")
    with pytest.raises(SbomError, match="disagree on their created"):
        IndexFacts(DIGEST, (image, dataclasses.replace(image, arch="aarch64", created=101)))
    with pytest.raises(SbomError, match="two images for linux/amd64"):
        IndexFacts(DIGEST, (image, dataclasses.replace(image, arch="amd64")))
    with pytest.raises(SbomError, match="no images"):
        IndexFacts(DIGEST, ())


def test_image_package_urls_follow_the_purl_spec():
    facts = ImageFacts(
        DIGEST, "aarch64", (), 0, reference="cgr.dev/chainguard/static:latest@" + DIGEST
    )
    assert facts.purl == (
        f"pkg:oci/static@sha256%3A{'ab' * 32}?arch=arm64"
        "&mediatype=application%2Fvnd.oci.image.manifest.v1%2Bjson"
        "&os=linux&repository_url=cgr.dev%2Fchainguard%2Fstatic&tag=latest"
    )
    parsed = PackageURL.from_string(facts.purl)
    assert (parsed.type, parsed.name, parsed.version) == ("oci", "static", DIGEST)
    assert parsed.qualifiers["repository_url"] == "cgr.dev/chainguard/static"
    assert parsed.qualifiers["mediatype"] == "application/vnd.oci.image.manifest.v1+json"
    # Unnamed, as apko names them.
    assert ImageFacts(DIGEST, "x86_64", (), 0).purl.startswith("pkg:oci/image@")
    unnamed_index = IndexFacts(DIGEST, (ImageFacts(DIGEST, "x86_64", (), 0),))
    assert (
        unnamed_index.purl == f"pkg:oci/index@sha256%3A{'ab' * 32}"
        "?mediatype=application%2Fvnd.oci.image.index.v1%2Bjson"
    )


def test_apk_package_urls_of_real_packages():
    packages = resolved_packages("v3.16-main-x86_64", ["build-base"])
    facts = image_facts(packages, "x86_64", alpine_base(index_packages("v3.16-main-x86_64")))
    by_name = {package.name: package for package in packages}
    assert (
        facts.package_purl(by_name["musl"])
        == "pkg:apk/alpine/musl@1.2.3-r2?arch=x86_64&distro=alpine-3.16.3"
    )
    libstdcxx = PackageURL.from_string(facts.package_purl(by_name["libstdc++"]))
    assert (libstdcxx.namespace, libstdcxx.name, libstdcxx.version) == (
        "alpine",
        "libstdc++",
        by_name["libstdc++"].version,
    )
    # Built from another origin: grype matches Alpine's security data by the upstream name.
    assert (
        PackageURL.from_string(facts.package_purl(by_name["libstdc++"])).qualifiers["upstream"]
        == "gcc"
    )
    # Without an os-release, apko's namespace is "unknown" and there is no distro.
    bare = dataclasses.replace(facts, os_release=())
    assert bare.package_purl(by_name["musl"]) == "pkg:apk/unknown/musl@1.2.3-r2?arch=x86_64"


def test_the_q1_checksum_is_the_sha1_of_the_control_member():
    # A real package: its Q1 checksum (as .PKGINFO-reading code records it) against the SHA-1 of
    # its control gzip member, computed here.
    apk = read_apk(shared_testdata("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk"))
    assert apk.package.checksum.startswith("Q1")
    assert checksum_hash(apk.package) == ("SHA1", hashlib.sha1(apk.control_member.raw).hexdigest())


def test_q2_checksums_are_sha256_and_others_are_errors():
    q2 = Package("a", "1", checksum="Q2" + "A" * 43 + "=")
    assert checksum_hash(q2) == ("SHA256", "00" * 32)
    assert checksum_hash(Package("a", "1")) is None
    with pytest.raises(SbomError, match="package a-1: checksum 'Q3abc' is neither Q1"):
        checksum_hash(Package("a", "1", checksum="Q3abc"))
    with pytest.raises(SbomError, match="not Q1 followed by the base64 of 20 bytes"):
        checksum_hash(Package("a", "1", checksum="Q1abc="))


def test_maintainers_are_split_into_name_and_email():
    assert maintainer_person("Natanael Copa <ncopa@alpinelinux.org>") == (
        "Natanael Copa",
        "ncopa@alpinelinux.org",
    )
    assert maintainer_person("prspkt <prspkt@protonmail.com>") == (
        "prspkt",
        "prspkt@protonmail.com",
    )
    assert maintainer_person("Just A Name") == ("Just A Name", "")


def test_dependencies_resolve_to_the_installed_providers():
    packages = installed_db_packages()
    graph = {
        name: [target.name for target in targets] for name, targets in depends_on(packages).items()
    }
    # "/bin/sh" is provided by busybox-binsh, "so:libc.musl-aarch64.so.1" by musl.
    assert "busybox-binsh" in graph["alpine-baselayout"]
    assert graph["busybox"] == ["musl"]
    assert graph["musl"] == []
    assert set(graph) == {package.name for package in packages}


def test_conflicts_and_self_dependencies_are_left_out_and_missing_providers_are_errors():
    musl = Package("musl", "1.2.3-r2", provides=parse_dependencies("so:libc.musl-x86_64.so.1=1"))
    tool = Package("tool", "1", depends=parse_dependencies("so:libc.musl-x86_64.so.1 !other tool"))
    assert depends_on([musl, tool]) == {"musl": (), "tool": (musl,)}
    with pytest.raises(
        SbomError, match="package tool-1 depends on so:libc.musl-x86_64.so.1 but no installed"
    ):
        depends_on([tool])


def test_web_urls():
    assert is_web_url("https://alpinelinux.org/")
    assert not is_web_url("")
    assert not is_web_url("ftp://example.org")
    assert not is_web_url("https://a b")
