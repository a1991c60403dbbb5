from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from apkoci.build.accounts import apply_accounts, make_work_dir, resolve_owner
from apkoci.build.errors import BuildError
from apkoci.config import Accounts, Group, User
from apkoci.install.filetree import FileTree
from apkoci.oci.layer import DIR

PACKAGED_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin\n"
    "sshd:x:22:22:sshd:/dev/null:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/:/sbin/nologin\n"
)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        tree.mkdir("etc")
        tree.mkdir("root", mode=0o700)
        yield tree


def _text(tree: FileTree, path: str) -> str:
    return tree.read_bytes(path).decode()


def test_users_are_merged_into_the_packaged_passwd_with_apko_defaults(tree: FileTree) -> None:
    tree.write_file("etc/passwd", PACKAGED_PASSWD.encode(), mode=0o600, gid=42)
    accounts = Accounts(
        users=(
            User(username="app", uid=1000, homedir="/home/app"),
            User(username="lp", uid=4, gid=7, shell="/bin/false", homedir="/var/lib/lp"),
        )
    )
    users = apply_accounts(tree, accounts)
    assert [user.name for user in users] == ["root", "lp", "sshd", "nobody", "app"]
    passwd = _text(tree, "etc/passwd")
    assert passwd.splitlines()[1] == "lp:x:4:7:Account created by apko:/var/lib/lp:/bin/false"
    # gid unset: the uid, as apko does it; shell unset: /bin/sh.
    assert passwd.endswith("app:x:1000:1000:Account created by apko:/home/app:/bin/sh\n")
    node = tree.node("etc/passwd")
    assert (node.mode, node.gid) == (0o600, 42)  # the packaged file's mode and owners stay
    assert not tree.exists("etc/group")  # no groups configured: apko leaves /etc/group alone


def test_homes_are_made_for_every_user_without_one(tree: FileTree) -> None:
    tree.write_file("etc/passwd", PACKAGED_PASSWD.encode())
    apply_accounts(tree, Accounts(users=(User(username="app", uid=1000, homedir="/home/app"),)))
    home = tree.node("home/app")
    assert (home.kind, home.mode, home.uid, home.gid) == (DIR, 0o700, 1000, 1000)
    assert (tree.node("home").mode, tree.node("home").uid) == (0o755, 0)
    # A packaged user's missing home is made too (apko walks the whole file) ...
    spool = tree.node("var/spool/lpd")
    assert (spool.mode, spool.uid, spool.gid) == (0o700, 4, 7)
    assert tree.node("var/spool").mode == 0o755
    # ... but existing homes keep their metadata, and /dev/null is nobody's folder.
    assert (tree.node("root").mode, tree.node("root").uid) == (0o700, 0)
    assert not tree.exists("dev/null")


def test_a_home_that_is_a_file_is_an_error(tree: FileTree) -> None:
    tree.write_file("etc/passwd", b"")
    tree.write_file("etc/app", b"not a folder")
    with pytest.raises(BuildError, match=r"user 'app' has the home /etc/app, which is a file"):
        apply_accounts(tree, Accounts(users=(User(username="app", uid=1, homedir="/etc/app"),)))


def test_groups_and_a_missing_passwd_are_created(tree: FileTree) -> None:
    accounts = Accounts(
        groups=(Group(groupname="app", gid=1000, members=("app", "web")),),
        users=(User(username="app", uid=1000, homedir="/home/app"),),
    )
    apply_accounts(tree, accounts)
    assert _text(tree, "etc/group") == "app:x:1000:app,web\n"
    assert tree.node("etc/group").mode == 0o644
    assert _text(tree, "etc/passwd") == (
        "app:x:1000:1000:Account created by apko:/home/app:/bin/sh\n"
    )


def test_a_symlinked_passwd_is_written_through(tree: FileTree) -> None:
    tree.mkdir("usr/lib")
    tree.write_file("usr/lib/passwd", PACKAGED_PASSWD.encode())
    tree.symlink("etc/passwd", "../usr/lib/passwd")
    apply_accounts(tree, Accounts(users=(User(username="app", uid=7, homedir="/home/app"),)))
    assert tree.node("etc/passwd", follow_symlinks=False).kind == "symlink"
    assert _text(tree, "usr/lib/passwd").endswith(":/home/app:/bin/sh\n")


def test_resolve_owner(tree: FileTree) -> None:
    tree.write_file("etc/passwd", PACKAGED_PASSWD.encode())
    tree.write_file("etc/group", b"lp:x:7:\nwww:x:33:\n")
    assert resolve_owner(tree, "lp") == (4, 7)
    assert resolve_owner(tree, "65534") == (65534, 65534)
    assert resolve_owner(tree, "4242") == (4242, 0)
    assert resolve_owner(tree, "lp:www") == (4, 33)
    assert resolve_owner(tree, "lp:99") == (4, 99)
    with pytest.raises(BuildError, match=r"no user 'ghost' in /etc/passwd"):
        resolve_owner(tree, "ghost")
    with pytest.raises(BuildError, match=r"no group 'ghosts' in /etc/group"):
        resolve_owner(tree, "lp:ghosts")


def test_work_dir_is_owned_by_the_run_as_user(tree: FileTree) -> None:
    tree.write_file("etc/passwd", PACKAGED_PASSWD.encode())
    make_work_dir(tree, "/srv/app/", "lp")
    node = tree.node("srv/app")
    assert (node.mode, node.uid, node.gid) == (0o755, 4, 7)
    assert tree.node("srv").uid == 0
    make_work_dir(tree, "/root", "lp")  # an existing folder is left alone
    assert tree.node("root").uid == 0
    make_work_dir(tree, "/opt/x", "")  # no run-as: root
    assert tree.node("opt/x").uid == 0
    with pytest.raises(BuildError, match="work-dir /etc/passwd is a file"):
        make_work_dir(tree, "/etc/passwd", "")
