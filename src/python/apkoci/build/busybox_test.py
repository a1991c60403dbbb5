from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.index import Package
from apkoci.build.busybox import install_busybox_links
from apkoci.build.busybox_applets import DEFAULT_APPLET_LINKS
from apkoci.build.errors import BuildError
from apkoci.install.database import InstalledPackage
from apkoci.install.filetree import FileTree
from apkoci.oci.layer import FILE, SYMLINK

BUSYBOX = InstalledPackage(Package(name="busybox", version="1.36.1-r2"))


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        tree.mkdir("bin")
        tree.write_file("bin/busybox", b"\x7fELF...", mode=0o755)
        yield tree


def test_the_shipped_manifest_is_linked(tree: FileTree) -> None:
    tree.mkdir("etc/busybox-paths.d")
    tree.write_file("etc/busybox-paths.d/busybox", b"/bin/busybox\n/bin/sh\n\n/usr/bin/env\n")
    assert install_busybox_links(tree, [BUSYBOX]) == ["/bin/sh", "/usr/bin/env"]
    link = tree.node("usr/bin/env", follow_symlinks=False)
    assert (link.kind, link.target) == (SYMLINK, "/bin/busybox")
    assert tree.node("usr/bin").mode == 0o755
    assert tree.node("bin/busybox", follow_symlinks=False).kind == FILE


def test_without_a_manifest_the_built_in_list_is_linked(tree: FileTree) -> None:
    tree.mkdir("usr/bin")
    tree.write_file("usr/bin/env", b"#!real env")  # a file that is there stays
    tree.symlink("bin/sh", "/bin/bash")  # and so does a symlink
    made = install_busybox_links(tree, [BUSYBOX])
    assert "/bin/busybox" not in made and "/usr/bin/env" not in made and "/bin/sh" not in made
    assert len(made) == len(DEFAULT_APPLET_LINKS) - 3
    assert tree.node("sbin/ip", follow_symlinks=False).target == "/bin/busybox"
    assert tree.read_bytes("usr/bin/env") == b"#!real env"
    assert tree.node("bin/sh", follow_symlinks=False).target == "/bin/bash"


def test_a_provider_of_busybox_counts_and_its_manifest_is_by_its_name(tree: FileTree) -> None:
    provider = InstalledPackage(
        Package(
            name="busybox-full", version="1.36.1-r0", provides=parse_dependencies("busybox=1.36.1")
        )
    )
    tree.mkdir("etc/busybox-paths.d")
    tree.write_file("etc/busybox-paths.d/busybox-full", b"/bin/ls\n")
    assert install_busybox_links(tree, [provider]) == ["/bin/ls"]


def test_nothing_without_busybox_and_errors(tree: FileTree, tmp_path: Path) -> None:
    with FileTree(tmp_path) as empty:
        assert install_busybox_links(empty, [BUSYBOX]) == []
    with pytest.raises(BuildError, match="no installed package is or provides busybox"):
        install_busybox_links(tree, [InstalledPackage(Package(name="musl", version="1.2-r0"))])
    odd = InstalledPackage(Package(name="busybox", version="1.36_git2023-r0"))
    with pytest.raises(BuildError, match="ships no /etc/busybox-paths.d/busybox"):
        install_busybox_links(tree, [odd])
    tree.mkdir("bin/ls")
    with pytest.raises(BuildError, match="cannot link the busybox applet /bin/ls: a dir is there"):
        install_busybox_links(tree, [BUSYBOX])
