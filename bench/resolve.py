"""Benchmark: a cold `apkoci resolve` on the real Alpine v3.16 x86_64 index.

Each run is a fresh process (interpreter start, imports, reading the signed index, verifying its
signature, parsing ~4,900 packages, resolving), as a user or a Pants process would run it. It prints
wall time and peak memory per world, the median of several runs, beside two references measured
in the same run on the same machine:

- `python -c pass` with the same interpreter: the floor any Python CLI pays;
- `gzip -dc APKINDEX.tar.gz`: the floor of just reading the index.

Each world is measured as the environment runs Python (with PYTHONDONTWRITEBYTECODE set, every run
compiles the engine's modules from source), and again with a bytecode cache (a private
PYTHONPYCACHEPREFIX, filled by a first run): what an installed package or a Pants sandbox sees.

apk-tools 2.14 itself needs about 0.16 s and 24 MiB for the large world (measured under CPU
emulation,
as no apk-tools runs natively here).

Run it by hand: `python bench/resolve.py` (from the repository root, with the engine's dependencies
installed, or `PYTHONPATH=src/python`). `--runs N` sets the repetitions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("APKOCI_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))
INDEX_DIR = TESTDATA / "alpine" / "v3.16-main-x86_64"
KEYS_DIR = TESTDATA / "alpine" / "keys"

WORLDS: Dict[str, Tuple[str, ...]] = {
    "small": ("busybox",),
    "large": (
        "busybox",
        "perl-list-someutils",
        "squid-lang-fr",
        "lftp",
        "avahi-dev",
        "hylafax-lang",
        "libtasn1-dev",
        "avahi-ui-dev",
        "uwsgi-notfound",
    ),
}


def measure_with_rusage(argv: Sequence[str], env: Dict[str, str]) -> Tuple[float, float, bytes]:
    """Runs a command to completion; returns (wall seconds, peak RSS in MiB, stdout).

    wait4 gives the rusage of that one child, so the peak memory of runs does not mix.
    """
    start = time.perf_counter()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.dup2(write_end, 1)
        os.close(read_end)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execvpe(argv[0], list(argv), env)
    os.close(write_end)
    chunks: List[bytes] = []
    with os.fdopen(read_end, "rb") as pipe:
        for chunk in iter(lambda: pipe.read(65536), b""):
            chunks.append(chunk)
    _, status, rusage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {status}")
    # ru_maxrss is in KiB on Linux.
    return wall, rusage.ru_maxrss / 1024, b"".join(chunks)


def summarize(label: str, runs: List[Tuple[float, float, bytes]], note: str = "") -> None:
    walls = [run[0] for run in runs]
    peaks = [run[1] for run in runs]
    print(
        f"{label:<34} wall median {statistics.median(walls):6.3f} s  (min {min(walls):.3f})  "
        f"peak RSS {max(peaks):6.1f} MiB  {note}"
    )


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Prints the figures; returns how many packages each world resolved to (for the smoke test)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    if not INDEX_DIR.exists():
        raise SystemExit(f"missing test data: {INDEX_DIR} (set APKOCI_TESTDATA)")

    # The child processes import the engine from wherever this interpreter finds it.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    print(f"python: {args.python} ({sys.version.split()[0]} runs this script); runs: {args.runs}")
    print(f"index: {INDEX_DIR / 'APKINDEX.tar.gz'}")

    summarize(
        "reference: python -c pass",
        [measure_with_rusage([args.python, "-c", "pass"], env) for _ in range(args.runs)],
    )
    summarize(
        "reference: gzip -dc APKINDEX.tar.gz",
        [
            measure_with_rusage(["gzip", "-dc", str(INDEX_DIR / "APKINDEX.tar.gz")], env)
            for _ in range(args.runs)
        ],
    )
    # A repository is the folder above <arch>/APKINDEX.tar.gz, as in apko.yaml; the test data keeps
    # the index in a folder named after the release, so lay a repository over it with a symlink.
    with tempfile.TemporaryDirectory() as repository, tempfile.TemporaryDirectory() as cache:
        (Path(repository) / "x86_64").mkdir()
        (Path(repository) / "x86_64" / "APKINDEX.tar.gz").symlink_to(INDEX_DIR / "APKINDEX.tar.gz")
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = cache
        counts = {}
        for name, world in WORLDS.items():
            counts[name] = bench_world(args, env, repository, name, world)
            bench_world(args, cached, repository, name, world, "bytecode cached")
    print("apk-tools 2.14 (reported): large world about 0.16 s, 24 MiB")
    return counts


def bench_world(
    args: argparse.Namespace,
    env: Dict[str, str],
    repository: str,
    name: str,
    world: Sequence[str],
    how: str = "",
) -> int:
    argv = [
        args.python,
        "-m",
        "apkoci",
        "resolve",
        "--repository",
        repository,
        "--keyring",
        str(KEYS_DIR),
        "--arch",
        "x86_64",
        *world,
    ]
    if how:
        measure_with_rusage(argv, env)  # a first run, to fill the bytecode cache
    runs = [measure_with_rusage(argv, env) for _ in range(args.runs)]
    count = len(runs[0][2].splitlines())
    label = f"apkoci resolve ({name} world)" if not how else f"  same, {how}"
    summarize(label, runs, f"{count} packages")
    return count


if __name__ == "__main__":
    main()
