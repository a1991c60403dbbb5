"""`pants package` for `apko_image`: from a checked lock to an image under `dist/`.

The pipeline, every step a cached process on digests only:

    config ──split-config──> filetree.json ─┐
    lock (checked) ── per arch: fetch ──────┴─ layer ─┐
    dependencies ── each: files or package ── dir-layer ┴─ image ──> dist/<output_path>/

Archs run in parallel, and so do the dependencies' layers, which every arch shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

from apkoci_pants.rules.config import StagedConfig, StagedConfigRequest
from apkoci_pants.rules.fetch import Keyring, KeyringRequest
from apkoci_pants.rules.image import BuiltImage, ImageRequest
from apkoci_pants.rules.layer import (
    BuiltLayer,
    DirectoryLayerRequest,
    LayerSettings,
    PackageLayerRequest,
    SplitConfig,
    SplitConfigRequest,
)
from apkoci_pants.rules.lock import CheckedLock, CheckedLockRequest
from apkoci_pants.subsystems import ApkociSubsystem, ApkoImageError
from apkoci_pants.target_types import (
    ApkoImageAnnotationsField,
    ApkoImageArchsField,
    ApkoImageCompressionField,
    ApkoImageConfigField,
    ApkoImageDependenciesField,
    ApkoImageFormatsField,
    ApkoImageLayersField,
    ApkoImageLockfileField,
    ApkoImageOutputPathField,
    ApkoImageRepositoryField,
    ApkoImageTagsField,
)
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    EnvironmentAwarePackageRequest,
    PackageFieldSet,
)
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import AddPrefix, Digest, MergeDigests, Snapshot
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    FieldSet,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    InferDependenciesRequest,
    InferredDependencies,
    SourcesField,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.engine.unions import UnionRule

ROOT = "/"


@dataclass(frozen=True)
class ApkoImageFieldSet(PackageFieldSet):
    required_fields = (ApkoImageConfigField,)

    config: ApkoImageConfigField
    lockfile: ApkoImageLockfileField
    archs: ApkoImageArchsField
    repository: ApkoImageRepositoryField
    image_tags: ApkoImageTagsField
    annotations: ApkoImageAnnotationsField
    output_path: ApkoImageOutputPathField
    formats: ApkoImageFormatsField
    compression: ApkoImageCompressionField
    dependencies: ApkoImageDependenciesField
    layers: ApkoImageLayersField

    @property
    def references(self) -> Tuple[str, ...]:
        """`repository:tag` for every tag."""
        repository = self.repository.value_or_default()
        return tuple(f"{repository}:{tag}" for tag in self.image_tags.value or ())


# --- SOURCE_DATE_EPOCH ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceDateEpoch:
    """The time for the layers' files and `created`; None leaves it to the engine (packages')."""

    seconds: Optional[int]


@rule
async def source_date_epoch(apkoci: ApkociSubsystem) -> SourceDateEpoch:
    policy = apkoci.source_date_epoch_policy
    if not policy.from_environment:
        return SourceDateEpoch(policy.seconds)
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["SOURCE_DATE_EPOCH"]))
    value = env.get("SOURCE_DATE_EPOCH", "")
    if not re.fullmatch(r"[0-9]+", value):
        raise ApkoImageError(
            "[apkoci].source_date_epoch is `environment`, but SOURCE_DATE_EPOCH is "
            f"{'unset' if not value else repr(value)}: set it to a number of seconds since 1970 "
            "(e.g. `export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`), or choose another "
            "policy."
        )
    return SourceDateEpoch(int(value))


# --- First-party layers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApkoImageLayersInferenceFieldSet(FieldSet):
    required_fields = (ApkoImageLayersField,)

    layers: ApkoImageLayersField


class InferApkoImageLayerDependencies(InferDependenciesRequest):
    infer_from = ApkoImageLayersInferenceFieldSet


def _layer_addresses_request(
    address: Address, layers: ApkoImageLayersField
) -> UnparsedAddressInputs:
    return UnparsedAddressInputs(
        (layers.value or {}).keys(),
        owning_address=address,
        description_of_origin=f"the `{ApkoImageLayersField.alias}` field of {address}",
    )


@rule(desc="Finding the targets an apko image layers")
async def infer_layer_dependencies(
    request: InferApkoImageLayerDependencies,
) -> InferredDependencies:
    field_set = request.field_set
    addresses = await Get(
        Addresses,
        UnparsedAddressInputs,
        _layer_addresses_request(field_set.address, field_set.layers),
    )
    return InferredDependencies(addresses)


@dataclass(frozen=True)
class DependencyLayerRequest:
    """The layer of one dependency: its package, or its (transitive) files, under `prefix`."""

    image: Address
    dependency: Address
    prefix: str
    settings: LayerSettings


@rule(desc="Building an image layer from a dependency")
async def build_dependency_layer(request: DependencyLayerRequest) -> BuiltLayer:
    targets = await Get(Targets, Addresses([request.dependency]))
    packageable = await Get(FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets))
    if packageable.field_sets:
        built = await MultiGet(
            Get(BuiltPackage, EnvironmentAwarePackageRequest(field_set))
            for field_set in packageable.field_sets
        )
        digest = await Get(Digest, MergeDigests(package.digest for package in built))
    else:
        transitive = await Get(TransitiveTargets, TransitiveTargetsRequest([request.dependency]))
        sources = await Get(
            SourceFiles,
            SourceFilesRequest(
                (t.get(SourcesField) for t in transitive.closure),
                for_sources_types=(FileSourceField, ResourceSourceField),
                enable_codegen=True,
            ),
        )
        digest = sources.snapshot.digest
    snapshot = await Get(Snapshot, Digest, digest)
    if not snapshot.files:
        raise ApkoImageError(
            f"{request.dependency}, a dependency of {request.image}, gives the image no files: an "
            "image layer comes from `files`, `resources` or `relocated_files` targets, or from a "
            "target `pants package` can build. Remove it from `dependencies`/`layers`, or point "
            "at such a target."
        )
    return await Get(
        BuiltLayer,
        DirectoryLayerRequest(
            digest, request.prefix, request.settings, f"{request.dependency} at {request.prefix}"
        ),
    )


# --- The package rule -----------------------------------------------------------------------------


@rule(desc="Packaging an apko image")
async def package_apko_image(
    field_set: ApkoImageFieldSet, apkoci: ApkociSubsystem, epoch: SourceDateEpoch
) -> BuiltPackage:
    address = field_set.address
    settings = LayerSettings(apkoci.compression_or(field_set.compression.value), epoch.seconds)
    staged = await Get(
        StagedConfig, StagedConfigRequest(address, field_set.config, field_set.archs.value)
    )
    lock_path = field_set.lockfile.path(staged.path)
    checked = await Get(CheckedLock, CheckedLockRequest(staged, lock_path))

    # The dependencies, in layer order: those `layers` places (as written), then the rest at `/`.
    layer_addresses, dependencies = await MultiGet(
        Get(Addresses, UnparsedAddressInputs, _layer_addresses_request(address, field_set.layers)),
        Get(Addresses, DependenciesRequest(field_set.dependencies)),
    )
    placed = {
        dependency: prefix
        for dependency, prefix in zip(layer_addresses, (field_set.layers.value or {}).values())
    }
    layer_sources = [
        *placed.items(),
        *(
            (dependency, ROOT)
            for dependency in sorted(dependencies)
            # An `apk_repository` is where packages come from, not a layer.
            if dependency not in placed and dependency not in staged.repository_targets
        ),
    ]

    split, keyring = await MultiGet(
        Get(SplitConfig, SplitConfigRequest(staged)),
        Get(Keyring, KeyringRequest(staged, checked)),
    )
    archs = checked.lock.archs
    # One pipeline per arch (fetch, install) and one per dependency, all in parallel.
    layers = await MultiGet(
        [
            *(
                Get(
                    BuiltLayer,
                    PackageLayerRequest(staged, arch, split.filetree, checked, keyring, settings),
                )
                for arch in archs
            ),
            *(
                Get(BuiltLayer, DependencyLayerRequest(address, dependency, prefix, settings))
                for dependency, prefix in layer_sources
            ),
        ]
    )
    arch_layers, extra_layers = layers[: len(archs)], layers[len(archs) :]
    image = await Get(
        BuiltImage,
        ImageRequest(
            address=address,
            image_config=split.image,
            arch_layers=tuple(zip(archs, arch_layers)),
            extra_layers=tuple(extra_layers),
            references=field_set.references,
            formats=tuple(field_set.formats.value or ()),
            annotations=tuple((field_set.annotations.value or {}).items()),
        ),
    )

    output_folder = field_set.output_path.value_or_default(file_ending=None)
    digest = await Get(Digest, AddPrefix(image.digest, output_folder))
    snapshot = await Get(Snapshot, Digest, image.digest)
    written = sorted({path.split("/", 1)[0] for path in snapshot.files})
    index_line = (f"index digest {image.index_digest}",) if image.index_digest else ()
    return BuiltPackage(
        digest,
        tuple(
            BuiltPackageArtifact(f"{output_folder}/{name}", index_line if name == "oci" else ())
            for name in written
        ),
    )


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, ApkoImageFieldSet),
        UnionRule(InferDependenciesRequest, InferApkoImageLayerDependencies),
    ]
