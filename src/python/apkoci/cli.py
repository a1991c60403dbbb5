"""The `apkoci` command line, shaped after apko's own commands so apko users feel at home.

Each sub-command is a small function that turns parsed arguments into engine calls; every engine error
(`ApkociError`) is printed as it is and exits with status 1, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, List, Optional, Sequence

from apkoci.apk.repository import Repository, RepositoryIndex, load_index
from apkoci.apk.signature import Keyring
from apkoci.apk.solver import Resolution, resolve
from apkoci.errors import ApkociError


def _load_indexes(
    repositories: Sequence[str], keyring_paths: Sequence[str], arch: str, allow_untrusted: bool
) -> List[RepositoryIndex]:
    keyring = Keyring.from_paths(keyring_paths)
    return [
        load_index(Repository.parse(spelling), arch, keyring, allow_untrusted=allow_untrusted)
        for spelling in repositories
    ]


def _resolution_as_json(resolution: Resolution) -> str:
    return json.dumps(
        [
            {
                "name": resolved.package.name,
                "version": resolved.package.version,
                "arch": resolved.package.arch,
                "repository": str(resolved.repository) if resolved.repository else None,
                "checksum": resolved.package.checksum,
                "size": resolved.package.size,
            }
            for resolved in resolution.packages
        ],
        indent=2,
    )


def _resolve_command(args: argparse.Namespace) -> int:
    indexes = _load_indexes(args.repository, args.keyring, args.arch, args.allow_untrusted)
    resolution = resolve(args.world, indexes, arch=args.arch)
    if args.json:
        print(_resolution_as_json(resolution))
    else:
        for resolved in resolution.packages:
            print(f"{resolved.package.name} {resolved.package.version}")
    return 0


def _add_resolve_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "resolve",
        help="print the packages a world installs, in apk-tools' install order",
        description=(
            "Resolve a world (apk dependency strings: name, name=1.2-r0, name>=1, name~1, !name, "
            "name@tag, so:..., cmd:..., pc:...) against APK repositories, the way apk-tools would "
            "on a fresh root. Prints one 'name version' line per package in install order."
        ),
    )
    parser.add_argument(
        "--repository",
        "-X",
        action="append",
        default=[],
        required=True,
        metavar="REPO",
        help="a repository as written in apko.yaml: a path, file:// or http(s):// URL, "
        "optionally tagged ('@tag URL'); repeat for several",
    )
    parser.add_argument(
        "--keyring",
        "-k",
        action="append",
        default=[],
        metavar="KEY",
        help="a public key file (or a folder of them) that signs the indexes; repeat for several",
    )
    parser.add_argument("--arch", required=True, help="the APK architecture, e.g. x86_64, aarch64")
    parser.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="accept indexes that are unsigned or signed by keys not in the keyring",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {name, version, arch, repository, checksum, size}",
    )
    parser.add_argument("world", nargs="+", metavar="WORLD", help="the packages to install")
    parser.set_defaults(run=_resolve_command)


_PARSER_BUILDERS: Sequence[Callable[[argparse._SubParsersAction], None]] = (_add_resolve_parser,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apkoci",
        description="Build minimal, reproducible OCI images from APK packages, like apko.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _PARSER_BUILDERS:
        add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ApkociError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
