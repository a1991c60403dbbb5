from __future__ import annotations

import os
from pathlib import Path

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.layerinfo import read_layer_dir
from apkoci.build.layers import build_directory_layer


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
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    info, layer = read_layer_dir(tmp_path / "out-a")
    assert info == first and layer.path == tmp_path / "out-a" / "layer.tar.gz"
    dated = build_directory_layer(tmp_path / "a", "/srv", tmp_path / "out-c", source_date_epoch=5)
    assert dated.digest != first.digest and dated.created == 5


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
