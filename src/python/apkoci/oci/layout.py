"""An OCI image layout directory: ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

:func:`write_layout` writes one image, or several platforms' images under an image index, into a
directory that umoci, skopeo (``oci:<dir>:<tag>``) and oci-image-tool read. Tags become
``org.opencontainers.image.ref.name`` annotations on the entries of ``index.json``; a multi-platform
image's ``index.json`` points at its image index blob, which lists one manifest per platform (the
shape apko writes).

The layout is built in a temporary sibling directory and renamed into place at the end, so an error
never leaves a half-written layout behind (an existing layout at the path is replaced only then).
Layer files are hard-linked in (no copy on the same filesystem; copied across filesystems) and, with
``move_layers``, removed from where they were once the layout is in place.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from apkoci.errors import ApkociError
from apkoci.oci.image import (
    ANNOTATION_REF_NAME,
    Blob,
    Descriptor,
    Image,
    canonical_json,
    index_document,
    index_manifest_digests,
)
from apkoci.oci.layer import Layer


class LayoutError(ApkociError):
    """An image layout could not be written."""


OCI_LAYOUT_VERSION = "1.0.0"

# The grammar the image-layout spec gives for org.opencontainers.image.ref.name values.
_REF_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF_NAME = re.compile(rf"{_REF_COMPONENT}(?:/{_REF_COMPONENT})*")

_FILE_MODE = 0o644
_DIR_MODE = 0o755


def check_ref_name(tag: str) -> None:
    """Raise :class:`LayoutError` unless ``tag`` is a valid ``org.opencontainers.image.ref.name``"""
    if not isinstance(tag, str) or not _REF_NAME.fullmatch(tag):
        raise LayoutError(
            f"tag {tag!r} is not a valid OCI ref name: use letters, digits and - . _ : @ + "
            "between them, and '/' between components (e.g. 'latest' or 'example.com/app:1.0')"
        )


def blob_path(layout: Path, digest: str) -> Path:
    """Where a blob of the given ``sha256:<hex>`` digest lives in a layout (or a docker archive)."""
    algorithm, _, hex_digest = digest.partition(":")
    return layout / "blobs" / algorithm / hex_digest


def check_layer_file(layer: Layer) -> None:
    """Refuse a layer whose file is gone or has another size than when it was written."""
    try:
        size = os.stat(layer.path).st_size
    except OSError as error:
        raise LayoutError(
            f"layer {layer.digest}: cannot read its file {str(layer.path)!r}: {error}"
        ) from error
    if size != layer.size:
        raise LayoutError(
            f"layer {layer.digest}: file {str(layer.path)!r} is {size} bytes, {layer.size} were "
            "written; it changed since, write the layer again"
        )


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
    os.chmod(path, _FILE_MODE)


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, destination)
    os.chmod(destination, _FILE_MODE)


def _check_images(images: Sequence[Image], index: Optional[Blob]) -> None:
    if not images:
        raise LayoutError("an image layout needs at least one image")
    if index is None:
        if len(images) > 1:
            raise LayoutError(
                f"{len(images)} images need an image index: "
                "pass index=build_index([image.descriptor() for image in images])"
            )
        return
    listed = set(index_manifest_digests(index))
    given = {image.manifest.digest for image in images}
    if listed != given:
        raise LayoutError(
            "the image index does not list exactly the images given: "
            f"index has {sorted(listed)}, images are {sorted(given)}"
        )


def _blobs_of(images: Sequence[Image], index: Optional[Blob]) -> Dict[str, Union[Blob, Layer]]:
    """Every blob of the layout by digest (a layer shared by two platforms is stored once)."""
    blobs: Dict[str, Union[Blob, Layer]] = {}
    for image in images:
        for layer in image.layers:
            blobs[layer.digest] = layer
        blobs[image.config.digest] = image.config
        blobs[image.manifest.digest] = image.manifest
    if index is not None:
        blobs[index.digest] = index
    return blobs


def platform_tag(tag: str, image: Image) -> str:
    """The per-platform name of a tag: ``latest-amd64``, ``latest-arm64v8``, ``latest-armv7``."""
    return f"{tag}-{image.platform.architecture}{image.platform.variant}"


def _index_entries(
    top: Descriptor, images: Sequence[Image], tags: Sequence[str], platform_tags: bool
) -> List[Descriptor]:
    entries = [top.with_annotations({ANNOTATION_REF_NAME: tag}) for tag in tags] or [top]
    if platform_tags:
        entries += [
            image.descriptor(annotations={ANNOTATION_REF_NAME: platform_tag(tag, image)})
            for tag in tags
            for image in images
        ]
    return entries


def _fill(
    directory: Path, blobs: Dict[str, Union[Blob, Layer]], index_entries: Sequence[Descriptor]
) -> None:
    sha_dir = directory / "blobs" / "sha256"
    sha_dir.mkdir(parents=True)
    for folder in (directory, directory / "blobs", sha_dir):
        os.chmod(folder, _DIR_MODE)
    for digest, blob in sorted(blobs.items()):
        if isinstance(blob, Layer):
            _link_or_copy(blob.path, blob_path(directory, digest))
        else:
            _write_bytes(blob_path(directory, digest), blob.data)
    _write_bytes(
        directory / "oci-layout", canonical_json({"imageLayoutVersion": OCI_LAYOUT_VERSION})
    )
    _write_bytes(directory / "index.json", canonical_json(index_document(index_entries)))


def _put_in_place(built: Path, path: Path) -> None:
    """Rename the finished layout to ``path``, replacing an earlier layout there."""
    if not path.exists() and not path.is_symlink():
        os.rename(built, path)
        return
    if path.is_symlink() or not path.is_dir():
        raise LayoutError(
            f"cannot write an image layout at {str(path)!r}: it exists and is not a directory"
        )
    if not (path / "oci-layout").is_file() and any(path.iterdir()):
        # Never delete a directory that is not a layout: it may hold anything.
        raise LayoutError(
            f"cannot write an image layout at {str(path)!r}: it is a non-empty directory that is "
            "not an OCI layout; remove it or choose another path"
        )
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.rename(path, old / path.name)
    os.rename(built, path)
    shutil.rmtree(old)


def write_layout(
    path: Union[str, "os.PathLike[str]"],
    images: Sequence[Image],
    *,
    index: Optional[Blob] = None,
    tags: Iterable[str] = (),
    platform_tags: bool = False,
    move_layers: bool = True,
) -> Path:
    """Write an OCI image layout directory at ``path`` and return it.

    One image: ``index.json`` points at its manifest (with its platform). Several platforms: pass
    ``index`` (from :func:`apkoci.oci.image.build_index`, listing exactly these images) and
    ``index.json`` points at it. Each tag gives ``index.json`` one entry annotated with it as
    ``org.opencontainers.image.ref.name``; without tags there is one entry without a name.
    ``platform_tags`` also names each platform's manifest ``<tag>-<arch><variant>`` (see
    :func:`platform_tag`), for tools that cannot choose a platform from an index (umoci).
    With ``move_layers`` the layer files are taken (linked in, then removed from where they were).
    """
    path = Path(path)
    images = list(images)
    tags = list(tags)
    _check_images(images, index)
    for tag in tags:
        check_ref_name(tag)
    top = index.descriptor() if index is not None else images[0].descriptor()
    entries = _index_entries(top, images, tags, platform_tags)
    names = [dict(entry.annotations)[ANNOTATION_REF_NAME] for entry in entries if entry.annotations]
    if len(set(names)) != len(names):
        raise LayoutError(
            f"the layout would name two entries alike ({sorted(names)}); give distinct tags"
        )
    blobs = _blobs_of(images, index)
    layers: List[Layer] = [blob for blob in blobs.values() if isinstance(blob, Layer)]
    for layer in layers:
        check_layer_file(layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        _fill(building, blobs, entries)
        _put_in_place(building, path)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if move_layers:
        for layer in layers:
            # A layer file that already was this layout's blob stays; one that went with the old
            # layout is gone already.
            if (
                layer.path.exists()
                and layer.path.resolve() != blob_path(path, layer.digest).resolve()
            ):
                os.unlink(layer.path)
    return path
