"""Helpers for tests: where the shared, read-only test data lives.

The real-world data (Alpine indexes, apk-tools' vectors, ...) sits beside the repository in
``../shared/testdata`` and is never copied into it. Pants runs tests in a sandbox that hides
``../shared``, so ``pants.toml`` passes the path in as ``APKOCI_TESTDATA``; outside Pants the path
is found from this file's location.
"""

from __future__ import annotations

import os
from pathlib import Path


def _default_testdata_dir() -> Path:
    # src/python/apkoci/testing.py -> the repository root is three levels above the package.
    return Path(__file__).resolve().parents[3].parent / "shared" / "testdata"


def shared_testdata_dir() -> Path:
    env = os.environ.get("APKOCI_TESTDATA")
    return Path(env) if env else _default_testdata_dir()


def shared_testdata(*parts: str) -> Path:
    """The path of a shared test-data file or folder; skips the test where it is missing.

    Under CI (``CI=true``) missing data is an error instead: a skipped test is a failed promise.
    """
    import pytest

    path = shared_testdata_dir().joinpath(*parts)
    if not path.exists():
        message = (
            f"shared test data {path} is missing: clone the repository beside ../shared/testdata "
            "or point APKOCI_TESTDATA at it"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
