"""The resolver on real Alpine indexes, against what apk-tools 2.14.0 answered for the same worlds.

``alpine/expected-resolutions.json`` was recorded with ``apk add --simulate`` into a fresh root
(v3.16 main x86_64 and v3.17 main aarch64, all Alpine keys). Each case must give the same
``(name, version)`` list in the same order, or fail with the report apk printed.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Dict, List

import pytest
from apkoci.apk.repository import Repository, RepositoryIndex, read_index_archive
from apkoci.apk.signature import Keyring
from apkoci.apk.solver import (
    PackageDatabase,
    Resolution,
    UnsatisfiableError,
    order_violations,
    resolve,
)
from apkoci.testing import shared_testdata, shared_testdata_dir

# The benchmark world of the project: 219 packages out of 4,929 on v3.16 x86_64.
LARGE_WORLD = [
    "busybox",
    "perl-list-someutils",
    "squid-lang-fr",
    "lftp",
    "avahi-dev",
    "hylafax-lang",
    "libtasn1-dev",
    "avahi-ui-dev",
    "uwsgi-notfound",
]
LARGE_WORLD_PACKAGES = 219


@functools.lru_cache(maxsize=None)
def alpine_index(folder: str, arch: str) -> RepositoryIndex:
    """The signature-verified index of one of the recorded Alpine repositories."""
    keyring = Keyring.from_paths([shared_testdata("alpine", "keys")])
    path = shared_testdata("alpine", folder, "APKINDEX.tar.gz")
    description, packages = read_index_archive(path, keyring, source=str(path))
    return RepositoryIndex(Repository(url=str(path.parent)), arch, description, packages)


def _expected_cases() -> List[Dict[str, Any]]:
    path = shared_testdata_dir() / "alpine" / "expected-resolutions.json"
    if not path.is_file():
        return [{"missing": True}]  # skips (or fails under CI) in shared_testdata()
    return json.loads(path.read_text())["cases"]


def _case_id(case: Dict[str, Any]) -> str:
    if case.get("missing"):
        return "missing-data"
    return f"{case['index']}:{'+'.join(case['world'])}"


def _assert_order_is_sound(resolution: Resolution) -> None:
    assert order_violations(resolution) == ()


@pytest.mark.parametrize("case", _expected_cases(), ids=_case_id)
def test_resolution_matches_apk(case: Dict[str, Any]) -> None:
    shared_testdata("alpine", "expected-resolutions.json")
    index = alpine_index(case["index"], case["arch"])
    if case["ok"]:
        resolution = resolve(case["world"], [index], case["arch"])
        assert [[p.name, p.version] for p in resolution.packages] == case["install"]
        assert all(p.repository == index.repository for p in resolution.packages)
        _assert_order_is_sound(resolution)
    else:
        with pytest.raises(UnsatisfiableError) as raised:
            resolve(case["world"], [index], case["arch"])
        assert f"ERROR: {raised.value}\n" == case["error"]


def test_large_world_on_v316() -> None:
    index = alpine_index("v3.16-main-x86_64", "x86_64")
    assert len(index.packages) == 4929
    resolution = resolve(LARGE_WORLD, [index], "x86_64")
    assert len(resolution) == LARGE_WORLD_PACKAGES
    assert len(set(resolution.names())) == LARGE_WORLD_PACKAGES
    assert set(LARGE_WORLD) <= set(resolution.names())
    _assert_order_is_sound(resolution)


def test_alpine_packages_alone_resolve_or_fail_cleanly() -> None:
    """A sweep over a third of the v3.17 index (every third name, ~1,700 worlds): each package as
    the only world entry either resolves to a sound order or fails with a report."""
    index = alpine_index("v3.17-main-aarch64", "aarch64")
    database = PackageDatabase([index], "aarch64")
    failures = 0
    for name in sorted({package.name for package in index.packages})[::3]:
        try:
            resolution = database.resolve([name])
        except UnsatisfiableError as error:
            failures += 1
            assert error.problems and str(error).startswith("unable to select packages:")
            continue
        assert name in resolution.names()
        assert order_violations(resolution) == (), name
    assert failures < 10  # v3.17 main: tiny-cloud-aws needs nvme-cli, which is in community
