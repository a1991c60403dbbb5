"""What a layer step leaves behind: the layer blob and ``layer.json``, which describes it.

A layer folder holds ``layer.tar.gz`` (or ``layer.tar.zst``, or ``layer.tar`` uncompressed) and
``layer.json`` (canonical JSON)::

    {"file": "layer.tar.gz", "digest": "sha256:...", "diff_id": "sha256:...", "size": 1234,
     "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "created": 1700000000,
     "arch": "x86_64", "packages": [...], "os_release": {"ID": "alpine", ...}}

``created`` is the time stamped on the layer's files (null for a folder layer built without
``--source-date-epoch``: it then has no say in the image's time); ``arch`` is null for a layer that
fits every architecture. ``packages`` are the installed packages in install order, each as its
index stanza in JSON (fields of :class:`apkoci.apk.index.Package`, dependencies as apk spells
them), and ``os_release`` the variables of the tree's ``/etc/os-release``: what the SBOM needs.
The image step reads the folder back with :func:`read_layer_dir`, which checks the blob against
the digest and size recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from apkoci.apk.dependency import DependencyError, parse_dependency
from apkoci.apk.index import Package
from apkoci.build.errors import BuildError
from apkoci.oci.image import canonical_json
from apkoci.oci.layer import Layer

PathLike = Union[str, "os.PathLike[str]"]

LAYER_JSON = "layer.json"
LAYER_FILES = {"gzip": "layer.tar.gz", "zstd": "layer.tar.zst", "none": "layer.tar"}
_DEPENDENCY_FIELDS = ("depends", "provides", "install_if", "replaces")
_PACKAGE_FIELDS = {field.name for field in dataclasses.fields(Package)}
_CHUNK = 1 << 20


def package_to_json(package: Package) -> Dict[str, Any]:
    """A package as JSON: its fields, dependencies as apk's strings."""
    data = dataclasses.asdict(package)
    for name in _DEPENDENCY_FIELDS:
        data[name] = [str(dependency) for dependency in getattr(package, name)]
    return data


def package_from_json(data: Any, source: str) -> Package:
    """The package :func:`package_to_json` wrote; errors name ``source``."""
    if not isinstance(data, dict) or not _PACKAGE_FIELDS.issuperset(data) or "name" not in data:
        raise BuildError(
            f"{source}: a package entry must be an object of Package fields, got {data!r}"
        )
    values = dict(data)
    try:
        for name in _DEPENDENCY_FIELDS:
            values[name] = tuple(parse_dependency(text) for text in values.get(name, ()))
        return Package(**values)
    except (DependencyError, TypeError) as error:
        raise BuildError(f"{source}: package {data.get('name')!r}: {error}") from None


@dataclass(frozen=True)
class LayerInfo:
    """``layer.json``: one layer blob and what the image step needs to know about it."""

    file: str
    digest: str
    diff_id: str
    size: int
    media_type: str
    created: Optional[int] = None
    arch: Optional[str] = None
    packages: Tuple[Package, ...] = ()
    os_release: Tuple[Tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        layer: Layer,
        created: Optional[int],
        arch: Optional[str] = None,
        packages: Tuple[Package, ...] = (),
        os_release: Tuple[Tuple[str, str], ...] = (),
    ) -> "LayerInfo":
        return cls(
            layer.path.name,
            layer.digest,
            layer.diff_id,
            layer.size,
            layer.media_type,
            created,
            arch,
            packages,
            tuple(sorted(os_release)),
        )

    def to_json(self) -> Dict[str, Any]:
        return {
            "file": self.file,
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "mediaType": self.media_type,
            "created": self.created,
            "arch": self.arch,
            "packages": [package_to_json(package) for package in self.packages],
            "os_release": dict(self.os_release),
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> "LayerInfo":
        try:
            info = cls(
                file=data["file"],
                digest=data["digest"],
                diff_id=data["diff_id"],
                size=data["size"],
                media_type=data["mediaType"],
                created=data.get("created"),
                arch=data.get("arch"),
                packages=tuple(
                    package_from_json(item, source) for item in data.get("packages", ())
                ),
                os_release=tuple(sorted(data.get("os_release", {}).items())),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise BuildError(
                f"{source} is not a layer.json of apkoci (missing or wrong {error}); build the "
                "layer again with `apkoci layer` or `apkoci dir-layer`"
            ) from None
        if "/" in info.file or info.file in ("", ".", ".."):
            raise BuildError(f"{source}: file {info.file!r} must be a file name in its folder")
        return info

    def layer(self, directory: PathLike) -> Layer:
        """The blob this info describes, in ``directory``."""
        return Layer(
            self.digest, self.diff_id, self.size, self.media_type, Path(directory) / self.file
        )


def write_layer_info(info: LayerInfo, out_dir: PathLike) -> Path:
    path = Path(out_dir) / LAYER_JSON
    path.write_bytes(canonical_json(info.to_json()) + b"\n")
    return path


def _file_digest(path: Path) -> Tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def read_layer_dir(directory: PathLike) -> Tuple[LayerInfo, Layer]:
    """The layer of a layer folder, its blob checked against ``layer.json``."""
    folder = Path(directory)
    source = str(folder / LAYER_JSON)
    try:
        data = json.loads((folder / LAYER_JSON).read_bytes())
    except OSError as error:
        raise BuildError(
            f"{folder} is not a layer folder: cannot read {LAYER_JSON} ({error.strerror or error})"
        ) from None
    except ValueError as error:
        raise BuildError(f"{source} is not JSON ({error})") from None
    info = LayerInfo.from_json(data, source)
    layer = info.layer(folder)
    try:
        digest, size = _file_digest(layer.path)
    except OSError as error:
        raise BuildError(f"{source} names {layer.path}, which cannot be read ({error})") from None
    if (digest, size) != (info.digest, info.size):
        raise BuildError(
            f"{layer.path} is {size} bytes with digest {digest}, but {source} says {info.size} "
            f"bytes with {info.digest}: the layer changed after it was built; build it again"
        )
    return info, layer
