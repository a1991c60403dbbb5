"""OCI image JSON: canonical bytes, the image config, manifest and index, and platforms.

Every JSON document is written as canonical JSON (keys sorted, no spaces, UTF-8 as is), so the same
values always give the same bytes and the same digest. Optional fields are left out when empty,
never written as ``null``.

Architectures are named the apk way (``x86_64``, ``aarch64``, ``armv7``, ...) or the OCI way
(``amd64``, ``arm64``, ``arm/v7``, ...); :func:`platform_for_arch` maps both to an OCI platform
the way apko's ``types.Architecture`` does, except that arm64 carries the variant ``v8`` as Docker
and most registries record it (apko leaves the arm64 variant empty).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from apkoci.errors import ApkociError
from apkoci.oci.layer import Layer


class ImageError(ApkociError):
    """An image document could not be built from the values given."""


MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value: sorted keys, no whitespace, UTF-8, no NaN/infinity."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise ImageError(f"value cannot be written as canonical JSON: {error}") from error
    return text.encode("utf-8")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339_utc(epoch: int) -> str:
    """``1970-01-01T00:00:00Z`` style time for seconds since 1970 (SOURCE_DATE_EPOCH style)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ImageError(f"created time must be whole seconds since 1970 (>= 0), got {epoch!r}")
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_digest(digest: object, what: str) -> None:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ImageError(
            f"{what} {digest!r} is not a digest of the form sha256:<64 lower-case hex digits>"
        )


def _sorted_pairs(pairs: _Pairs, what: str) -> Tuple[Tuple[str, str], ...]:
    """Key/value pairs (a mapping or pairs) as a sorted tuple; refuses duplicate or odd keys."""
    if pairs is None:
        return ()
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    seen = set()
    for item in items:
        if not (
            isinstance(item, tuple)
            and len(item) == 2
            and all(isinstance(part, str) for part in item)
        ):
            raise ImageError(f"{what} must be string key/value pairs, got {item!r}")
        if not item[0]:
            raise ImageError(f"{what} has an empty key")
        if item[0] in seen:
            raise ImageError(f"{what} key {item[0]!r} is given twice")
        seen.add(item[0])
    return tuple(sorted(items))


# --------------------------------------------------------------------------------------------------
# Platforms.


@dataclass(frozen=True)
class Platform:
    """An OCI platform: ``architecture``, ``os`` and, for arm, a ``variant`` (empty when none)."""

    architecture: str
    os: str = "linux"
    variant: str = ""

    def to_json(self) -> Dict[str, str]:
        value = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            value["variant"] = self.variant
        return value

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


_AMD64 = Platform("amd64")
_ARM64 = Platform("arm64", variant="v8")
_ARMV7 = Platform("arm", variant="v7")
_ARMV6 = Platform("arm", variant="v6")
_386 = Platform("386")
_LOONG64 = Platform("loong64")

# apk names, apko's OCI-style names and the "arch/variant" spellings, all to one platform each.
_PLATFORMS: Dict[str, Platform] = {
    "x86_64": _AMD64,
    "amd64": _AMD64,
    "aarch64": _ARM64,
    "arm64": _ARM64,
    "arm64/v8": _ARM64,
    "armv7": _ARMV7,
    "arm/v7": _ARMV7,
    "armhf": _ARMV6,
    "arm/v6": _ARMV6,
    "x86": _386,
    "386": _386,
    "ppc64le": Platform("ppc64le"),
    "s390x": Platform("s390x"),
    "riscv64": Platform("riscv64"),
    "loongarch64": _LOONG64,
    "loong64": _LOONG64,
}


def platform_for_arch(arch: str) -> Platform:
    """The OCI platform of an apk or apko architecture name (``aarch64`` -> linux/arm64/v8)."""
    platform = _PLATFORMS.get(arch)
    if platform is None:
        raise ImageError(
            f"architecture {arch!r} is not known; use one of {', '.join(sorted(_PLATFORMS))}"
        )
    return platform


# --------------------------------------------------------------------------------------------------
# Descriptors and blobs.


@dataclass(frozen=True)
class Descriptor:
    """A reference to a blob: media type, digest and size, plus platform and annotations if any."""

    media_type: str
    digest: str
    size: int
    platform: Optional[Platform] = None
    annotations: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check_digest(self.digest, "descriptor digest")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ImageError(
                f"descriptor {self.digest} size must be a non-negative integer, got {self.size!r}"
            )
        object.__setattr__(
            self, "annotations", _sorted_pairs(self.annotations, f"annotations of {self.digest}")
        )

    def with_annotations(self, annotations: _Pairs) -> "Descriptor":
        """A copy whose annotations are these merged over the existing ones."""
        merged = dict(self.annotations)
        merged.update(_sorted_pairs(annotations, f"annotations of {self.digest}"))
        return Descriptor(
            self.media_type, self.digest, self.size, self.platform, tuple(merged.items())
        )

    def to_json(self) -> Dict[str, Any]:
        value: Dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform is not None:
            value["platform"] = self.platform.to_json()
        if self.annotations:
            value["annotations"] = dict(self.annotations)
        return value


@dataclass(frozen=True)
class Blob:
    """A small document held in memory (config, manifest, index): its media type and exact bytes."""

    media_type: str
    data: bytes
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", sha256_digest(self.data))

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(
        self, *, platform: Optional[Platform] = None, annotations: _Pairs = None
    ) -> Descriptor:
        return Descriptor(
            self.media_type,
            self.digest,
            self.size,
            platform,
            _sorted_pairs(annotations, "annotations"),
        )

    def json(self) -> Any:
        return json.loads(self.data.decode("utf-8"))


def layer_descriptor(layer: Layer) -> Descriptor:
    return Descriptor(layer.media_type, layer.digest, layer.size)


# --------------------------------------------------------------------------------------------------
# The image config.


@dataclass(frozen=True)
class ContainerConfig:
    """How a container runs: the ``config`` object of an OCI image config.

    ``env`` and ``labels`` are key/value pairs (a mapping is fine); they are written sorted by key
    so the document does not depend on the order they were collected in. Empty fields are left
    out.
    """

    entrypoint: Tuple[str, ...] = ()
    cmd: Tuple[str, ...] = ()
    env: Tuple[Tuple[str, str], ...] = ()
    user: str = ""
    working_dir: str = ""
    stop_signal: str = ""
    volumes: Tuple[str, ...] = ()
    labels: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("entrypoint", "cmd", "volumes"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ImageError(
                    f"container config {name} must be a list of strings, got {value!r}"
                )
            object.__setattr__(self, name, tuple(value))
        env = _sorted_pairs(self.env, "container config env")  # type: ignore[arg-type]
        for key, _ in env:
            if "=" in key:
                raise ImageError(f"container config env name {key!r} must not contain '='")
        object.__setattr__(self, "env", env)
        labels = _sorted_pairs(self.labels, "container config labels")  # type: ignore[arg-type]
        object.__setattr__(self, "labels", labels)
        for volume in self.volumes:
            if not volume.startswith("/"):
                raise ImageError(f"container config volume {volume!r} must be an absolute path")
        for name in ("user", "working_dir", "stop_signal"):
            if not isinstance(getattr(self, name), str):
                raise ImageError(
                    f"container config {name} must be a string, got {getattr(self, name)!r}"
                )

    def to_json(self) -> Dict[str, Any]:
        value: Dict[str, Any] = {}
        if self.entrypoint:
            value["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            value["Cmd"] = list(self.cmd)
        if self.env:
            value["Env"] = [f"{key}={val}" for key, val in self.env]
        if self.user:
            value["User"] = self.user
        if self.working_dir:
            value["WorkingDir"] = self.working_dir
        if self.stop_signal:
            value["StopSignal"] = self.stop_signal
        if self.volumes:
            value["Volumes"] = {volume: {} for volume in self.volumes}
        if self.labels:
            value["Labels"] = dict(self.labels)
        return value


@dataclass(frozen=True)
class HistoryEntry:
    """One line of ``docker history``; ``empty_layer`` lines have no layer of their own."""

    created_by: str = ""
    comment: str = ""
    author: str = ""
    empty_layer: bool = False

    def to_json(self, created: str) -> Dict[str, Any]:
        value: Dict[str, Any] = {"created": created}
        for key, text in (
            ("created_by", self.created_by),
            ("comment", self.comment),
            ("author", self.author),
        ):
            if text:
                value[key] = text
        if self.empty_layer:
            value["empty_layer"] = True
        return value


def build_config(
    platform: Platform,
    diff_ids: Sequence[str],
    *,
    created: int,
    config: ContainerConfig = ContainerConfig(),
    history: Optional[Sequence[HistoryEntry]] = None,
    author: str = "",
) -> Blob:
    """The OCI image config blob.

    ``created`` is seconds since 1970 (the build's SOURCE_DATE_EPOCH), written as RFC 3339 UTC in
    the config and in every history line. Without ``history`` each layer gets one line created by
    apkoci; with it, the lines that are not ``empty_layer`` must match the layers one for one.
    """
    for diff_id in diff_ids:
        _check_digest(diff_id, "layer diff_id")
    if history is None:
        history = [
            HistoryEntry(created_by="apkoci", comment=f"layer {n} of {len(diff_ids)}")
            for n in range(1, len(diff_ids) + 1)
        ]
    layered = sum(1 for line in history if not line.empty_layer)
    if layered != len(diff_ids):
        raise ImageError(
            f"image history has {layered} lines with a layer but the image has {len(diff_ids)} "
            "layers; give one non-empty_layer history line per layer"
        )
    created_at = rfc3339_utc(created)
    document: Dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created_at,
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [line.to_json(created_at) for line in history],
    }
    if platform.variant:
        document["variant"] = platform.variant
    if author:
        document["author"] = author
    return Blob(MEDIA_TYPE_CONFIG, canonical_json(document))


# --------------------------------------------------------------------------------------------------
# Manifests and indexes.


def build_manifest(
    config: Union[Blob, Descriptor],
    layers: Sequence[Union[Layer, Descriptor]],
    *,
    annotations: _Pairs = None,
) -> Blob:
    """The OCI image manifest blob: the config and the layers, in order, plus annotations."""
    config_descriptor = config.descriptor() if isinstance(config, Blob) else config
    if config_descriptor.media_type != MEDIA_TYPE_CONFIG:
        raise ImageError(
            f"manifest config has media type {config_descriptor.media_type!r}, "
            f"expected {MEDIA_TYPE_CONFIG}"
        )
    document: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": config_descriptor.to_json(),
        "layers": [
            (layer_descriptor(layer) if isinstance(layer, Layer) else layer).to_json()
            for layer in layers
        ],
    }
    annotation_pairs = _sorted_pairs(annotations, "manifest annotations")
    if annotation_pairs:
        document["annotations"] = dict(annotation_pairs)
    return Blob(MEDIA_TYPE_MANIFEST, canonical_json(document))


def index_document(manifests: Sequence[Descriptor], annotations: _Pairs = None) -> Dict[str, Any]:
    """The JSON value of an image index (also the shape of a layout's ``index.json``)."""
    document: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [manifest.to_json() for manifest in manifests],
    }
    annotation_pairs = _sorted_pairs(annotations, "index annotations")
    if annotation_pairs:
        document["annotations"] = dict(annotation_pairs)
    return document


def build_index(manifests: Sequence[Descriptor], *, annotations: _Pairs = None) -> Blob:
    """The image index blob of a multi-platform image: one manifest per platform, in order."""
    if not manifests:
        raise ImageError("an image index needs at least one manifest")
    seen: Dict[str, str] = {}
    for manifest in manifests:
        if manifest.media_type not in (MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX):
            raise ImageError(
                f"index entry {manifest.digest} has media type {manifest.media_type!r}, "
                "not a manifest"
            )
        if manifest.platform is None:
            raise ImageError(
                f"index entry {manifest.digest} has no platform; give each manifest its platform"
            )
        name = str(manifest.platform)
        if name in seen:
            raise ImageError(
                f"index has two manifests for platform {name}: {seen[name]} and {manifest.digest}"
            )
        seen[name] = manifest.digest
    return Blob(MEDIA_TYPE_INDEX, canonical_json(index_document(manifests, annotations)))


@dataclass(frozen=True)
class Image:
    """One platform's image, ready to be written: its layers, config blob and manifest blob."""

    platform: Platform
    layers: Tuple[Layer, ...]
    config: Blob
    manifest: Blob

    def descriptor(self, *, annotations: _Pairs = None) -> Descriptor:
        """The manifest's descriptor with its platform, as an index lists it."""
        return self.manifest.descriptor(platform=self.platform, annotations=annotations)


def build_image(
    layers: Sequence[Layer],
    platform: Platform,
    *,
    created: int,
    config: ContainerConfig = ContainerConfig(),
    history: Optional[Sequence[HistoryEntry]] = None,
    author: str = "",
    annotations: _Pairs = None,
) -> Image:
    """Config and manifest for ``layers`` on ``platform``.

    See :func:`build_config` and :func:`build_manifest` for the arguments.
    """
    layers = tuple(layers)
    config_blob = build_config(
        platform,
        [layer.diff_id for layer in layers],
        created=created,
        config=config,
        history=history,
        author=author,
    )
    manifest = build_manifest(config_blob, layers, annotations=annotations)
    return Image(platform, layers, config_blob, manifest)


def index_manifest_digests(index: Blob) -> List[str]:
    """The digests an index blob lists, in order."""
    return [entry["digest"] for entry in index.json().get("manifests", [])]
