from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import List, Sequence

import pytest
from apkoci.oci.image import (
    ANNOTATION_REF_NAME,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
    Image,
    build_image,
    build_index,
    platform_for_arch,
)
from apkoci.oci.layer import Layer, write_layer
from apkoci.oci.layout import LayoutError, blob_path, write_layout
from apkoci.oci.testing_tools import arch_tree, assert_tree_matches, is_root, require_tool, run_tool

MTIME = 1700000000


def make_image(tmp_path: Path, arch: str, compression: str = "gzip") -> Image:
    layer = write_layer(
        arch_tree(tmp_path / "src" / arch, arch),
        tmp_path / f"{arch}.layer",
        compression=compression,
        mtime=MTIME,
    )
    return build_image([layer], platform_for_arch(arch), created=MTIME)


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    rootless = [] if is_root() else ["--rootless"]
    run_tool(
        [require_tool("umoci"), "unpack", *rootless, "--image", f"{layout}:{tag}", str(bundle)]
    )
    return bundle / "rootfs"


def skopeo_json(*args: str) -> dict:
    return json.loads(run_tool([require_tool("skopeo"), "inspect", *args]).stdout)


def validate(layout: Path, *refs: str) -> None:
    tool = require_tool("oci-image-tool")
    run_tool([tool, "validate", "--type", "image", str(layout)])
    for ref in refs:
        run_tool([tool, "validate", "--type", "image", "--ref", f"name={ref}", str(layout)])


def test_layout_structure(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest", "1.0"])
    assert json.loads((layout / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_bytes())
    assert index["mediaType"] == MEDIA_TYPE_INDEX and index["schemaVersion"] == 2
    assert [entry["annotations"][ANNOTATION_REF_NAME] for entry in index["manifests"]] == [
        "latest",
        "1.0",
    ]
    for entry in index["manifests"]:
        assert (entry["digest"], entry["mediaType"]) == (image.manifest.digest, MEDIA_TYPE_MANIFEST)
        assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    blobs = sorted((layout / "blobs" / "sha256").iterdir())
    expected = {
        image.manifest.digest,
        image.config.digest,
        *(layer.digest for layer in image.layers),
    }
    assert {"sha256:" + blob.name for blob in blobs} == expected
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
        assert stat.S_IMODE(blob.stat().st_mode) == 0o644
    assert stat.S_IMODE(layout.stat().st_mode) == 0o755
    # Nothing but the layout is left beside it.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["layout", "src"]


def test_umoci_unpacks_the_tree_as_described(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest"])
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle")
    assert_tree_matches(rootfs, arch_tree(tmp_path / "src" / "x86_64", "x86_64"), owners=is_root())
    assert (rootfs / "etc/apk/arch").read_text() == "x86_64\n"


def test_skopeo_reads_manifest_and_config(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest"])
    ref = f"oci:{layout}:latest"
    assert (
        run_tool([require_tool("skopeo"), "inspect", "--raw", ref]).stdout.encode()
        == image.manifest.data
    )
    assert skopeo_json("--config", ref) == image.config.json()
    summary = skopeo_json(ref)
    assert summary["Digest"] == image.manifest.digest
    assert (summary["Architecture"], summary["Os"]) == ("amd64", "linux")
    assert summary["Layers"] == [layer.digest for layer in image.layers]
    assert summary["Created"] == "2023-11-14T22:13:20Z"


def test_oci_image_tool_validates_the_layout(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest", "example.com/app:1.0"])
    validate(layout, "latest", "example.com/app:1.0")


def test_plain_layers_are_accepted_too(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64", compression="none")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest"])
    validate(layout, "latest")
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle")
    assert (rootfs / "etc/apk/arch").read_text() == "x86_64\n"


def test_zstd_layers_copy_with_skopeo(tmp_path: Path) -> None:
    # umoci 0.4 and oci-image-tool 1.0.0-rc1 predate zstd layers; skopeo (containers/image) reads
    # them and checks every blob's digest and size while copying.
    image = make_image(tmp_path, "aarch64", compression="zstd")
    layout = write_layout(tmp_path / "layout", [image], tags=["latest"])
    assert skopeo_json("--config", f"oci:{layout}:latest") == image.config.json()
    run_tool(
        [require_tool("skopeo"), "copy", f"oci:{layout}:latest", f"oci:{tmp_path / 'copy'}:latest"]
    )
    copied = blob_path(tmp_path / "copy", image.layers[0].digest)
    assert copied.read_bytes() == blob_path(layout, image.layers[0].digest).read_bytes()


def test_multi_platform_index(tmp_path: Path) -> None:
    images = [make_image(tmp_path, "x86_64"), make_image(tmp_path, "aarch64")]
    index = build_index([image.descriptor() for image in images])
    layout = write_layout(
        tmp_path / "layout", images, index=index, tags=["latest"], platform_tags=True
    )
    entries = json.loads((layout / "index.json").read_bytes())["manifests"]
    names = {entry["annotations"][ANNOTATION_REF_NAME]: entry["digest"] for entry in entries}
    assert names == {
        "latest": index.digest,
        "latest-amd64": images[0].manifest.digest,
        "latest-arm64v8": images[1].manifest.digest,
    }

    ref = f"oci:{layout}:latest"
    raw = run_tool([require_tool("skopeo"), "inspect", "--raw", ref]).stdout.encode()
    assert raw == index.data
    platforms = [entry["platform"] for entry in json.loads(raw)["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    arm = skopeo_json("--override-arch", "arm64", "--override-variant", "v8", ref)
    assert arm["Architecture"] == "arm64" and arm["Layers"] == [images[1].layers[0].digest]
    amd = skopeo_json("--override-arch", "amd64", ref)
    assert amd["Architecture"] == "amd64" and amd["Layers"] == [images[0].layers[0].digest]

    # umoci cannot choose a platform from an index; the per-platform names let it unpack each one.
    for image, tag, arch in (
        (images[0], "latest-amd64", "x86_64"),
        (images[1], "latest-arm64v8", "aarch64"),
    ):
        rootfs = umoci_unpack(layout, tag, tmp_path / f"bundle-{arch}")
        assert (rootfs / "etc/apk/arch").read_text() == f"{arch}\n"
        assert (rootfs / "usr/bin/tool").stat().st_mode & stat.S_ISUID
    assert run_tool(
        [require_tool("umoci"), "ls", "--layout", str(layout)]
    ).stdout.split() == sorted(names)
    # No --ref: oci-image-tool then validates every entry of index.json (and its --ref filter skips
    # entries when there are three or more of them).
    validate(layout)
    run_tool(
        [
            require_tool("oci-image-tool"),
            "validate",
            "--type",
            "imageIndex",
            str(blob_path(layout, index.digest)),
        ]
    )


def test_layer_files_are_moved_or_linked(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    layer = image.layers[0]
    kept = write_layout(tmp_path / "kept", [image], move_layers=False)
    assert layer.path.exists()
    assert os.path.samefile(layer.path, blob_path(kept, layer.digest))  # linked, not copied
    moved = write_layout(tmp_path / "moved", [image])
    assert not layer.path.exists()
    assert blob_path(moved, layer.digest).read_bytes() == blob_path(kept, layer.digest).read_bytes()
    index = json.loads((moved / "index.json").read_bytes())
    assert "annotations" not in index["manifests"][0]  # no tags: one unnamed entry


def test_rewriting_a_layout_replaces_it(tmp_path: Path) -> None:
    first = make_image(tmp_path / "one", "x86_64")
    second = make_image(tmp_path / "two", "aarch64")
    layout = write_layout(tmp_path / "layout", [first], tags=["latest"])
    write_layout(layout, [second], tags=["latest"])
    assert {"sha256:" + blob.name for blob in (layout / "blobs" / "sha256").iterdir()} == {
        second.manifest.digest,
        second.config.digest,
        second.layers[0].digest,
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == ["layout", "one", "two"]


def test_a_failed_write_leaves_the_old_layout_and_no_leftovers(tmp_path: Path) -> None:
    good = make_image(tmp_path, "x86_64")
    layout = write_layout(tmp_path / "layout", [good], tags=["latest"], move_layers=False)
    before = sorted(path.name for path in tmp_path.iterdir())
    # A "layer" whose file is a directory passes the size check but cannot be linked or copied.
    bogus_dir = tmp_path / "bogus"
    bogus_dir.mkdir()
    bogus = Layer(
        "sha256:" + "0" * 64,
        "sha256:" + "1" * 64,
        bogus_dir.stat().st_size,
        good.layers[0].media_type,
        bogus_dir,
    )
    broken = build_image([bogus], platform_for_arch("x86_64"), created=MTIME)
    with pytest.raises(OSError):
        write_layout(layout, [broken], tags=["latest"])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(before + ["bogus"])
    assert (
        json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
        == good.manifest.digest
    )


def test_changed_layer_file_is_refused(tmp_path: Path) -> None:
    image = make_image(tmp_path, "x86_64")
    with open(image.layers[0].path, "ab") as file:
        file.write(b"junk")
    with pytest.raises(LayoutError, match="it changed since"):
        write_layout(tmp_path / "layout", [image])
    assert not (tmp_path / "layout").exists()


@pytest.mark.parametrize("tag", ["", "-latest", "a b", "ünï", "x//y"])
def test_bad_tags_are_refused(tmp_path: Path, tag: str) -> None:
    image = make_image(tmp_path, "x86_64")
    with pytest.raises(LayoutError, match="not a valid OCI ref name"):
        write_layout(tmp_path / "layout", [image], tags=[tag])


def test_several_images_need_a_matching_index(tmp_path: Path) -> None:
    images = [make_image(tmp_path, "x86_64"), make_image(tmp_path, "aarch64")]
    with pytest.raises(LayoutError, match="need an image index"):
        write_layout(tmp_path / "layout", images)
    only_one = build_index([images[0].descriptor()])
    with pytest.raises(LayoutError, match="does not list exactly the images given"):
        write_layout(tmp_path / "layout", images, index=only_one)
    with pytest.raises(LayoutError, match="name two entries alike"):
        write_layout(tmp_path / "layout", images[:1], tags=["a", "a"])


def test_a_directory_that_is_not_a_layout_is_never_replaced(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes").write_text("keep me")
    with pytest.raises(LayoutError, match="not an OCI layout"):
        write_layout(precious, [make_image(tmp_path, "x86_64")])
    assert (precious / "notes").read_text() == "keep me"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".precious")]


_BUILD = """
import sys
from pathlib import Path
from apkoci.oci.testing_tools import build_sample_artifacts
for path in build_sample_artifacts(Path(sys.argv[1])):
    print(path)
"""


def _build_in(cwd: Path, umask: int, tz: str) -> List[Path]:
    cwd.mkdir()
    env = dict(
        os.environ,
        TZ=tz,
        LC_ALL="C",
        PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
    )
    # A relative output path: the sources are then named relative to a different cwd each time.
    result = run_tool(
        [sys.executable, "-c", _BUILD, "build"],
        cwd=cwd,
        env=env,
        preexec_fn=lambda: os.umask(umask),  # noqa: PLW1509
    )
    return [cwd / line for line in result.stdout.split()]


def _relative(paths: Sequence[Path], root: Path) -> List[str]:
    return [str(path.relative_to(root)) for path in paths]


def test_builds_are_byte_identical_across_umask_tz_and_cwd(tmp_path: Path) -> None:
    first = _build_in(tmp_path / "first", 0o022, "UTC")
    second = _build_in(tmp_path / "second-place", 0o077, "Pacific/Kiritimati")
    assert _relative(first, tmp_path / "first") == _relative(second, tmp_path / "second-place")
    assert any(path.name == "image.tar" for path in first) and len(first) > 6
    for one, other in zip(first, second):
        assert one.read_bytes() == other.read_bytes(), one
