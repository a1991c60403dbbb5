"""The `apko_image` target: an `apko.yaml`, its lock file, how the image is named and written.

The configuration says what goes into the image (repositories, keyring, packages, accounts,
entrypoint, ...); the fields here say what apko's command line would: which archs, which tags,
which output formats, and which first-party files (other targets) go on top of the packages as
extra layers.
"""

from __future__ import annotations

import posixpath
import re
from enum import Enum
from typing import Iterable, Optional, Tuple

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    AsyncFieldMixin,
    BoolField,
    Dependencies,
    DictStringToStringField,
    InvalidFieldException,
    SingleSourceField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.docutil import bin_name
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

DEFAULT_CONFIG = "apko.yaml"
LOCKFILE_SUFFIX = ".lock.json"
OUTPUT_FORMATS = ("oci", "docker", "sbom-spdx", "sbom-cyclonedx")
DEFAULT_OUTPUT_FORMATS = ("oci", "docker", "sbom-spdx")

# OCI distribution-spec grammar: a tag, and a repository with an optional registry host[:port].
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$"
)


class LayerCompression(Enum):
    """How layers are compressed (the engine's `--compression`)."""

    gzip = "gzip"
    zstd = "zstd"


def default_lockfile_path(config_path: str) -> str:
    """`<config stem>.lock.json` beside the configuration: `apko.yaml` -> `apko.lock.json`."""
    directory, name = posixpath.split(config_path)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return posixpath.join(directory, stem + LOCKFILE_SUFFIX)


def resolve_name(address: Address) -> str:
    """The name `generate-lockfiles --resolve=...` knows an image's lock file by: its address."""
    return address.spec


class ApkoImageConfigField(SingleSourceField):
    alias = "config"
    required = False
    default = DEFAULT_CONFIG
    expected_file_extensions = (".yaml", ".yml")
    help = help_text(
        f"""
        The apko configuration file (`apko.yaml`), relative to this BUILD file: repositories,
        keyring, packages, accounts, paths, entrypoint, archs and the rest of apko's format.

        Files it refers to by a relative path (`include`, keyring keys, local repositories) are
        read relative to the configuration's own folder, as `apko build` run in that folder
        would; they must lie inside the build root. Remote repositories and keys are only
        contacted by `{bin_name()} generate-lockfiles`.
        """
    )


class ApkoImageLockfileField(StringField, AsyncFieldMixin):
    alias = "lockfile"
    help = help_text(
        f"""
        The lock file that pins every package of the image (apko's `apko.lock.json` format, with
        apkoci's sha256 and size of each package), relative to this BUILD file.

        Defaults to `<config stem>{LOCKFILE_SUFFIX}` beside the configuration, e.g.
        `apko{LOCKFILE_SUFFIX}` for `apko.yaml`. Write or refresh it with
        `{bin_name()} generate-lockfiles --resolve=<this target's address>`; `{bin_name()} package`
        builds only from it, without the network, and fails when the configuration changed since.
        """
    )

    def path(self, config_path: str) -> str:
        """The lock file's path from the build root (`config_path` is the configuration's)."""
        if self.value is None:
            return default_lockfile_path(config_path)
        return posixpath.normpath(posixpath.join(self.address.spec_path, self.value))


class ApkoImageArchsField(StringSequenceField):
    alias = "archs"
    help = help_text(
        """
        The architectures to build, in apk's spelling (`x86_64`, `aarch64`, `armv7`, ...) or
        OCI's (`amd64`, `arm64`, ...), like apko's `--arch`. When unset, the configuration's
        `archs` apply (and apko's list of all architectures when it has none).

        Setting this field changes what the lock file must cover, so regenerate the lock file
        after changing it.
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        if value is None:
            return None
        duplicates = sorted({arch for arch in value if value.count(arch) > 1})
        if not value or duplicates or any(not arch.strip() for arch in value):
            problem = f"lists {duplicates} twice" if duplicates else "is empty or has a blank entry"
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} {problem}: list each architecture once, "
                "e.g. `archs=['x86_64', 'aarch64']`, or leave the field out to use the "
                "configuration's archs."
            )
        return value


class ApkoImageRepositoryField(StringField, AsyncFieldMixin):
    alias = "repository"
    help = help_text(
        """
        The image's repository, with its registry if any: `ghcr.io/acme/app`. The tags in
        `image_tags` are applied to it in the docker archive and the OCI layout's index
        (`ghcr.io/acme/app:latest`). Defaults to the target's name.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and not _REPOSITORY.match(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is {value!r}, which is not an image "
                "repository: use lowercase path components separated by `/`, optionally after a "
                "registry host, e.g. `ghcr.io/acme/app` or `localhost:5000/app`."
            )
        return value

    def value_or_default(self) -> str:
        return self.value or self.address.target_name.lower()


class ApkoImageTagsField(StringSequenceField):
    alias = "image_tags"
    default = ("latest",)
    help = help_text(
        """
        The tags to give the image (`latest`, `1.2.3`, ...), each applied to `repository`.

        (The field is not called `tags`: every Pants target already has a `tags` field, for
        selecting targets with `--tag`.)
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        for tag in value or ():
            if not _TAG.match(tag):
                raise InvalidFieldException(
                    f"The `{cls.alias}` field of {address} has the tag {tag!r}, which OCI does not "
                    "allow: a tag is up to 128 letters, digits, `_`, `.` and `-`, and does not "
                    "start with `.` or `-`."
                )
        return value


class ApkoImageAnnotationsField(DictStringToStringField):
    alias = "annotations"
    help = help_text(
        """
        OCI annotations to add to the image's manifests and index, on top of the
        configuration's `annotations` (this field wins on a shared key), like apko's
        `--annotations`. For example `{"org.opencontainers.image.source": "https://..."}`.
        """
    )


class ApkoImageOutputPathField(OutputPathField):
    help = help_text(
        f"""
        The folder, under `{bin_name()} package`'s `--distdir` (`dist/`), that receives the image:
        `oci/` (an OCI image layout with every arch), a `docker load` archive per arch, the
        SBOMs, and `image.json` (the index and manifest digests).

        Defaults to the BUILD file's path with `.` for `/`, then the target's name: the target
        `examples/base:base` writes to `dist/examples.base/base/`.
        """
    )


class ApkoImageFormatsField(StringSequenceField):
    alias = "formats"
    default = DEFAULT_OUTPUT_FORMATS
    valid_choices = OUTPUT_FORMATS
    help = help_text(
        """
        What to write: `oci` (an OCI image layout), `docker` (one `docker load` archive per
        arch), `sbom-spdx` (SPDX 2.3 JSON per arch and for the index), `sbom-cyclonedx`
        (CycloneDX JSON per arch).
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        if not value:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is empty: name at least one of "
                f"{', '.join(OUTPUT_FORMATS)}."
            )
        return value


class ApkoImageCompressionField(StringField):
    alias = "compression"
    valid_choices = LayerCompression
    help = help_text(
        """
        How to compress the layers: `gzip` (what every registry and runtime reads) or `zstd`
        (smaller and faster, needs a recent runtime). Defaults to `[apkoci].compression`.
        """
    )


class ApkoImageSkipPushField(BoolField):
    alias = "skip_push"
    default = False
    help = help_text(
        """
        Mark the image as one that must not be pushed to a registry. apkoci itself only builds
        images under `dist/` and never pushes; the flag is for whatever publishes them.
        """
    )


class ApkoImageDependenciesField(Dependencies):
    help = help_text(
        f"""
        Other targets whose output goes into the image, each as a layer of its own on top of
        the packages: `files`, `resources` and `relocated_files` targets (their files, at their
        paths from the build root), and anything `{bin_name()} package` can build (`pex_binary`,
        `archive`, ...; its output files).

        A dependency goes to the image's root (`/`) unless `layers` gives it another folder.
        Targets listed in `layers` need not be repeated here.

        An `apk_repository` dependency is no layer: it is a repository the configuration
        installs from (see `{bin_name()} help apk_repository`).
        """
    )


class ApkoImageLayersField(DictStringToStringField):
    alias = "layers"
    help = help_text(
        f"""
        Where in the image each first-party dependency goes: a map from a target's address to
        an absolute folder, e.g. `layers={{":app": "/app", "//configs:nginx": "/etc/nginx"}}`.

        Each entry is a dependency (no need to list it in `dependencies` too) and becomes its
        own layer, in the order written here, after the packages and before the dependencies
        that are not listed here (which go to `/`). A layer that does not change keeps its
        digest, so registries and runtimes reuse it.

        Example: `pex_binary(name="app", ...)` and
        `apko_image(layers={{":app": "/app"}}, ...)` put `app.pex` at
        `/app/<path of the BUILD file with . for />/app.pex`, as `{bin_name()} package` would
        write it under `dist/`.
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[dict], address: Address
    ) -> Optional[FrozenDict[str, str]]:
        value = super().compute_value(raw_value, address)
        for target, folder in (value or {}).items():
            if not folder.startswith("/") or posixpath.normpath(folder) != folder:
                suggestion = posixpath.normpath(posixpath.join("/", folder))
                raise InvalidFieldException(
                    f"The `{cls.alias}` field of {address} puts {target!r} at {folder!r}: give an "
                    f"absolute, normalized folder in the image, such as {suggestion!r}."
                )
        return value


class ApkoImageTarget(Target):
    alias = "apko_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        ApkoImageConfigField,
        ApkoImageLockfileField,
        ApkoImageArchsField,
        ApkoImageRepositoryField,
        ApkoImageTagsField,
        ApkoImageAnnotationsField,
        ApkoImageOutputPathField,
        ApkoImageFormatsField,
        ApkoImageCompressionField,
        ApkoImageSkipPushField,
        ApkoImageDependenciesField,
        ApkoImageLayersField,
    )
    help = help_text(
        f"""
        A minimal, reproducible OCI image built from APK packages, the way Chainguard's apko
        builds it, with no container runtime and no root.

        `{bin_name()} generate-lockfiles --resolve=<address>` resolves the configuration's
        packages (the only step that uses the network) and writes the lock file;
        `{bin_name()} package <address>` builds the image from the lock file alone, one cached
        layer per architecture, and writes an OCI layout, docker archives and SBOMs under
        `dist/`. `{bin_name()} tailor` adds an `apko_image` beside every `apko.yaml`.
        """
    )
