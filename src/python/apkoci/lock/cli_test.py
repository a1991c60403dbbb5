from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import pytest
from apkoci.lock.cli import add_fetch_parser, add_lock_parser, default_lock_path
from apkoci.lock.conftest import apko_lock_text
from apkoci.lock.lock_test import _without_extension
from apkoci.lock.lockfile import format_lock, read_lock


def _run(argv: Sequence[str]) -> int:
    # The lead wires these into apkoci.cli's parser; a parser of our own runs them the same way.
    parser = argparse.ArgumentParser(prog="apkoci")
    commands = parser.add_subparsers(dest="command", required=True)
    add_lock_parser(commands)
    add_fetch_parser(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


def test_default_lock_path_is_apkos():
    assert default_lock_path("images/apko.yaml") == "images/apko.lock.json"


def test_lock_then_fetch(apko_workdir: Path, apko_cli: Path, capsys: pytest.CaptureFixture):
    assert _run(["lock", "apko.yaml"]) == 0
    assert capsys.readouterr().out == "wrote apko.lock.json: 2 for x86_64, 2 for aarch64\n"
    lock = read_lock(apko_workdir / "apko.lock.json")
    assert format_lock(_without_extension(lock)) == apko_lock_text()

    assert _run(["lock", "apko.yaml", "-o", "arm.lock.json", "--arch", "arm64"]) == 0
    assert read_lock(apko_workdir / "arm.lock.json").architectures == ("aarch64",)
    capsys.readouterr()

    out = apko_workdir.parent / "packages-amd64"
    argv = ["fetch", "--lockfile", "apko.lock.json", "--arch", "amd64", "--output", str(out)]
    assert _run(argv) == 0
    assert capsys.readouterr().out == f"fetched 2 packages for amd64 into {out}\n"
    replayout = out / "replayout-1.0.0-r0.apk"
    assert (
        replayout.read_bytes() == (apko_cli / "packages/x86_64/replayout-1.0.0-r0.apk").read_bytes()
    )
