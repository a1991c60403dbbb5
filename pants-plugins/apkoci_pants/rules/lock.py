"""Lock files: `generate-lockfiles` writes them, `package` checks them.

Every `apko_image` is a resolve of its own, named by its address: `generate-lockfiles` (or
`--resolve=examples/base:base`) runs the engine's `lock` step, the one step that reads
repositories over the network, and writes the lock file into the workspace. `package` never
resolves: it reads the lock file and fails, saying which command to run, when the lock is missing
or older than the configuration (apko's checksum of the configuration files differs).
"""

from __future__ import annotations

from dataclasses import dataclass

from apkoci_pants.rules.config import StagedConfig, StagedConfigRequest
from apkoci_pants.rules.digests import single_file_at
from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.rules.lockfile import ApkoLock, LockfileError, parse_lock
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


@rule(desc="Locking an apko image's packages")
async def generate_apko_image_lockfile(
    request: GenerateApkoImageLockfile,
) -> GenerateLockfileResult:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="generate-lockfiles"),
    )
    staged = await Get(StagedConfig, StagedConfigRequest, staged_config_request(wrapped.target))
    inputs = await Get(
        Digest,
        MergeDigests([staged.config_digest, staged.keyring_digest, staged.repositories_digest]),
    )
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=("lock", staged.config_name, "-o", _LOCK_OUTPUT),
            description=f"Resolving the packages of {request.address} ({staged.path})",
            input_digest=inputs,
            output_files=(_LOCK_OUTPUT,),
            working_directory=staged.directory or None,
            # Like Python lock files: always ask today's repositories, never a cached answer.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    digest = await single_file_at(result.output_digest, request.lockfile_dest)
    return GenerateLockfileResult(digest, request.resolve_name, request.lockfile_dest)


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
async def read_checked_lock(request: CheckedLockRequest) -> CheckedLock:
    staged = request.config
    command = regenerate_command(staged.address)
    contents = await Get(DigestContents, PathGlobs([request.path]))
    if not contents:
        raise StaleLockfileError(
            f"{staged.address} has no lock file yet ({request.path}): write it with `{command}`."
        )
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
