"""examples/alpine's lock is what `lock_from_index.py` makes of the real Alpine index, exactly.

The lock was written offline from the copy of Alpine's v3.16 x86_64 index kept with the test data;
making it again must give the committed bytes (the script is deterministic, and the lock is true to
that index: every package at the version and with the checksum the index lists, the key pinned by
the sha256 of Alpine's published key).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from apkoci.lock.lockfile import read_lock
from apkoci.testing import shared_testdata
from pants_clone import source_build_root


def test_the_committed_lock_is_the_one_the_index_gives(tmp_path: Path) -> None:
    root = source_build_root()
    index = shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")
    keys = shared_testdata("alpine", "keys")
    example = root / "examples" / "alpine"
    out = tmp_path / "apko.lock.json"
    result = subprocess.run(
        [
            sys.executable,
            str(example / "lock_from_index.py"),
            str(example / "apko.yaml"),
            f"--index=x86_64={index}",
            f"--keys={keys}",
            f"--output={out}",
        ],
        env={**os.environ, "PYTHONPATH": str(root / "src" / "python")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (example / "apko.lock.json").read_bytes()

    lock = read_lock(out)
    assert [p.name for p in lock.contents.packages] == [
        "alpine-baselayout-data",
        "musl",
        "busybox",
        "ca-certificates-bundle",
        "tzdata",
    ]
    assert all(p.checksum.startswith("Q1") and p.sha256 is None for p in lock.contents.packages)
    (key,) = lock.contents.keyring
    assert key.sha256 is not None and key.size == (keys / key.url.rsplit("/", 1)[1]).stat().st_size
