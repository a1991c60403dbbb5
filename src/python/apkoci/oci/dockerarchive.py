"""A ``docker load`` / ``podman load`` tarball of one image (one platform) and its tags.

The archive is in the ``docker save`` format: a ``manifest.json`` listing, for the image, its config
file, its ``RepoTags`` and its layer files in order. Files are named by digest as recent Docker
releases name them (``blobs/sha256/<hex>``), and the layer files are the layer blobs as they are —
compressed or not: ``docker load`` and podman (containers/image's docker-archive source) both detect
and undo gzip or zstd compression on a layer file, and check it against the config's ``diff_ids``.

The tar is written with :func:`apkoci.oci.layer.write_tar`, so it is as deterministic as a layer,
and to a temporary sibling first, so an error leaves no half-written archive behind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Sequence, Union

from apkoci.errors import ApkociError
from apkoci.oci.image import Image, canonical_json
from apkoci.oci.layer import FILE, Entry, atomic_output, write_tar
from apkoci.oci.layout import blob_path, check_layer_file


class DockerArchiveError(ApkociError):
    """A docker archive could not be written."""


# Docker's reference grammar (distribution/reference), as far as a tag for `docker load` needs it.
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?")


def check_repo_tag(tag: str) -> None:
    """Raise unless ``tag`` reads ``[registry/]name:tag`` the way docker and podman accept it."""
    problem = _repo_tag_problem(tag) if isinstance(tag, str) else "is not a string"
    if problem:
        raise DockerArchiveError(
            f"image tag {tag!r} {problem}; write it as [registry/]name:tag, "
            "e.g. 'example.com/app:1.0'"
        )


def _repo_tag_problem(tag: str) -> str:
    name, colon, tag_part = tag.rpartition(":")
    if not colon or "/" in tag_part:
        return "has no ':tag' part"
    if not _TAG.fullmatch(tag_part):
        return f"has an invalid tag {tag_part!r} (letters, digits, '_', '.', '-'; at most 128)"
    if len(name) > 255:
        return "has a name longer than 255 characters"
    components = name.split("/")
    first = components[0]
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            return f"has an invalid registry {first!r}"
        components = components[1:]
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"has an invalid name component {component!r} "
                "(lower-case letters, digits, '.', '_', '-')"
            )
    return ""


def archive_entries(image: Image, tags: Sequence[str]) -> List[Entry]:
    """The members of the archive: the blobs by digest and ``manifest.json``."""
    root = Path("")
    config_name = str(blob_path(root, image.config.digest))
    layer_names = [str(blob_path(root, layer.digest)) for layer in image.layers]
    manifest = [{"Config": config_name, "RepoTags": list(tags), "Layers": layer_names}]
    files: Dict[str, Entry] = {
        config_name: Entry.file(config_name, data=image.config.data),
        "manifest.json": Entry.file("manifest.json", data=canonical_json(manifest)),
    }
    for layer, name in zip(image.layers, layer_names):
        # The size recorded when the layer was written: write_tar refuses the file if it changed.
        files[name] = Entry(name, FILE, 0o644, size=layer.size, source=str(layer.path))
    return [Entry.directory("blobs"), Entry.directory("blobs/sha256"), *files.values()]


def write_docker_archive(
    out_path: Union[str, "os.PathLike[str]"],
    image: Image,
    *,
    tags: Sequence[str],
    mtime: int = 0,
) -> Path:
    """Write ``image`` as a docker-save tarball at ``out_path`` with these tags; return the path.

    ``mtime`` is stamped on every member (use the build's SOURCE_DATE_EPOCH). Without tags the image
    loads untagged.
    """
    tags = list(tags)
    for tag in tags:
        check_repo_tag(tag)
    if len(set(tags)) != len(tags):
        raise DockerArchiveError(f"tags {tags} name the same tag twice")
    for layer in image.layers:
        check_layer_file(layer)
    out_path = Path(out_path)
    with atomic_output(out_path) as file:
        write_tar(archive_entries(image, tags), file, mtime=mtime)
    return out_path
