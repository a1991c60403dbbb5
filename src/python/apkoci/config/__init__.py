"""apko's configuration format (``apko.yaml``): model, strict loader and canonical printout.

- :mod:`apkoci.config.model`: frozen dataclasses for everything an ``apko.yaml`` can say
  (:class:`ImageConfiguration` and its parts), the architectures apko knows (:class:`Arch`) and the
  image-build defaults apko applies outside the configuration (:func:`image_environment`).
- :mod:`apkoci.config.load`: :func:`load_configuration` reads a file, its ``include`` chain and
  validates all of it; every mistake is a :class:`ConfigError` naming the file, the line and the
  key. :func:`configuration_checksum` is the checksum apko records in a lock file's ``config``
  entry; :func:`configuration_digest` is a digest of the resolved configuration itself.
- :mod:`apkoci.config.show`: :func:`format_configuration`, the resolved configuration as YAML
  (what ``apkoci show-config`` prints); loading that output gives back an equal configuration.
"""

from __future__ import annotations

from apkoci.config.load import (
    ConfigError,
    Problem,
    configuration_checksum,
    configuration_digest,
    load_configuration,
)
from apkoci.config.model import (
    ALL_ARCHS,
    Accounts,
    AdditionalCertificate,
    Arch,
    BaseImage,
    Certificates,
    Contents,
    Entrypoint,
    Group,
    ImageConfiguration,
    KeyringEntry,
    Layering,
    OciPlatform,
    PackageSpec,
    PathMutation,
    User,
    find_arch,
    image_environment,
)
from apkoci.config.show import format_configuration

__all__ = [
    "ALL_ARCHS",
    "Accounts",
    "AdditionalCertificate",
    "Arch",
    "BaseImage",
    "Certificates",
    "ConfigError",
    "Contents",
    "Entrypoint",
    "Group",
    "ImageConfiguration",
    "KeyringEntry",
    "Layering",
    "OciPlatform",
    "PackageSpec",
    "PathMutation",
    "Problem",
    "User",
    "configuration_checksum",
    "configuration_digest",
    "find_arch",
    "format_configuration",
    "image_environment",
    "load_configuration",
]
