"""The configuration's ``paths``: folders, empty files, links and permissions, in the image.

Each entry is applied in order, the way apko's ``mutatePaths`` does (``pkg/build/paths.go``):

- ``directory``: ``mkdir -p`` with the entry's permissions; like Go's ``MkdirAll`` the missing
  parents get those permissions too, and folders that exist are kept;
- ``empty-file``: its missing parents are made 0755, then the file is created empty (a file that
  was there is emptied, through a symlink if one is there);
- ``hardlink``: ``path`` becomes another name of the file at ``source`` (what was at ``path`` is
  replaced); parents 0755;
- ``symlink``: ``path`` becomes a symlink to ``source``; something already at ``path`` is an error
  (apko's ``PathMutationFileConflictError``); parents 0755;
- ``permissions``: nothing is made.

Then, for every type, ``chmod permissions`` and ``chown uid:gid`` on ``path`` and, with
``recursive``, on everything below it (symlinks keep their own mode). An unset ``permissions`` is
mode 0 and unset ids are root, as in apko. One difference: a ``symlink`` entry's owners go on the
link itself and its target's mode is left alone, where apko's ``chmod`` would follow the new link
(and fail on a dangling one).
"""

from __future__ import annotations

import posixpath
from typing import Callable, Dict, Sequence

from apkoci.build.errors import BuildError
from apkoci.config import PathMutation
from apkoci.install.filetree import FileTree, FileTreeError, normalize_path
from apkoci.oci.layer import SYMLINK


def _make_directories(tree: FileTree, mutation: PathMutation) -> None:
    parts = normalize_path(mutation.path).split("/")
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        if not tree.exists(path):
            tree.mkdir(path, mode=mutation.permissions, parents=False)
        elif not tree.is_dir(path):
            raise FileTreeError(f"{path} is a {tree.node(path).kind}, not a folder")


def _make_parent(tree: FileTree, path: str) -> None:
    parent = posixpath.dirname(normalize_path(path))
    if parent:
        tree.mkdir(parent, mode=0o755)


def _make_empty_file(tree: FileTree, mutation: PathMutation) -> None:
    _make_parent(tree, mutation.path)
    tree.write_file(tree.resolve(mutation.path), b"", mode=mutation.permissions)


def _make_hardlink(tree: FileTree, mutation: PathMutation) -> None:
    _make_parent(tree, mutation.path)
    if tree.exists(mutation.path, follow_symlinks=False):
        tree.remove(mutation.path)
    tree.hardlink(mutation.path, mutation.source)


def _make_symlink(tree: FileTree, mutation: PathMutation) -> None:
    _make_parent(tree, mutation.path)
    if tree.exists(mutation.path, follow_symlinks=False):
        raise FileTreeError(
            f"{mutation.path} already exists; remove the entry, or make the path with another type"
        )
    tree.symlink(mutation.path, mutation.source, uid=mutation.uid, gid=mutation.gid)


def _nothing(tree: FileTree, mutation: PathMutation) -> None:
    """``permissions`` makes nothing: it changes what is there."""


_MAKERS: Dict[str, Callable[[FileTree, PathMutation], None]] = {
    "directory": _make_directories,
    "empty-file": _make_empty_file,
    "hardlink": _make_hardlink,
    "symlink": _make_symlink,
    "permissions": _nothing,
}


def _set_permissions(tree: FileTree, mutation: PathMutation) -> None:
    node = tree.stat(mutation.path, follow_symlinks=False)
    if mutation.type == "symlink" and node is not None and node.kind == SYMLINK:
        return  # made with its owners; a symlink has no mode of its own
    tree.chmod(mutation.path, mutation.permissions, recursive=mutation.recursive)
    tree.chown(mutation.path, mutation.uid, mutation.gid, recursive=mutation.recursive)


def apply_path_mutations(tree: FileTree, paths: Sequence[PathMutation]) -> None:
    """Apply the ``paths`` entries to the tree, in order (see the module docstring)."""
    for number, mutation in enumerate(paths):
        maker = _MAKERS.get(mutation.type)
        if maker is None:
            raise BuildError(
                f"paths[{number}]: unknown type {mutation.type!r}; use one of {', '.join(_MAKERS)}"
            )
        try:
            maker(tree, mutation)
            _set_permissions(tree, mutation)
        except FileTreeError as error:
            raise BuildError(
                f"paths[{number}] ({mutation.type} {mutation.path}): {error}"
            ) from None
