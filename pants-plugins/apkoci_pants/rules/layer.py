"""The layer steps: split the configuration, install one arch's packages, lay out extra files.

`split-config` separates what shapes the file tree (`filetree.json`) from the image's metadata
(`image.json`), so editing the entrypoint rebuilds no layer. A package layer gets only digests:
the file tree, its arch's part of the lock, the package files and the keyring; so the same
packages give the same layer, cached, whatever image or arch asks for it.

With `layering` in the configuration (it is part of `filetree.json`), the package layer step
writes apko's several layers, package layers by origin and a top layer, into its one output
folder; a `BuiltLayer` is that folder whatever it holds, and the image step reads the list of
blobs from its `layer.json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from apkoci_pants.rules.config import StagedConfig
from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.rules.fetch import (
    KEYRING_FOLDER,
    PACKAGES_FOLDER,
    ArchPackages,
    ArchPackagesRequest,
    Keyring,
)
from apkoci_pants.rules.lock import CheckedLock
from apkoci_pants.rules.lockfile import lock_for_arch
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule

FILETREE = "filetree.json"
IMAGE_CONFIG = "image.json"
LOCK = "lock.json"
# Where the engine writes: each step's output folder, in its sandbox.
_SPLIT_OUTPUT = ".apkoci-split"
_LAYER_OUTPUT = "layer"
_LAYER_INPUT = "contents"


@dataclass(frozen=True)
class SplitConfigRequest:
    config: StagedConfig


@dataclass(frozen=True)
class SplitConfig:
    """`filetree.json` and `image.json`, each alone at the root of its digest."""

    filetree: Digest
    image: Digest


@rule(desc="Splitting an apko configuration into file tree and image metadata")
async def split_config(request: SplitConfigRequest) -> SplitConfig:
    staged = request.config
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=("split-config", staged.config_name, "--output", _SPLIT_OUTPUT),
            description=f"Reading the configuration of {staged.address} ({staged.path})",
            input_digest=staged.config_digest,
            output_directories=(_SPLIT_OUTPUT,),
            working_directory=staged.directory or None,
        ),
    )
    output = await Get(Digest, RemovePrefix(result.output_digest, _SPLIT_OUTPUT))
    filetree, image = await MultiGet(
        Get(Digest, DigestSubset(output, PathGlobs([FILETREE]))),
        Get(Digest, DigestSubset(output, PathGlobs([IMAGE_CONFIG]))),
    )
    return SplitConfig(filetree, image)


@dataclass(frozen=True)
class LayerSettings:
    """What every layer of an image shares: its compression and its files' time."""

    compression: str
    source_date_epoch: Optional[int] = None

    def argv(self) -> Tuple[str, ...]:
        epoch = (
            ()
            if self.source_date_epoch is None
            else ("--source-date-epoch", str(self.source_date_epoch))
        )
        return ("--compression", self.compression, *epoch)


@dataclass(frozen=True)
class BuiltLayer:
    """A layer folder at the root of `digest`: `layer.json` and the blobs it lists, bottom
    first (`layer.tar.gz`, or `layer-0.tar.gz`, `layer-1.tar.gz`... for a layered package layer;
    `.tar.zst` with zstd)."""

    digest: Digest


@dataclass(frozen=True)
class PackageLayerRequest:
    """The layer of one arch's packages: fetched, then installed (one such pipeline per arch)."""

    config: StagedConfig
    arch: str
    filetree: Digest
    lock: CheckedLock
    keyring: Keyring
    settings: LayerSettings


@rule(desc="Building an apko image's package layer")
async def build_package_layer(request: PackageLayerRequest) -> BuiltLayer:
    arch = request.arch
    packages, lock = await MultiGet(
        Get(ArchPackages, ArchPackagesRequest(request.config, request.lock, arch)),
        Get(Digest, CreateDigest([FileContent(LOCK, lock_for_arch(request.lock.content, arch))])),
    )
    inputs = await Get(
        Digest,
        MergeDigests([request.filetree, lock, packages.digest, request.keyring.digest]),
    )
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=(
                "layer",
                "--filetree",
                FILETREE,
                "--lockfile",
                LOCK,
                "--arch",
                arch,
                "--packages",
                PACKAGES_FOLDER,
                "--keyring-dir",
                KEYRING_FOLDER,
                "--output",
                _LAYER_OUTPUT,
                *request.settings.argv(),
            ),
            description=(
                f"Building {arch} layer: {packages.count} packages ({request.config.address})"
            ),
            input_digest=inputs,
            output_directories=(_LAYER_OUTPUT,),
        ),
    )
    return BuiltLayer(await Get(Digest, RemovePrefix(result.output_digest, _LAYER_OUTPUT)))


@dataclass(frozen=True)
class DirectoryLayerRequest:
    """A layer of first-party files: `contents` placed under `prefix` in the image."""

    contents: Digest
    prefix: str
    settings: LayerSettings
    origin: str  # What the files are, for the description: "examples/app:app at /app".


@rule(desc="Building a layer of first-party files")
async def build_directory_layer(request: DirectoryLayerRequest) -> BuiltLayer:
    inputs = await Get(Digest, AddPrefix(request.contents, _LAYER_INPUT))
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=(
                "dir-layer",
                "--dir",
                _LAYER_INPUT,
                "--prefix",
                request.prefix,
                "--output",
                _LAYER_OUTPUT,
                *request.settings.argv(),
            ),
            description=f"Building a layer of {request.origin}",
            input_digest=inputs,
            output_directories=(_LAYER_OUTPUT,),
        ),
    )
    return BuiltLayer(await Get(Digest, RemovePrefix(result.output_digest, _LAYER_OUTPUT)))


def rules():
    return collect_rules()
