"""The model of an ``apko.yaml``: frozen dataclasses, one per section, in apko's own terms.

The classes follow apko's Go types (``pkg/build/types``). Each field that appears in the YAML
carries its YAML key in the field's metadata (:func:`yaml_key`), so the loader's list of known keys
and the printout's key names come from one place; the field order is apko's, which is the order
``apko show-config`` prints.

Maps (``environment``, ``annotations``, ``entrypoint.services``) are tuples of ``(key, value)``
pairs sorted by key: immutable, hashable and deterministic. ``dict(config.environment)`` gives a
dict.

What the loader resolves before a configuration reaches you:

- ``include`` is merged away (the included file first, this file on top; see ``load.py``);
- the defaults apko's ``Validate`` applies are in: a user's ``homedir`` defaults to
  ``/home/<name>``, an ``entrypoint`` of ``type: service-bundle`` runs ``/bin/s6-svscan /sv`` and
  adds the ``s6`` package;
- an empty ``archs`` means apko's full list, :data:`ALL_ARCHS`.

What it does *not* apply, because apko applies it while building the image rather than to the
configuration: the default environment (:func:`image_environment`), a user's ``gid`` (the uid when
unset) and shell (``/bin/sh`` when unset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Tuple

StringMap = Tuple[Tuple[str, str], ...]
"""A YAML map of strings, as ``(key, value)`` pairs sorted by key."""


def yaml_key(name: str, *, octal: bool = False, **kwargs):
    """A dataclass field for the YAML key ``name``; ``kwargs`` go to :func:`dataclasses.field`.

    ``octal`` marks an integer that reads best in octal (a file mode): it is printed as ``0o755``.
    """
    return field(metadata={"yaml": name, "octal": octal}, **kwargs)


# --- Architectures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OciPlatform:
    """The OCI platform of an image: what goes into its config and its index entry."""

    os: str
    architecture: str
    variant: str = ""


@dataclass(frozen=True)
class Arch:
    """A CPU architecture apko builds for.

    ``name`` is apko's canonical spelling, the OCI one (``amd64``, ``arm/v7``); ``apk`` is the name
    APK repositories use for it (``x86_64``, ``armv7``): the ``$arch`` folder of a repository and
    the ``A:`` field of its index.
    """

    name: str
    apk: str
    architecture: str
    variant: str = ""

    @property
    def oci(self) -> OciPlatform:
        return OciPlatform(os="linux", architecture=self.architecture, variant=self.variant)

    def __str__(self) -> str:
        return self.name


# apko's AllArchs, in its order: the architectures `apko build` makes when a configuration names
# none.
ALL_ARCHS: Tuple[Arch, ...] = (
    Arch(name="386", apk="x86", architecture="386"),
    Arch(name="amd64", apk="x86_64", architecture="amd64"),
    Arch(name="arm64", apk="aarch64", architecture="arm64"),
    Arch(name="arm/v6", apk="armhf", architecture="arm", variant="v6"),
    Arch(name="arm/v7", apk="armv7", architecture="arm", variant="v7"),
    Arch(name="loong64", apk="loongarch64", architecture="loong64"),
    Arch(name="ppc64le", apk="ppc64le", architecture="ppc64le"),
    Arch(name="riscv64", apk="riscv64", architecture="riscv64"),
    Arch(name="s390x", apk="s390x", architecture="s390x"),
)

# Every spelling apko's ParseArchitecture accepts: the canonical name and the APK name of each.
_ARCH_BY_SPELLING = {spelling: arch for arch in ALL_ARCHS for spelling in (arch.name, arch.apk)}


def arch_spellings() -> Tuple[str, ...]:
    """Every architecture name a configuration may use, sorted: ``386``, ``aarch64``, ..."""
    return tuple(sorted(_ARCH_BY_SPELLING))


def find_arch(name: str) -> Optional[Arch]:
    """The architecture called ``name`` in apko's or in APK's spelling (``amd64`` or ``x86_64``)."""
    return _ARCH_BY_SPELLING.get(name)


# --- Contents -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyringEntry:
    """A key that signs packages: a path or URL (``uri``), or an inline key (``name``, ``content``).

    Inline keys are written as files called ``name`` under ``/etc/apk/keys``; ``content`` is the PEM
    text of one RSA public key.
    """

    uri: str = ""
    name: str = yaml_key("name", default="")
    content: str = yaml_key("content", default="")

    @property
    def is_inline(self) -> bool:
        return not self.uri


# go-apk's package-name grammar as apko uses it: a name, optionally an operator and a version, and
# optionally "@tag" naming a tagged repository ("@tag url" in repositories).
PACKAGE_SPEC_PATTERN = re.compile(
    r"^(?P<name>[^@=><~]+)(?:(?P<op>[=><~]+)(?P<version>[^@]+))?(?:@(?P<pin>[A-Za-z0-9]+))?$"
)


@dataclass(frozen=True)
class PackageSpec:
    """An entry of ``contents.packages``: ``name``, ``name=1.2-r0``, ``name>=1.2``, ``name@tag``...

    ``text`` is the entry as written (what goes into the world file); ``operator`` is apk's
    canonical spelling of the constraint (``=~`` is ``~``), empty when there is none.
    """

    text: str
    name: str
    operator: str = ""
    version: str = ""
    pin: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class BaseImage:
    """``contents.baseimage`` (experimental in apko): build on top of an existing OCI layout."""

    image: str = yaml_key("image")
    apkindex: str = yaml_key("apkindex")


@dataclass(frozen=True)
class Contents:
    """``contents``: where packages come from, which keys sign them, and which to install.

    ``repositories`` are used to build and are written to the image's ``/etc/apk/repositories``;
    ``build_repositories`` are used to build only; ``runtime_repositories`` are written to the image
    only. A repository may be tagged: ``@local ./packages`` serves the packages pinned
    ``name@local``. ``runtime_keyring`` holds inline keys written to the image's ``/etc/apk/keys``
    after the install, so that ``apk add`` in the running container trusts the runtime repositories.
    """

    build_repositories: Tuple[str, ...] = yaml_key("build_repositories", default=())
    runtime_repositories: Tuple[str, ...] = yaml_key("runtime_repositories", default=())
    repositories: Tuple[str, ...] = yaml_key("repositories", default=())
    keyring: Tuple[KeyringEntry, ...] = yaml_key("keyring", default=())
    runtime_keyring: Tuple[KeyringEntry, ...] = yaml_key("runtime_keyring", default=())
    packages: Tuple[PackageSpec, ...] = yaml_key("packages", default=())
    baseimage: Optional[BaseImage] = yaml_key("baseimage", default=None)


# --- Entrypoint -----------------------------------------------------------------------------------

SERVICE_BUNDLE = "service-bundle"
SERVICE_BUNDLE_COMMAND = "/bin/s6-svscan /sv"
SERVICE_BUNDLE_PACKAGE = "s6"


@dataclass(frozen=True)
class Entrypoint:
    """``entrypoint``: the image's entrypoint.

    ``command`` is split like a shell would (``/bin/sh -l``); ``shell-fragment`` runs under
    ``/bin/sh -c``. With ``type: service-bundle`` the s6 supervisor runs the ``services`` (a map of
    service name to command).
    """

    type: str = yaml_key("type", default="")
    command: str = yaml_key("command", default="")
    shell_fragment: str = yaml_key("shell-fragment", default="")
    services: StringMap = yaml_key("services", default=())


# --- Accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A user added to ``/etc/passwd``. ``gid`` unset means the user's own uid, as apko does it."""

    username: str = yaml_key("username")
    uid: int = yaml_key("uid")
    gid: Optional[int] = yaml_key("gid", default=None)
    shell: str = yaml_key("shell", default="")
    homedir: str = yaml_key("homedir", default="")


@dataclass(frozen=True)
class Group:
    """A group added to ``/etc/group``."""

    groupname: str = yaml_key("groupname")
    gid: int = yaml_key("gid")
    members: Tuple[str, ...] = yaml_key("members", default=())


@dataclass(frozen=True)
class Accounts:
    """``accounts``: users and groups to create, and who the container runs as (a name or a uid)."""

    run_as: str = yaml_key("run-as", default="")
    users: Tuple[User, ...] = yaml_key("users", default=())
    groups: Tuple[Group, ...] = yaml_key("groups", default=())


# --- Paths ----------------------------------------------------------------------------------------

PATH_TYPES = ("directory", "empty-file", "hardlink", "symlink", "permissions")
LINK_PATH_TYPES = ("hardlink", "symlink")


@dataclass(frozen=True)
class PathMutation:
    """An entry of ``paths``: make a directory, an empty file or a link, or change permissions.

    Every type ends with ``chmod permissions`` and ``chown uid:gid`` on ``path`` (apko's order), so
    an unset ``permissions`` means mode 0. ``source`` is the link target of a ``hardlink`` or
    ``symlink``; ``recursive`` applies a ``directory``'s owner and permissions to everything below
    it.
    """

    path: str = yaml_key("path")
    type: str = yaml_key("type")
    uid: int = yaml_key("uid", default=0)
    gid: int = yaml_key("gid", default=0)
    permissions: int = yaml_key("permissions", default=0, octal=True)
    source: str = yaml_key("source", default="")
    recursive: bool = yaml_key("recursive", default=False)


# --- Layering and certificates --------------------------------------------------------------------

LAYERING_STRATEGIES = ("origin",)


@dataclass(frozen=True)
class Layering:
    """``layering``: split the image into layers by package origin: at most ``budget`` package
    layers (one for a budget of 0 or 1), then a top layer.

    apko groups the packages by origin, keeps the ``budget - 1`` largest groups as layers of their
    own, merges the rest into one, and puts what belongs to no package in a top layer (see
    :mod:`apkoci.build.layering`).
    """

    strategy: str = yaml_key("strategy", default="origin")
    budget: int = yaml_key("budget", default=0)


@dataclass(frozen=True)
class AdditionalCertificate:
    """An inline CA certificate (PEM, exactly one) added to the image's trust bundles."""

    name: str = yaml_key("name")
    content: str = yaml_key("content")


@dataclass(frozen=True)
class Certificates:
    """``certificates``: CA certificates to trust in the image.

    ``additional`` are inline; ``providers`` name a capability (``custom-ca-certificates``): the
    certificates of every installed package that provides it are added to the bundles too.
    """

    additional: Tuple[AdditionalCertificate, ...] = yaml_key("additional", default=())
    providers: Tuple[str, ...] = yaml_key("providers", default=())


# --- The configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageConfiguration:
    """A resolved ``apko.yaml``: includes merged, validated, apko's defaults applied."""

    contents: Contents = yaml_key("contents", default=Contents())
    entrypoint: Entrypoint = yaml_key("entrypoint", default=Entrypoint())
    cmd: str = yaml_key("cmd", default="")
    stop_signal: str = yaml_key("stop-signal", default="")
    work_dir: str = yaml_key("work-dir", default="")
    accounts: Accounts = yaml_key("accounts", default=Accounts())
    archs: Tuple[Arch, ...] = yaml_key("archs", default=ALL_ARCHS)
    environment: StringMap = yaml_key("environment", default=())
    paths: Tuple[PathMutation, ...] = yaml_key("paths", default=())
    vcs_url: str = yaml_key("vcs-url", default="")
    annotations: StringMap = yaml_key("annotations", default=())
    volumes: Tuple[str, ...] = yaml_key("volumes", default=())
    layering: Optional[Layering] = yaml_key("layering", default=None)
    certificates: Optional[Certificates] = yaml_key("certificates", default=None)


# The variables apko's images get unless the configuration sets them itself: each is added when its
# name is absent (images apko builds today show both beside the configuration's own variables).
DEFAULT_IMAGE_ENVIRONMENT: StringMap = (
    ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"),
    ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),
)


def image_environment(config: ImageConfiguration) -> Tuple[str, ...]:
    """The ``Env`` of the image's OCI config: ``NAME=value`` sorted, apko's defaults added for
    the names the configuration leaves unset."""
    pairs = dict(DEFAULT_IMAGE_ENVIRONMENT)
    pairs.update(config.environment)
    return tuple(sorted(f"{name}={value}" for name, value in pairs.items()))
