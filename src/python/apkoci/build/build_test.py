"""``apkoci build`` end to end, proved with the tools people use on images."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import List

import apkoci
import pytest
from apkoci.build.conftest import (
    BUSYBOX_TIME,
    HELLO_TIME,
    SMALL_IMAGE,
    TestRepository,
    digests_of,
    run_cli,
    write_config,
)
from apkoci.oci.image import rfc3339_utc
from apkoci.oci.testing_tools import is_root, require_tool, run_tool
from apkoci.testing import shared_testdata

TAG = "example.com/small:latest"

# `python -m apkoci` without needing apkoci/__main__.py (which a test sandbox may not hold).
_RUN_CLI = "import sys; from apkoci.cli import main; sys.exit(main(sys.argv[1:]))"

TWO_ARCHS = """\
  packages:
    - hello
accounts:
  run-as: "65534"
entrypoint:
  command: /bin/true
archs:
  - x86_64
  - aarch64
"""


def _build(config: Path, out: Path, *args: str) -> dict:
    assert run_cli(["build", str(config), str(out), *args]) == 0
    return json.loads((out / "image.json").read_text())


def _blob(layout: Path, digest: str) -> dict:
    return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())


@pytest.fixture
def small(tmp_path: Path, test_repository: TestRepository) -> Path:
    return write_config(tmp_path, test_repository, SMALL_IMAGE)


def test_the_image_inspects_unpacks_and_runs(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _build(small, out, TAG)
    layout = out / "oci"
    assert sorted(path.name for path in out.iterdir()) == [
        "image.json",
        "oci",
        "sbom-index.spdx.json",
        "sbom-x86_64.spdx.json",
        "small-x86_64.docker.tar",
    ]

    inspected = json.loads(
        run_tool([require_tool("skopeo"), "inspect", f"oci:{layout}:{TAG}"]).stdout
    )
    assert inspected["Architecture"] == "amd64"
    assert inspected["Created"] == rfc3339_utc(BUSYBOX_TIME)  # the newest package's build time
    assert inspected["Labels"]["org.opencontainers.image.title"] == "small"

    manifest = _blob(layout, summary["manifests"]["x86_64"]["digest"])
    config = _blob(layout, manifest["config"]["digest"])["config"]
    assert config["Entrypoint"] == ["/bin/busybox", "echo", "hello"]
    assert (config["User"], config["WorkingDir"]) == ("app", "/work")
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin" in config["Env"]

    bundle = tmp_path / "bundle"
    run_tool([require_tool("umoci"), "unpack", "--image", f"{layout}:{TAG}-amd64", str(bundle)])
    rootfs = bundle / "rootfs"
    assert (
        (rootfs / "etc/passwd")
        .read_text()
        .endswith("app:x:1000:1000:Account created by apko:/home/app:/bin/sh\n")
    )
    assert os.readlink(rootfs / "usr/bin/id") == "/bin/busybox"
    assert os.readlink(rootfs / "etc/motd-link") == "/etc/motd"
    assert json.loads((rootfs / "etc/apko.json").read_text())["work-dir"] == "/work"
    assert (rootfs / "etc/apk/world").read_text() == "busybox\n"
    assert (rootfs / "etc/apk/keys/test.rsa.pub").is_file()
    if is_root():
        for path, owner in (("home/app", 1000), ("work", 1000), ("data/cache", 1000), ("data", 0)):
            assert (rootfs / path).stat().st_uid == owner, path
        runtime = json.loads((bundle / "config.json").read_text())
        assert runtime["process"]["user"]["uid"] == 1000
        runtime["process"]["terminal"] = False
        runtime["process"]["args"] = ["/bin/sh", "-c", "busybox echo hello; id; pwd"]
        (bundle / "config.json").write_text(json.dumps(runtime))
        ran = run_tool(
            [require_tool("runc"), "run", "--bundle", str(bundle), f"apkoci-{os.getpid()}"]
        )
        assert ran.stdout.splitlines() == ["hello", "uid=1000(app) gid=1000(app)", "/work"]


def test_podman_loads_the_docker_archive(small: Path, tmp_path: Path, podman: List[str]) -> None:
    out = tmp_path / "out"
    summary = _build(small, out, TAG)
    manifest = _blob(out / "oci", summary["manifests"]["x86_64"]["digest"])
    loaded = run_tool([*podman, "load", "-i", str(out / "small-x86_64.docker.tar")])
    assert f"{TAG}-amd64" in loaded.stdout
    [inspected] = json.loads(run_tool([*podman, "image", "inspect", f"{TAG}-amd64"]).stdout)
    assert inspected["Id"] == manifest["config"]["digest"].split(":")[1]
    assert inspected["Config"]["User"] == "app"


def test_builds_are_byte_identical_whatever_the_environment(small: Path, tmp_path: Path) -> None:
    source = str(Path(apkoci.__file__).resolve().parents[1])
    outputs = []
    for number, (umask, tz, lc_all) in enumerate(
        ((0o022, "UTC", "C"), (0o077, "Asia/Kolkata", "C.UTF-8"))
    ):
        home = tmp_path / f"home{number}"
        cwd = tmp_path / f"cwd{number}"
        home.mkdir()
        cwd.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        env.update(PYTHONPATH=source, HOME=str(home), TZ=tz, LC_ALL=lc_all, USER=f"user{number}")
        out = cwd / "out"
        subprocess.run(
            [sys.executable, "-c", _RUN_CLI, "build", str(small), "out", TAG],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            preexec_fn=lambda mask=umask: os.umask(mask),  # type: ignore[misc]
        )
        outputs.append(digests_of(out))
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0]["image.json"])["index"]["digest"].startswith("sha256:")


def test_source_date_epoch_sets_the_time(small: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    summary = _build(small, tmp_path / "out", TAG)
    manifest = _blob(tmp_path / "out" / "oci", summary["manifests"]["x86_64"]["digest"])
    assert manifest["annotations"]["org.opencontainers.image.created"] == "2009-02-13T23:31:30Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert run_cli(["build", str(small), str(tmp_path / "again")]) == 1


def test_two_archs_give_one_index_with_a_manifest_each(
    tmp_path: Path, test_repository: TestRepository
) -> None:
    config = write_config(tmp_path, test_repository, TWO_ARCHS)
    out = tmp_path / "out"
    summary = _build(config, out, "example.com/hello:1", "--sbom-formats", "spdx,cyclonedx")
    index = _blob(out / "oci", summary["index"]["digest"])
    platforms = [
        (m["platform"]["architecture"], m["platform"].get("variant")) for m in index["manifests"]
    ]
    assert platforms == [("amd64", None), ("arm64", "v8")]
    assert index["annotations"]["org.opencontainers.image.created"] == rfc3339_utc(HELLO_TIME)
    layers = {arch: manifest["layers"] for arch, manifest in summary["manifests"].items()}
    assert layers["x86_64"] != layers["aarch64"]
    for name in (
        "sbom-x86_64.spdx.json",
        "sbom-aarch64.spdx.json",
        "sbom-index.spdx.json",
        "sbom-x86_64.cdx",
        "sbom-aarch64.cdx",
        "sbom-index.cdx",
        "hello-x86_64.docker.tar",
        "hello-aarch64.docker.tar",
    ):
        assert (out / name).is_file(), name
    sbom = json.loads((out / "sbom-aarch64.spdx.json").read_text())
    assert {p["name"] for p in sbom["packages"]} >= {"baselayout", "hello"}
    bundle = tmp_path / "arm"
    run_tool(
        [
            require_tool("umoci"),
            "unpack",
            "--image",
            f"{out / 'oci'}:example.com/hello:1-arm64v8",
            str(bundle),
        ]
    )
    assert (bundle / "rootfs/usr/share/hello/aarch64.txt").read_text() == "hello\n"
    assert (bundle / "rootfs/etc/apk/arch").read_text() == "aarch64\n"
    # --arch picks some of the configuration's architectures.
    only = _build(config, tmp_path / "only", "--arch", "aarch64")
    assert list(only["manifests"]) == ["aarch64"]


def test_a_lockfile_pins_the_packages_and_a_stale_one_is_refused(
    small: Path, tmp_path: Path, capsys
) -> None:
    lock = tmp_path / "apko.lock.json"
    assert run_cli(["lock", str(small), "-o", str(lock)]) == 0
    locked = _build(small, tmp_path / "locked", TAG, "--lockfile", str(lock))
    resolved = _build(small, tmp_path / "resolved", TAG)
    assert locked["index"] == resolved["index"]
    small.write_text(small.read_text().replace("echo hello", "echo bye"))
    capsys.readouterr()
    assert run_cli(["build", str(small), str(tmp_path / "stale"), "--lockfile", str(lock)]) == 1
    assert "is out of date" in capsys.readouterr().err


def test_apkos_own_cli_test_configuration_builds_for_both_archs(tmp_path: Path) -> None:
    # apko's internal/cli test: its paths are relative to a `testdata` folder beside it.
    (tmp_path / "testdata").symlink_to(shared_testdata("apko-cli"))
    config = tmp_path / "apko.yaml"
    config.write_text(shared_testdata("apko-cli", "apko.yaml").read_text())
    out = tmp_path / "out"
    summary = _build(config, out, "example.com/replayout:test")
    assert sorted(summary["manifests"]) == ["aarch64", "x86_64"]
    bundle = tmp_path / "bundle"
    run_tool(
        [
            require_tool("umoci"),
            "unpack",
            "--image",
            f"{out / 'oci'}:example.com/replayout:test-amd64",
            str(bundle),
        ]
    )
    rootfs = bundle / "rootfs"
    installed = (rootfs / "lib/apk/db/installed").read_text()
    assert "P:pretend-baselayout\n" in installed and "P:replayout\n" in installed
    assert (rootfs / "etc/apk/keys/melange.rsa.pub").is_file()
    assert (rootfs / "etc/apk/repositories").read_text() == "./testdata/packages\n"
    assert "ID=" in (rootfs / "etc/os-release").read_text()
    sbom = json.loads((out / "sbom-x86_64.spdx.json").read_text())
    assert {p["name"] for p in sbom["packages"]} >= {"pretend-baselayout", "replayout"}


# --- layering -------------------------------------------------------------------------------------


def _unpacked_tree(layout: Path, reference: str, bundle: Path) -> dict:
    """What umoci unpacks: every path's kind, mode, owners and content or link target."""
    run_tool([require_tool("umoci"), "unpack", "--image", f"{layout}:{reference}", str(bundle)])
    rootfs = bundle / "rootfs"
    tree = {}
    for path in sorted(rootfs.rglob("*")):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = b""
        tree[str(path.relative_to(rootfs))] = (info.st_mode, info.st_uid, info.st_gid, content)
    return tree


def _layer_members(layout: Path, digest: str) -> List[str]:
    with tarfile.open(layout / "blobs" / "sha256" / digest.split(":")[1]) as layer:
        return [member.name for member in layer.getmembers() if not member.isdir()]


def _apko_cli_config(tmp_path: Path, name: str, layering: bool) -> Path:
    # apko's own layering test configuration; its repositories are relative to the config.
    for link in ("testdata", "packages"):
        if not (tmp_path / link).exists():
            target = ("apko-cli",) if link == "testdata" else ("apko-cli", "packages")
            (tmp_path / link).symlink_to(shared_testdata(*target))
    text = shared_testdata("apko-cli", "layering.yaml").read_text()
    assert "layering:\n  strategy: origin\n  budget: 2\n" in text
    if not layering:
        text = text.replace("layering:\n  strategy: origin\n  budget: 2\n", "")
    config = tmp_path / name
    config.write_text(text)
    return config


def test_a_layered_image_unpacks_to_the_same_tree_for_both_archs(tmp_path: Path) -> None:
    tag = "example.com/layered:test"
    layered = _build(_apko_cli_config(tmp_path, "layered.yaml", True), tmp_path / "layered", tag)
    plain = _build(_apko_cli_config(tmp_path, "plain.yaml", False), tmp_path / "plain", tag)
    again = _build(_apko_cli_config(tmp_path, "layered.yaml", True), tmp_path / "again", tag)
    assert digests_of(tmp_path / "layered") == digests_of(tmp_path / "again")
    assert sorted(layered["manifests"]) == ["aarch64", "x86_64"]
    assert again["index"] == layered["index"]
    for arch, platform in (("x86_64", "amd64"), ("aarch64", "arm64v8")):
        layout = tmp_path / "layered" / "oci"
        manifest = _blob(layout, layered["manifests"][arch]["digest"])
        config = _blob(layout, manifest["config"]["digest"])
        # replayout replaces pretend-baselayout: one group, so one package layer and the top.
        package_layer, top = [layer["digest"] for layer in manifest["layers"]]
        assert len(config["rootfs"]["diff_ids"]) == len(config["history"]) == 2
        assert not any("comment" in entry for entry in config["history"])  # apko's, for layers
        assert "var/lib/db/sbom/replayout-1.0.0-r0.spdx.json" in _layer_members(
            layout, package_layer
        )
        assert "etc/passwd" in _layer_members(layout, top)
        assert "lib/apk/db/installed" in _layer_members(layout, package_layer)
        layered_tree = _unpacked_tree(layout, f"{tag}-{platform}", tmp_path / f"l-{arch}")
        plain_tree = _unpacked_tree(
            tmp_path / "plain" / "oci", f"{tag}-{platform}", tmp_path / f"p-{arch}"
        )
        # The record of the build differs by the layering it asked for; nothing else does.
        *meta, record = layered_tree.pop("etc/apko.json")
        *plain_meta, plain_record = plain_tree.pop("etc/apko.json")
        assert meta == plain_meta
        recorded = json.loads(record)
        assert recorded.pop("layering") == {"strategy": "origin", "budget": 2}
        assert recorded == json.loads(plain_record)
        assert layered_tree == plain_tree and len(layered_tree) > 20
        assert len(plain["manifests"][arch]["layers"]) == 1


LAYERED = """\
  packages:
    - busybox
    - hello
entrypoint:
  command: /bin/busybox true
archs:
  - x86_64
layering:
  strategy: origin
  budget: {budget}
"""


@pytest.mark.parametrize(
    "budget, expected",
    [
        # busybox is the biggest group; the rest share the last package layer.
        (2, [["busybox"], ["baselayout", "hello"]]),
        (5, [["busybox"], ["baselayout"], ["hello"]]),
        (0, [["baselayout", "busybox", "hello"]]),
    ],
)
def test_the_budget_counts_the_package_layers(
    tmp_path: Path, test_repository: TestRepository, budget: int, expected: List[List[str]]
) -> None:
    config = write_config(tmp_path, test_repository, LAYERED.format(budget=budget))
    summary = _build(config, tmp_path / "out", TAG)
    layout = tmp_path / "out" / "oci"
    digests = summary["manifests"]["x86_64"]["layers"]
    assert len(digests) == len(expected) + 1
    for digest, names in zip(digests, expected):
        with tarfile.open(layout / "blobs" / "sha256" / digest.split(":")[1]) as layer:
            database = layer.extractfile("lib/apk/db/installed").read().decode()  # type: ignore
        assert [line[2:] for line in database.splitlines() if line.startswith("P:")] == names
    top = _layer_members(layout, digests[-1])
    assert {"etc/apko.json", "lib/apk/db/installed", "usr/bin/id"} <= set(top)
    assert "bin/busybox" in _layer_members(layout, digests[0])
    sbom = json.loads((tmp_path / "out" / "sbom-x86_64.spdx.json").read_text())
    assert {p["name"] for p in sbom["packages"]} >= {"baselayout", "busybox", "hello"}
