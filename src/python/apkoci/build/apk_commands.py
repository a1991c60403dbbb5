"""``apkoci package`` and ``apkoci index``: APK packages and signed indexes from the command line.

- ``apkoci package DIR --name N --version V --arch A [--description ...] [--depends D]...
  [--provides P]... [--script NAME=FILE]... [--signing-key K] [-o OUT]``: a ``.apk`` of the files
  under DIR (:func:`apkoci.apk.writer.build_package`), written to OUT (default
  ``<name>-<version>.apk`` in the working folder);
- ``apkoci index APK... -o APKINDEX.tar.gz [--signing-key K] [--description D]``: the signed
  index of those packages (:func:`apkoci.apk.writer.build_index`), as ``apk index`` and
  ``abuild-sign`` make it.

Both stamp ``--source-date-epoch`` (default: ``SOURCE_DATE_EPOCH``, else 0) on every entry, so
the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import os
from typing import Dict, List, Optional

from apkoci.apk.writer import DEFAULT_SIGNATURE_ALGORITHM, PackageSpec, build_index, build_package
from apkoci.build.build import source_date_epoch_from
from apkoci.build.errors import BuildError


def _epoch(value: Optional[int]) -> int:
    if value is not None:
        return value
    from_environment = source_date_epoch_from(os.environ)
    return from_environment if from_environment is not None else 0


def _scripts(items: List[str]) -> Dict[str, str]:
    scripts = {}
    for item in items:
        name, found, path = item.partition("=")
        if not found or not name or not path:
            raise BuildError(f"--script {item!r} must read NAME=FILE, e.g. post-install=./setup.sh")
        scripts[name] = path
    return scripts


def _add_signing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signing-key",
        metavar="KEY",
        help="an RSA private key (PEM) to sign with; unsigned without",
    )
    parser.add_argument(
        "--key-name",
        metavar="NAME",
        help="the public key's file name the signature names (default: KEY's name + .pub)",
    )
    parser.add_argument(
        "--signature-algorithm",
        choices=("RSA", "RSA256"),
        default=DEFAULT_SIGNATURE_ALGORITHM,
        help="RSA (SHA-1, abuild's default) or RSA256 (SHA-256, melange's; the default)",
    )
    parser.add_argument(
        "--source-date-epoch",
        type=int,
        metavar="N",
        help="the time of every entry (default: SOURCE_DATE_EPOCH, else 0)",
    )


def _package_command(args: argparse.Namespace) -> int:
    spec = PackageSpec(
        name=args.name,
        version=args.version,
        arch=args.arch,
        description=args.description,
        url=args.url,
        license=args.license,
        origin=args.origin,
        maintainer=args.maintainer,
        commit=args.commit,
        depends=tuple(args.depends),
        provides=tuple(args.provides),
        replaces=tuple(args.replaces),
        install_if=tuple(args.install_if),
        provider_priority=args.provider_priority,
        replaces_priority=args.replaces_priority,
        scripts=_scripts(args.script),  # type: ignore[arg-type]
        triggers=tuple(args.trigger),
    )
    out = args.output or f"{args.name}-{args.version}.apk"
    package = build_package(
        args.directory,
        spec,
        out,
        signing_key=args.signing_key,
        key_name=args.key_name,
        source_date_epoch=_epoch(args.source_date_epoch),
        signature_algorithm=args.signature_algorithm,
    )
    print(
        f"wrote {out}: {package.name}-{package.version} ({package.checksum}, {package.size} bytes)"
    )
    return 0


def add_package_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "package",
        help="make an APK package of a folder's files",
        description=(
            "Write an APK v2 package of the files under DIR (owned by root, modes as on disk, "
            "every time the same), with the metadata given, optionally signed."
        ),
    )
    parser.add_argument("directory", metavar="DIR", help="the folder holding the package's files")
    parser.add_argument("--name", required=True, help="the package name")
    parser.add_argument("--version", required=True, help="an apk version, e.g. 1.2.3-r0")
    parser.add_argument("--arch", required=True, help="x86_64, aarch64, noarch, ...")
    for field in ("description", "url", "license", "origin", "maintainer", "commit"):
        parser.add_argument(f"--{field}", default="", help=f"the package's {field}")
    for field in ("depends", "provides", "replaces", "install-if"):
        parser.add_argument(
            f"--{field}",
            action="append",
            default=[],
            metavar="DEP",
            help=f"one of the package's {field} (apk's spelling); repeat for several",
        )
    parser.add_argument("--provider-priority", type=int, help="the provider priority (k:)")
    parser.add_argument("--replaces-priority", type=int, default=0, help="the replaces priority")
    parser.add_argument(
        "--script",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an install script, e.g. post-install=./post-install.sh; repeat for several",
    )
    parser.add_argument(
        "--trigger", action="append", default=[], metavar="GLOB", help="a trigger path glob"
    )
    parser.add_argument("--output", "-o", metavar="OUT", help="the .apk to write")
    _add_signing_options(parser)
    parser.set_defaults(run=_package_command)


def _index_command(args: argparse.Namespace) -> int:
    packages = build_index(
        args.packages,
        args.output,
        signing_key=args.signing_key,
        key_name=args.key_name,
        description=args.description,
        source_date_epoch=_epoch(args.source_date_epoch),
        signature_algorithm=args.signature_algorithm,
    )
    print(f"wrote {args.output}: {len(packages)} packages")
    return 0


def add_index_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "index",
        help="make a signed APKINDEX.tar.gz of packages",
        description=(
            "Write the repository index of the packages given, sorted by name and version, "
            "signed with --signing-key as abuild-sign does."
        ),
    )
    parser.add_argument("packages", nargs="+", metavar="APK", help="the .apk files")
    parser.add_argument(
        "--output", "-o", required=True, metavar="APKINDEX", help="the index to write"
    )
    parser.add_argument("--description", default="", help="the index's DESCRIPTION")
    _add_signing_options(parser)
    parser.set_defaults(run=_index_command)


APK_PARSERS = (add_package_parser, add_index_parser)
