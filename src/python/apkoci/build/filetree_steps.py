"""The file tree of one architecture's image: packages installed, then apko's steps on top.

:func:`populate_tree` does what apko's ``buildImage`` does to the root file system
(``pkg/build/build_implementation.go``), in apko's order:

1. the apk database of a fresh root (:func:`apkoci.install.database.init_apk_database`): base
   folders, ``/etc/apk/arch``, the build keyring in ``/etc/apk/keys`` and ``/etc/apk/repositories``
   holding what the image uses at run time, ``repositories`` and ``runtime_repositories`` (sorted,
   without duplicates, as apko's string sets give them; ``build_repositories`` stay out). apko's
   five character devices (``/dev/null``, ``zero``, ``random``, ``urandom``, ``console``) are made
   here too;
2. the packages, in the lock's install order, and the installed database, with the world
   ``contents.packages`` sorted and without duplicates; then the ``runtime_keyring``;
3. ``accounts`` and the ``work-dir`` (:mod:`apkoci.build.accounts`);
4. ``/etc/apko.json`` (0444), the record of the build: apko writes the whole configuration there;
   apkoci writes ``filetree.json``, the part the file tree comes from, so that an image-only change
   (entrypoint, environment...) leaves the layer as it is;
5. ``paths`` (:mod:`apkoci.build.paths`), ``certificates`` (:mod:`apkoci.build.certificates`), the
   s6 supervision tree (:mod:`apkoci.build.services`) and the busybox applet links
   (:mod:`apkoci.build.busybox`).

Not done: apko regenerates ``/etc/ld.so.cache`` when the image has ``/etc/ld.so.conf`` (glibc
images); apkoci leaves the cache the packages ship.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

from apkoci.build.accounts import apply_accounts, make_work_dir
from apkoci.build.busybox import install_busybox_links
from apkoci.build.certificates import install_certificates
from apkoci.build.errors import BuildError
from apkoci.build.keys import inline_key_file
from apkoci.build.paths import apply_path_mutations
from apkoci.build.services import write_supervision_tree
from apkoci.build.split import canonical_bytes, filetree_data
from apkoci.config import Arch, Contents, ImageConfiguration, KeyringEntry
from apkoci.install.database import (
    KEYS_DIR,
    InstalledPackage,
    init_apk_database,
    write_apk_database,
)
from apkoci.install.filetree import FileTree
from apkoci.install.install import PackageToInstall, install_packages
from apkoci.oci.layer import FILE
from apkoci.sbom.facts import parse_os_release

BUILD_RECORD = "etc/apko.json"
BUILD_RECORD_MODE = 0o444
OS_RELEASE = "etc/os-release"


def runtime_repositories(contents: Contents) -> List[str]:
    """The lines of the image's ``/etc/apk/repositories``."""
    return sorted(set(contents.repositories + contents.runtime_repositories))


def world(contents: Contents) -> List[str]:
    """The lines of the image's ``/etc/apk/world``."""
    return sorted({spec.text for spec in contents.packages})


def write_runtime_keyring(tree: FileTree, entries: Sequence[KeyringEntry]) -> None:
    """Write the inline runtime keys into ``/etc/apk/keys``, refusing to replace a key there."""
    for entry in sorted(set(entries), key=lambda item: (item.name, item.content)):
        path = f"{KEYS_DIR}/{entry.name}"
        if tree.exists(path, follow_symlinks=False):
            raise BuildError(
                f"runtime_keyring entry {entry.name!r} collides with /{path}, which the image has "
                "already: rename the entry"
            )
        tree.mkdir(KEYS_DIR)
        tree.write_file(path, inline_key_file(entry))


def populate_tree(
    tree: FileTree,
    config: ImageConfiguration,
    arch: Arch,
    packages: Sequence[PackageToInstall],
    keys: Mapping[str, bytes],
) -> Tuple[InstalledPackage, ...]:
    """Build the file tree of ``config`` for ``arch`` from ``packages`` (in install order) and the
    build keyring ``keys`` (file name to content); returns the installed packages."""
    contents = config.contents
    init_apk_database(
        tree,
        arch=arch.apk,
        keys=keys,
        repositories=runtime_repositories(contents),
        device_nodes=True,
    )
    installed = install_packages(tree, packages)
    write_apk_database(tree, installed, world=world(contents))
    write_runtime_keyring(tree, contents.runtime_keyring)
    apply_accounts(tree, config.accounts)
    make_work_dir(tree, config.work_dir, config.accounts.run_as)
    tree.write_file(BUILD_RECORD, canonical_bytes(filetree_data(config)), mode=BUILD_RECORD_MODE)
    apply_path_mutations(tree, config.paths)
    install_certificates(tree, config.certificates, installed)
    write_supervision_tree(tree, config.entrypoint)
    install_busybox_links(tree, installed)
    return installed


def read_os_release(tree: FileTree) -> Dict[str, str]:
    """The variables of the tree's ``/etc/os-release`` (followed through symlinks); none without."""
    node = tree.stat(OS_RELEASE) if tree.exists(OS_RELEASE) else None
    if node is None or node.kind != FILE:
        return {}
    text = tree.read_bytes(OS_RELEASE).decode("utf-8", "replace")
    return parse_os_release(text, f"/{OS_RELEASE}")
