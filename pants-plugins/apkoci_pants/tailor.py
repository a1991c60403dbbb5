"""`pants tailor`: an `apko_image` beside every apko configuration that no target owns yet.

`apko.yaml` gets a target named after its folder (`examples/base:base`, which is also the name
of its lock file's resolve); `<name>.apko.yaml` gets one named `<name>`, with `config` set.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from apkoci_pants.subsystems import ApkociSubsystem
from apkoci_pants.target_types import DEFAULT_CONFIG, ApkoImageTarget
from pants.core.goals.tailor import (
    AllOwnedSources,
    PutativeTarget,
    PutativeTargets,
    PutativeTargetsRequest,
)
from pants.engine.fs import PathGlobs, Paths
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

NAMED_CONFIG_SUFFIX = ".apko.yaml"


@dataclass(frozen=True)
class PutativeApkoImageTargetsRequest(PutativeTargetsRequest):
    pass


def putative_apko_image(config_path: str) -> PutativeTarget:
    directory, file_name = posixpath.split(config_path)
    if file_name == DEFAULT_CONFIG:
        return PutativeTarget.for_target_type(
            ApkoImageTarget, path=directory, name=None, triggering_sources=[file_name]
        )
    name = file_name[: -len(NAMED_CONFIG_SUFFIX)]
    return PutativeTarget(
        directory,
        name,
        ApkoImageTarget.alias,
        triggering_sources=[file_name],
        owned_sources=[file_name],
        kwargs={"config": file_name},
    )


@rule(level=LogLevel.DEBUG, desc="Finding apko configurations without an apko_image")
async def find_putative_apko_images(
    request: PutativeApkoImageTargetsRequest,
    all_owned_sources: AllOwnedSources,
    apkoci: ApkociSubsystem,
) -> PutativeTargets:
    if not apkoci.tailor:
        return PutativeTargets()
    configs = await Get(
        Paths, PathGlobs, request.path_globs(DEFAULT_CONFIG, f"*{NAMED_CONFIG_SUFFIX}")
    )
    unowned = sorted(set(configs.files) - set(all_owned_sources))
    return PutativeTargets(putative_apko_image(path) for path in unowned)


def rules():
    return [*collect_rules(), UnionRule(PutativeTargetsRequest, PutativeApkoImageTargetsRequest)]
