from __future__ import annotations

import json
import textwrap
from pathlib import Path

from apkoci.build.split import filetree_data, image_data, load_part, write_split
from apkoci.config import load_configuration

CONFIG = """\
contents:
  repositories:
    - https://packages.wolfi.dev/os
  keyring:
    - https://packages.wolfi.dev/os/wolfi-signing.rsa.pub
  packages:
    - wolfi-base
entrypoint:
  command: /bin/sh -l
cmd: -c "echo hi"
accounts:
  run-as: nonroot
  users:
    - username: nonroot
      uid: 65532
paths:
  - path: /app
    type: directory
    permissions: 0o755
environment:
  LANG: C.UTF-8
annotations:
  org.opencontainers.image.title: base
work-dir: /app
vcs-url: https://example.com/repo@abc
volumes:
  - /data
archs:
  - x86_64
"""


def _config(tmp_path: Path, text: str, name: str = "apko.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_configuration(path)


def test_the_parts_hold_their_keys_and_load_back(tmp_path: Path) -> None:
    config = _config(tmp_path, CONFIG)
    assert sorted(filetree_data(config)) == ["accounts", "archs", "contents", "paths", "work-dir"]
    assert sorted(image_data(config)) == [
        "accounts",
        "annotations",
        "cmd",
        "entrypoint",
        "environment",
        "vcs-url",
        "volumes",
        "work-dir",
    ]
    assert image_data(config)["accounts"] == {"run-as": "nonroot"}
    filetree, image = write_split(config, tmp_path / "split")
    assert filetree.read_bytes().endswith(b"}\n") and b" " not in filetree.read_bytes()[:20]
    assert json.loads(filetree.read_bytes()) == filetree_data(config)
    tree_part, image_part = load_part(filetree), load_part(image)
    assert (tree_part.contents, tree_part.accounts, tree_part.paths) == (
        config.contents,
        config.accounts,
        config.paths,
    )
    assert (tree_part.archs, tree_part.work_dir) == (config.archs, "/app")
    assert (image_part.entrypoint, image_part.cmd, image_part.environment) == (
        config.entrypoint,
        config.cmd,
        config.environment,
    )
    assert (image_part.vcs_url, image_part.volumes, image_part.accounts.run_as) == (
        config.vcs_url,
        config.volumes,
        "nonroot",
    )


def test_an_image_only_edit_leaves_filetree_json_as_it_is(tmp_path: Path) -> None:
    first = write_split(_config(tmp_path, CONFIG), tmp_path / "a")
    edited = CONFIG.replace("/bin/sh -l", "/usr/bin/app").replace("C.UTF-8", "en_US.UTF-8")
    second = write_split(_config(tmp_path, edited, "edited.yaml"), tmp_path / "b")
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() != second[1].read_bytes()


def test_a_service_bundle_puts_its_services_in_the_file_tree(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        contents:
          packages: [busybox]
        entrypoint:
          type: service-bundle
          services:
            web: /usr/bin/web
        """,
    )
    data = filetree_data(config)
    assert data["entrypoint"]["services"] == {"web": "/usr/bin/web"}
    filetree, _ = write_split(config, tmp_path / "split")
    assert load_part(filetree).entrypoint.services == (("web", "/usr/bin/web"),)
