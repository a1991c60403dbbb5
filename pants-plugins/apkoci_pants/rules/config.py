"""Staging an `apko.yaml`: the files it reads, where the engine runs, and apko's checksum of it.

The engine runs in the configuration's folder, as `apko build apko.yaml` would, so every relative
path in it keeps its meaning: `include` relative to the including file, keyring keys and local
repositories relative to the configuration's folder. The files those paths name are found here, by
reading just those keys of the YAML, and put in the sandbox from the workspace; nothing outside
the build root is reachable, so absolute paths and paths leaving the build root are errors. A local
repository whose folder is that of an `apk_repository` the image depends on is built instead of
read (see apk.py).

Options that change what an image resolves to (`[apkoci].extra_repositories` / `extra_keyring`,
the target's `archs`) go into a small wrapper configuration that includes the user's; the
engine's own include rules append its lists and let its `archs` win. The lock's checksum then
covers them, so changing one makes the lock stale, as editing `apko.yaml` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import yaml  # pants: no-infer-dep (PyYAML comes with pantsbuild.pants)
from apkoci_pants.rules.apk import LocalRepositories, LocalRepositoriesRequest
from apkoci_pants.subsystems import ApkociSubsystem, ApkoImageError
from apkoci_pants.target_types import ApkoImageConfigField
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    FileContent,
    GlobExpansionConjunction,
    GlobMatchErrorBehavior,
    PathGlobs,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import HydratedSources, HydrateSourcesRequest

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
WRAPPER_PREFIX = ".apkoci-"


@dataclass(frozen=True)
class ConfigReferences:
    """The local files one configuration file names, as written in it."""

    include: Optional[str] = None
    keyring: Tuple[str, ...] = ()
    repositories: Tuple[str, ...] = ()


def _strings(value: object) -> List[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def is_local(reference: str) -> bool:
    """Whether a keyring entry or repository names a local file (a path or `file://` URL)."""
    return reference.startswith("file://") or not _URL_SCHEME.match(reference)


def config_references(content: bytes) -> ConfigReferences:
    """The `include`, local keyring keys and local repositories (tags removed) of one file.

    A file that does not parse names nothing here: the engine reads it next and reports the
    problem with its line number, which a second, rougher parser here could only blur.
    """
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return ConfigReferences()
    if not isinstance(data, dict):
        return ConfigReferences()
    contents = data.get("contents")
    if not isinstance(contents, dict):
        contents = {}
    repositories = [
        # "@tag path" serves the packages pinned name@tag from path.
        spelling.split()[-1]
        for key in ("repositories", "build_repositories")
        for spelling in _strings(contents.get(key))
        if spelling.split()
    ]
    include = data.get("include")
    return ConfigReferences(
        include=include if isinstance(include, str) and include else None,
        keyring=tuple(key for key in _strings(contents.get("keyring")) if is_local(key)),
        repositories=tuple(repo for repo in repositories if is_local(repo)),
    )


def workspace_path(reference: str, base: str, what: str) -> str:
    """The build-root path of `reference`, a relative path in a configuration read from `base`.

    Raises an error saying what to do when the path is absolute (a `file://` URL is) or leaves the
    build root: the sandbox only holds files of the workspace.
    """
    path = reference[len("file://") :] if reference.startswith("file://") else reference
    joined = posixpath.normpath(posixpath.join(base, path))
    if posixpath.isabs(path) or joined == ".." or joined.startswith("../"):
        raise ApkoImageError(
            f"{what} is {reference!r}, which is outside the build root. Pants builds images from "
            "the workspace's files only: put the file or folder in the repository and name it "
            f"relative to the configuration's folder ({base or '.'}/), e.g. './packages'."
        )
    return joined


def apko_checksum(contents: Iterable[bytes]) -> str:
    """apko's lock-file checksum of a configuration: `sha256-` + base64 SHA-256 of its files.

    The files are the configuration, then each file it includes, in the order they are read.
    """
    digest = hashlib.sha256()
    for content in contents:
        digest.update(content)
    return "sha256-" + base64.b64encode(digest.digest()).decode("ascii")


def wrapper_config(
    config_name: str,
    archs: Optional[Sequence[str]],
    repositories: Sequence[str],
    keyring: Sequence[str],
) -> Optional[bytes]:
    """The wrapper configuration adding `archs` and more repositories and keys; None if needless.

    JSON is YAML; sorted keys and a fixed layout make the bytes (and so the checksum) stable.
    """
    if not archs and not repositories and not keyring:
        return None
    data: dict = {"include": config_name}
    if archs:
        data["archs"] = list(archs)
    contents = {
        key: list(values)
        for key, values in (("repositories", repositories), ("keyring", keyring))
        if values
    }
    if contents:
        data["contents"] = contents
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass(frozen=True)
class StagedConfigRequest:
    address: Address
    config: ApkoImageConfigField
    archs: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class StagedConfig:
    """An image's configuration, ready to hand to the engine.

    `directory` is the configuration's folder, the engine's working directory; `config_name` is
    the file to pass it (the wrapper, if any), relative to `directory`. `files` are the build-root
    paths of the configuration files in apko's checksum order, and `checksum` is that checksum.
    `keyring` and `repositories` are the local keys and repository folders they name;
    `repository_targets` the `apk_repository` dependencies that were built for some of them.
    """

    address: Address
    path: str
    directory: str
    config_name: str
    files: Tuple[str, ...]
    checksum: str
    config_digest: Digest
    keyring: Tuple[str, ...]
    keyring_digest: Digest
    repositories: Tuple[str, ...]
    repositories_digest: Digest
    repository_targets: Tuple[Address, ...] = ()

    @property
    def user_files(self) -> Tuple[str, ...]:
        """The configuration files of the repository (`files` without the wrapper)."""
        return tuple(p for p in self.files if not posixpath.basename(p).startswith(WRAPPER_PREFIX))

    def relative(self, path: str) -> str:
        """`path` (from the build root) as the engine, running in `directory`, must spell it."""
        return posixpath.relpath(path, self.directory or ".")


@rule(desc="Reading an apko configuration and the files it names")
async def stage_config(request: StagedConfigRequest, apkoci: ApkociSubsystem) -> StagedConfig:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(request.config))
    (config_path,) = hydrated.snapshot.files
    directory, config_name = posixpath.split(config_path)

    # Read the include chain, one file at a time: each file says which one comes next.
    file_contents: List[FileContent] = list(
        await Get(DigestContents, Digest, hydrated.snapshot.digest)
    )
    references = [config_references(file_contents[0].content)]
    while references[-1].include is not None:
        including = file_contents[-1].path
        include = workspace_path(
            references[-1].include,
            posixpath.dirname(including),
            f"The `include` of {including}",
        )
        if include in (f.path for f in file_contents):
            break  # A cycle: the engine names it.
        found = await Get(DigestContents, PathGlobs([include]))
        if not found:
            break  # Missing: the engine says where it looked.
        file_contents.append(found[0])
        references.append(config_references(found[0].content))

    def local(values: Iterable[str], base: str, what: str) -> Tuple[str, ...]:
        return tuple(workspace_path(v, base, what) for v in values if is_local(v))

    # Relative paths in any of the files are relative to the top configuration's folder.
    read = list(zip((f.path for f in file_contents), references))
    keyring = _unique(
        [
            *(p for path, refs in read for p in local(refs.keyring, directory, f"A key of {path}")),
            *local(apkoci.extra_keyring, "", "An entry of [apkoci].extra_keyring"),
        ]
    )
    repositories = _unique(
        [
            *(
                p
                for path, refs in read
                for p in local(refs.repositories, directory, f"A repository of {path}")
            ),
            *local(apkoci.extra_repositories, "", "An entry of [apkoci].extra_repositories"),
        ]
    )

    def spelled_for_config(value: str) -> str:
        # The options name local files from the build root; the wrapper beside the configuration.
        return (
            posixpath.relpath(posixpath.normpath(value), directory or ".")
            if is_local(value)
            else value
        )

    wrapper = wrapper_config(
        config_name,
        request.archs,
        [spelled_for_config(r) for r in apkoci.extra_repositories],
        [spelled_for_config(k) for k in apkoci.extra_keyring],
    )
    if wrapper is not None:
        config_name = WRAPPER_PREFIX + config_name
        file_contents.insert(0, FileContent(posixpath.join(directory, config_name), wrapper))

    config_digest, keyring_digest, local_repositories = await MultiGet(
        Get(Digest, CreateDigest(file_contents)),
        Get(
            Digest,
            PathGlobs(
                keyring,
                glob_match_error_behavior=GlobMatchErrorBehavior.error,
                conjunction=GlobExpansionConjunction.all_match,
                description_of_origin=f"the keyring of {request.address}",
            ),
        ),
        # Read from the workspace, or built: an `apk_repository` the image depends on.
        Get(LocalRepositories, LocalRepositoriesRequest(request.address, repositories)),
    )
    return StagedConfig(
        address=request.address,
        path=config_path,
        directory=directory,
        config_name=config_name,
        files=tuple(f.path for f in file_contents),
        checksum=apko_checksum(f.content for f in file_contents),
        config_digest=config_digest,
        keyring=keyring,
        keyring_digest=keyring_digest,
        repositories=repositories,
        repositories_digest=local_repositories.digest,
        repository_targets=local_repositories.targets,
    )


def _unique(paths: Iterable[str]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(paths))


def rules():
    return collect_rules()
