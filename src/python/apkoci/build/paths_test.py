from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.paths import apply_path_mutations
from apkoci.config import PathMutation
from apkoci.install.filetree import FileTree
from apkoci.oci.layer import DIR, FILE, SYMLINK


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        tree.mkdir("etc")
        tree.write_file("etc/motd", b"hello\n", mode=0o644)
        yield tree


def _mode_and_owner(tree: FileTree, path: str, follow: bool = True):
    node = tree.node(path, follow_symlinks=follow)
    return node.kind, node.mode, node.uid, node.gid


def test_directory_is_made_with_its_parents_and_recursive_owners(tree: FileTree) -> None:
    tree.mkdir("srv/data/old", mode=0o700)
    tree.write_file("srv/data/old/file", b"x", mode=0o600)
    tree.symlink("srv/data/link", "old/file")
    apply_path_mutations(
        tree,
        [
            PathMutation(path="/var/lib/app", type="directory", permissions=0o750, uid=10, gid=20),
            PathMutation(
                path="/srv/data", type="directory", permissions=0o770, uid=5, gid=6, recursive=True
            ),
        ],
    )
    assert _mode_and_owner(tree, "var/lib/app") == (DIR, 0o750, 10, 20)
    # Go's MkdirAll gives missing parents the permissions too, owned by root.
    assert _mode_and_owner(tree, "var/lib") == (DIR, 0o750, 0, 0)
    assert _mode_and_owner(tree, "srv/data/old/file") == (FILE, 0o770, 5, 6)
    link = tree.node("srv/data/link", follow_symlinks=False)
    assert (link.kind, link.mode, link.uid) == (SYMLINK, 0o777, 5)


def test_empty_file_hardlink_and_symlink(tree: FileTree) -> None:
    tree.write_file("etc/issue", b"old content")
    apply_path_mutations(
        tree,
        [
            PathMutation(path="/etc/issue", type="empty-file", permissions=0o600),
            PathMutation(path="/run/app/pid", type="empty-file", permissions=0o644, uid=3, gid=3),
            PathMutation(path="/etc/motd2", type="hardlink", source="/etc/motd", permissions=0o640),
            PathMutation(path="/usr/bin/motd", type="symlink", source="/etc/motd", uid=9, gid=9),
        ],
    )
    assert tree.read_bytes("etc/issue") == b"" and tree.node("etc/issue").mode == 0o600
    assert _mode_and_owner(tree, "run/app/pid") == (FILE, 0o644, 3, 3)
    assert tree.node("run/app").mode == 0o755
    assert tree.node("etc/motd2").links == 2 and tree.node("etc/motd").mode == 0o640
    link = tree.node("usr/bin/motd", follow_symlinks=False)
    assert (link.kind, link.target, link.uid, link.gid) == (SYMLINK, "/etc/motd", 9, 9)
    assert tree.node("etc/motd").uid == 0  # the symlink's owners stay on the link


def test_permissions_change_what_is_there(tree: FileTree) -> None:
    apply_path_mutations(
        tree, [PathMutation(path="/etc/motd", type="permissions", permissions=0o4755, uid=1)]
    )
    assert _mode_and_owner(tree, "etc/motd") == (FILE, 0o4755, 1, 0)


def test_errors_name_the_entry(tree: FileTree) -> None:
    with pytest.raises(BuildError, match=r"paths\[1\] \(symlink /etc/motd\): /etc/motd already"):
        apply_path_mutations(
            tree,
            [
                PathMutation(path="/a", type="directory", permissions=0o755),
                PathMutation(path="/etc/motd", type="symlink", source="/x"),
            ],
        )
    with pytest.raises(BuildError, match=r"paths\[0\] \(permissions /nope\): /nope does not exist"):
        apply_path_mutations(tree, [PathMutation(path="/nope", type="permissions")])
    with pytest.raises(BuildError, match=r"paths\[0\] \(hardlink /l\): .*missing does not exist"):
        apply_path_mutations(tree, [PathMutation(path="/l", type="hardlink", source="/missing")])
