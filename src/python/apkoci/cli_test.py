"""End-to-end tests of the `apkoci` command line on the real Alpine index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apkoci.cli import main
from apkoci.testing import shared_testdata


@pytest.fixture
def alpine_repository(tmp_path: Path) -> Path:
    """A repository laid over the real v3.16 index: `<repository>/x86_64/APKINDEX.tar.gz`."""
    index = shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")
    (tmp_path / "x86_64").mkdir()
    (tmp_path / "x86_64" / "APKINDEX.tar.gz").symlink_to(index)
    return tmp_path


def resolve_args(repository: Path, *world: str) -> list:
    keys = shared_testdata("alpine", "keys")
    return ["resolve", "--repository", str(repository), "--keyring", str(keys), "--arch", "x86_64"] + list(
        world
    )


def test_resolve_prints_install_order(alpine_repository: Path, capsys) -> None:
    assert main(resolve_args(alpine_repository, "busybox")) == 0
    assert capsys.readouterr().out.splitlines() == ["musl 1.2.3-r2", "busybox 1.35.0-r17"]


def test_resolve_json(alpine_repository: Path, capsys) -> None:
    assert main(resolve_args(alpine_repository, "--json", "busybox")) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in entries] == ["musl", "busybox"]
    busybox = entries[1]
    assert busybox["version"] == "1.35.0-r17"
    assert busybox["arch"] == "x86_64"
    assert busybox["repository"] == str(alpine_repository)
    assert busybox["checksum"].startswith("Q1")
    assert busybox["size"] > 0


def test_resolve_file_url_and_tagged_repository(alpine_repository: Path, capsys) -> None:
    args = resolve_args(alpine_repository, "busybox@edge")
    args[2] = f"@edge file://{alpine_repository}"
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == ["musl 1.2.3-r2", "busybox 1.35.0-r17"]


def test_unsatisfiable_world_exits_1_with_apk_style_error(alpine_repository: Path, capsys) -> None:
    assert main(resolve_args(alpine_repository, "busybox", "no-such-package-here")) == 1
    error = capsys.readouterr().err
    assert "unable to select packages" in error
    assert "no-such-package-here (no such package)" in error
    assert "required by: world[no-such-package-here]" in error


def test_wrong_keyring_is_refused_unless_untrusted(alpine_repository: Path, capsys) -> None:
    wrong_key = shared_testdata("apko-cli", "melange.rsa.pub")
    args = resolve_args(alpine_repository, "busybox")
    args[4] = str(wrong_key)
    assert main(args) == 1
    error = capsys.readouterr().err
    assert "APKINDEX.tar.gz" in error
    assert "melange.rsa.pub" in error
    assert main(args[:1] + ["--allow-untrusted"] + args[1:]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "busybox 1.35.0-r17"
