from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from apkoci.apk.apkfile import read_apk
from apkoci.build.conftest import TestRepository, write_config
from apkoci.build.errors import BuildError
from apkoci.build.filetree_steps import populate_tree, read_os_release
from apkoci.build.keys import read_keyring_dir
from apkoci.build.layers import find_build_arch
from apkoci.build.split import FILETREE_FILE, load_part, write_split
from apkoci.config import load_configuration
from apkoci.install.filetree import FileTree
from apkoci.install.install import PackageToInstall
from apkoci.oci.layer import CHAR, SYMLINK


def _runtime_key(repository: TestRepository) -> str:
    return textwrap.indent(repository.key.read_text(), " " * 14)


def _populate(
    tmp_path: Path, repository: TestRepository, body: str, packages=("baselayout", "busybox")
):
    config = load_configuration(write_config(tmp_path, repository, body))
    apks = [
        PackageToInstall(read_apk(next((repository.path / "x86_64").glob(f"{name}-[0-9]*.apk"))))
        for name in packages
    ]
    keys = read_keyring_dir(config.contents.keyring, repository.key.parent)
    tree = FileTree(tmp_path)
    return config, tree, populate_tree(tree, config, find_build_arch("x86_64"), apks, keys)


def test_the_tree_holds_apkos_steps_in_order(
    tmp_path: Path, test_repository: TestRepository
) -> None:
    body = f"""\
      runtime_repositories:
        - https://example.com/runtime
        - https://example.com/b
      build_repositories:
        - {test_repository.path}
      packages:
        - busybox
        - baselayout
        - busybox
      runtime_keyring:
        - name: runtime.rsa.pub
          content: |
{_runtime_key(test_repository)}
    entrypoint:
      type: service-bundle
      services:
        web: /bin/httpd -f
    paths:
      - path: /etc/motd
        type: permissions
        permissions: 0o600
    archs: [x86_64]
    """
    config, tree, installed = _populate(tmp_path, test_repository, body)
    with tree:
        assert [package.package.name for package in installed] == ["baselayout", "busybox"]
        # Sorted, once each; s6 is what a service bundle adds to the packages.
        assert tree.read_bytes("etc/apk/world") == b"baselayout\nbusybox\ns6\n"
        assert tree.read_bytes("etc/apk/repositories").decode().splitlines() == [
            str(test_repository.path),
            "https://example.com/b",
            "https://example.com/runtime",
        ]
        assert sorted(
            path.rpartition("/")[2] for path in tree.paths() if path.startswith("etc/apk/keys/")
        ) == [
            "runtime.rsa.pub",
            "test.rsa.pub",
        ]
        assert tree.node("dev/null").kind == CHAR
        record = tree.node("etc/apko.json")
        assert record.mode == 0o444
        write_split(config, tmp_path / "split")
        assert tree.read_bytes("etc/apko.json") == (tmp_path / "split" / FILETREE_FILE).read_bytes()
        assert tree.node("etc/motd").mode == 0o600
        assert tree.read_bytes("sv/web/run") == b"#!/bin/execlineb\n/bin/httpd -f\n"
        assert tree.node("bin/sh", follow_symlinks=False).kind == SYMLINK
        assert read_os_release(tree)["ID"] == "apkocitest"
        assert load_part(tmp_path / "split" / FILETREE_FILE).contents == config.contents


def test_a_runtime_key_may_not_replace_a_key(
    tmp_path: Path, test_repository: TestRepository
) -> None:
    body = f"""\
      packages: [baselayout]
      runtime_keyring:
        - name: test.rsa.pub
          content: |
{_runtime_key(test_repository)}
    archs: [x86_64]
    """
    with pytest.raises(BuildError, match="runtime_keyring entry 'test.rsa.pub' collides"):
        _populate(tmp_path, test_repository, body, packages=("baselayout",))
