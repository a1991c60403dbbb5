"""Lock files: `generate-lockfiles` writes them, `package` checks them.

Every `apko_image` is a resolve of its own, named by its address: `generate-lockfiles` (or
`--resolve=examples/base:base`) runs the engine's `lock` step, the one step that reads
repositories over the network, and writes the lock file into the workspace. `package` reads the
lock file and fails, saying which command to run, when it is older than the configuration (apko's
checksum of the configuration files differs). Without a lock file, `package` runs the same `lock`
step for this run only and warns that the build is not reproducible (or fails, with
`[apkoci].require_lockfile`): like apko's `build` without `--lockfile`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apkoci_pants.rules.config import StagedConfig, StagedConfigRequest
from apkoci_pants.rules.digests import single_file_at
from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.rules.lockfile import ApkoLock, LockfileError, parse_lock
from apkoci_pants.subsystems import ApkociSubsystem
from apkoci_pants.target_types import (
    ApkoImageArchsField,
    ApkoImageConfigField,
    ApkoImageLockfileField,
    resolve_name,
)
from pants.core.goals.generate_lockfiles import (
    GenerateLockfile,
    GenerateLockfileResult,
    KnownUserResolveNames,
    KnownUserResolveNamesRequest,
    RequestedUserResolveNames,
    UserGenerateLockfiles,
)
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, MergeDigests, PathGlobs
from pants.engine.process import ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import AllTargets, Targets, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.docutil import bin_name
from pants.util.logging import LogLevel

logger = logging.getLogger(__name__)

# Where the lock step writes, inside the configuration's folder in the sandbox.
_LOCK_OUTPUT = ".apkoci-lock.json"


def regenerate_command(address: Address) -> str:
    return f"{bin_name()} generate-lockfiles --resolve={resolve_name(address)}"


class AllApkoImages(Targets):
    """Every `apko_image` target of the repository."""


@rule(desc="Finding every apko_image", level=LogLevel.DEBUG)
def find_all_apko_images(all_targets: AllTargets) -> AllApkoImages:
    return AllApkoImages(t for t in all_targets if t.has_field(ApkoImageConfigField))


def staged_config_request(target) -> StagedConfigRequest:
    return StagedConfigRequest(
        target.address, target[ApkoImageConfigField], target[ApkoImageArchsField].value
    )


def lockfile_path(target) -> str:
    return target[ApkoImageLockfileField].path(target[ApkoImageConfigField].file_path)


# --- generate-lockfiles ---------------------------------------------------------------------------


class KnownApkoImageResolveNamesRequest(KnownUserResolveNamesRequest):
    pass


class RequestedApkoImageResolveNames(RequestedUserResolveNames):
    pass


@dataclass(frozen=True)
class GenerateApkoImageLockfile(GenerateLockfile):
    address: Address


@rule
def known_apko_image_resolves(
    _: KnownApkoImageResolveNamesRequest, images: AllApkoImages
) -> KnownUserResolveNames:
    return KnownUserResolveNames(
        names=tuple(resolve_name(image.address) for image in images),
        option_name="the addresses of apko_image targets",
        requested_resolve_names_cls=RequestedApkoImageResolveNames,
    )


@rule
def requested_apko_image_lockfiles(
    requested: RequestedApkoImageResolveNames, images: AllApkoImages
) -> UserGenerateLockfiles:
    wanted = set(requested)
    return UserGenerateLockfiles(
        GenerateApkoImageLockfile(
            resolve_name=resolve_name(image.address),
            lockfile_dest=lockfile_path(image),
            diff=False,
            address=image.address,
        )
        for image in images
        if resolve_name(image.address) in wanted
    )


@dataclass(frozen=True)
class ResolveRequest:
    """Resolve the packages of a staged configuration into a lock file at `dest`."""

    config: StagedConfig
    dest: str


@dataclass(frozen=True)
class ResolvedLock:
    """The lock file the engine's `lock` step wrote, at the requested path."""

    digest: Digest
    content: bytes


@rule(desc="Resolving an apko image's packages")
async def resolve_packages(request: ResolveRequest) -> ResolvedLock:
    staged = request.config
    inputs = await Get(
        Digest,
        MergeDigests([staged.config_digest, staged.keyring_digest, staged.repositories_digest]),
    )
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=("lock", staged.config_name, "-o", _LOCK_OUTPUT),
            description=f"Resolving the packages of {staged.address} ({staged.path})",
            input_digest=inputs,
            output_files=(_LOCK_OUTPUT,),
            working_directory=staged.directory or None,
            # Like Python lock files: always ask today's repositories, never a cached answer.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    digest = await single_file_at(result.output_digest, request.dest)
    contents = await Get(DigestContents, Digest, digest)
    return ResolvedLock(digest, contents[0].content)


@rule(desc="Locking an apko image's packages")
async def generate_apko_image_lockfile(
    request: GenerateApkoImageLockfile,
) -> GenerateLockfileResult:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="generate-lockfiles"),
    )
    staged = await Get(StagedConfig, StagedConfigRequest, staged_config_request(wrapped.target))
    resolved = await Get(ResolvedLock, ResolveRequest(staged, request.lockfile_dest))
    return GenerateLockfileResult(resolved.digest, request.resolve_name, request.lockfile_dest)


# --- package: the checked lock --------------------------------------------------------------------


class StaleLockfileError(LockfileError):
    """The lock file is missing or was written for another configuration."""


@dataclass(frozen=True)
class CheckedLockRequest:
    config: StagedConfig
    path: str


@dataclass(frozen=True)
class CheckedLock:
    """A lock file that belongs to the configuration as it is now: its parse, bytes and digest."""

    lock: ApkoLock
    content: bytes
    digest: Digest


@rule(desc="Checking an apko lock file")
async def read_checked_lock(request: CheckedLockRequest, apkoci: ApkociSubsystem) -> CheckedLock:
    staged = request.config
    command = regenerate_command(staged.address)
    contents = await Get(DigestContents, PathGlobs([request.path]))
    if not contents:
        if apkoci.require_lockfile:
            raise StaleLockfileError(
                f"{staged.address} has no lock file yet ({request.path}), and "
                f"[apkoci].require_lockfile is set: write it with `{command}`."
            )
        logger.warning(
            f"{staged.address} has no lock file ({request.path}): resolving its packages from "
            "the repositories for this build. It is not reproducible: it installs whatever the "
            f"repositories hold today. Pin the packages with `{command}`."
        )
        resolved = await Get(ResolvedLock, ResolveRequest(staged, request.path))
        lock = parse_lock(request.path, resolved.content, command)
        return CheckedLock(lock, resolved.content, resolved.digest)
    lock = parse_lock(request.path, contents[0].content, command)
    if lock.config_checksum != staged.checksum:
        configs = ", ".join(staged.user_files)
        raise StaleLockfileError(
            f"The lock file {request.path} of {staged.address} is stale: it was written for "
            f"another version of {configs} (or of the target's `archs`, or of "
            f"`[apkoci].extra_repositories`/`extra_keyring`). Run `{command}` to resolve the "
            "packages again, then package."
        )
    digest = await Get(Digest, PathGlobs([request.path]))
    return CheckedLock(lock, contents[0].content, digest)


def rules():
    return [
        *collect_rules(),
        UnionRule(GenerateLockfile, GenerateApkoImageLockfile),
        UnionRule(KnownUserResolveNamesRequest, KnownApkoImageResolveNamesRequest),
        UnionRule(RequestedUserResolveNames, RequestedApkoImageResolveNames),
    ]
