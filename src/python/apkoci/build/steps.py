"""The step commands the Pants backend runs, each a hermetic, cached process (see steps.md):

- ``apkoci split-config CONFIG --output DIR``: ``DIR/filetree.json`` and ``DIR/image.json``
  (:mod:`apkoci.build.split`);
- ``apkoci layer --filetree F --lockfile L --arch A --packages PKGDIR --keyring-dir K --output
  OUT [--compression gzip|zstd|none] [--source-date-epoch N]``: the package layer of one
  architecture, ``OUT/layer.tar.gz`` and ``OUT/layer.json`` (:func:`build_package_layer`); with
  ``layering`` in the file tree, ``OUT/layer-0.tar.gz`` ... (bottom first) instead of the one blob.
  The lock is not checked against a configuration here: the caller did that, and may hand in a
  lock cut down to the architecture;
- ``apkoci dir-layer --dir D --prefix /app --output OUT [--compression ...]
  [--source-date-epoch N]``: a layer of first-party files (:func:`build_directory_layer`);
- ``apkoci image --image IMAGEJSON --arch A=LAYERDIR[,LAYERDIR...] ... --output OUT [--tag T]...
  [--format oci|docker|sbom-spdx|sbom-cyclonedx]... [--annotation k=v]... [--sbom-path DIR]``:
  the image and its artifacts (:func:`apkoci.build.image.assemble_image`).

Only their inputs matter: no step reads the clock, the environment or the network.
"""

from __future__ import annotations

import argparse
from typing import Dict, Iterable, List, Tuple

from apkoci.build.errors import BuildError
from apkoci.build.image import DEFAULT_FORMATS, FORMATS, ArchLayers, assemble_image
from apkoci.build.layerinfo import LAYER_FILES
from apkoci.build.layers import build_directory_layer, build_package_layer, find_build_arch
from apkoci.build.split import load_part, write_split
from apkoci.cli_options import add_include_path_option
from apkoci.config import load_configuration
from apkoci.lock.lockfile import read_lock


def parse_annotation(text: str) -> Tuple[str, str]:
    """``key=value`` (or apko's ``key:value``) as a pair; the first ``=`` splits, else ``:``."""
    separator = "=" if "=" in text else ":"
    key, found, value = text.partition(separator)
    if not found or not key:
        raise BuildError(
            f"annotation {text!r} must read key=value, e.g. org.opencontainers.image.title=app"
        )
    return key, value


def parse_annotations(items: Iterable[str]) -> Dict[str, str]:
    return dict(parse_annotation(item) for item in items)


def parse_arch_layers(text: str) -> Tuple[str, List[str]]:
    """``x86_64=layers/x86_64,layers/extra-0`` as the architecture and its layer folders."""
    arch, found, folders = text.partition("=")
    paths = [folder for folder in folders.split(",") if folder]
    if not found or not arch or not paths:
        raise BuildError(
            f"--arch {text!r} must read ARCH=LAYERDIR[,LAYERDIR...], e.g. "
            "x86_64=layers/x86_64,layers/app"
        )
    return arch, paths


def _add_layer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compression",
        choices=sorted(LAYER_FILES),
        default="gzip",
        help="how to compress the layer (default: gzip)",
    )
    parser.add_argument(
        "--source-date-epoch",
        type=int,
        metavar="N",
        help="the time (seconds since 1970) of every file in the layer; default: the newest "
        "build time of the packages (0 for a folder layer)",
    )


# --- split-config ---------------------------------------------------------------------------------


def _split_config_command(args: argparse.Namespace) -> int:
    config = load_configuration(args.config, args.include_path)
    filetree, image = write_split(config, args.output)
    print(f"wrote {filetree} and {image}")
    return 0


def add_split_config_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "split-config",
        help="split a configuration into filetree.json and image.json",
        description=(
            "Write DIR/filetree.json (what shapes the file tree: contents, accounts, paths, "
            "work-dir, certificates, archs) and DIR/image.json (entrypoint, cmd, environment, "
            "annotations, ...), both canonical JSON, so that an image-only change leaves the "
            "layer step's input as it is."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="the apko.yaml")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="where to write")
    add_include_path_option(parser)
    parser.set_defaults(run=_split_config_command)


# --- layer ----------------------------------------------------------------------------------------


def _layer_command(args: argparse.Namespace) -> int:
    info = build_package_layer(
        load_part(args.filetree),
        read_lock(args.lockfile),
        args.arch,
        args.packages,
        args.keyring_dir,
        args.output,
        compression=args.compression,
        source_date_epoch=args.source_date_epoch,
    )
    summary = f"{len(info.packages)} packages, {info.arch}"
    for blob in info.blobs:
        # With layering, which packages each blob holds (the top one holds the build's files).
        held = f"{', '.join(blob.packages) or 'top'}; " if len(info.blobs) > 1 else ""
        print(f"{blob.digest} {args.output}/{blob.file} ({held}{summary})")
    return 0


def add_layer_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "layer",
        help="install one architecture's locked packages as a layer",
        description=(
            "Install exactly the packages LOCK has for ARCH, from PKGDIR/<name>-<version>.apk "
            "(each checked against the lock), apply the file tree's accounts, paths, "
            "certificates and busybox links, and write OUT/layer.tar.gz (or .tar.zst) and "
            "OUT/layer.json (digests, time, packages and os-release for the SBOM)."
        ),
    )
    parser.add_argument("--filetree", required=True, metavar="F", help="a filetree.json")
    parser.add_argument("--lockfile", required=True, metavar="LOCK", help="the lock file")
    parser.add_argument("--arch", required=True, metavar="ARCH", help="x86_64, aarch64, ...")
    parser.add_argument(
        "--packages", required=True, metavar="PKGDIR", help="the folder of the fetched packages"
    )
    parser.add_argument(
        "--keyring-dir",
        required=True,
        metavar="K",
        help="the folder of the keyring's key files, each under its file name",
    )
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="where to write")
    _add_layer_options(parser)
    parser.set_defaults(run=_layer_command)


# --- dir-layer ------------------------------------------------------------------------------------


def _dir_layer_command(args: argparse.Namespace) -> int:
    info = build_directory_layer(
        args.dir,
        args.prefix,
        args.output,
        compression=args.compression,
        source_date_epoch=args.source_date_epoch,
    )
    for blob in info.blobs:
        print(f"{blob.digest} {args.output}/{blob.file}")
    return 0


def add_dir_layer_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dir-layer",
        help="make a layer of a folder's files, placed at a path in the image",
        description=(
            "Write the files under DIR as a layer that puts them at PREFIX (owned by root, "
            "folders 0755, files 0755 or 0644 by their execute bit), as OUT/layer.tar.gz and "
            "OUT/layer.json."
        ),
    )
    parser.add_argument("--dir", required=True, metavar="DIR", help="the folder to lay out")
    parser.add_argument(
        "--prefix", default="/", metavar="PATH", help="where in the image (default: /)"
    )
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="where to write")
    _add_layer_options(parser)
    parser.set_defaults(run=_dir_layer_command)


# --- image ----------------------------------------------------------------------------------------


def _image_command(args: argparse.Namespace) -> int:
    archs = []
    for text in args.arch:
        name, folders = parse_arch_layers(text)
        archs.append(ArchLayers.read(find_build_arch(name), folders))
    summary = assemble_image(
        load_part(args.image),
        archs,
        args.output,
        tags=args.tag,
        formats=args.format or DEFAULT_FORMATS,
        annotations=parse_annotations(args.annotation),
        sbom_dir=args.sbom_path,
    )
    print(f"index {summary.index_digest}")
    return 0


def add_image_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "image",
        help="assemble layers into an image: OCI layout, docker archives, SBOMs",
        description=(
            "Make one image per --arch from its layer folders (bottom first) and the image part "
            "of the configuration, and an index over them. Writes OUT/oci/ (an OCI layout), "
            "OUT/<name>-<arch>.docker.tar, OUT/sbom-<arch>.spdx.json and sbom-index.spdx.json "
            "(and .cdx), and OUT/image.json with the digests."
        ),
    )
    parser.add_argument("--image", required=True, metavar="IMAGEJSON", help="an image.json")
    parser.add_argument(
        "--arch",
        action="append",
        required=True,
        metavar="ARCH=LAYERDIR[,LAYERDIR...]",
        help="an architecture and its layer folders; repeat for each architecture",
    )
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="where to write")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="a reference to name the image by, e.g. example.com/app:1.0; repeat for several",
    )
    parser.add_argument(
        "--format",
        action="append",
        default=[],
        choices=FORMATS,
        help=f"an artifact to write; repeat for several (default: {', '.join(DEFAULT_FORMATS)})",
    )
    parser.add_argument(
        "--annotation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an annotation of the manifests and the index; repeat for several",
    )
    parser.add_argument(
        "--sbom-path", metavar="DIR", help="where to write the SBOMs (default: OUT)"
    )
    parser.set_defaults(run=_image_command)


STEP_PARSERS = (add_split_config_parser, add_layer_parser, add_dir_layer_parser, add_image_parser)
