"""Caching, proven with Pants' own record of every process a run asks for.

A rebuild with no change runs no process: every build step comes from the local cache. Editing
only what an image says about running it (`entrypoint`, `cmd`, `environment`) reruns the steps
that read the configuration and assemble that image, and no layer: the layers' processes are
cache hits, because their inputs (the file tree part of the configuration, the lock without its
checksum, the packages, the files) did not change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import yaml
from pants_clone import (
    HIT_LOCALLY,
    PACKAGE_EXAMPLES,
    RAN,
    Build,
    PantsRun,
    ProcessRun,
    difference,
    file_digests,
)

# The image whose configuration the test edits: it has first-party layers as well as packages.
APP = "examples/app:image"
APP_CONFIG = "examples/app/apko.yaml"
APP_LOCK = "examples/app/apko.lock.json"
# Its two steps that see the edit (their descriptions, as the plugin's rules write them).
APP_CONFIG_STEP = rf"^Reading the configuration of {APP} "
APP_IMAGE_STEP = rf"^Assembling the image {APP}:"
# Its layers: one per arch of packages, one per first-party dependency.
APP_PACKAGE_LAYERS = rf"^Building \S+ layer: .*\({APP}\)$"
APP_FILE_LAYERS = r"^Building a layer of examples/app:"


def descriptions(processes: List[ProcessRun]) -> List[str]:
    return sorted(p.description for p in processes)


def not_from(source: str, processes: List[ProcessRun]) -> List[str]:
    return [f"{p.source}: {p.description}" for p in processes if p.source != source]


def image_summaries(dist: Path) -> Dict[str, dict]:
    """output folder -> the image step's summary (image.json: index, manifests, layers, tags)."""
    return {
        path.parent.relative_to(dist).as_posix(): json.loads(path.read_text())
        for path in sorted(dist.rglob("image.json"))
        if (path.parent / "oci").is_dir()
    }


def layers_by_arch(summary: dict) -> Dict[str, List[str]]:
    return {arch: manifest["layers"] for arch, manifest in summary["manifests"].items()}


def container_config(dist: Path, folder: str, summary: dict) -> dict:
    """The `config` part of the image config blob of the first arch in `summary`."""
    digest = next(iter(summary["manifests"].values()))["config"].split(":", 1)[1]
    return json.loads((dist / folder / "oci" / "blobs" / "sha256" / digest).read_text())["config"]


def edit_run_settings(config: Path) -> None:
    """Change the entrypoint, the cmd and the environment of an apko.yaml, and nothing else."""
    data = yaml.safe_load(config.read_text())
    data["entrypoint"] = {"command": "/usr/bin/hello --edited"}
    data["cmd"] = "--greeting edited"
    data["environment"] = {**(data.get("environment") or {}), "APKOCI_EDITED": "1"}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_rebuild_with_no_change_runs_no_process(first_build: Build) -> None:
    cold = first_build.run
    steps = cold.cacheable()
    # The record shows processes that run: in the cold build, every build step ran.
    assert steps, cold.report()
    assert not not_from(RAN, steps), cold.report()

    rebuild = first_build.clone.pants(*PACKAGE_EXAMPLES)
    assert descriptions(rebuild.cacheable()) == descriptions(steps), rebuild.report()
    assert not not_from(HIT_LOCALLY, rebuild.cacheable()), rebuild.report()
    assert not difference(first_build.dist, file_digests(first_build.clone.dist))


def run_by_pattern(run: PantsRun, pattern: str) -> List[ProcessRun]:
    found = run.matching(pattern)
    assert found, f"no process matches {pattern!r}; {run.report()}"
    return found


def test_editing_entrypoint_cmd_environment_reruns_no_layer(first_build: Build) -> None:
    clone = first_build.clone
    before = image_summaries(clone.dist)
    with clone.preserving(APP_CONFIG, APP_LOCK):
        edit_run_settings(clone.root / APP_CONFIG)
        # The lock records a checksum of the configuration: it must be written again, as a user
        # would after any edit (the packages it pins stay the same).
        clone.pants("generate-lockfiles", f"--resolve={APP}")
        edited = clone.pants(*PACKAGE_EXAMPLES)
        after = image_summaries(clone.dist)
        changed = [folder for folder in before if before[folder] != after[folder]]
        assert len(changed) == 1, changed
        folder = changed[0]
        settings = container_config(clone.dist, folder, after[folder])
    # Back to the configuration and lock as they were (before any assertion, so that the tests
    # after this one find the first build's files in dist/ again).
    restored = clone.pants(*PACKAGE_EXAMPLES)

    # Exactly the two steps that see the edit ran: reading the configuration, assembling the image.
    ran = [p for p in edited.cacheable() if p.source == RAN]
    assert len(ran) == 2, edited.report()
    assert run_by_pattern(edited, APP_CONFIG_STEP)[0].source == RAN, edited.report()
    assert run_by_pattern(edited, APP_IMAGE_STEP)[0].source == RAN, edited.report()
    # Every layer of the image came from the cache; so did everything else.
    layers = run_by_pattern(edited, APP_PACKAGE_LAYERS) + run_by_pattern(edited, APP_FILE_LAYERS)
    assert not not_from(HIT_LOCALLY, layers), edited.report()

    # The image is another, which says what the edit said, with the very same layers.
    assert after[folder]["index"]["digest"] != before[folder]["index"]["digest"]
    assert settings["Entrypoint"] == ["/usr/bin/hello", "--edited"]
    assert settings["Cmd"] == ["--greeting", "edited"]
    assert "APKOCI_EDITED=1" in settings["Env"]
    assert layers_by_arch(after[folder]) == layers_by_arch(before[folder])

    # The configuration as it was gives the first build's files again, all from the cache.
    assert not not_from(HIT_LOCALLY, restored.cacheable()), restored.report()
    assert not difference(first_build.dist, file_digests(clone.dist))
