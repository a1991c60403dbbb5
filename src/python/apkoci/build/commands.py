"""The ``apkoci build``, ``show-config`` and ``show-packages`` commands, spelled as apko's.

- ``apkoci build CONFIG OUT [TAG...] [--arch A[,B]]... [--lockfile L] [--sbom-path DIR]
  [--sbom-formats spdx,cyclonedx] [--no-sbom] [--annotations K=V]... [--compression gzip|zstd]
  [--include-path DIR]... [--allow-untrusted]``: the image into the folder OUT (an OCI layout in
  ``OUT/oci``, a docker archive per architecture, SBOMs, ``OUT/image.json``; see
  :mod:`apkoci.build.image`). apko writes a layout when its output is a folder and a docker
  tarball otherwise; apkoci always writes both, into one folder. ``SOURCE_DATE_EPOCH`` in the
  environment sets the time, as with apko. With ``layering`` in the configuration each
  architecture's packages become apko's several layers (:mod:`apkoci.build.layering`), else one.
- ``apkoci show-config CONFIG``: the resolved configuration as YAML.
- ``apkoci show-packages CONFIG [--arch A]... [--format F]``: the packages a build installs, in
  install order, for each architecture, one line each in one of apko's formats.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import List, Sequence, Tuple

from apkoci.apk.repository import DEFAULT_TIMEOUT_SECONDS, load_index
from apkoci.apk.solver import ResolvedPackage, resolve
from apkoci.build.build import build_from_config, source_date_epoch_from, target_archs
from apkoci.build.errors import BuildError
from apkoci.build.filetree_steps import world
from apkoci.build.layerinfo import LAYER_FILES
from apkoci.build.steps import parse_annotations
from apkoci.cli_options import (
    add_allow_untrusted_option,
    add_include_path_option,
    add_timeout_option,
)
from apkoci.config import Arch, format_configuration, load_configuration

# The lock's own way to load the keyring and the repositories a configuration resolves from, so
# that show-packages shows exactly what `apkoci lock` would pin.
from apkoci.lock.lock import load_keyring, resolution_sources

SBOM_FORMATS = ("spdx", "cyclonedx")

# apko's show-packages formats (its --format names).
PACKAGE_FORMATS = {
    "name-version": "{name} {version}",
    "name-version-source": "{name} {version} {source}",
    "name=version": "{name}={version}",
    "name=version-source": "{name}={version} {source}",
    "name-(version)": "{name} ({version})",
    "name-(version)-source": "{name} ({version}) {source}",
    "packagelock": "- {name}={version}",
    "packagelock-source": "- {name}={version} # {source}",
}


def _comma_separated(values: Sequence[str]) -> List[str]:
    return [item for value in values for item in value.split(",") if item]


# --- build ----------------------------------------------------------------------------------------


def image_formats(sbom_formats: Sequence[str], sbom: bool) -> Tuple[str, ...]:
    """The artifacts ``apkoci build`` writes: the layout, the archives and the SBOMs asked for."""
    chosen = ["oci", "docker"]
    if sbom:
        for name in sbom_formats:
            if name not in SBOM_FORMATS:
                raise BuildError(f"unknown SBOM format {name!r}: use {', '.join(SBOM_FORMATS)}")
            chosen.append(f"sbom-{name}")
    return tuple(chosen)


def _build_command(args: argparse.Namespace) -> int:
    summary = build_from_config(
        args.config,
        args.output,
        archs=_comma_separated(args.arch),
        lockfile=args.lockfile,
        include_paths=args.include_path,
        tags=args.tags,
        formats=image_formats(_comma_separated(args.sbom_formats) or ["spdx"], not args.no_sbom),
        annotations=parse_annotations(args.annotations),
        sbom_dir=args.sbom_path,
        compression=args.compression,
        source_date_epoch=source_date_epoch_from(os.environ),
        allow_untrusted=args.allow_untrusted,
        timeout=args.timeout,
    )
    for arch, manifest in summary.manifests.items():
        print(f"{arch}: {manifest['digest']}")
    print(f"index {summary.index_digest} in {args.output}")
    return 0


def add_build_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "build",
        help="build an image from an apko configuration",
        description=(
            "Build the image of CONFIG for each architecture and write into the folder OUT: "
            "oci/ (an OCI image layout with the index), <name>-<arch>.docker.tar (for docker or "
            "podman load), the SBOMs and image.json (the digests). Without --lockfile the "
            "packages are resolved from the configuration's repositories; with it, exactly the "
            "locked packages are installed, and a lock made from another version of the "
            "configuration is refused. SOURCE_DATE_EPOCH sets the time of the files and the "
            "image; without it, the newest build time of the packages. A configuration with "
            "`layering: {strategy: origin, budget: N}` gets up to N package layers (by origin, "
            "largest first) and a top layer, as with apko."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="the apko.yaml")
    parser.add_argument("output", metavar="OUT", help="the folder to write the image into")
    parser.add_argument(
        "tags",
        nargs="*",
        metavar="TAG",
        help="references to name the image by, e.g. example.com/app:1.0",
    )
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help="architectures to build (x86_64 or amd64, aarch64 or arm64, ...), comma-separated "
        "or repeated (default: the configuration's archs)",
    )
    parser.add_argument("--lockfile", metavar="LOCK", help="install exactly what this lock pins")
    parser.add_argument(
        "--sbom-path", metavar="DIR", help="where to write the SBOMs (default: OUT)"
    )
    parser.add_argument(
        "--sbom-formats",
        action="append",
        default=[],
        metavar="FORMATS",
        help="SBOM formats, comma-separated: spdx, cyclonedx (default: spdx)",
    )
    parser.add_argument("--no-sbom", action="store_true", help="write no SBOM")
    parser.add_argument(
        "--annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an annotation of the manifests and the index (apko's key:value works too); repeat",
    )
    parser.add_argument(
        "--compression",
        choices=sorted(LAYER_FILES),
        default="gzip",
        help="how to compress the layers (default: gzip)",
    )
    add_include_path_option(parser)
    add_allow_untrusted_option(parser)
    add_timeout_option(parser)
    parser.set_defaults(run=_build_command)


# --- show-config ----------------------------------------------------------------------------------


def _show_config_command(args: argparse.Namespace) -> int:
    print(format_configuration(load_configuration(args.config, args.include_path)), end="")
    return 0


def add_show_config_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show-config",
        help="print the resolved configuration",
        description=(
            "Print CONFIG as apkoci reads it: includes merged, apko's defaults applied, keys in "
            "apko's order. Loading the output gives back the same configuration."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="the apko.yaml")
    add_include_path_option(parser)
    parser.set_defaults(run=_show_config_command)


# --- show-packages --------------------------------------------------------------------------------


def resolve_configuration(
    config_path: str,
    archs: Sequence[str] = (),
    *,
    include_paths: Sequence[str] = (),
    allow_untrusted: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> List[Tuple[Arch, Tuple[ResolvedPackage, ...]]]:
    """What a build of the configuration installs, per architecture, in install order; resolved
    from the indexes only (no package is read)."""
    config = load_configuration(config_path, include_paths)
    base_dir = Path(os.path.abspath(config_path)).parent
    keyring = load_keyring(config.contents.keyring, base_dir, timeout)
    sources = resolution_sources(config.contents, base_dir)
    result = []
    for arch in target_archs(archs, config.archs):
        indexes = [
            load_index(
                source.repository,
                arch.apk,
                keyring,
                allow_untrusted=allow_untrusted,
                timeout=timeout,
            )
            for source in sources
        ]
        result.append((arch, resolve(world(config.contents), indexes, arch.apk).packages))
    return result


def _show_packages_command(args: argparse.Namespace) -> int:
    template = PACKAGE_FORMATS.get(args.format)
    if template is None:
        raise BuildError(f"unknown format {args.format!r}: use one of {', '.join(PACKAGE_FORMATS)}")
    resolved = resolve_configuration(
        args.config,
        _comma_separated(args.arch),
        include_paths=args.include_path,
        allow_untrusted=args.allow_untrusted,
        timeout=args.timeout,
    )
    for arch, packages in resolved:
        for item in packages:
            source = (
                item.repository.package_url(arch.apk, item.package.filename)
                if item.repository is not None
                else ""
            )
            print(template.format(name=item.name, version=item.package.version, source=source))
    return 0


def add_show_packages_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show-packages",
        help="print the packages a build would install",
        description=(
            "Resolve CONFIG as a build would, from the repositories' indexes, and print the "
            "packages each architecture gets, in install order, one line each (architectures "
            "one after the other, as apko prints them)."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="the apko.yaml")
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help="architectures, comma-separated or repeated (default: the configuration's archs)",
    )
    parser.add_argument(
        "--format",
        default="name-version",
        help=f"one of apko's formats: {', '.join(PACKAGE_FORMATS)} (default: name-version)",
    )
    add_include_path_option(parser)
    add_allow_untrusted_option(parser)
    add_timeout_option(parser)
    parser.set_defaults(run=_show_packages_command)


BUILD_PARSERS = (add_build_parser, add_show_config_parser, add_show_packages_parser)
