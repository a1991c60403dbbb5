"""End-to-end tests of the `apkoci` command line on the real Alpine index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

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
    return [
        "resolve",
        "--repository",
        str(repository),
        "--keyring",
        str(keys),
        "--arch",
        "x86_64",
    ] + list(world)


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


# --- The writer's commands, show-config and show-packages, on a repository made with the CLI ------


@pytest.fixture
def cli_repository(tmp_path: Path) -> Path:
    """``<tmp>/repo/x86_64`` with ``base`` and ``app`` (which depends on base), made and signed
    with ``apkoci package`` and ``apkoci index``; the key pair is ``<tmp>/keys/test.rsa[.pub]``."""
    from apkoci.apk.writer import generate_signing_key

    keys = tmp_path / "keys"
    keys.mkdir()
    private_key, _ = generate_signing_key().write(keys, "test")
    folder = tmp_path / "repo" / "x86_64"
    folder.mkdir(parents=True)
    packages: List[Tuple[str, List[str]]] = [
        ("base", []),
        ("app", ["--depends", "base", "--provides", "cmd:app"]),
    ]
    for name, extra in packages:
        files = tmp_path / "files" / name / "usr" / "share" / name
        files.mkdir(parents=True)
        (files / "README").write_text(f"{name}\n")
        args = [
            "package",
            str(tmp_path / "files" / name),
            "--name",
            name,
            "--version",
            "1.0-r0",
            "--arch",
            "x86_64",
            "--license",
            "MIT",
            *extra,
            "--signing-key",
            str(private_key),
            "--source-date-epoch",
            "1700000000",
            "-o",
            str(folder / f"{name}-1.0-r0.apk"),
        ]
        assert main(args) == 0
    apks = sorted(str(path) for path in folder.glob("*.apk"))
    index = folder / "APKINDEX.tar.gz"
    assert main(["index", *apks, "-o", str(index), "--signing-key", str(private_key)]) == 0
    return tmp_path


def test_package_and_index_make_a_repository_apk_resolves(cli_repository: Path, capsys) -> None:
    capsys.readouterr()
    args = [
        "resolve",
        "--repository",
        str(cli_repository / "repo"),
        "--keyring",
        str(cli_repository / "keys" / "test.rsa.pub"),
        "--arch",
        "x86_64",
        "app",
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == ["base 1.0-r0", "app 1.0-r0"]


def test_package_refuses_bad_metadata(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert (
        main(
            [
                "package",
                str(tmp_path),
                "--name",
                "bad name",
                "--version",
                "1",
                "--arch",
                "x86_64",
                "-o",
                str(tmp_path / "x.apk"),
            ]
        )
        == 1
    )
    assert "not a valid apk package name" in capsys.readouterr().err


def _cli_config(root: Path) -> Path:
    config = root / "apko.yaml"
    config.write_text(
        "contents:\n"
        f"  keyring: [{root / 'keys' / 'test.rsa.pub'}]\n"
        f"  repositories: [{root / 'repo'}]\n"
        "  packages: [app]\n"
        "entrypoint:\n  command: /usr/bin/app\n"
        "archs: [x86_64]\n"
    )
    return config


def test_show_config_prints_what_loads_back(cli_repository: Path, capsys) -> None:
    from apkoci.config import load_configuration

    config = _cli_config(cli_repository)
    capsys.readouterr()
    assert main(["show-config", str(config)]) == 0
    printed = cli_repository / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    assert load_configuration(printed) == load_configuration(config)


def test_show_packages_in_apkos_formats(cli_repository: Path, capsys) -> None:
    config = _cli_config(cli_repository)
    capsys.readouterr()
    assert main(["show-packages", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["base 1.0-r0", "app 1.0-r0"]
    assert main(["show-packages", str(config), "--format", "packagelock-source"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        f"- app=1.0-r0 # {cli_repository / 'repo'}/x86_64/app-1.0-r0.apk"
    )
    assert main(["show-packages", str(config), "--arch", "aarch64"]) == 1
    assert "aarch64/APKINDEX.tar.gz" in capsys.readouterr().err
    assert main(["show-packages", str(config), "--format", "yaml"]) == 1
    assert "unknown format 'yaml'" in capsys.readouterr().err


def test_build_refuses_an_unknown_arch(cli_repository: Path, capsys) -> None:
    capsys.readouterr()
    out = cli_repository / "out"
    assert main(["build", str(_cli_config(cli_repository)), str(out), "--arch", "sparc"]) == 1
    assert "unknown architecture 'sparc'" in capsys.readouterr().err
    assert not out.exists()
