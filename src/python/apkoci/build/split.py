"""Split a configuration into what shapes the file tree and what only describes the image.

``apkoci split-config`` writes two canonical JSON files (keys sorted, no spaces, one newline):

- ``filetree.json``: ``contents``, ``accounts``, ``paths``, ``work-dir``, ``certificates``,
  ``archs``, ``layering`` and, for a service bundle, the ``entrypoint`` (its services become files
  under ``/sv``). The layer step reads only this, so its output depends on nothing else;
- ``image.json``: ``entrypoint``, ``cmd``, ``stop-signal``, ``work-dir``, ``accounts.run-as``,
  ``environment``, ``annotations``, ``volumes`` and ``vcs-url``: the OCI config and annotations.

``work-dir`` and ``run-as`` are in both: the image config names them, and the file tree holds the
work-dir, owned by the run-as user (see :mod:`apkoci.build.accounts`).

Both are the configuration's canonical data (:func:`apkoci.config.show.configuration_data`, apko's
key names) and so are valid configurations themselves: :func:`load_part` reads one back with the
configuration loader, which checks it again. Changing the entrypoint therefore leaves
``filetree.json`` byte-identical, and the layer step a cache hit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

from apkoci.config import ImageConfiguration, load_configuration
from apkoci.config.model import SERVICE_BUNDLE
from apkoci.config.show import configuration_data
from apkoci.oci.image import canonical_json

PathLike = Union[str, "os.PathLike[str]"]

FILETREE_FILE = "filetree.json"
IMAGE_FILE = "image.json"

_FILETREE_KEYS = (
    "contents",
    "accounts",
    "paths",
    "work-dir",
    "certificates",
    "archs",
    "layering",
)
_IMAGE_KEYS = (
    "entrypoint",
    "cmd",
    "stop-signal",
    "work-dir",
    "environment",
    "annotations",
    "volumes",
    "vcs-url",
)


def _pick(data: Dict[str, Any], keys: Tuple[str, ...]) -> Dict[str, Any]:
    return {key: data[key] for key in keys if key in data}


def filetree_data(config: ImageConfiguration) -> Dict[str, Any]:
    """The part of ``config`` that shapes the file tree, as configuration data."""
    data = configuration_data(config)
    part = _pick(data, _FILETREE_KEYS)
    if config.entrypoint.type == SERVICE_BUNDLE:
        part["entrypoint"] = data["entrypoint"]
    return part


def image_data(config: ImageConfiguration) -> Dict[str, Any]:
    """The part of ``config`` that only describes the image, as configuration data."""
    data = configuration_data(config)
    part = _pick(data, _IMAGE_KEYS)
    if config.accounts.run_as:
        part["accounts"] = {"run-as": config.accounts.run_as}
    return part


def canonical_bytes(data: Dict[str, Any]) -> bytes:
    """The bytes of a split file: canonical JSON and a newline."""
    return canonical_json(data) + b"\n"


def write_split(config: ImageConfiguration, out_dir: PathLike) -> Tuple[Path, Path]:
    """Write ``filetree.json`` and ``image.json`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    filetree = out / FILETREE_FILE
    image = out / IMAGE_FILE
    filetree.write_bytes(canonical_bytes(filetree_data(config)))
    image.write_bytes(canonical_bytes(image_data(config)))
    return filetree, image


def load_part(path: PathLike) -> ImageConfiguration:
    """A ``filetree.json`` or ``image.json`` read back as a configuration (checked again)."""
    return load_configuration(path)
