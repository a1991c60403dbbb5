"""The two layer steps: an architecture's packages as a layer (or several), and a folder as a layer.

:func:`build_package_layer` (``apkoci layer``) installs exactly the packages a lock has for one
architecture, from a folder of ``<name>-<version>.apk`` files each checked against the lock first
(SHA-256 and size, or control checksum and data hash for a lock apko wrote), builds the file tree
(:func:`apkoci.build.filetree_steps.populate_tree`) and writes it as one deterministic layer, or,
when the configuration has ``layering``, cuts the same tree into apko's package layers and a top
layer (:mod:`apkoci.build.layering`), all in the one layer folder (see
:mod:`apkoci.build.layerinfo`). Every file gets the same time: ``source_date_epoch`` when given,
else the newest build time of the installed packages (what apko takes for the image's time; apko
keeps the packages' own times on the files).

:func:`build_directory_layer` (``apkoci dir-layer``) lays a folder out under a prefix in the image
(first-party files on top of the packages): owned by root, folders 0755, files 0755 when any
execute bit is set and 0644 otherwise (so the umask of whoever made the files does not matter),
symlinks kept, every time ``source_date_epoch`` (0 without).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from apkoci.apk.apkfile import read_apk
from apkoci.build.errors import BuildError
from apkoci.build.filetree_steps import populate_tree, read_os_release
from apkoci.build.keys import read_keyring_dir
from apkoci.build.layerinfo import BlobInfo, LayerInfo, layer_file_name, write_layer_info
from apkoci.build.layering import LayerPart, plan_package_layers, split_tree
from apkoci.config import Arch, ImageConfiguration, Layering, find_arch
from apkoci.install.database import InstalledPackage
from apkoci.install.filetree import FileTree, normalize_path
from apkoci.install.install import PackageToInstall
from apkoci.lock.lockfile import Lock, packages_for_arch
from apkoci.lock.packagefile import verify_package_file
from apkoci.oci.layer import Entry, write_layer

PathLike = Union[str, "os.PathLike[str]"]


def find_build_arch(name: str) -> Arch:
    arch = find_arch(name)
    if arch is None:
        raise BuildError(
            f"unknown architecture {name!r}: use apko's or APK's name, e.g. amd64 or x86_64, "
            "arm64 or aarch64"
        )
    return arch


def _out_folder(out_dir: PathLike, compression: str) -> Path:
    layer_file_name(compression)  # refuse an unknown compression before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def locked_packages(lock: Lock, arch: Arch, packages_dir: PathLike) -> List[PackageToInstall]:
    """The lock's packages for ``arch``, in install order, from ``packages_dir``, each verified."""
    result = []
    for locked in packages_for_arch(lock, arch.apk):
        path = Path(packages_dir) / locked.filename
        if not path.is_file():
            raise BuildError(
                f"{locked} is in the lock but {path} is missing: fetch the lock's packages "
                f"(`apkoci fetch --lockfile LOCK --arch {arch.apk} --output {packages_dir}`)"
            )
        verify_package_file(path, locked)
        result.append(PackageToInstall(read_apk(path)))
    return result


def _split_layers(
    tree: FileTree,
    layering: Layering,
    installed: Sequence[InstalledPackage],
    out: Path,
    compression: str,
    epoch: int,
) -> Tuple[BlobInfo, ...]:
    """Write the tree as apko's package layers and top layer, ``layer-<i>`` bottom first."""
    groups = plan_package_layers([record.package for record in installed], layering.budget)

    def owner_of(path: str) -> Optional[str]:
        node = tree.stat(path, follow_symlinks=False)
        return node.owner if node is not None else None

    parts: Tuple[LayerPart, ...] = split_tree(tree.entries(), owner_of, groups, installed)
    return tuple(
        BlobInfo.of(
            write_layer(
                part.entries,
                out / layer_file_name(compression, index),
                compression=compression,
                mtime=epoch,
            ),
            part.packages,
        )
        for index, part in enumerate(parts)
    )


def build_package_layer(
    config: ImageConfiguration,
    lock: Lock,
    arch: str,
    packages_dir: PathLike,
    keyring_dir: PathLike,
    out_dir: PathLike,
    *,
    compression: str = "gzip",
    source_date_epoch: Optional[int] = None,
) -> LayerInfo:
    """Install the lock's packages for ``arch`` and apply ``config``'s file-tree steps; write
    ``out_dir/layer.tar.gz`` (or ``.tar.zst``), or with ``config.layering`` the blobs
    ``out_dir/layer-<i>.tar.gz`` bottom first, and ``out_dir/layer.json``; return the latter."""
    target = find_build_arch(arch)
    if config.layering is not None and config.contents.baseimage is not None:
        raise BuildError(
            "layering cannot be used with contents.baseimage (apko refuses it too): remove "
            "`layering` for one layer on the base image, or build without the base image"
        )
    out = _out_folder(out_dir, compression)
    packages = locked_packages(lock, target, packages_dir)
    keys = read_keyring_dir(config.contents.keyring, keyring_dir)
    with tempfile.TemporaryDirectory(prefix="apkoci-layer-") as staging, FileTree(staging) as tree:
        installed = populate_tree(tree, config, target, packages, keys)
        records = tuple(package.package for package in installed)
        epoch = source_date_epoch
        if epoch is None:
            epoch = max((package.build_time for package in records), default=0)
        if config.layering is None:
            layer = write_layer(
                tree.entries(),
                out / layer_file_name(compression),
                compression=compression,
                mtime=epoch,
            )
            blobs: Tuple[BlobInfo, ...] = (BlobInfo.of(layer),)
        else:
            blobs = _split_layers(tree, config.layering, installed, out, compression, epoch)
        os_release = tuple(read_os_release(tree).items())
    info = LayerInfo.of(blobs, epoch, target.apk, records, os_release)
    write_layer_info(info, out)
    return info


def _file_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _directory_entries(directory: Path, prefix: str) -> Iterator[Entry]:
    """The entries of ``directory`` placed at ``prefix`` (whose own folders come first)."""
    parts = prefix.split("/") if prefix else []
    for depth in range(1, len(parts) + 1):
        yield Entry.directory("/".join(parts[:depth]))
    for root, folders, files in os.walk(directory):
        folders.sort()
        relative = os.path.relpath(root, directory)
        base = "/".join(part for part in (prefix, "" if relative == "." else relative) if part)
        for name in sorted(folders + files):
            source = os.path.join(root, name)
            path = f"{base}/{name}" if base else name
            info = os.lstat(source)
            if stat.S_ISLNK(info.st_mode):
                yield Entry.symlink(path, os.readlink(source))
            elif stat.S_ISDIR(info.st_mode):
                yield Entry.directory(path)
            elif stat.S_ISREG(info.st_mode):
                yield Entry.file(path, source=source, mode=_file_mode(info.st_mode))
            else:
                raise BuildError(
                    f"{source} is neither a file, a folder nor a symlink: a folder layer holds "
                    "only those; remove it"
                )
        # os.walk does not descend into symlinked folders: they stay symlinks in the layer.
        folders[:] = [name for name in folders if not os.path.islink(os.path.join(root, name))]


def build_directory_layer(
    directory: PathLike,
    prefix: str,
    out_dir: PathLike,
    *,
    compression: str = "gzip",
    source_date_epoch: Optional[int] = None,
) -> LayerInfo:
    """Write the files under ``directory`` as a layer placing them at ``prefix`` (``/app``)."""
    source = Path(directory)
    if not source.is_dir():
        raise BuildError(f"{source} is not a folder: give the folder to put in the layer")
    out = _out_folder(out_dir, compression)
    place = normalize_path(prefix)
    layer = write_layer(
        _directory_entries(source, place),
        out / layer_file_name(compression),
        compression=compression,
        mtime=source_date_epoch or 0,
    )
    info = LayerInfo.of((BlobInfo.of(layer),), source_date_epoch)
    write_layer_info(info, out)
    return info
