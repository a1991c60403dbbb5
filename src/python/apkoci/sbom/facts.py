"""What an SBOM says about an image, and how both formats name things.

:class:`ImageFacts` is the input of one platform's SBOM (the image's digest, architecture, installed
packages, ``/etc/os-release`` and build time); :class:`IndexFacts` is the input of the SBOM of a
multi-platform index. The rest is shared by :mod:`~apkoci.sbom.spdx` and
:mod:`~apkoci.sbom.cyclonedx`: package URLs, suppliers, the APK checksum as a hash, which installed
package each dependency resolves to, and the byte form of a document.

Package URLs follow the purl specification and apko (``pkg/sbom/options``):

- an image is ``pkg:oci/<name>@sha256%3A<hex>?arch=<oci arch>&mediatype=<manifest type>&os=linux``
  plus ``repository_url`` and ``tag`` when the image has a reference. ``<name>`` is the last part of
  the repository (``cgr.dev/chainguard/static`` -> ``static``), ``image`` without a reference (and
  ``index`` for an index without one);
- an APK is ``pkg:apk/<os id>/<name>@<version>?arch=<apk arch>&distro=<os id>-<version id>``, with
  ``upstream=<origin>`` when the package was built from a differently named origin (as syft and
  grype spell Alpine packages). The namespace is ``/etc/os-release``'s ``ID`` (``alpine``,
  ``wolfi``).

Qualifier keys are written in lower case, as the purl spec's canonical form has them (apko writes
``mediaType``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from apkoci.apk.index import Package
from apkoci.config.model import arch_spellings, find_arch
from apkoci.errors import ApkociError
from apkoci.oci.image import (
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
    Platform,
    platform_for_arch,
    rfc3339_utc,
)

__all__ = [
    "ImageFacts",
    "IndexFacts",
    "SbomError",
    "apk_purl",
    "oci_purl",
    "parse_os_release",
    "render_document",
]

NOASSERTION = "NOASSERTION"
TOOL_NAME = "apkoci"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_OS_RELEASE_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


class SbomError(ApkociError):
    """An SBOM cannot be written from the facts given."""


# --------------------------------------------------------------------------------------------------
# /etc/os-release


def parse_os_release(text: str, source: str = "etc/os-release") -> Dict[str, str]:
    """The variables of an os-release file (os-release(5)): ``KEY=value`` lines, maybe quoted.

    Blank lines and ``#`` comments are skipped. A value in double quotes may escape ``"``, ``\\``,
    ``$`` and backquotes with a backslash; one in single quotes is taken as it is.
    """
    values: Dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _OS_RELEASE_LINE.fullmatch(line)
        if match is None:
            raise SbomError(f"{source}, line {number}: expected KEY=value, got {line[:60]!r}")
        key, value = match.groups()
        values[key] = _unquote(value, f"{source}, line {number}")
    return values


def _unquote(value: str, where: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\([\\"$`])', r"\1", value[1:-1])
    if value[:1] in ("'", '"'):
        raise SbomError(f"{where}: the value {value!r} has no closing quote")
    return value


# --------------------------------------------------------------------------------------------------
# The facts


def _check_digest(digest: object, what: str) -> None:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise SbomError(
            f"{what} {digest!r} is not a digest of the form sha256:<64 lower-case hex digits>"
        )


@dataclass(frozen=True)
class ImageReference:
    """What an image reference (``cgr.dev/chainguard/static:latest``) tells a package URL."""

    repository: str = ""  # cgr.dev/chainguard/static
    tag: str = ""  # latest

    @classmethod
    def parse(cls, reference: str) -> "ImageReference":
        if not reference:
            return cls()
        if any(character.isspace() for character in reference):
            raise SbomError(f"image reference {reference!r} must not contain white space")
        name = reference.split("@", 1)[0]  # a digest in the reference is the image's own: dropped
        tag = ""
        if name.rfind(":") > name.rfind("/"):  # a ':' after the last '/' starts the tag, not a port
            name, tag = name.rsplit(":", 1)
            if not tag:
                raise SbomError(f"image reference {reference!r} ends in ':' without a tag")
        if not name or "" in name.split("/"):
            raise SbomError(
                f"image reference {reference!r} is not of the form [registry/]repository[:tag]"
            )
        return cls(name, tag)

    @property
    def purl_name(self) -> str:
        """The image's name in a package URL: the last part of the repository (apko's rule)."""
        return self.repository.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class ImageFacts:
    """Everything one platform's SBOM says.

    ``digest`` is the image manifest's digest and ``arch`` its architecture in apk's or apko's
    spelling (``x86_64`` or ``amd64``). ``packages`` are the installed packages, in any order (the
    documents sort them). ``os_release`` holds the variables of the image's ``/etc/os-release``
    (:func:`parse_os_release`; empty when it has none). ``created`` is the build time in seconds
    since 1970 (SOURCE_DATE_EPOCH). ``reference`` names the image (``registry/repository[:tag]``;
    empty for an unnamed one). ``media_type`` is the manifest's media type, which the image's
    package URL records. A mapping is fine for ``os_release``; it is kept as sorted pairs.
    """

    digest: str
    arch: str
    packages: Tuple[Package, ...]
    created: int
    os_release: Tuple[Tuple[str, str], ...] = ()
    reference: str = ""
    media_type: str = MEDIA_TYPE_MANIFEST

    def __post_init__(self) -> None:
        _check_digest(self.digest, "image digest")
        if find_arch(self.arch) is None:
            raise SbomError(
                f"image {self.digest}: architecture {self.arch!r} is not known; use one of"
                f" {', '.join(arch_spellings())}"
            )
        object.__setattr__(self, "packages", tuple(self.packages))
        os_release = self.os_release
        pairs = os_release.items() if isinstance(os_release, Mapping) else os_release
        object.__setattr__(self, "os_release", tuple(sorted((str(k), str(v)) for k, v in pairs)))
        rfc3339_utc(self.created)  # checks the time
        ImageReference.parse(self.reference)
        seen: Dict[str, str] = {}
        for package in self.packages:
            if package.name in seen:
                raise SbomError(
                    f"image {self.digest} lists package {package.name!r} twice"
                    f" ({seen[package.name]} and {package.version}); an image has one of each name"
                )
            seen[package.name] = package.version

    @property
    def apk_arch(self) -> str:
        """The architecture as apk names it: ``x86_64``, ``aarch64``, ``armv7``..."""
        arch = find_arch(self.arch)
        assert arch is not None  # checked in __post_init__
        return arch.apk

    @property
    def platform(self) -> Platform:
        return platform_for_arch(self.apk_arch)

    @property
    def os(self) -> "OsInfo":
        return OsInfo.from_release(dict(self.os_release))

    @property
    def created_at(self) -> str:
        return rfc3339_utc(self.created)

    @property
    def image_reference(self) -> ImageReference:
        return ImageReference.parse(self.reference)

    @property
    def platform_name(self) -> str:
        """``linux/amd64``, ``linux/arm64/v8``..."""
        return str(self.platform)

    @property
    def purl_name(self) -> str:
        return self.image_reference.purl_name or "image"

    @property
    def purl(self) -> str:
        platform = self.platform
        qualifiers = {
            "arch": platform.architecture,
            "os": platform.os,
            "mediatype": self.media_type,
        }
        return oci_purl(self.purl_name, self.image_reference, self.digest, qualifiers)

    def package_purl(self, package: Package) -> str:
        return apk_purl(package, self.os, self.apk_arch)


@dataclass(frozen=True)
class IndexFacts:
    """Everything the SBOM of a multi-platform image index says: its digest and its images.

    The images must agree on their reference and build time, which the index shares.
    """

    digest: str
    images: Tuple[ImageFacts, ...]
    media_type: str = MEDIA_TYPE_INDEX

    def __post_init__(self) -> None:
        _check_digest(self.digest, "index digest")
        images = tuple(self.images)
        object.__setattr__(self, "images", images)
        if not images:
            raise SbomError(f"index {self.digest} has no images; an index SBOM needs at least one")
        for image in images[1:]:
            for what in ("reference", "created"):
                if getattr(image, what) != getattr(images[0], what):
                    raise SbomError(
                        f"the images of index {self.digest} disagree on their {what}:"
                        f" {getattr(images[0], what)!r} ({images[0].arch})"
                        f" and {getattr(image, what)!r} ({image.arch})"
                    )
        platforms = [str(image.platform) for image in images]
        duplicates = sorted({name for name in platforms if platforms.count(name) > 1})
        if duplicates:
            raise SbomError(f"index {self.digest} has two images for {', '.join(duplicates)}")

    @property
    def reference(self) -> str:
        return self.images[0].reference

    @property
    def created_at(self) -> str:
        return self.images[0].created_at

    @property
    def os(self) -> "OsInfo":
        """The operating system of the images (the first one's; they are built from one config)."""
        return self.images[0].os

    @property
    def purl_name(self) -> str:
        # apko's IndexPurlName: the image's name, but "index" rather than "image" when unnamed.
        return self.image_reference.purl_name or "index"

    @property
    def purl(self) -> str:
        return oci_purl(
            self.purl_name, self.image_reference, self.digest, {"mediatype": self.media_type}
        )

    @property
    def image_reference(self) -> ImageReference:
        return ImageReference.parse(self.reference)


@dataclass(frozen=True)
class OsInfo:
    """The parts of ``/etc/os-release`` an SBOM uses."""

    id: str = ""  # ID: alpine, wolfi
    name: str = ""  # NAME: Alpine Linux
    version_id: str = ""  # VERSION_ID: 3.16.3
    pretty_name: str = ""  # PRETTY_NAME
    home_url: str = ""  # HOME_URL

    @classmethod
    def from_release(cls, values: Mapping[str, str]) -> "OsInfo":
        return cls(
            id=values.get("ID", ""),
            name=values.get("NAME", ""),
            version_id=values.get("VERSION_ID", ""),
            pretty_name=values.get("PRETTY_NAME", ""),
            home_url=values.get("HOME_URL", ""),
        )

    @property
    def purl_namespace(self) -> str:
        # apko's default OS id when the image has no os-release.
        return self.id.lower() or "unknown"

    @property
    def distro(self) -> str:
        """The ``distro`` qualifier of an APK's package URL: ``alpine-3.16.3`` ("" without ID)."""
        if not self.id:
            return ""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id

    @property
    def supplier_name(self) -> str:
        """Who supplies the image's packages: the distribution (``NAME``, else ``ID``)."""
        return self.name or self.id


# --------------------------------------------------------------------------------------------------
# Package URLs


def _encode(text: str) -> str:
    """Percent-encoding as the purl spec wants it for names, versions and qualifier values."""
    return quote(text, safe="")


def _qualifiers(values: Mapping[str, str]) -> str:
    pairs = sorted((key, value) for key, value in values.items() if value)
    return "&".join(f"{key}={_encode(value)}" for key, value in pairs)


def oci_purl(
    name: str, reference: ImageReference, digest: str, qualifiers: Mapping[str, str]
) -> str:
    """``pkg:oci/<name>@<digest>?...`` for an image or index; see the module docstring."""
    values = dict(qualifiers)
    values["repository_url"] = reference.repository
    values["tag"] = reference.tag
    return f"pkg:oci/{_encode(name)}@{_encode(digest)}?{_qualifiers(values)}"


def apk_purl(package: Package, os: OsInfo, arch: str) -> str:
    """``pkg:apk/<os id>/<name>@<version>?arch=...&distro=...``; see the module docstring."""
    values = {"arch": package.arch or arch, "distro": os.distro}
    if package.origin and package.origin != package.name:
        values["upstream"] = package.origin
    query = _qualifiers(values)
    base = (
        f"pkg:apk/{_encode(os.purl_namespace)}/{_encode(package.name)}@{_encode(package.version)}"
    )
    return f"{base}?{query}" if query else base


# --------------------------------------------------------------------------------------------------
# Package details


def checksum_hash(package: Package) -> Optional[Tuple[str, str]]:
    """The package's ``C:`` checksum as ``(algorithm, hex)``: ``Q1`` is SHA-1, ``Q2`` SHA-256.

    It is the digest of the package's control member (apk's identity for a package), written as
    ``Q1`` + base64. None when the package has no checksum.
    """
    if not package.checksum:
        return None
    algorithms = {"Q1": ("SHA1", 20), "Q2": ("SHA256", 32)}
    prefix, encoded = package.checksum[:2], package.checksum[2:]
    if prefix not in algorithms:
        raise SbomError(
            f"package {package.name}-{package.version}: checksum {package.checksum!r} is neither Q1"
            " (SHA-1) nor Q2 (SHA-256) base64"
        )
    algorithm, size = algorithms[prefix]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != size:
        raise SbomError(
            f"package {package.name}-{package.version}: checksum {package.checksum!r}"
            f" is not {prefix}"
            f" followed by the base64 of {size} bytes"
        )
    return algorithm, raw.hex()


_MAINTAINER = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>\s*")


def maintainer_person(maintainer: str) -> Tuple[str, str]:
    """``Natanael Copa <ncopa@alpinelinux.org>`` as ``(name, email)``; the email may be empty."""
    match = _MAINTAINER.fullmatch(maintainer.strip())
    if match is None:
        return maintainer.strip(), ""
    return match["name"], match["email"].strip()


_WEB_URL = re.compile(r"https?://\S+")


def is_web_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL, fit for a homepage (apk's ``U:`` may be anything)."""
    return _WEB_URL.fullmatch(text) is not None


def depends_on(packages: Sequence[Package]) -> Dict[str, Tuple[Package, ...]]:
    """For each package name, the installed packages its dependencies resolve to, sorted by name.

    A dependency resolves to the package of that name or, if there is none, to every package that
    provides the name (``so:libc.musl-x86_64.so.1``, ``cmd:sh``, ``/bin/sh``); conflicts (``!name``)
    and a package's dependencies on itself are left out. A dependency nothing installed provides
    means the package list is not an image's complete set: that is an error.
    """
    by_name = {package.name: package for package in packages}
    providers: Dict[str, List[Package]] = {}
    for package in packages:
        for provided in package.provides:
            providers.setdefault(provided.name, []).append(package)
    graph: Dict[str, Tuple[Package, ...]] = {}
    for package in packages:
        targets: Dict[str, Package] = {}
        for dependency in package.depends:
            if dependency.conflict:
                continue
            if dependency.name in by_name:
                found = [by_name[dependency.name]]
            else:
                found = providers.get(dependency.name, [])
            if not found:
                raise SbomError(
                    f"package {package.name}-{package.version} depends on {dependency}"
                    " but no installed"
                    " package provides it; give the SBOM every package installed in the image"
                )
            targets.update((target.name, target) for target in found if target.name != package.name)
        graph[package.name] = tuple(targets[name] for name in sorted(targets))
    return graph


def sorted_packages(packages: Iterable[Package]) -> List[Package]:
    return sorted(packages, key=lambda package: (package.name, package.version))


# --------------------------------------------------------------------------------------------------
# Bytes


def render_document(document: Mapping[str, Any]) -> bytes:
    """A document's bytes: keys sorted, two-space indents, UTF-8, one final newline.

    The same facts always give the same bytes (documents hold no random ids, no wall-clock times).
    """
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )
