from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest
from apkoci.oci.dockerarchive import DockerArchiveError, check_repo_tag, write_docker_archive
from apkoci.oci.image import ContainerConfig, Image, build_image, platform_for_arch
from apkoci.oci.layer import Entry, write_layer
from apkoci.oci.testing_tools import (
    arch_tree,
    assert_tree_matches,
    is_root,
    podman_command,
    require_tool,
    run_tool,
)

MTIME = 1700000000


def make_image(tmp_path: Path, compression: str, layers: int = 1) -> Image:
    written = [
        write_layer(
            arch_tree(tmp_path / "src", "x86_64"),
            tmp_path / "base.layer",
            compression=compression,
            mtime=MTIME,
        )
    ]
    for n in range(1, layers):
        extra = [
            Entry.directory("opt"),
            Entry.file(f"opt/extra-{n}", data=f"layer {n}\n".encode(), mode=0o755),
        ]
        written.append(
            write_layer(extra, tmp_path / f"extra{n}.layer", compression=compression, mtime=MTIME)
        )
    config = ContainerConfig(
        entrypoint=("/usr/bin/tool",), cmd=("--help",), env=(("PATH", "/usr/bin"),), user="1000"
    )
    return build_image(written, platform_for_arch("x86_64"), created=MTIME, config=config)


class Podman:
    """podman on a throw-away storage root, with the flags that work as root without systemd."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.command = [
            *podman_command(root),
            "--tmpdir",
            str(root / "tmp"),
        ]

    def __call__(self, *args: str) -> str:
        return run_tool([*self.command, *args]).stdout


@pytest.fixture
def podman() -> Iterator[Podman]:
    if not is_root():
        pytest.skip("podman load into a private storage root is tested as root")
    # podman refuses a runroot longer than 50 characters, so not under pytest's deep tmp_path.
    instance = Podman(Path(tempfile.mkdtemp(prefix="apkoci-podman-", dir="/tmp")))
    yield instance
    # Unmount whatever is mounted from the private storage, then drop it all.
    run_tool([*instance.command, "image", "unmount", "--all"])
    shutil.rmtree(instance.root, ignore_errors=True)


def test_archive_members_and_manifest(tmp_path: Path) -> None:
    image = make_image(tmp_path, "gzip", layers=2)
    archive = write_docker_archive(
        tmp_path / "image.tar", image, tags=["example.com/app:1.0", "app:latest"], mtime=MTIME
    )
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert all(
            member.mtime == MTIME and member.uid == 0 and member.uname == ""
            for member in tar.getmembers()
        )
        manifest_file = tar.extractfile("manifest.json")
        assert manifest_file is not None
        manifest = json.loads(manifest_file.read())
        config_file = tar.extractfile(manifest[0]["Config"])
        assert config_file is not None and config_file.read() == image.config.data
        for layer, name in zip(image.layers, manifest[0]["Layers"]):
            member = tar.extractfile(name)
            assert member is not None and member.read() == layer.path.read_bytes()
    hexes = [layer.digest.split(":")[1] for layer in image.layers]
    assert manifest == [
        {
            "Config": "blobs/sha256/" + image.config.digest.split(":")[1],
            "RepoTags": ["example.com/app:1.0", "app:latest"],
            "Layers": ["blobs/sha256/" + hex_digest for hex_digest in hexes],
        }
    ]
    assert names[:2] == ["blobs", "blobs/sha256"] and "manifest.json" in names
    listing = run_tool([require_tool("tar"), "-tvf", str(archive)]).stdout
    assert "manifest.json" in listing


def test_archive_is_reproducible(tmp_path: Path) -> None:
    image = make_image(tmp_path, "gzip")
    first = write_docker_archive(
        tmp_path / "one.tar", image, tags=["app:1"], mtime=MTIME
    ).read_bytes()
    second = write_docker_archive(
        tmp_path / "two.tar", image, tags=["app:1"], mtime=MTIME
    ).read_bytes()
    assert first == second
    assert (
        write_docker_archive(
            tmp_path / "three.tar", image, tags=["app:2"], mtime=MTIME
        ).read_bytes()
        != first
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_podman_loads_the_archive(compression: str, tmp_path: Path, podman: Podman) -> None:
    image = make_image(tmp_path, compression, layers=2)
    archive = write_docker_archive(
        tmp_path / "image.tar",
        image,
        tags=["localhost/apkoci/sample:1.0", "localhost/apkoci/sample:latest"],
        mtime=MTIME,
    )
    podman("load", "--input", str(archive))
    [inspected] = json.loads(podman("image", "inspect", "localhost/apkoci/sample:1.0"))
    assert inspected["Id"] == image.config.digest.split(":")[1]
    assert sorted(inspected["RepoTags"]) == [
        "localhost/apkoci/sample:1.0",
        "localhost/apkoci/sample:latest",
    ]
    assert inspected["RootFS"]["Layers"] == [layer.diff_id for layer in image.layers]
    assert (
        inspected["Config"]["Entrypoint"] == ["/usr/bin/tool"]
        and inspected["Config"]["User"] == "1000"
    )
    assert (inspected["Architecture"], inspected["Os"]) == ("amd64", "linux")
    assert inspected["Created"] == "2023-11-14T22:13:20Z"
    # The files as podman stored them: mount the image (vfs: a plain directory) and compare.
    rootfs = Path(podman("image", "mount", "localhost/apkoci/sample:1.0").strip())
    assert_tree_matches(rootfs, arch_tree(tmp_path / "src", "x86_64"))
    assert (rootfs / "opt/extra-1").read_text() == "layer 1\n"


@pytest.mark.parametrize(
    "tag, problem",
    [
        ("app", "has no ':tag' part"),
        ("App:1", "invalid name component 'App'"),
        ("app:bad/tag", "has no ':tag' part"),
        ("app:-x", "invalid tag '-x'"),
        ("exa_mple.com/app:1", "invalid registry"),
        ("a//b:1", "invalid name component ''"),
    ],
)
def test_bad_tags_are_refused(tag: str, problem: str) -> None:
    with pytest.raises(DockerArchiveError, match=problem.replace("(", r"\(")):
        check_repo_tag(tag)


@pytest.mark.parametrize(
    "tag", ["app:1", "localhost/app:1", "localhost:5000/team/app:v1.2-rc_3", "a.b/c__d/e-f:x"]
)
def test_good_tags_are_accepted(tag: str) -> None:
    check_repo_tag(tag)


def test_changed_layer_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    image = make_image(tmp_path, "gzip")
    with open(image.layers[0].path, "ab") as file:
        file.write(b"!")
    with pytest.raises(Exception, match="changed since"):
        write_docker_archive(tmp_path / "image.tar", image, tags=["app:1"])
    leftovers: List[str] = [
        path.name for path in tmp_path.iterdir() if path.name.startswith("image.tar")
    ]
    assert leftovers == []
