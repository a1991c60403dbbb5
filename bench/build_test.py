"""Runs the layer-step benchmark at a tiny size, for correctness only: its figures are read by
people, not tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The bench folder is a source root: this is bench/build.py, not the apkoci.build package.
import build as bench
import pytest


def test_benchmark_runs_and_its_layers_hold_the_package_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--runs", "1", "--size-mib", "1", "--files", "150", "--workdir", str(tmp_path)]
    first = bench.main(argv)
    assert "making synthetic-" in capsys.readouterr().out

    stats = first.stats
    assert stats["files"] == 150 and abs(stats["bytes"] - (1 << 20)) <= 150
    assert stats["text_bytes"] > 0 and stats["binary_bytes"] > 0 and stats["symlinks"] > 0
    layers = first.layers
    # One tree, whatever the compression: the package layers share a diff_id, and so do the
    # folder layers of the unpacked tree.
    assert layers["apkoci layer, gzip"]["diff_id"] == layers["apkoci layer, zstd"]["diff_id"]
    assert (
        layers["apkoci dir-layer, gzip"]["diff_id"] == layers["apkoci dir-layer, zstd"]["diff_id"]
    )
    assert layers["apkoci layer, gzip"]["diff_id"] != layers["apkoci dir-layer, gzip"]["diff_id"]
    assert len(layers["apkoci layer, gzip"]["packages"]) == bench.PACKAGES
    # Both package layers were checked against the unpacked tree, which they hold and more.
    assert first.members["gzip"] == first.members["zstd"] > stats["files"]
    assert len(first.goals) == 3

    # The package set is made from a seed only: made again elsewhere, its packages are the same.
    spec = bench.DataSetSpec(size_mib=1, files=150, seed=1)
    again = bench.generate(
        spec, tmp_path / "again", dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    )
    made = bench.DataSet(tmp_path / spec.name, stats)
    apks = sorted(path.name for path in made.packages_dir.glob("*.apk"))
    assert len(apks) == bench.PACKAGES
    for name in apks:
        assert (again.packages_dir / name).read_bytes() == (made.packages_dir / name).read_bytes()
    capsys.readouterr()

    # A second run reuses the package set and writes the same layers, byte for byte.
    second = bench.main(argv)
    assert "making synthetic-" not in capsys.readouterr().out
    assert second.stats == stats
    assert {label: layer["digest"] for label, layer in second.layers.items()} == {
        label: layer["digest"] for label, layer in layers.items()
    }
