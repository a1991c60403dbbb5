"""Fixtures of the end-to-end tests: one snapshot of the repository, clean clones of it built once.

A build is slow (a Pants start, a cold cache), so every clone is built once per session and the
tests that look at it share it; they run in one pytest process (`batch_compatibility_tag` in
BUILD). A test that changes a clone puts it back as it found it.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from pants_clone import Build, Checkout, cold_build, source_build_root
from remote_cache import RemoteCache, start_remote_cache


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """The repository's files as they are when the session starts; every clone copies them."""
    return Checkout.snapshot(source_build_root(), tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="session")
def first_build(checkout: Checkout, tmp_path_factory: pytest.TempPathFactory) -> Build:
    return cold_build(checkout, tmp_path_factory.mktemp("first-clone"))


@pytest.fixture(scope="session")
def second_build(checkout: Checkout, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Another clean clone, built independently of the first (no cache in common)."""
    return cold_build(checkout, tmp_path_factory.mktemp("second-clone"))


@pytest.fixture(scope="session")
def remote_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteCache]:
    server = start_remote_cache(tmp_path_factory.mktemp("buildgrid"))
    try:
        yield server
    finally:
        server.stop()
