"""The image step: layers and the image part of a configuration in, the image's artifacts out.

:func:`assemble_image` makes one image per architecture from its layer folders (the package layer
folder, then any folder layers on top) and an index over them, the way apko does
(``pkg/build/oci``). A folder may hold several blobs (a package layer built with ``layering``,
:mod:`apkoci.build.layering`): they are all the image's layers, in the folder's order, so
``rootfs.diff_ids``, the manifest's layers and the history list every blob, bottom first:

- the OCI config: ``Entrypoint`` from ``entrypoint.command`` split like a shell would, or
  ``/bin/sh -c <shell-fragment>``; ``Cmd`` from ``cmd`` split alike; ``Env`` from
  :func:`apkoci.config.image_environment` (apko's ``PATH`` and ``SSL_CERT_FILE`` unless the
  configuration sets an environment); ``User`` the ``run-as``; ``WorkingDir``, ``StopSignal``,
  ``Volumes``; ``Labels`` the annotations (as apko sets them). Each layer has a history line
  (author and created-by ``apkoci``; the comment is apko's: ``<title> by <vendor>`` when both
  annotations are set, else ``This is an apkoci single-layer image`` for one layer, empty for
  several, as apko's ``BuildImageFromLayers``);
- ``created``: the newest time of the architecture's layers (their ``SOURCE_DATE_EPOCH`` or the
  packages' newest build time); the index's is the newest of all;
- annotations on each manifest and on the index: the configuration's, the command line's over
  them, ``org.opencontainers.image.source``/``revision`` from a ``vcs-url`` of the form
  ``<url>@<commit>``, and ``org.opencontainers.image.created``;
- the index lists the manifests sorted by apko's architecture name (``amd64`` < ``arm64``).

What is written, by format, into ``out_dir``:

- ``oci``: ``oci/``, an OCI image layout whose ``index.json`` points at the index, one entry per
  tag, plus ``<tag>-<arch><variant>`` entries per platform for tools that cannot pick a platform
  (umoci);
- ``docker``: ``<name>-<arch>.docker.tar`` per architecture (``docker load``/``podman load``),
  tagged ``<tag>-<arch><variant>`` as apko's multi-arch tarball tags its images; ``<name>`` is the
  last part of the first tag's repository (``image`` without tags);
- ``sbom-spdx`` / ``sbom-cyclonedx``: ``sbom-<arch>.spdx.json`` / ``sbom-<arch>.cdx`` per
  architecture and ``sbom-index.spdx.json`` / ``sbom-index.cdx`` (into ``sbom_dir`` when given);
- always ``image.json``: the digests of the index and of each architecture's manifest, and the
  files written.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from apkoci.build.errors import BuildError
from apkoci.build.layerinfo import LayerInfo, read_layer_dir
from apkoci.config import Arch, ImageConfiguration, image_environment
from apkoci.oci.dockerarchive import write_docker_archive
from apkoci.oci.image import (
    ANNOTATION_CREATED,
    ContainerConfig,
    HistoryEntry,
    Image,
    build_image,
    build_index,
    canonical_json,
    platform_for_arch,
    rfc3339_utc,
)
from apkoci.oci.layer import Layer
from apkoci.oci.layout import platform_tag, write_layout
from apkoci.sbom import cyclonedx, spdx
from apkoci.sbom.facts import ImageFacts, ImageReference, IndexFacts

PathLike = Union[str, "os.PathLike[str]"]

FORMATS = ("oci", "docker", "sbom-spdx", "sbom-cyclonedx")
DEFAULT_FORMATS = ("oci", "docker", "sbom-spdx")
LAYOUT_DIR = "oci"
SUMMARY_FILE = "image.json"
TOOL = "apkoci"
ANNOTATION_SOURCE = "org.opencontainers.image.source"
ANNOTATION_REVISION = "org.opencontainers.image.revision"
ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_VENDOR = "org.opencontainers.image.vendor"


@dataclass(frozen=True)
class ArchLayers:
    """One architecture's layer folders, bottom first, each with its blobs, as the image step
    reads them."""

    arch: Arch
    layers: Tuple[Tuple[LayerInfo, Tuple[Layer, ...]], ...]

    @classmethod
    def read(cls, arch: Arch, folders: Sequence[PathLike]) -> "ArchLayers":
        layers = tuple(read_layer_dir(folder) for folder in folders)
        if not layers:
            raise BuildError(f"architecture {arch.apk} has no layers: give at least one folder")
        for (info, _), folder in zip(layers, folders):
            if info.arch is not None and info.arch != arch.apk:
                raise BuildError(
                    f"{folder} was built for {info.arch}, not for {arch.apk}: give each "
                    "architecture its own package layer"
                )
        return cls(arch, layers)

    @property
    def blobs(self) -> Tuple[Layer, ...]:
        """Every layer blob of the image, bottom first."""
        return tuple(layer for _, layers in self.layers for layer in layers)

    @property
    def created(self) -> int:
        return max((info.created for info, _ in self.layers if info.created is not None), default=0)

    @property
    def packages(self) -> Tuple:
        return tuple(package for info, _ in self.layers for package in info.packages)

    @property
    def os_release(self) -> Tuple[Tuple[str, str], ...]:
        for info, _ in self.layers:
            if info.os_release:
                return info.os_release
        return ()


def _split_command(text: str, what: str) -> Tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise BuildError(f"{what} {text!r} cannot be split into words: {error}") from None


def container_config(config: ImageConfiguration, labels: Mapping[str, str]) -> ContainerConfig:
    """The ``config`` object of the image's OCI config (see the module docstring)."""
    entrypoint = config.entrypoint
    if entrypoint.shell_fragment:
        command: Tuple[str, ...] = ("/bin/sh", "-c", entrypoint.shell_fragment)
    elif entrypoint.command:
        command = _split_command(entrypoint.command, "entrypoint.command")
    else:
        command = ()
    env = tuple(tuple(item.split("=", 1)) for item in image_environment(config))
    return ContainerConfig(
        entrypoint=command,
        cmd=_split_command(config.cmd, "cmd") if config.cmd else (),
        env=env,  # type: ignore[arg-type]
        user=config.accounts.run_as,
        working_dir=config.work_dir,
        stop_signal=config.stop_signal,
        volumes=tuple(config.volumes),
        labels=tuple(sorted(labels.items())),
    )


def image_annotations(
    config: ImageConfiguration, extra: Mapping[str, str], created: int
) -> Dict[str, str]:
    """The annotations of a manifest (or the index) created at ``created``."""
    annotations = dict(config.annotations)
    annotations.update(extra)
    url, at, commit = config.vcs_url.partition("@")
    if at:
        annotations[ANNOTATION_SOURCE] = url
        annotations[ANNOTATION_REVISION] = commit
    annotations[ANNOTATION_CREATED] = rfc3339_utc(created)
    return annotations


def _history(config: ImageConfiguration, layer_count: int) -> List[HistoryEntry]:
    annotations = dict(config.annotations)
    if ANNOTATION_TITLE in annotations and ANNOTATION_VENDOR in annotations:
        comment = f"{annotations[ANNOTATION_TITLE]} by {annotations[ANNOTATION_VENDOR]}"
    elif layer_count == 1:
        comment = f"This is an {TOOL} single-layer image"
    else:
        comment = ""
    return [HistoryEntry(created_by=TOOL, comment=comment, author=TOOL)] * layer_count


def _image(config: ImageConfiguration, arch: ArchLayers, extra: Mapping[str, str]) -> Image:
    annotations = image_annotations(config, extra, arch.created)
    layers = list(arch.blobs)
    return build_image(
        layers,
        platform_for_arch(arch.arch.apk),
        created=arch.created,
        config=container_config(config, annotations),
        history=_history(config, len(layers)),
        author=TOOL,
        annotations=annotations,
    )


def archive_name(tags: Sequence[str]) -> str:
    """The ``<name>`` of the docker archives: the first tag's repository's last part."""
    if not tags:
        return "image"
    return ImageReference.parse(tags[0]).purl_name or "image"


@dataclass(frozen=True)
class ImageSummary:
    """What :func:`assemble_image` wrote: ``image.json``'s content."""

    index: Dict[str, object]
    manifests: Dict[str, Dict[str, object]]
    tags: Tuple[str, ...]
    files: Tuple[str, ...]

    @property
    def index_digest(self) -> str:
        return str(self.index["digest"])

    def to_json(self) -> Dict[str, object]:
        return {
            "index": self.index,
            "manifests": self.manifests,
            "tags": list(self.tags),
            "files": list(self.files),
        }


def _check_formats(formats: Sequence[str]) -> Tuple[str, ...]:
    for name in formats:
        if name not in FORMATS:
            raise BuildError(f"unknown output format {name!r}: use {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(formats or DEFAULT_FORMATS))


def _write_sboms(
    formats: Tuple[str, ...],
    images: Sequence[Tuple[ArchLayers, Image]],
    index_digest: str,
    reference: str,
    sbom_dir: Path,
) -> List[Path]:
    facts = [
        ImageFacts(
            digest=image.manifest.digest,
            arch=arch.arch.apk,
            packages=arch.packages,
            created=arch.created,
            os_release=arch.os_release,
            reference=reference,
        )
        for arch, image in images
    ]
    newest = max(item.created for item in facts)
    # The index document shares one time: the newest of its images', as apko dates the index.
    index_facts = IndexFacts(index_digest, tuple(replace(item, created=newest) for item in facts))
    written: List[Path] = []
    generators = (
        ("sbom-spdx", spdx.image_file_name, spdx.image_spdx, spdx.INDEX_FILE_NAME, spdx.index_spdx),
        (
            "sbom-cyclonedx",
            cyclonedx.image_file_name,
            cyclonedx.image_cyclonedx,
            cyclonedx.INDEX_FILE_NAME,
            cyclonedx.index_cyclonedx,
        ),
    )
    for name, file_name, document, index_file, index_document in generators:
        if name not in formats:
            continue
        sbom_dir.mkdir(parents=True, exist_ok=True)
        for item in facts:
            path = sbom_dir / file_name(item)
            path.write_bytes(document(item))
            written.append(path)
        path = sbom_dir / index_file
        path.write_bytes(index_document(index_facts))
        written.append(path)
    return written


def assemble_image(
    config: ImageConfiguration,
    archs: Sequence[ArchLayers],
    out_dir: PathLike,
    *,
    tags: Sequence[str] = (),
    formats: Sequence[str] = DEFAULT_FORMATS,
    annotations: Mapping[str, str] = {},
    sbom_dir: Optional[PathLike] = None,
) -> ImageSummary:
    """Build the images and index and write the artifacts (see the module docstring)."""
    chosen = _check_formats(formats)
    if not archs:
        raise BuildError("an image needs at least one architecture's layers")
    names = [arch.arch.name for arch in archs]
    if len(set(names)) != len(names):
        raise BuildError(f"architectures are given twice: {', '.join(names)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(archs, key=lambda arch: arch.arch.name)
    images = [(arch, _image(config, arch, annotations)) for arch in ordered]
    newest = max(arch.created for arch in ordered)
    index = build_index(
        [image.descriptor() for _, image in images],
        annotations=image_annotations(config, annotations, newest),
    )
    written: List[Path] = []
    if "oci" in chosen:
        layout = write_layout(
            out / LAYOUT_DIR,
            [image for _, image in images],
            index=index,
            tags=tags,
            platform_tags=True,
            move_layers=False,
        )
        written.extend(path for path in layout.rglob("*") if path.is_file())
    if "docker" in chosen:
        name = archive_name(tags)
        for arch, image in images:
            path = out / f"{name}-{arch.arch.apk}.docker.tar"
            tagged = [platform_tag(tag, image) for tag in tags]
            written.append(write_docker_archive(path, image, tags=tagged, mtime=arch.created))
    reference = tags[0] if tags else ""
    written.extend(
        _write_sboms(chosen, images, index.digest, reference, Path(sbom_dir) if sbom_dir else out)
    )
    summary = ImageSummary(
        index={"digest": index.digest, "mediaType": index.media_type, "size": index.size},
        manifests={
            arch.arch.apk: {
                "digest": image.manifest.digest,
                "size": image.manifest.size,
                "platform": str(image.platform),
                "config": image.config.digest,
                "layers": [layer.digest for layer in image.layers],
            }
            for arch, image in images
        },
        tags=tuple(tags),
        files=tuple(sorted(_relative(path, out) for path in written)),
    )
    (out / SUMMARY_FILE).write_bytes(canonical_json(summary.to_json()) + b"\n")
    return summary


def _relative(path: Path, out: Path) -> str:
    try:
        return str(path.relative_to(out))
    except ValueError:
        return str(path)
