"""What a layer step leaves behind: a layer folder, its blobs and ``layer.json``, which describes
them.

A folder of one layer holds ``layer.tar.gz`` (or ``layer.tar.zst``, or ``layer.tar`` uncompressed)
and ``layer.json`` (canonical JSON)::

    {"file": "layer.tar.gz", "digest": "sha256:...", "diff_id": "sha256:...", "size": 1234,
     "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "created": 1700000000,
     "arch": "x86_64", "packages": [...], "os_release": {"ID": "alpine", ...}}

A package layer built with ``layering`` (:mod:`apkoci.build.layering`) is several blobs,
``layer-0.tar.gz`` (the bottom one) to ``layer-<n>.tar.gz`` (the top one, what no package
installed), listed bottom first under ``layers``, each with the names of the packages whose files
it holds; the other fields are the folder's, as above::

    {"layers": [{"file": "layer-0.tar.gz", "digest": ..., "diff_id": ..., "size": ...,
                 "mediaType": ..., "package_names": ["glibc", "glibc-locale-posix"]}, ...,
                {"file": "layer-2.tar.gz", ...}],
     "created": ..., "arch": ..., "packages": [...], "os_release": {...}}

A folder of one blob is always written in the first form, so a single-layer build's output is what
it was before layering existed; :func:`read_layer_dir` reads both.

``created`` is the time stamped on the layers' files (null for a folder layer built without
``--source-date-epoch``: it then has no say in the image's time); ``arch`` is null for a layer that
fits every architecture. ``packages`` are the installed packages in install order, each as its
index stanza in JSON (fields of :class:`apkoci.apk.index.Package`, dependencies as apk spells
them), and ``os_release`` the variables of the tree's ``/etc/os-release``: what the SBOM needs.
The image step reads the folder back with :func:`read_layer_dir`, which checks every blob against
the digest and size recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from apkoci.apk.dependency import DependencyError, parse_dependency
from apkoci.apk.index import Package
from apkoci.build.errors import BuildError
from apkoci.oci.image import canonical_json
from apkoci.oci.layer import Layer

PathLike = Union[str, "os.PathLike[str]"]

LAYER_JSON = "layer.json"
LAYER_SUFFIXES = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}
LAYER_FILES = {compression: f"layer{suffix}" for compression, suffix in LAYER_SUFFIXES.items()}
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


_BLOB_KEYS = ("file", "digest", "diff_id", "size", "mediaType")


def layer_file_name(compression: str, index: Optional[int] = None) -> str:
    """``layer.tar.gz`` for a folder's only blob, ``layer-<index>.tar.gz`` for one of several."""
    if compression not in LAYER_SUFFIXES:
        raise BuildError(
            f"layer compression {compression!r} is not one of {', '.join(LAYER_SUFFIXES)}"
        )
    stem = "layer" if index is None else f"layer-{index}"
    return stem + LAYER_SUFFIXES[compression]


def _file_name(name: Any, source: str) -> str:
    if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
        raise BuildError(f"{source}: file {name!r} must be a file name in its folder")
    return name


@dataclass(frozen=True)
class BlobInfo:
    """One layer blob of a layer folder; ``packages`` names the packages whose files it holds
    when the folder is one architecture's packages cut into layers (empty otherwise)."""

    file: str
    digest: str
    diff_id: str
    size: int
    media_type: str
    packages: Tuple[str, ...] = ()

    @classmethod
    def of(cls, layer: Layer, packages: Tuple[str, ...] = ()) -> "BlobInfo":
        return cls(
            layer.path.name, layer.digest, layer.diff_id, layer.size, layer.media_type, packages
        )

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {
            "file": self.file,
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "mediaType": self.media_type,
        }
        if self.packages:
            data["package_names"] = list(self.packages)
        return data

    @classmethod
    def from_json(cls, data: Any, source: str) -> "BlobInfo":
        file, digest, diff_id, size, media_type = (data[key] for key in _BLOB_KEYS)
        names = data.get("package_names", ())
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise BuildError(f"{source}: package_names of {file!r} must be a list of names")
        return cls(_file_name(file, source), digest, diff_id, size, media_type, tuple(names))

    def layer(self, directory: PathLike) -> Layer:
        """The blob this info describes, in ``directory``."""
        return Layer(
            self.digest, self.diff_id, self.size, self.media_type, Path(directory) / self.file
        )


@dataclass(frozen=True)
class LayerInfo:
    """``layer.json``: a layer folder's blobs, bottom first, and what the image step needs to
    know about them."""

    blobs: Tuple[BlobInfo, ...]
    created: Optional[int] = None
    arch: Optional[str] = None
    packages: Tuple[Package, ...] = ()
    os_release: Tuple[Tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        blobs: Sequence[BlobInfo],
        created: Optional[int],
        arch: Optional[str] = None,
        packages: Tuple[Package, ...] = (),
        os_release: Tuple[Tuple[str, str], ...] = (),
    ) -> "LayerInfo":
        return cls(tuple(blobs), created, arch, packages, tuple(sorted(os_release)))

    def to_json(self) -> Dict[str, Any]:
        if len(self.blobs) == 1 and not self.blobs[0].packages:
            data = self.blobs[0].to_json()  # one blob: the fields at the top, as ever
        else:
            data = {"layers": [blob.to_json() for blob in self.blobs]}
        data.update(
            created=self.created,
            arch=self.arch,
            packages=[package_to_json(package) for package in self.packages],
            os_release=dict(self.os_release),
        )
        return data

    @classmethod
    def from_json(cls, data: Any, source: str) -> "LayerInfo":
        try:
            listed = data["layers"] if "layers" in data else [data]
            if not isinstance(listed, list) or not listed:
                raise BuildError(f"{source}: layers must be a non-empty list of blobs")
            blobs = tuple(BlobInfo.from_json(item, source) for item in listed)
            info = cls(
                blobs=blobs,
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
        files = [blob.file for blob in blobs]
        if len(set(files)) != len(files):
            raise BuildError(f"{source}: a blob is listed twice in {files}")
        return info

    def layers(self, directory: PathLike) -> Tuple[Layer, ...]:
        """The blobs this info describes, in ``directory``, bottom first."""
        return tuple(blob.layer(directory) for blob in self.blobs)


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


def read_layer_dir(directory: PathLike) -> Tuple[LayerInfo, Tuple[Layer, ...]]:
    """The layers of a layer folder, bottom first, each blob checked against ``layer.json``."""
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
    layers = info.layers(folder)
    for blob, layer in zip(info.blobs, layers):
        try:
            digest, size = _file_digest(layer.path)
        except OSError as error:
            raise BuildError(
                f"{source} names {layer.path}, which cannot be read ({error})"
            ) from None
        if (digest, size) != (blob.digest, blob.size):
            raise BuildError(
                f"{layer.path} is {size} bytes with digest {digest}, but {source} says "
                f"{blob.size} bytes with {blob.digest}: the layer changed after it was built; "
                "build it again"
            )
    return info, layers
