"""First-party APKs: `apk_package` (a package of files in the repository) and `apk_repository`.

An `apk_repository` builds its packages with the engine's APK writer (`apkoci package`), signs
them and their per-arch index (`apkoci index`) with a private key, and is used in two ways:

- `pants package` writes it under `dist/` (`<arch>/APKINDEX.tar.gz` and the `.apk` files), a
  repository that apk, apko or any web server can use;
- an `apko_image` that depends on it installs from it: its `apko.yaml` names the repository by
  a local path, the folder `<BUILD file's folder>/<target name>` (see `repository_folder`), and
  Pants puts the built repository at that path in the image's sandbox.
"""

from __future__ import annotations

import posixpath
from typing import Iterable, Optional, Tuple

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    DictStringToStringField,
    IntField,
    InvalidFieldException,
    MultipleSourcesField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.docutil import bin_name
from pants.util.strutil import help_text

NOARCH = "noarch"
DEFAULT_REPOSITORY_ARCHS = ("x86_64", "aarch64")
DEFAULT_PACKAGE_ROOT = "root"


def repository_folder(address: Address) -> str:
    """Where an `apk_repository` appears to the images that depend on it, from the build root.

    `examples/packages:repository` is `examples/packages/repository`, so `examples/base/apko.yaml`
    names it `../packages/repository`.
    """
    return posixpath.join(address.spec_path, address.target_name)


# --- apk_package ----------------------------------------------------------------------------------


class ApkPackageRootField(StringField):
    alias = "root"
    default = DEFAULT_PACKAGE_ROOT
    help = help_text(
        """
        The folder, relative to this BUILD file, that stands for the root (`/`) of the systems
        the package is installed on: the source `root/etc/motd` becomes `/etc/motd`. Use `.` for
        the BUILD file's own folder. Every file in `sources` must be under it.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        # Never None (the field has a default); an empty string is the BUILD file's folder too.
        value = super().compute_value(raw_value, address) or "."
        normalized = posixpath.normpath(value)
        if posixpath.isabs(value) or normalized == ".." or normalized.startswith("../"):
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is {value!r}: give a folder inside the "
                "BUILD file's folder, relative to it, e.g. 'root' (or '.' for the folder itself)."
            )
        return normalized


class ApkPackageSourcesField(MultipleSourcesField):
    default = (f"{DEFAULT_PACKAGE_ROOT}/**",)
    help = help_text(
        """
        The files that go into the package, relative to this BUILD file; each one's path under
        `root` is its path in the package (`root/usr/bin/hello` is `/usr/bin/hello`).

        Files keep their executable bit; everything else about them is fixed (owned by root,
        mode 0644 or 0755, the time of `source_date_epoch`), so the package is reproducible.
        Folders are made for the files' parents; an empty folder cannot be a source.
        When you change `root`, change this field to match, e.g. `sources=["files/**"]`.
        """
    )


class ApkPackageNameField(StringField):
    alias = "package_name"
    help = help_text(
        """
        The package's name, as `apk add` and `contents.packages` in apko.yaml know it
        (`.PKGINFO`'s `pkgname`). Defaults to the target's name.
        """
    )

    def value_or_default(self, address: Address) -> str:
        return self.value or address.target_name


class ApkPackageVersionField(StringField):
    alias = "version"
    required = True
    help = help_text(
        """
        The package's version in apk's format, with a release number: `1.2.3-r0`. Raise it
        (e.g. the `-rN`) whenever the package's files or metadata change, so that images that
        pin the old package see a new one; then run `generate-lockfiles` for them.
        """
    )


class ApkPackageArchField(StringField):
    alias = "arch"
    default = NOARCH
    help = help_text(
        f"""
        The architecture the package is built for, in apk's spelling: `{NOARCH}` (the default:
        the files suit every architecture, e.g. configuration or scripts) or one such as
        `x86_64` or `aarch64`. A repository lists a `{NOARCH}` package under each of its archs,
        and any other package under its own arch only.
        """
    )


class ApkPackageDescriptionField(StringField):
    alias = "description"
    help = "A one-line description of the package (`.PKGINFO`'s `pkgdesc`)."


class ApkPackageUrlField(StringField):
    alias = "url"
    help = "The package's home page (`.PKGINFO`'s `url`)."


class ApkPackageLicenseField(StringField):
    alias = "license"
    help = "The package's license, as an SPDX expression such as `MIT` or `Apache-2.0`."


class ApkPackageMaintainerField(StringField):
    alias = "maintainer"
    help = "Who maintains the package: `Name <email>`."


class ApkPackageDependsField(StringSequenceField):
    alias = "depends"
    help = help_text(
        """
        What the package needs installed with it, in apk's spelling: `busybox`, `musl>=1.2`,
        `so:libc.musl-x86_64.so.1`, `cmd:sh`. Installing the package installs them too.
        """
    )


class ApkPackageProvidesField(StringSequenceField):
    alias = "provides"
    help = help_text(
        """
        Other names the package answers to, in apk's spelling: `cmd:hello`, `so:libhello.so.1`,
        or a virtual name with a version (`hello-greeting=1.0`).
        """
    )


class ApkPackageReplacesField(StringSequenceField):
    alias = "replaces"
    help = help_text(
        """
        Packages whose files this package may overwrite when both are installed (apk otherwise
        refuses two packages owning one path), e.g. `["alpine-baselayout"]`.
        """
    )


class ApkPackageInstallIfField(StringSequenceField):
    alias = "install_if"
    help = help_text(
        """
        Install this package automatically whenever all of these are installed, e.g.
        `["hello", "docs"]` for a `hello-doc` package.
        """
    )


class ApkPackageProviderPriorityField(IntField):
    alias = "provider_priority"
    help = help_text(
        """
        When several packages provide a name that is asked for, apk picks the one with the
        highest priority; a whole number of 0 or more.
        """
    )


class ApkPackageScriptsField(DictStringToStringField):
    alias = "scripts"
    help = help_text(
        """
        Install scripts, from apk's script name to a file relative to this BUILD file, e.g.
        `{"post-install": "hello.post-install"}`. apk runs `pre-install`, `post-install`,
        `pre-upgrade`, `post-upgrade`, `pre-deinstall`, `post-deinstall` and `trigger`. apko
        does not run them when it builds an image; they are for `apk add` on a running system.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[dict], address: Address):
        value = super().compute_value(raw_value, address)
        for name, path in (value or {}).items():
            normalized = posixpath.normpath(path)
            if posixpath.isabs(path) or normalized == ".." or normalized.startswith("../"):
                raise InvalidFieldException(
                    f"The `{cls.alias}` field of {address} gives the {name} script as {path!r}: "
                    "name a file inside the BUILD file's folder, relative to it."
                )
        return value


class ApkPackageSourceDateEpochField(IntField):
    alias = "source_date_epoch"
    default = 0
    help = help_text(
        """
        The package's build date and the time of every file in it, in seconds since 1970. It
        is fixed, not the time of the build, so the same sources always give the same package.
        An `apko_image` with `[apkoci].source_date_epoch = "packages"` dates itself by it.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> int:
        value = super().compute_value(raw_value, address) or 0  # never None: it has a default
        if value < 0:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is {value}: give 0 or a later time, in "
                "seconds since 1970 (e.g. `git log -1 --format=%ct`)."
            )
        return value


class ApkPackageTarget(Target):
    alias = "apk_package"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        Dependencies,
        ApkPackageRootField,
        ApkPackageSourcesField,
        ApkPackageNameField,
        ApkPackageVersionField,
        ApkPackageArchField,
        ApkPackageDescriptionField,
        ApkPackageUrlField,
        ApkPackageLicenseField,
        ApkPackageMaintainerField,
        ApkPackageDependsField,
        ApkPackageProvidesField,
        ApkPackageReplacesField,
        ApkPackageInstallIfField,
        ApkPackageProviderPriorityField,
        ApkPackageScriptsField,
        ApkPackageSourceDateEpochField,
    )
    help = help_text(
        f"""
        An APK package of files in this repository, with its metadata (name, version, arch,
        dependencies, ...), built by apkoci's APK writer the way abuild and melange build them.

        An `apk_repository` lists packages in its `packages` field; it builds and signs them.
        `{bin_name()} package` builds repositories, not single packages.
        """
    )


# --- apk_repository -------------------------------------------------------------------------------


class ApkRepositoryPackagesField(StringSequenceField):
    alias = "packages"
    required = True
    help = help_text(
        """
        The `apk_package` targets the repository holds, by address: `[":baselayout",
        "//tools/hello:hello"]`. Each is a dependency of the repository (no need to list it in
        `dependencies` too).
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        if value is not None and not value:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is empty: list at least one `apk_package` "
                'target, e.g. `packages=[":hello"]`.'
            )
        return value


class ApkRepositorySigningKeyField(StringField):
    alias = "signing_key"
    help = help_text(
        """
        The address of a `file` (or `resource`) target holding the RSA private key (PEM) that
        signs the packages and indexes, e.g. `"//keys:signing-key"`. The signatures name the
        public key `<private key's file name>.pub` (`acme.rsa` -> `acme.rsa.pub`, as abuild
        names keys) unless `key_name` says otherwise: put the public key under that name in
        the keyring of the images that use the repository. Unset, nothing is signed, and only
        images that allow untrusted indexes can use the repository.

        The key is read from the workspace: do not commit a key that must stay secret.
        """
    )


class ApkRepositoryKeyNameField(StringField):
    alias = "key_name"
    help = help_text(
        """
        The public key's file name the signatures name (apk looks the key up by it in
        `/etc/apk/keys` and in an apko keyring). Defaults to the signing key's file name plus
        `.pub`.
        """
    )


class ApkRepositoryArchsField(StringSequenceField):
    alias = "archs"
    default = DEFAULT_REPOSITORY_ARCHS
    help = help_text(
        f"""
        The architectures the repository serves, one folder each (`x86_64/APKINDEX.tar.gz`,
        ...), in apk's spelling. `{NOARCH}` packages go into every one; each other package into
        its own arch's folder, which must be listed here.
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        bad = [arch for arch in value or () if arch == NOARCH or not arch or "/" in arch]
        if not value or bad or len(set(value)) != len(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is {list(value or ())}: list each "
                f"architecture once, as apk spells it (e.g. `['x86_64', 'aarch64']`); `{NOARCH}` "
                "is not a folder of its own."
            )
        return value


class ApkRepositoryDescriptionField(StringField):
    alias = "description"
    help = help_text(
        """
        The indexes' one-line `DESCRIPTION`, which `apk update` shows for the repository, e.g.
        `"acme 1.0 main"`.
        """
    )


class ApkRepositoryOutputPathField(OutputPathField):
    help = help_text(
        f"""
        The folder, under `{bin_name()} package`'s `--distdir` (`dist/`), that receives the
        repository: `<arch>/APKINDEX.tar.gz` and `<arch>/<name>-<version>.apk` for each arch.

        Defaults to the BUILD file's path with `.` for `/`, then the target's name:
        `examples/packages:repository` writes to `dist/examples.packages/repository/`. (This is
        only where `package` writes; images find the repository by its address, see the
        target's help.)
        """
    )


class ApkRepositoryTarget(Target):
    alias = "apk_repository"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        Dependencies,
        ApkRepositoryPackagesField,
        ApkRepositorySigningKeyField,
        ApkRepositoryKeyNameField,
        ApkRepositoryArchsField,
        ApkRepositoryDescriptionField,
        ApkRepositoryOutputPathField,
    )
    help = help_text(
        f"""
        An APK repository of first-party `apk_package` targets: per arch, the packages and their
        `APKINDEX.tar.gz`, signed with `signing_key`. Every build step is a cached process, and
        the same sources give the same bytes.

        `{bin_name()} package` writes it under `dist/`. To install from it in an `apko_image`,
        add the repository to the image's `dependencies` and name it in `apko.yaml` by the
        folder `<this BUILD file's folder>/<this target's name>`, relative to the configuration,
        like any local repository: for `examples/packages:repository` and
        `examples/base/apko.yaml`, `contents.repositories: [../packages/repository]`. Pants puts
        the built repository there for `generate-lockfiles` and `package`; the folder need not
        (and should not) exist in the workspace. Add the public key to `contents.keyring`.
        """
    )
