"""The no-op benchmark's own parts, on commands that take no time; the benchmark runs by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from noop import summary_line, time_command, tree_digests


def test_times_each_run(tmp_path: Path) -> None:
    times = time_command([sys.executable, "-c", "pass"], tmp_path, 2)
    assert len(times) == 2 and all(t > 0 for t in times)


def test_a_failing_command_stops_the_benchmark_with_its_output(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('broken on purpose')"]
    with pytest.raises(SystemExit, match="broken on purpose"):
        time_command(failing, tmp_path, 1)


def test_tree_digests_see_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_bytes(b"one")
    first = tree_digests(tmp_path)
    assert list(first) == ["a/b"]
    (tmp_path / "a" / "b").write_bytes(b"two")
    assert tree_digests(tmp_path) != first


def test_summary_line() -> None:
    line = summary_line("label", [1.0, 2.0, 3.0])
    assert "median   2.00 s" in line and "(3 runs)" in line
