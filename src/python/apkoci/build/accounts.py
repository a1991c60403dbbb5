"""The configuration's ``accounts`` in the image: ``/etc/passwd``, ``/etc/group``, home folders.

What apko does after installing the packages (``pkg/build/accounts.go``), on the file tree:

- ``/etc/group`` (only when the configuration has groups): the packages' file, or a new one, with
  each configured group merged in (password ``x``);
- ``/etc/passwd`` (always; created empty when no package ships it): each configured user merged in
  as apko writes them, ``name:x:uid:gid:Account created by apko:home:shell``, where an unset gid is
  the uid and an unset shell ``/bin/sh``;
- for *every* user of the resulting ``/etc/passwd`` (the packages' too) whose home is not
  ``/dev/null`` and does not exist yet: the home folder, mode 0700, owned by the user, its missing
  parents 0755 root. A home that exists is left as it is (``/``, ``/bin``...); one that exists but
  is not a folder is an error.

Merging replaces an entry of the same name (see :mod:`apkoci.passwd`). Files keep the mode and
owners they had; new ones are 0644 root. A ``etc/passwd`` that is a symlink is written through.

apkoci also makes the ``work-dir`` (:func:`make_work_dir`), which apko leaves to the container
runtime (which creates it root-owned): owned by the ``run-as`` user, so that user can write in the
folder it starts in.
"""

from __future__ import annotations

import posixpath
from typing import Callable, List, Tuple, TypeVar

from apkoci.build.errors import BuildError
from apkoci.config import Accounts, Group, User
from apkoci.install.filetree import FileTree, FileTreeError
from apkoci.oci.layer import DIR, FILE
from apkoci.passwd import (
    GROUP_PATH,
    NO_HOME,
    PASSWD_PATH,
    GroupEntry,
    UserEntry,
    find_user,
    format_entries,
    merge_entries,
    parse_group,
    parse_passwd,
)
from apkoci.passwd.passwd import DEFAULT_SHELL, DEFAULT_USER_INFO

HOME_MODE = 0o700
WORK_DIR_MODE = 0o755

T = TypeVar("T", UserEntry, GroupEntry)


def user_entry(user: User) -> UserEntry:
    """The ``/etc/passwd`` line apko writes for a configured user."""
    return UserEntry(
        name=user.username,
        uid=user.uid,
        gid=user.uid if user.gid is None else user.gid,
        info=DEFAULT_USER_INFO,
        home=user.homedir or f"/home/{user.username}",
        shell=user.shell or DEFAULT_SHELL,
    )


def group_entry(group: Group) -> GroupEntry:
    """The ``/etc/group`` line apko writes for a configured group."""
    return GroupEntry(name=group.groupname, gid=group.gid, members=tuple(group.members))


def _read(tree: FileTree, path: str, parse: Callable[[str, str], List[T]]) -> List[T]:
    node = tree.stat(path)
    if node is None:
        return []
    if node.kind != FILE:
        raise BuildError(f"/{path} is a {node.kind} in the image, not a file: remove it")
    return parse(tree.read_bytes(path).decode("utf-8", "surrogateescape"), f"/{path}")


def _write(tree: FileTree, path: str, text: str) -> None:
    """Write ``path`` through a symlink, keeping the mode and owners of a file that is there."""
    physical = tree.resolve(path)
    node = tree.stat(physical)
    mode, uid, gid = (node.mode, node.uid, node.gid) if node else (0o644, 0, 0)
    tree.mkdir(posixpath.dirname(physical))
    tree.write_file(physical, text.encode("utf-8", "surrogateescape"), mode=mode, uid=uid, gid=gid)


def read_users(tree: FileTree) -> List[UserEntry]:
    """The entries of the tree's ``/etc/passwd`` (none when it has none)."""
    return _read(tree, PASSWD_PATH, parse_passwd)


def read_groups(tree: FileTree) -> List[GroupEntry]:
    """The entries of the tree's ``/etc/group`` (none when it has none)."""
    return _read(tree, GROUP_PATH, parse_group)


def apply_accounts(tree: FileTree, accounts: Accounts) -> List[UserEntry]:
    """Write the configured accounts into the tree (see the module docstring); returns the users
    of the resulting ``/etc/passwd``."""
    if accounts.groups:
        groups = merge_entries(read_groups(tree), [group_entry(g) for g in accounts.groups])
        _write(tree, GROUP_PATH, format_entries(groups))
    users = merge_entries(read_users(tree), [user_entry(u) for u in accounts.users])
    for user in users:
        _make_home(tree, user)
    _write(tree, PASSWD_PATH, format_entries(users))
    return users


def _make_home(tree: FileTree, user: UserEntry) -> None:
    if user.home in ("", NO_HOME):
        return
    try:
        node = tree.stat(user.home)
        if node is not None:
            if node.kind != DIR:
                raise BuildError(
                    f"user {user.name!r} has the home {user.home}, which is a {node.kind} in the "
                    "image, not a folder: give the user another homedir"
                )
            return  # apko leaves existing homes alone: some users live in /, /bin...
        tree.mkdir(posixpath.dirname(user.home) or "/", mode=0o755)
        tree.mkdir(user.home, mode=HOME_MODE, uid=user.uid, gid=user.gid, parents=False)
    except FileTreeError as error:
        raise BuildError(
            f"cannot make the home {user.home} of user {user.name!r}: {error}"
        ) from None


def resolve_owner(tree: FileTree, run_as: str) -> Tuple[int, int]:
    """The ``(uid, gid)`` a container ``USER`` of ``run_as`` runs as in this tree.

    ``run_as`` is ``user`` or ``user:group``, each a name or a number. A user name must be in
    ``/etc/passwd`` (its gid is the user's); a number not in it runs with gid 0, as runtimes do.
    A group name must be in ``/etc/group``.
    """
    user_part, _, group_part = run_as.partition(":")
    entry = find_user(read_users(tree), user_part)
    if entry is not None:
        uid, gid = entry.uid, entry.gid
    elif user_part.isdigit():
        uid, gid = int(user_part), 0
    else:
        raise BuildError(
            f"accounts.run-as is {run_as!r}, but the image has no user {user_part!r} in "
            "/etc/passwd: add it to accounts.users, or give a numeric uid"
        )
    if group_part:
        gid = _group_id(tree, group_part, run_as)
    return uid, gid


def _group_id(tree: FileTree, group: str, run_as: str) -> int:
    for entry in read_groups(tree):
        if entry.name == group:
            return entry.gid
    if group.isdigit():
        return int(group)
    raise BuildError(
        f"accounts.run-as is {run_as!r}, but the image has no group {group!r} in /etc/group: "
        "add it to accounts.groups, or give a numeric gid"
    )


def make_work_dir(tree: FileTree, work_dir: str, run_as: str) -> None:
    """Make ``work_dir`` (when set and missing) a 0755 folder owned by the ``run_as`` user (root
    without one); its missing parents are 0755 root. An existing path is left as it is."""
    if not work_dir:
        return
    try:
        if tree.exists(work_dir):
            if not tree.is_dir(work_dir):
                raise BuildError(
                    f"work-dir {work_dir} is a {tree.node(work_dir).kind} in the image, not a "
                    "folder: choose another work-dir"
                )
            return
        uid, gid = resolve_owner(tree, run_as) if run_as else (0, 0)
        tree.mkdir(posixpath.dirname(work_dir.rstrip("/")) or "/", mode=0o755)
        tree.mkdir(work_dir, mode=WORK_DIR_MODE, uid=uid, gid=gid, parents=False)
    except FileTreeError as error:
        raise BuildError(f"cannot make work-dir {work_dir}: {error}") from None
