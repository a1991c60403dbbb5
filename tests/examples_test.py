"""`./pants package examples::` in a clean clone; what it writes to dist/, checked with real tools.

For each example image: its OCI layout is one that umoci and skopeo read (tags, the multi-arch
index, each arch's manifest and config) and whose files are the ones the sources say; its docker
archives are ones skopeo reads, holding the same config and layers as the layout; its SBOMs are
valid SPDX 2.3 (spdx-tools) and CycloneDX 1.5 (the official schema), and list the locked packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
import yaml
from apkoci.oci.testing_tools import require_tool, run_tool
from pants_clone import Build

# OCI's name of each apko arch, and the suffix of its tags in the layout ("<tag>-amd64").
OCI_ARCH = {"x86_64": ("amd64", "amd64"), "aarch64": ("arm64", "arm64v8")}


@dataclass(frozen=True)
class ExampleImage:
    """An example `apko_image`, and files its image must hold: path in the image -> whence."""

    address: str
    dist_folder: str
    config: str
    # Each source is a path in the clone: a source file, or under dist/ what `package` wrote.
    files: Tuple[Tuple[str, str], ...]


IMAGES = (
    ExampleImage(
        "examples/base:image",
        "examples.base/image",
        "examples/base/apko.yaml",
        (
            ("usr/bin/hello", "examples/packages/hello/root/usr/bin/hello"),
            ("etc/os-release", "examples/packages/baselayout/root/etc/os-release"),
        ),
    ),
    ExampleImage(
        "examples/layered:image",
        "examples.layered/image",
        "examples/layered/apko.yaml",
        (
            ("usr/bin/hello", "examples/packages/hello/root/usr/bin/hello"),
            ("etc/os-release", "examples/packages/baselayout/root/etc/os-release"),
        ),
    ),
    ExampleImage(
        "examples/app:image",
        "examples.app/image",
        "examples/app/apko.yaml",
        (
            # The packages' layer, then one layer per first-party target.
            (
                "usr/share/hello/greeting.txt",
                "examples/packages/hello/root/usr/share/hello/greeting.txt",
            ),
            ("app/server.pex", "dist/server.pex"),
            ("srv/www/index.html", "examples/app/www/index.html"),
        ),
    ),
)


@pytest.fixture(params=IMAGES, ids=lambda image: image.address)
def image(request) -> ExampleImage:
    return request.param


def summary(build: Build, image: ExampleImage) -> dict:
    """The image step's image.json: index digest, tags, and per arch its manifest's digests."""
    path = build.clone.dist / image.dist_folder / "image.json"
    assert path.is_file(), f"{image.address} wrote no {path}: dist/ holds {sorted(build.dist)}"
    return json.loads(path.read_text())


def config_of(build: Build, image: ExampleImage) -> dict:
    return yaml.safe_load((build.clone.root / image.config).read_text())


def locked_packages(build: Build, image: ExampleImage, arch: str) -> List[str]:
    lock = build.clone.root / Path(image.config).with_name("apko.lock.json")
    packages = json.loads(lock.read_text())["contents"]["packages"]
    return sorted(p["name"] for p in packages if p["architecture"] == arch)


def reference_of(layout: Path, digest: str) -> str:
    """The first ref name the layout's index gives the manifest `digest`."""
    index = json.loads((layout / "index.json").read_text())
    names = [
        entry["annotations"]["org.opencontainers.image.ref.name"]
        for entry in index["manifests"]
        if entry["digest"] == digest
    ]
    assert names, f"{layout}/index.json names no manifest {digest}"
    return names[0]


def test_the_oci_layout_is_read_by_umoci_and_skopeo(
    first_build: Build, image: ExampleImage, tmp_path: Path
) -> None:
    umoci, skopeo = require_tool("umoci"), require_tool("skopeo")
    found = summary(first_build, image)
    layout = first_build.clone.dist / image.dist_folder / "oci"
    listed = run_tool([umoci, "ls", "--layout", str(layout)]).stdout.split()
    for tag in found["tags"]:
        assert tag in listed
        # The multi-arch index under the tag is the one the image step reported.
        raw = run_tool([skopeo, "inspect", "--raw", f"oci:{layout}:{tag}"]).stdout.encode()
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == found["index"]["digest"]
        platforms = {m["platform"]["architecture"] for m in json.loads(raw)["manifests"]}
        assert platforms == {OCI_ARCH[arch][0] for arch in found["manifests"]}

    config = config_of(first_build, image)
    for arch, manifest in found["manifests"].items():
        reference = reference_of(layout, manifest["digest"])
        assert reference == f"{found['tags'][0]}-{OCI_ARCH[arch][1]}"
        inspected = json.loads(run_tool([skopeo, "inspect", f"oci:{layout}:{reference}"]).stdout)
        assert inspected["Architecture"] == OCI_ARCH[arch][0]
        assert inspected["Layers"] == manifest["layers"]
        # What apko.yaml says about running the image is in its config.
        settings = json.loads(
            run_tool([skopeo, "inspect", "--config", f"oci:{layout}:{reference}"]).stdout
        )["config"]
        assert settings["Entrypoint"] == shlex.split(config["entrypoint"]["command"])
        for name, value in (config.get("environment") or {}).items():
            assert f"{name}={value}" in settings["Env"]
        assert settings["User"] == str(config["accounts"]["run-as"])

        bundle = tmp_path / arch
        run_tool([umoci, "unpack", "--rootless", "--image", f"{layout}:{reference}", str(bundle)])
        rootfs = bundle / "rootfs"
        for in_image, source in image.files:
            origin = first_build.clone.root / source
            assert (rootfs / in_image).read_bytes() == origin.read_bytes(), in_image
        passwd = (rootfs / "etc" / "passwd").read_text()
        for user in config["accounts"]["users"]:
            assert f"{user['username']}:x:{user['uid']}:{user['gid']}:" in passwd


def docker_archives(build: Build, image: ExampleImage) -> Dict[str, Path]:
    """arch -> the image's docker archive for it (`<name>-<arch>.docker.tar`)."""
    folder = build.clone.dist / image.dist_folder
    return {
        path.name[: -len(".docker.tar")].rsplit("-", 1)[1]: path
        for path in sorted(folder.glob("*.docker.tar"))
    }


def test_the_docker_archives_hold_the_layouts_images(
    first_build: Build, image: ExampleImage
) -> None:
    skopeo = require_tool("skopeo")
    found = summary(first_build, image)
    archives = docker_archives(first_build, image)
    assert set(archives) == set(found["manifests"])
    layout = first_build.clone.dist / image.dist_folder / "oci"
    for arch, archive in archives.items():
        manifest = found["manifests"][arch]
        with tarfile.open(archive) as tar:
            (entry,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert entry["Config"] == "blobs/sha256/" + manifest["config"].split(":", 1)[1]
        assert entry["Layers"] == ["blobs/sha256/" + d.split(":", 1)[1] for d in manifest["layers"]]
        assert entry["RepoTags"] == [f"{tag}-{OCI_ARCH[arch][1]}" for tag in found["tags"]]
        inspected = json.loads(run_tool([skopeo, "inspect", f"docker-archive:{archive}"]).stdout)
        assert inspected["Architecture"] == OCI_ARCH[arch][0]
        config_blob = layout / "blobs" / "sha256" / manifest["config"].split(":", 1)[1]
        from_archive = run_tool([skopeo, "inspect", "--config", f"docker-archive:{archive}"])
        assert json.loads(from_archive.stdout) == json.loads(config_blob.read_text())


def component_names(bom: dict) -> Set[str]:
    """The names of a CycloneDX document's components, nested ones included."""
    names: Set[str] = set()
    pending = list(bom.get("components", []))
    while pending:
        component = pending.pop()
        names.add(component["name"])
        pending.extend(component.get("components", []))
    return names


def test_the_sboms_are_valid_and_list_the_locked_packages(
    first_build: Build, image: ExampleImage
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    found = summary(first_build, image)
    folder = first_build.clone.dist / image.dist_folder
    spdx = sorted(folder.glob("*.spdx.json"))
    cyclonedx = sorted(folder.glob("*.cdx"))
    assert spdx, f"{image.address} wrote no SPDX SBOM"
    cyclonedx_validator = JsonStrictValidator(SchemaVersion.V1_5)
    for arch in found["manifests"]:
        packages = locked_packages(first_build, image, arch)
        arch_spdx = folder / f"sbom-{arch}.spdx.json"
        assert arch_spdx in spdx
        document = parse_file(str(arch_spdx))
        assert not validate_full_spdx_document(document), arch_spdx
        assert set(packages) <= {package.name for package in document.packages}
        arch_cyclonedx = folder / f"sbom-{arch}.cdx"
        if arch_cyclonedx in cyclonedx:
            text = arch_cyclonedx.read_text()
            assert not list(cyclonedx_validator.validate_str(text, all_errors=True) or ())
            assert set(packages) <= component_names(json.loads(text)), arch_cyclonedx
    # The base example asks for CycloneDX as well as SPDX.
    if image.address == "examples/base:image":
        assert cyclonedx, f"{image.address} wrote no CycloneDX SBOM"


def unpacked_tree(layout: Path, reference: str, where: Path) -> Dict[str, Tuple[str, str]]:
    """path -> (kind and mode, content digest or link target) of an image `umoci unpack`s."""
    umoci = require_tool("umoci")
    run_tool([umoci, "unpack", "--rootless", "--image", f"{layout}:{reference}", str(where)])
    tree = {}
    rootfs = where / "rootfs"
    for path in sorted(rootfs.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            what = "symlink:" + os.readlink(path)
        elif path.is_file():
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = ""
        tree[str(path.relative_to(rootfs))] = (oct(info.st_mode), what)
    return tree


def test_the_layered_example_is_the_base_example_in_several_layers(
    first_build: Build, tmp_path: Path
) -> None:
    base, layered = IMAGES[0], IMAGES[1]
    assert layered.address == "examples/layered:image"
    found_base, found_layered = summary(first_build, base), summary(first_build, layered)
    for arch, manifest in found_layered["manifests"].items():
        # A layer per package origin (example-baselayout, hello), then the top layer.
        assert len(manifest["layers"]) == 3
        assert len(found_base["manifests"][arch]["layers"]) == 1
        trees = [
            unpacked_tree(
                first_build.clone.dist / image.dist_folder / "oci",
                reference_of(
                    first_build.clone.dist / image.dist_folder / "oci",
                    found["manifests"][arch]["digest"],
                ),
                tmp_path / image.dist_folder / arch,
            )
            for image, found in ((base, found_base), (layered, found_layered))
        ]
        # The same files, modes and contents; etc/apko.json records the configuration, which
        # differs by its `layering`.
        assert trees[0].keys() == trees[1].keys()
        different = [path for path in trees[0] if trees[0][path] != trees[1][path]]
        assert different == ["etc/apko.json"]
