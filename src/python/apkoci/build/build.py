"""``apkoci build``: an image from an ``apko.yaml``, in one process, through the very steps the
Pants backend runs one by one.

:func:`build_from_config` locks the configuration in memory (or reads ``--lockfile``, refusing a
lock made from another version of the configuration), then does what the step commands do:
``split-config`` into a scratch folder, and per architecture ``fetch`` (the lock's packages,
each verified) and ``layer`` (one layer, or apko's several with ``layering``); then ``image``
into the output folder. The same inputs therefore give the same digests either way.

Without a lock the packages are read twice, once to lock them (which measures every file) and
once to fetch them: for remote repositories that is two downloads, the price of one code path.
apko's ``--vcs`` detection is not done (a build must not depend on the checkout it runs in): give
``vcs-url`` in the configuration.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple, Union

from apkoci.apk.repository import DEFAULT_TIMEOUT_SECONDS
from apkoci.build.errors import BuildError
from apkoci.build.image import DEFAULT_FORMATS, ArchLayers, ImageSummary, assemble_image
from apkoci.build.keys import collect_keyring
from apkoci.build.layers import build_package_layer, find_build_arch
from apkoci.build.split import load_part, write_split
from apkoci.config import Arch, load_configuration
from apkoci.lock.fetch import fetch_locked_packages
from apkoci.lock.lock import check_fresh, lock_configuration
from apkoci.lock.lockfile import Lock, read_lock

PathLike = Union[str, "os.PathLike[str]"]

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def source_date_epoch_from(environ: Mapping[str, str]) -> Optional[int]:
    """``SOURCE_DATE_EPOCH`` as seconds, None when unset; anything but digits is an error."""
    value = environ.get(SOURCE_DATE_EPOCH)
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise BuildError(
            f"SOURCE_DATE_EPOCH is {value!r}: it must be whole seconds since 1970, e.g. "
            "$(git log -1 --format=%ct)"
        )
    return int(value)


def target_archs(requested: Sequence[str], configured: Tuple[Arch, ...]) -> Tuple[Arch, ...]:
    """The architectures to build: those asked for (either spelling), else the configuration's."""
    if not requested:
        return configured
    archs = []
    for name in requested:
        arch = find_build_arch(name)
        if arch not in archs:
            archs.append(arch)
    return tuple(archs)


def _lock(
    config_path: PathLike,
    lockfile: Optional[PathLike],
    archs: Tuple[Arch, ...],
    include_paths: Sequence[PathLike],
    allow_untrusted: bool,
    timeout: float,
) -> Lock:
    if lockfile is None:
        return lock_configuration(
            config_path,
            archs,
            include_paths=include_paths,
            allow_untrusted=allow_untrusted,
            timeout=timeout,
        )
    lock = read_lock(lockfile)
    check_fresh(lock, config_path, lockfile, include_paths)
    return lock


def build_from_config(
    config_path: PathLike,
    out_dir: PathLike,
    *,
    archs: Sequence[str] = (),
    lockfile: Optional[PathLike] = None,
    include_paths: Sequence[PathLike] = (),
    tags: Sequence[str] = (),
    formats: Sequence[str] = DEFAULT_FORMATS,
    annotations: Mapping[str, str] = {},
    sbom_dir: Optional[PathLike] = None,
    compression: str = "gzip",
    source_date_epoch: Optional[int] = None,
    allow_untrusted: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ImageSummary:
    """Build the image of the configuration at ``config_path`` into ``out_dir`` (see
    :func:`apkoci.build.image.assemble_image` for what is written there)."""
    config = load_configuration(config_path, include_paths)
    targets = target_archs(archs, config.archs)
    base_dir = Path(os.path.abspath(config_path)).parent
    lock = _lock(config_path, lockfile, targets, include_paths, allow_untrusted, timeout)
    with tempfile.TemporaryDirectory(prefix="apkoci-build-") as scratch:
        work = Path(scratch)
        filetree_path, image_path = write_split(config, work / "config")
        filetree = load_part(filetree_path)
        keyring_dir = collect_keyring(
            config.contents.keyring, base_dir, work / "keys", timeout=timeout
        )
        layers = []
        for arch in targets:
            packages_dir = work / "packages" / arch.apk
            fetch_locked_packages(lock, arch.apk, packages_dir, base_dir=base_dir, timeout=timeout)
            layer_dir = work / "layers" / arch.apk
            build_package_layer(
                filetree,
                lock,
                arch.apk,
                packages_dir,
                keyring_dir,
                layer_dir,
                compression=compression,
                source_date_epoch=source_date_epoch,
            )
            layers.append(ArchLayers.read(arch, [layer_dir]))
        return assemble_image(
            load_part(image_path),
            layers,
            out_dir,
            tags=tags,
            formats=formats,
            annotations=annotations,
            sbom_dir=sbom_dir,
        )
