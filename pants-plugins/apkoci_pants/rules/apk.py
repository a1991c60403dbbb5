"""Building `apk_package` and `apk_repository` targets, and handing repositories to images.

The steps, each a cached engine process:

    apk_package ── apkoci package ──> <name>-<version>.apk ─┐ (noarch: into every arch)
    ...                                                     ├─ per arch: apkoci index ──>
    apk_package ── apkoci package ──> <name>-<version>.apk ─┘   <arch>/APKINDEX.tar.gz

A package is built once, whatever the number of archs or repositories it is in. An `apko_image`
that depends on an `apk_repository` gets the built repository at the folder its address names
(`repository_folder`), where its `apko.yaml` refers to it like any local repository: see
`stage_local_repositories`, which `config.py` calls for every local repository of an image.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from apkoci_pants.apk_targets import (
    NOARCH,
    ApkPackageArchField,
    ApkPackageDependsField,
    ApkPackageDescriptionField,
    ApkPackageInstallIfField,
    ApkPackageLicenseField,
    ApkPackageMaintainerField,
    ApkPackageNameField,
    ApkPackageProviderPriorityField,
    ApkPackageProvidesField,
    ApkPackageReplacesField,
    ApkPackageRootField,
    ApkPackageScriptsField,
    ApkPackageSourceDateEpochField,
    ApkPackageSourcesField,
    ApkPackageUrlField,
    ApkPackageVersionField,
    ApkRepositoryArchsField,
    ApkRepositoryDescriptionField,
    ApkRepositoryKeyNameField,
    ApkRepositoryOutputPathField,
    ApkRepositoryPackagesField,
    ApkRepositorySigningKeyField,
    repository_folder,
)
from apkoci_pants.rules.digests import file_entries, single_files
from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.subsystems import ApkoImageError
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules import source_files
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    Directory,
    FileEntry,
    GlobExpansionConjunction,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    AllTargets,
    Dependencies,
    DependenciesRequest,
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
    SourcesField,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

INDEX = "APKINDEX.tar.gz"
# Folders of the engine's sandboxes.
_FILES = "files"
_SCRIPTS = "scripts"
_KEY = "key"
_OUTPUT = "out"


class ApkTargetError(ApkoImageError):
    """An `apk_package` or `apk_repository` that cannot be built as written; says how to fix it."""


# --- Dependencies: a repository's packages and key ------------------------------------------------


@dataclass(frozen=True)
class ApkRepositoryInferenceFieldSet(FieldSet):
    required_fields = (ApkRepositoryPackagesField,)

    packages: ApkRepositoryPackagesField
    signing_key: ApkRepositorySigningKeyField


class InferApkRepositoryDependencies(InferDependenciesRequest):
    infer_from = ApkRepositoryInferenceFieldSet


def _packages_request(
    address: Address, packages: ApkRepositoryPackagesField
) -> UnparsedAddressInputs:
    return UnparsedAddressInputs(
        packages.value or (),
        owning_address=address,
        description_of_origin=f"the `{ApkRepositoryPackagesField.alias}` field of {address}",
    )


def _signing_key_request(
    address: Address, signing_key: ApkRepositorySigningKeyField
) -> UnparsedAddressInputs:
    return UnparsedAddressInputs(
        (signing_key.value,) if signing_key.value else (),
        owning_address=address,
        description_of_origin=f"the `{ApkRepositorySigningKeyField.alias}` field of {address}",
    )


@rule(desc="Finding the packages and key of an apk_repository", level=LogLevel.DEBUG)
async def infer_apk_repository_dependencies(
    request: InferApkRepositoryDependencies,
) -> InferredDependencies:
    field_set = request.field_set
    packages, key = await MultiGet(
        Get(
            Addresses,
            UnparsedAddressInputs,
            _packages_request(field_set.address, field_set.packages),
        ),
        Get(
            Addresses,
            UnparsedAddressInputs,
            _signing_key_request(field_set.address, field_set.signing_key),
        ),
    )
    return InferredDependencies([*packages, *key])


# --- The signing key ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """The private key, alone in `digest` at `path`, and the public key's name signatures give."""

    digest: Digest
    path: str
    key_name: str

    def argv(self) -> Tuple[str, ...]:
        return ("--signing-key", self.path, "--key-name", self.key_name)


@dataclass(frozen=True)
class SigningKeyRequest:
    repository: Address
    signing_key: ApkRepositorySigningKeyField
    key_name: ApkRepositoryKeyNameField


@dataclass(frozen=True)
class MaybeSigningKey:
    key: Optional[SigningKey]


@rule(desc="Reading the signing key of an apk_repository", level=LogLevel.DEBUG)
async def read_signing_key(request: SigningKeyRequest) -> MaybeSigningKey:
    if not request.signing_key.value:
        return MaybeSigningKey(None)
    addresses = await Get(
        Addresses,
        UnparsedAddressInputs,
        _signing_key_request(request.repository, request.signing_key),
    )
    targets = await Get(Targets, Addresses, addresses)
    sources = await Get(
        SourceFiles,
        SourceFilesRequest(
            (target.get(SourcesField) for target in targets),
            for_sources_types=(FileSourceField, ResourceSourceField),
        ),
    )
    if len(sources.snapshot.files) != 1:
        raise ApkTargetError(
            f"The `{ApkRepositorySigningKeyField.alias}` of {request.repository} is "
            f"{request.signing_key.value!r}, which has {len(sources.snapshot.files)} files: point "
            "it at a `file` (or `resource`) target of the private key alone, e.g. "
            '`file(name="signing-key", source="acme.rsa")`.'
        )
    (path,) = sources.snapshot.files
    name = posixpath.basename(path)
    placed = f"{_KEY}/{name}"
    (entry,) = await file_entries(sources.snapshot.digest)
    digest = await Get(Digest, CreateDigest([FileEntry(placed, entry.file_digest)]))
    return MaybeSigningKey(SigningKey(digest, placed, request.key_name.value or f"{name}.pub"))


# --- apk_package ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApkPackageFieldSet(FieldSet):
    required_fields = (ApkPackageVersionField,)

    root: ApkPackageRootField
    sources: ApkPackageSourcesField
    package_name: ApkPackageNameField
    version: ApkPackageVersionField
    arch: ApkPackageArchField
    description: ApkPackageDescriptionField
    url: ApkPackageUrlField
    license: ApkPackageLicenseField
    maintainer: ApkPackageMaintainerField
    depends: ApkPackageDependsField
    provides: ApkPackageProvidesField
    replaces: ApkPackageReplacesField
    install_if: ApkPackageInstallIfField
    provider_priority: ApkPackageProviderPriorityField
    scripts: ApkPackageScriptsField
    source_date_epoch: ApkPackageSourceDateEpochField

    @property
    def name(self) -> str:
        return self.package_name.value_or_default(self.address)

    @property
    def filename(self) -> str:
        """The engine's (and every repository's) name for the package's file."""
        return f"{self.name}-{self.version.value}.apk"

    def metadata_argv(self) -> Tuple[str, ...]:
        """`apkoci package`'s options for the package's metadata (not its files or key)."""
        argv: List[str] = ["--name", self.name, "--version", self.version.value or ""]
        argv += ["--arch", self.arch.value or NOARCH]
        for option, field in (
            ("--description", self.description),
            ("--url", self.url),
            ("--license", self.license),
            ("--maintainer", self.maintainer),
        ):
            if field.value:
                argv += [option, field.value]
        for option, values in (
            ("--depends", self.depends),
            ("--provides", self.provides),
            ("--replaces", self.replaces),
            ("--install-if", self.install_if),
        ):
            for value in values.value or ():
                argv += [option, value]
        if self.provider_priority.value is not None:
            argv += ["--provider-priority", str(self.provider_priority.value)]
        for script in sorted(self.scripts.value or {}):
            argv += ["--script", f"{script}={_SCRIPTS}/{script}"]
        argv += ["--source-date-epoch", str(self.source_date_epoch.value)]
        return tuple(argv)


def package_root(address: Address, root: ApkPackageRootField) -> str:
    """The package's root folder from the build root ('' for the build root itself)."""
    joined = posixpath.normpath(posixpath.join(address.spec_path, root.value or "."))
    return "" if joined == "." else joined


def files_outside_root(files: Tuple[str, ...], root: str) -> Tuple[str, ...]:
    return tuple(path for path in files if root and not path.startswith(root + "/"))


@dataclass(frozen=True)
class ApkRequest:
    """One package, signed with `key` (as its repository signs everything)."""

    field_set: ApkPackageFieldSet
    key: Optional[SigningKey]


@dataclass(frozen=True)
class BuiltApk:
    """`<name>-<version>.apk`, alone at the root of `digest`."""

    address: Address
    name: str
    version: str
    arch: str
    filename: str
    source_date_epoch: int
    digest: Digest


@rule(desc="Building an APK package")
async def build_apk(request: ApkRequest) -> BuiltApk:
    field_set, key = request.field_set, request.key
    root = package_root(field_set.address, field_set.root)
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(field_set.sources))
    outside = files_outside_root(hydrated.snapshot.files, root)
    if outside:
        raise ApkTargetError(
            f"{field_set.address} has sources outside its `root` ({root}/): "
            f"{', '.join(outside[:3])}. Every file of a package must be under `root`, which "
            "stands for `/`: move the files, or change `root` or `sources`."
        )
    scripts: Dict[str, str] = dict(field_set.scripts.value or {})
    files, *script_digests = await MultiGet(
        Get(Digest, RemovePrefix(hydrated.snapshot.digest, root)),
        *(
            Get(
                Digest,
                PathGlobs(
                    [posixpath.normpath(posixpath.join(field_set.address.spec_path, path))],
                    glob_match_error_behavior=GlobMatchErrorBehavior.error,
                    description_of_origin=f"the `scripts` field of {field_set.address}",
                ),
            )
            for path in scripts.values()
        ),
    )
    script_files = await single_files(script_digests)
    placed_files, folders_and_scripts = await MultiGet(
        Get(Digest, AddPrefix(files, _FILES)),
        Get(
            Digest,
            CreateDigest(
                [
                    # The files folder exists even when the package has none (a meta-package).
                    Directory(_FILES),
                    Directory(_OUTPUT),
                    *(
                        FileEntry(f"{_SCRIPTS}/{name}", entry.file_digest)
                        for name, entry in zip(scripts, script_files)
                    ),
                ]
            ),
        ),
    )
    inputs = await Get(
        Digest,
        MergeDigests([placed_files, folders_and_scripts, *([key.digest] if key else [])]),
    )
    output = f"{_OUTPUT}/{field_set.filename}"
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=(
                "package",
                _FILES,
                *field_set.metadata_argv(),
                *(key.argv() if key else ()),
                "--output",
                output,
            ),
            description=f"Building the APK {field_set.filename} ({field_set.address})",
            input_digest=inputs,
            output_files=(output,),
        ),
    )
    digest = await Get(Digest, RemovePrefix(result.output_digest, _OUTPUT))
    return BuiltApk(
        address=field_set.address,
        name=field_set.name,
        version=field_set.version.value or "",
        arch=field_set.arch.value or NOARCH,
        filename=field_set.filename,
        source_date_epoch=field_set.source_date_epoch.value or 0,
        digest=digest,
    )


# --- apk_repository -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApkRepositoryFieldSet(PackageFieldSet):
    required_fields = (ApkRepositoryPackagesField,)

    packages: ApkRepositoryPackagesField
    signing_key: ApkRepositorySigningKeyField
    key_name: ApkRepositoryKeyNameField
    archs: ApkRepositoryArchsField
    description: ApkRepositoryDescriptionField
    output_path: ApkRepositoryOutputPathField


@dataclass(frozen=True)
class ApkRepositoryRequest:
    address: Address


@dataclass(frozen=True)
class BuiltApkRepository:
    """`<arch>/APKINDEX.tar.gz` and `<arch>/<name>-<version>.apk`, at the root of `digest`."""

    address: Address
    digest: Digest
    packages_per_arch: Tuple[Tuple[str, int], ...]


def arch_folders(
    packages: Tuple[BuiltApk, ...], archs: Tuple[str, ...], repository: Address
) -> Dict[str, Tuple[BuiltApk, ...]]:
    """The packages of each arch folder, by file name: the `noarch` ones and that arch's.

    Raises an error for a package of an arch the repository does not serve, for an arch with no
    package, and for two packages that would be one file (the same name and version).
    """
    for package in packages:
        if package.arch != NOARCH and package.arch not in archs:
            raise ApkTargetError(
                f"{package.address} is built for {package.arch}, which {repository} does not "
                f"serve ({', '.join(archs)}): add {package.arch!r} to its `archs`, or build the "
                f"package for one of them (or `{NOARCH}`)."
            )
    folders: Dict[str, Tuple[BuiltApk, ...]] = {}
    for arch in archs:
        chosen: Dict[str, BuiltApk] = {}
        for package in packages:
            if package.arch not in (NOARCH, arch):
                continue
            other = chosen.get(package.filename)
            if other is not None:
                raise ApkTargetError(
                    f"{other.address} and {package.address} are both {package.filename} in the "
                    f"{arch} folder of {repository}: give them different `package_name`s or "
                    "versions, or remove one from `packages`."
                )
            chosen[package.filename] = package
        if not chosen:
            raise ApkTargetError(
                f"The {arch} folder of {repository} would hold no package: none of its "
                f"`packages` is built for {arch} or `{NOARCH}`. Remove {arch!r} from its `archs`."
            )
        folders[arch] = tuple(chosen[name] for name in sorted(chosen))
    return folders


def index_argv(
    arch: str, packages: Tuple[BuiltApk, ...], key: Optional[SigningKey], description: str
) -> Tuple[str, ...]:
    """`apkoci index` of one arch folder, run from the repository's root.

    The index is dated like its newest package, so it changes only when a package does.
    """
    return (
        "index",
        *(f"{arch}/{package.filename}" for package in packages),
        "--output",
        f"{arch}/{INDEX}",
        "--source-date-epoch",
        str(max(package.source_date_epoch for package in packages)),
        *(key.argv() if key else ()),
        *(("--description", description) if description else ()),
    )


@rule(desc="Building an APK repository")
async def build_apk_repository(request: ApkRepositoryRequest) -> BuiltApkRepository:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="an apk_repository"),
    )
    field_set = ApkRepositoryFieldSet.create(wrapped.target)
    address = field_set.address
    package_addresses = await Get(
        Addresses, UnparsedAddressInputs, _packages_request(address, field_set.packages)
    )
    package_targets, maybe_key = await MultiGet(
        Get(Targets, Addresses, package_addresses),
        Get(MaybeSigningKey, SigningKeyRequest(address, field_set.signing_key, field_set.key_name)),
    )
    not_packages = [
        t.address.spec for t in package_targets if not ApkPackageFieldSet.is_applicable(t)
    ]
    if not_packages:
        raise ApkTargetError(
            f"The `{ApkRepositoryPackagesField.alias}` field of {address} lists "
            f"{', '.join(not_packages)}: list only `apk_package` targets there."
        )
    key = maybe_key.key
    packages = await MultiGet(
        Get(BuiltApk, ApkRequest(ApkPackageFieldSet.create(t), key)) for t in package_targets
    )
    archs = tuple(field_set.archs.value or ())
    folders = arch_folders(packages, archs, address)

    # Each arch folder: its packages, at `<arch>/<name>-<version>.apk`.
    files = dict(zip(packages, await single_files([package.digest for package in packages])))
    per_arch = await MultiGet(
        Get(
            Digest,
            CreateDigest(
                FileEntry(f"{arch}/{package.filename}", files[package].file_digest)
                for package in folders[arch]
            ),
        )
        for arch in archs
    )
    index_inputs = await MultiGet(
        Get(Digest, MergeDigests([digest, *([key.digest] if key else [])])) for digest in per_arch
    )
    indexes = await MultiGet(
        Get(
            EngineResult,
            EngineProcess(
                argv=index_argv(arch, folders[arch], key, field_set.description.value or ""),
                description=f"Indexing the {len(folders[arch])} {arch} packages of {address}",
                input_digest=inputs,
                output_files=(f"{arch}/{INDEX}",),
            ),
        )
        for arch, inputs in zip(archs, index_inputs)
    )
    digest = await Get(
        Digest, MergeDigests([*per_arch, *(index.output_digest for index in indexes)])
    )
    return BuiltApkRepository(address, digest, tuple((arch, len(folders[arch])) for arch in archs))


@rule(desc="Packaging an APK repository")
async def package_apk_repository(field_set: ApkRepositoryFieldSet) -> BuiltPackage:
    built = await Get(BuiltApkRepository, ApkRepositoryRequest(field_set.address))
    output_folder = field_set.output_path.value_or_default(file_ending=None)
    digest = await Get(Digest, AddPrefix(built.digest, output_folder))
    return BuiltPackage(
        digest,
        tuple(
            BuiltPackageArtifact(f"{output_folder}/{arch}/{INDEX}", (f"{count} packages",))
            for arch, count in built.packages_per_arch
        ),
    )


# --- Repositories of images -----------------------------------------------------------------------


class AllApkRepositories(Targets):
    """Every `apk_repository` target of the repository."""


@rule(desc="Finding every apk_repository", level=LogLevel.DEBUG)
def find_all_apk_repositories(all_targets: AllTargets) -> AllApkRepositories:
    return AllApkRepositories(t for t in all_targets if t.has_field(ApkRepositoryPackagesField))


@dataclass(frozen=True)
class LocalRepositoriesRequest:
    """The local repository folders (from the build root) an image's configuration names."""

    image: Address
    folders: Tuple[str, ...]


@dataclass(frozen=True)
class LocalRepositories:
    """Every folder's files at its path in `digest`: built, for the `apk_repository` targets in
    `targets` (the image's dependencies that are repositories), else read from the workspace."""

    digest: Digest
    targets: Tuple[Address, ...]


@rule(desc="Staging the local repositories of an apko image")
async def stage_local_repositories(
    request: LocalRepositoriesRequest, all_repositories: AllApkRepositories
) -> LocalRepositories:
    wrapped = await Get(
        WrappedTarget, WrappedTargetRequest(request.image, description_of_origin="an apko_image")
    )
    dependencies = await Get(Targets, DependenciesRequest(wrapped.target[Dependencies]))
    by_folder = {
        repository_folder(t.address): t.address
        for t in dependencies
        if t.has_field(ApkRepositoryPackagesField)
    }
    unused = sorted(
        (address for folder, address in by_folder.items() if folder not in request.folders),
        key=lambda address: address.spec,
    )
    if unused:
        raise ApkTargetError(
            f"{request.image} depends on {', '.join(a.spec for a in unused)}, but its "
            "configuration does not install from it: add the repository's folder "
            f"({', '.join(repository_folder(a) for a in unused)}, from the build root) to "
            "`contents.repositories`, relative to the configuration, or remove the dependency."
        )
    not_depended_on = {
        repository_folder(t.address): t.address
        for t in all_repositories
        if repository_folder(t.address) in request.folders
        and repository_folder(t.address) not in by_folder
    }
    if not_depended_on:
        raise ApkTargetError(
            f"The configuration of {request.image} installs from "
            f"{', '.join(sorted(not_depended_on))}, the folder of the apk_repository "
            f"{', '.join(sorted(a.spec for a in not_depended_on.values()))}: add it to the "
            "image's `dependencies` so that Pants builds it there."
        )
    generated = [folder for folder in request.folders if folder in by_folder]
    workspace = [folder for folder in request.folders if folder not in by_folder]
    built = await MultiGet(
        Get(BuiltApkRepository, ApkRepositoryRequest(by_folder[folder])) for folder in generated
    )
    digests = await MultiGet(
        Get(Digest, AddPrefix(repository.digest, folder))
        for folder, repository in zip(generated, built)
    )
    read = await Get(
        Digest,
        PathGlobs(
            [f"{folder}/**" for folder in workspace],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            conjunction=GlobExpansionConjunction.all_match,
            description_of_origin=f"the local repositories of {request.image}",
        ),
    )
    digest = await Get(Digest, MergeDigests([read, *digests]))
    return LocalRepositories(digest, tuple(by_folder[folder] for folder in generated))


def rules():
    return [
        *collect_rules(),
        *source_files.rules(),
        UnionRule(PackageFieldSet, ApkRepositoryFieldSet),
        UnionRule(InferDependenciesRequest, InferApkRepositoryDependencies),
    ]
