"""The step commands, run the way the Pants backend runs them, against ``apkoci build``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Sequence

import pytest
from apkoci.build.conftest import SMALL_IMAGE, TestRepository, run_cli, write_config
from apkoci.oci.testing_tools import require_tool, run_tool

TAG = "example.com/small:latest"


def _fetch(lock: Path, packages: Path, config: Path) -> int:
    """`apkoci fetch` of the lock's x86_64 packages into ``packages``."""
    argv = ["fetch", "--lockfile", str(lock), "--arch", "x86_64", "--output", str(packages)]
    return run_cli([*argv, "--base-dir", str(config.parent)])


def _steps(config: Path, lock: Path, work: Path, keys: Path, extra: Sequence[str] = ()) -> Dict:
    """split-config, fetch, layer and image for x86_64, each as its own command."""
    split, packages, layer, image = (work / name for name in ("split", "pkgs", "layer", "image"))
    assert run_cli(["split-config", str(config), "--output", str(split)]) == 0
    assert _fetch(lock, packages, config) == 0
    assert (
        run_cli(
            [
                "layer",
                "--filetree",
                str(split / "filetree.json"),
                "--lockfile",
                str(lock),
                "--arch",
                "x86_64",
                "--packages",
                str(packages),
                "--keyring-dir",
                str(keys),
                "--output",
                str(layer),
            ]
        )
        == 0
    )
    folders = ",".join([str(layer), *extra])
    assert (
        run_cli(
            [
                "image",
                "--image",
                str(split / "image.json"),
                "--arch",
                f"x86_64={folders}",
                "--output",
                str(image),
                "--tag",
                TAG,
            ]
        )
        == 0
    )
    return {
        "filetree": (split / "filetree.json").read_bytes(),
        "layer": json.loads((layer / "layer.json").read_text()),
        "image": json.loads((image / "image.json").read_text()),
    }


@pytest.fixture
def setup(tmp_path: Path, test_repository: TestRepository):
    config = write_config(tmp_path, test_repository, SMALL_IMAGE)
    lock = tmp_path / "apko.lock.json"
    assert run_cli(["lock", str(config), "-o", str(lock)]) == 0
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(test_repository.key, keys / test_repository.key.name)
    return config, lock, keys


def test_the_steps_compose_to_the_image_apkoci_build_makes(setup, tmp_path: Path) -> None:
    config, lock, keys = setup
    stepped = _steps(config, lock, tmp_path / "steps", keys)
    assert (
        run_cli(["build", str(config), str(tmp_path / "built"), TAG, "--lockfile", str(lock)]) == 0
    )
    built = json.loads((tmp_path / "built" / "image.json").read_text())
    assert stepped["image"]["index"] == built["index"]
    assert stepped["image"]["manifests"] == built["manifests"]
    assert stepped["layer"]["packages"][1]["name"] == "busybox"
    assert stepped["layer"]["os_release"]["ID"] == "apkocitest"


def test_an_entrypoint_edit_leaves_filetree_and_layer_alone(setup, tmp_path: Path) -> None:
    config, lock, keys = setup
    before = _steps(config, lock, tmp_path / "before", keys)
    config.write_text(config.read_text().replace("echo hello", "echo bye"))
    after = _steps(config, lock, tmp_path / "after", keys)
    assert after["filetree"] == before["filetree"]
    assert after["layer"] == before["layer"]
    assert after["image"]["index"] != before["image"]["index"]


def test_a_directory_layer_goes_on_top(setup, tmp_path: Path) -> None:
    config, lock, keys = setup
    app = tmp_path / "app"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "run").write_text("#!/bin/sh\necho app\n")
    (app / "bin" / "run").chmod(0o700)
    (app / "README").write_text("readme\n")
    (app / "README").chmod(0o600)
    os.symlink("bin/run", app / "start")
    zstd = tmp_path / "zstd-layer"
    assert (
        run_cli(
            [
                "dir-layer",
                "--dir",
                str(app),
                "--prefix",
                "/opt/app",
                "--output",
                str(zstd),
                "--compression",
                "zstd",
                "--source-date-epoch",
                "1600000000",
            ]
        )
        == 0
    )
    info = json.loads((zstd / "layer.json").read_text())
    assert (info["file"], info["created"], info["arch"], info["packages"]) == (
        "layer.tar.zst",
        1600000000,
        None,
        [],
    )
    assert info["mediaType"].endswith("+zstd")
    extra = tmp_path / "app-layer"  # umoci reads gzip layers only
    assert (
        run_cli(["dir-layer", "--dir", str(app), "--prefix", "/opt/app", "--output", str(extra)])
        == 0
    )
    info = json.loads((extra / "layer.json").read_text())
    assert (info["file"], info["created"]) == ("layer.tar.gz", None)
    result = _steps(config, lock, tmp_path / "steps", keys, [str(extra)])
    manifest = result["image"]["manifests"]["x86_64"]
    assert manifest["layers"] == [result["layer"]["digest"], info["digest"]]
    bundle = tmp_path / "bundle"
    layout = tmp_path / "steps" / "image" / "oci"
    run_tool([require_tool("umoci"), "unpack", "--image", f"{layout}:{TAG}-amd64", str(bundle)])
    opt = bundle / "rootfs" / "opt" / "app"
    assert (opt / "bin" / "run").stat().st_mode & 0o777 == 0o755  # the umask no longer matters
    assert (opt / "README").stat().st_mode & 0o777 == 0o644
    assert os.readlink(opt / "start") == "bin/run"
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()  # the package layer is below


def test_layer_step_errors(setup, tmp_path: Path, capsys) -> None:
    config, lock, keys = setup
    split = tmp_path / "split"
    assert run_cli(["split-config", str(config), "--output", str(split)]) == 0
    packages = tmp_path / "pkgs"
    packages.mkdir()

    def layer_args(arch: str = "x86_64") -> List[str]:
        return [
            "layer",
            "--filetree",
            str(split / "filetree.json"),
            "--lockfile",
            str(lock),
            "--arch",
            arch,
            "--packages",
            str(packages),
            "--keyring-dir",
            str(keys),
            "--output",
            str(tmp_path / f"layer-{arch}"),
        ]

    args = layer_args()
    capsys.readouterr()
    assert run_cli(args) == 1
    assert "baselayout-1.0-r0 (x86_64) is in the lock but" in capsys.readouterr().err
    assert _fetch(lock, packages, config) == 0
    with open(packages / "busybox-1.35.0-r0.apk", "ab") as apk:
        apk.write(b"tampered")
    assert run_cli(args) == 1
    assert "the file is not the package that was locked" in capsys.readouterr().err
    assert run_cli(layer_args("aarch64")) == 1
    assert "the lock has nothing for aarch64" in capsys.readouterr().err
    (packages / "busybox-1.35.0-r0.apk").unlink()
    assert _fetch(lock, packages, config) == 0
    assert run_cli(args) == 0
    (keys / "test.rsa.pub").unlink()
    assert run_cli(args) == 1
    assert "test.rsa.pub' of contents.keyring should be" in capsys.readouterr().err


def test_image_step_refuses_a_changed_layer(setup, tmp_path: Path, capsys) -> None:
    config, lock, keys = setup
    result = _steps(config, lock, tmp_path / "steps", keys)
    layer = tmp_path / "steps" / "layer" / "layer.tar.gz"
    data = layer.read_bytes()
    layer.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    capsys.readouterr()
    assert (
        run_cli(
            [
                "image",
                "--image",
                str(tmp_path / "steps" / "split" / "image.json"),
                "--arch",
                f"x86_64={layer.parent}",
                "--output",
                str(tmp_path / "again"),
            ]
        )
        == 1
    )
    assert "the layer changed after it was built" in capsys.readouterr().err
    assert result["image"]["tags"] == [TAG]
