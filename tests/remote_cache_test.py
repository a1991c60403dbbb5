"""A remote cache: what one clone built, a clean clone gets from the cache, with no process run.

One clone builds with empty local caches and writes every result to a BuildGrid server (CAS and
ActionCache) on 127.0.0.1; another, with empty local caches too, reads from it only. Every build
step of the second comes from the remote cache (`HitRemotely`), none starts locally, not even to
race the lookup, and dist/ is byte for byte the first's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pants_clone import HIT_REMOTELY, RAN, Checkout, cold_build, difference
from remote_cache import RemoteCache


def test_a_clean_clone_builds_from_the_remote_cache_alone(
    checkout: Checkout, remote_cache: RemoteCache, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = Path(tmp_path_factory.mktemp("remote"))
    writer = cold_build(checkout, folder / "writer", remote_cache.pants_options(write=True))
    written = writer.run.cacheable()
    assert written and all(p.source == RAN for p in written), writer.run.report()
    counters = writer.run.counters
    assert counters.get("remote_cache_write_successes", 0) >= len(written), counters
    assert counters.get("remote_cache_write_errors") == 0, counters

    reader = cold_build(checkout, folder / "reader", remote_cache.pants_options(write=False))
    read = reader.run.cacheable()
    assert sorted(p.description for p in read) == sorted(p.description for p in written)
    not_remote = [p for p in read if p.source != HIT_REMOTELY or p.started_locally]
    assert not not_remote, reader.run.report()
    assert reader.run.counters.get("remote_cache_read_errors") == 0, reader.run.counters
    assert not difference(writer.dist, reader.dist)
