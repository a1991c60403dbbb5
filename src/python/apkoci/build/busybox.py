"""Busybox applet symlinks, which a busybox package does not ship itself.

Alpine's and Wolfi's busybox packages make their applet links in a post-install script
(``busybox --install -s``), which an image build does not run. apko makes them instead
(``pkg/build/busybox.go``), and so does :func:`install_busybox_links`, the same way:

- nothing happens unless ``/bin/busybox`` exists in the image;
- the busybox package is the installed package named ``busybox``, else the first one with a
  ``provides`` whose name contains ``busybox``; there must be one;
- the links are the lines of ``/etc/busybox-paths.d/<that package's name>``, the manifest the
  packages ship since Alpine's busybox 1.36.0-r8 and Wolfi's 1.36.0-r3 (absolute paths, one per
  line). Without that file apko falls back to a built-in list chosen by version; apkoci's is
  apko's default list (:mod:`apkoci.build.busybox_applets`), for a package version of the form
  ``1.2.3`` or ``1.2.3-r4``.
- each link (but ``/bin/busybox`` and empty lines) becomes a symlink to ``/bin/busybox``, its
  folder made 0755 when missing. A path that already is a symlink or a regular file is left alone
  (what ``busybox --install -s`` does); a folder there is an error.

Neither apko nor apkoci runs ``busybox --list-full``: the binary is usually for another
architecture than the build machine's.
"""

from __future__ import annotations

import posixpath
import re
from typing import List, Optional, Sequence

from apkoci.build.busybox_applets import DEFAULT_APPLET_LINKS
from apkoci.build.errors import BuildError
from apkoci.install.database import InstalledPackage
from apkoci.install.filetree import FileTree, FileTreeError
from apkoci.oci.layer import FILE, SYMLINK

BUSYBOX = "/bin/busybox"
PATHS_DIR = "etc/busybox-paths.d"
# apko's basicSemverRegex: the version part that picks a built-in list.
_VERSION = re.compile(r"^v?((\d+)\.(\d+)\.(\d+))(?:-(\w+))?$")


def busybox_package(installed: Sequence[InstalledPackage]) -> Optional[InstalledPackage]:
    """The package that installed busybox, as apko finds it (see the module docstring)."""
    for package in installed:
        if package.package.name == "busybox":
            return package
    for package in installed:
        if any("busybox" in provided.name for provided in package.package.provides):
            return package
    return None


def applet_links(tree: FileTree, package: InstalledPackage) -> List[str]:
    """The links to make for ``package``: its shipped manifest, else the built-in list."""
    manifest = f"{PATHS_DIR}/{package.package.name}"
    node = tree.stat(manifest) if tree.exists(manifest) else None
    if node is not None and node.kind == FILE:
        return tree.read_bytes(manifest).decode("utf-8", "surrogateescape").split("\n")
    if not _VERSION.match(package.package.version):
        raise BuildError(
            f"{package.label} installs {BUSYBOX} but ships no /{manifest}, and its version is not "
            "of the form 1.2.3-r4, which the built-in applet list needs: ship the manifest"
        )
    return list(DEFAULT_APPLET_LINKS)


def install_busybox_links(tree: FileTree, installed: Sequence[InstalledPackage]) -> List[str]:
    """Make the applet symlinks (see the module docstring); returns the links made."""
    if not tree.exists(BUSYBOX):
        return []
    package = busybox_package(installed)
    if package is None:
        raise BuildError(
            f"the image has {BUSYBOX} but no installed package is or provides busybox, so apkoci "
            "cannot tell which applets to link: install it from a package named busybox"
        )
    made = []
    for link in applet_links(tree, package):
        link = link.strip()
        if not link or link == BUSYBOX:
            continue
        try:
            if tree.exists(link, follow_symlinks=False):
                node = tree.node(link, follow_symlinks=False)
                if node.kind in (SYMLINK, FILE):
                    continue
                raise BuildError(f"cannot link the busybox applet {link}: a {node.kind} is there")
            tree.mkdir(posixpath.dirname(link), mode=0o755)
            tree.symlink(link, BUSYBOX)
        except FileTreeError as error:
            raise BuildError(f"cannot link the busybox applet {link}: {error}") from None
        made.append(link)
    return made
