"""The `apkoci` command line, shaped after apko's own commands so apko users feel at home.

Each sub-command is a small function that turns parsed arguments into engine calls; every engine
error (`ApkociError`) is printed as it is and exits with status 1, never as a traceback. The
commands:

- like apko: `build`, `show-config`, `show-packages`, `lock`, `fetch` (`apkoci.build.commands`,
  `apkoci.lock.cli`);
- the step commands the Pants backend runs: `split-config`, `layer`, `dir-layer`, `image`
  (`apkoci.build.steps`);
- APK tools: `resolve` (here), `package` and `index` (`apkoci.build.apk_commands`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from apkoci.apk.repository import Repository, RepositoryIndex, load_index
from apkoci.apk.signature import Keyring
from apkoci.apk.solver import Resolution, resolve
from apkoci.cli_options import add_allow_untrusted_option
from apkoci.errors import ApkociError


def _load_indexes(
    repositories: Sequence[str], keyring_paths: Sequence[str], arch: str, allow_untrusted: bool
) -> List[RepositoryIndex]:
    keyring = Keyring.from_paths(keyring_paths)
    return [
        load_index(Repository.parse(spelling), arch, keyring, allow_untrusted=allow_untrusted)
        for spelling in repositories
    ]


@contextlib.contextmanager
def _without_cyclic_garbage_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: reading an index allocates tens of thousands of
    objects, and each collection would walk them again to find no cycle to free (a few percent
    of a resolve's time); reference counting frees what the resolve is done with all the same."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _resolution_as_json(resolution: Resolution) -> str:
    import json  # only --json needs it: a command line pays for every import at each start

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
    with _without_cyclic_garbage_collection():
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
    add_allow_untrusted_option(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {name, version, arch, repository, checksum, size}",
    )
    parser.add_argument("world", nargs="+", metavar="WORLD", help="the packages to install")
    parser.set_defaults(run=_resolve_command)


ParserBuilder = Callable[[argparse._SubParsersAction], None]


def _parser_builders() -> Sequence[ParserBuilder]:
    # Imported here, not at the top: the image, lock and writer machinery costs several times what
    # a whole `apkoci resolve` takes to import, and a command line pays for its imports each run.
    from apkoci.build.apk_commands import APK_PARSERS
    from apkoci.build.commands import BUILD_PARSERS
    from apkoci.build.steps import STEP_PARSERS
    from apkoci.lock.cli import add_fetch_parser, add_lock_parser

    return (
        *BUILD_PARSERS,
        add_lock_parser,
        add_fetch_parser,
        *STEP_PARSERS,
        _add_resolve_parser,
        *APK_PARSERS,
    )


# Commands all of whose code is in this module: a run of one of them builds a parser of it alone
# (and so imports none of the others' modules). Its help and errors read the same.
_SELF_CONTAINED_COMMANDS: Dict[str, ParserBuilder] = {"resolve": _add_resolve_parser}


def build_parser(builders: Optional[Sequence[ParserBuilder]] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apkoci",
        description="Build minimal, reproducible OCI images from APK packages, like apko.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _parser_builders() if builders is None else builders:
        add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    own = _SELF_CONTAINED_COMMANDS.get(arguments[0]) if arguments else None
    args = build_parser(None if own is None else [own]).parse_args(arguments)
    try:
        return int(args.run(args))
    except ApkociError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
