"""Benchmark: a rebuild with nothing changed, with pantsd warm, against Pants' own floor.

What a developer meets on every `./pants package` that has nothing to do: Pants must find that
every process's result is already in its cache and that `dist/` already holds the outputs. The
issue asks that this take about a second with pantsd (Pants' daemon) warm. Timed, in the same run
on the same machine:

- ``./pants package examples::`` after a first build: the no-op rebuild, pantsd warm;
- ``./pants --version``, pantsd warm: the floor of any command, the time to start the `./pants`
  script and Pants' client and to ask the daemon; the no-op rebuild cannot be faster than this;
- the same no-op through Pants' Python client (``APKOCI_PANTS_PYTHON_CLIENT=1``) instead of the
  native client `./pants` runs, to show what the native client saves;
- ``./pants --no-pantsd package examples::``: the same no-op without the daemon (a new Pants
  process that reads the rules, parses BUILD files and consults the on-disk cache), to show what
  the daemon saves.

Each no-op run is checked to have rewritten nothing: `dist/` holds the same bytes before and after.

Measured here (2 cores, 2026-12-01, medians of 5): no-op with pantsd 0.28-0.36 s (floor
0.33-0.35 s); through the Python client 1.31 s; without pantsd 18.5-19 s.

Run it by hand from the repository root: ``python3 bench/noop.py [--runs N] [--target SPEC]``. It
builds in this repository (as a developer would), so the first, warming build may take a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 1.0  # "about a second"


def time_command(
    argv: Sequence[str], cwd: Path, runs: int, env: Optional[Dict[str, str]] = None
) -> List[float]:
    """Wall times of ``runs`` runs of ``argv`` in ``cwd`` (with ``env`` added to this process'
    environment); fails with the command's output if one run fails."""
    environment = {**os.environ, **(env or {})}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(
            list(argv), cwd=cwd, env=environment, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(
                f"`{' '.join(argv)}` failed (exit code {result.returncode}):\n"
                f"{result.stderr[-4000:]}"
            )
    return times


def tree_digests(folder: Path) -> Dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (what a no-op must not change)."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digests[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def summary_line(label: str, times: Sequence[float]) -> str:
    return (
        f"{label:44} median {statistics.median(times):6.2f} s   "
        f"min {min(times):6.2f} s   max {max(times):6.2f} s   ({len(times)} runs)"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    parser.add_argument("--target", default="examples::", help="what to package")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the repository to build in")
    args = parser.parse_args(argv)
    pants = [str(args.repo / "pants"), "--no-dynamic-ui"]
    package = [*pants, "package", args.target]

    print(f"warming: {' '.join(package)} (builds what is missing, starts pantsd) ...", flush=True)
    time_command(package, args.repo, 1)
    before = tree_digests(args.repo / "dist")

    rows = [
        ("no-op `package` (pantsd warm)", time_command(package, args.repo, args.runs)),
        (
            "floor: `./pants --version` (pantsd warm)",
            time_command([*pants, "--version"], args.repo, args.runs),
        ),
        (
            "no-op `package`, Python client (pantsd warm)",
            time_command(package, args.repo, args.runs, {"APKOCI_PANTS_PYTHON_CLIENT": "1"}),
        ),
        (
            "no-op `package` without pantsd",
            time_command([*pants, "--no-pantsd", "package", args.target], args.repo, args.runs),
        ),
    ]
    if tree_digests(args.repo / "dist") != before:
        raise SystemExit("a no-op rebuild changed dist/: it was not a no-op")

    print(f"\nno-change rebuilds of {args.target} on {os.cpu_count()} cores:")
    for label, times in rows:
        print(summary_line(label, times))
    no_op, floor = statistics.median(rows[0][1]), statistics.median(rows[1][1])
    print(
        f"\nno-op with pantsd: {no_op:.2f} s, {no_op - floor:+.2f} s over the floor "
        f"(goal: about {GOAL_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
