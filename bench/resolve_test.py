"""Runs the resolve benchmark once, for correctness only: people read its figures, tests do not."""

from __future__ import annotations

import resolve as bench
from apkoci.testing import shared_testdata


def test_benchmark_runs_and_resolves_both_worlds() -> None:
    shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")
    counts = bench.main(["--runs", "1"])
    assert counts == {"small": 2, "large": 219}
