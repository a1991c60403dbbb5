"""Two clean clones, each with empty caches of its own, build byte-identical images."""

from __future__ import annotations

from pants_clone import RAN, Build, difference, index_digests


def test_two_clean_clones_build_identical_images(first_build: Build, second_build: Build) -> None:
    for build in (first_build, second_build):
        steps = build.run.cacheable()
        # Each clone built everything itself: no result came from a cache, local or remote.
        assert steps and all(p.source == RAN for p in steps), build.run.report()

    digests = index_digests(first_build.run)
    assert digests, f"`package` printed no image index digest:\n{first_build.run.stderr}"
    assert index_digests(second_build.run) == digests
    # Every byte under dist/: OCI layouts, docker archives, SBOMs, and the APK repository.
    assert first_build.dist, "the first build wrote nothing to dist/"
    assert not difference(first_build.dist, second_build.dist)
