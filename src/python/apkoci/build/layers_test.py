from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.layerinfo import (
    BlobInfo,
    LayerInfo,
    layer_file_name,
    read_layer_dir,
    write_layer_info,
)
from apkoci.build.layers import build_directory_layer, build_package_layer
from apkoci.config import load_configuration
from apkoci.oci.layer import Entry, write_layer


def _make(root: Path, mode: int, mtime: int) -> Path:
    (root / "lib").mkdir(parents=True)
    for path, data in (("lib/a.py", b"print(1)\n"), ("run.sh", b"#!/bin/sh\n")):
        (root / path).write_bytes(data)
        os.chmod(root / path, mode | (0o100 if path.endswith(".sh") else 0))
        os.utime(root / path, (mtime, mtime))
    return root


def test_a_folder_layer_depends_only_on_names_contents_and_execute_bits(tmp_path: Path) -> None:
    first = build_directory_layer(_make(tmp_path / "a", 0o600, 1), "/srv", tmp_path / "out-a")
    second = build_directory_layer(_make(tmp_path / "b", 0o664, 999999), "srv/", tmp_path / "out-b")
    assert first.blobs == second.blobs and len(first.blobs) == 1
    info, (layer,) = read_layer_dir(tmp_path / "out-a")
    assert info == first and layer.path == tmp_path / "out-a" / "layer.tar.gz"
    dated = build_directory_layer(tmp_path / "a", "/srv", tmp_path / "out-c", source_date_epoch=5)
    assert dated.blobs[0].digest != first.blobs[0].digest and dated.created == 5


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="is not a folder"):
        build_directory_layer(tmp_path / "missing", "/", tmp_path / "out")
    with pytest.raises(BuildError, match="compression 'xz' is not one of"):
        build_directory_layer(tmp_path, "/", tmp_path / "out", compression="xz")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(BuildError, match="pipe is neither a file, a folder nor a symlink"):
        build_directory_layer(tmp_path, "/", tmp_path / "out")
    with pytest.raises(BuildError, match="is not a layer folder"):
        read_layer_dir(tmp_path / "nowhere")


def _blobs(folder: Path) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_layer(
            [Entry.directory("etc"), Entry.file(f"etc/{index}", data=b"x" * index)],
            folder / layer_file_name("gzip", index),
            mtime=1,
        )
        for index in range(3)
    ]


def test_a_folder_of_several_blobs_lists_them_bottom_first(tmp_path: Path) -> None:
    layers = _blobs(tmp_path)
    blobs = [
        BlobInfo.of(layers[0], ("glibc", "glibc-locale-posix")),
        BlobInfo.of(layers[1], ("crane",)),
        BlobInfo.of(layers[2]),
    ]
    info = LayerInfo.of(blobs, 1, "x86_64")
    write_layer_info(info, tmp_path)
    data = json.loads((tmp_path / "layer.json").read_text())
    assert [blob["file"] for blob in data["layers"]] == [
        "layer-0.tar.gz",
        "layer-1.tar.gz",
        "layer-2.tar.gz",
    ]
    assert data["layers"][0]["package_names"] == ["glibc", "glibc-locale-posix"]
    assert "package_names" not in data["layers"][2] and "file" not in data
    read, found = read_layer_dir(tmp_path)
    assert read == info and [layer.path for layer in found] == [layer.path for layer in layers]
    assert [layer.diff_id for layer in found] == [layer.diff_id for layer in layers]

    (tmp_path / "layer-1.tar.gz").write_bytes(b"changed")
    with pytest.raises(BuildError, match="layer-1.tar.gz is 7 bytes .* the layer changed"):
        read_layer_dir(tmp_path)


def test_one_blob_keeps_the_single_layer_form(tmp_path: Path) -> None:
    (layer,) = _blobs(tmp_path)[:1]
    info = LayerInfo.of([BlobInfo.of(layer)], None)
    assert sorted(info.to_json()) == sorted(
        ["file", "digest", "diff_id", "size", "mediaType", "created", "arch", "packages"]
        + ["os_release"]
    )
    assert LayerInfo.from_json(info.to_json(), "layer.json") == info


BLOB = {"file": "a", "digest": "sha256:0", "diff_id": "sha256:1", "size": 1, "mediaType": "m"}


@pytest.mark.parametrize(
    "layers, problem",
    [
        ([], "layers must be a non-empty list"),
        ([{"file": "a"}], "missing or wrong 'digest'"),
        ([{**BLOB, "file": "../a"}], "file '../a' must be a file name in its folder"),
        ([BLOB, BLOB], "a blob is listed twice"),
        ([{**BLOB, "package_names": "glibc"}], "package_names of 'a' must be a list of names"),
    ],
)
def test_a_wrong_list_of_blobs_is_refused(layers: list, problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        LayerInfo.from_json({"layers": layers}, "layer.json")


def test_layering_on_a_base_image_is_refused_as_apko_does(tmp_path: Path) -> None:
    config = tmp_path / "apko.yaml"
    config.write_text(
        "contents:\n  baseimage: {image: ./base, apkindex: ./APKINDEX}\n"
        "layering: {strategy: origin, budget: 2}\n"
    )
    with pytest.raises(BuildError, match="layering cannot be used with contents.baseimage"):
        build_package_layer(
            load_configuration(config),
            None,  # type: ignore[arg-type]  # refused before the lock is read
            "x86_64",
            tmp_path,
            tmp_path,
            tmp_path / "out",
        )
