"""The ``apkoci lock`` and ``apkoci fetch`` sub-commands (wired into :mod:`apkoci.cli`).

``apkoci lock CONFIG [-o LOCK] [--arch A]...`` resolves a configuration into a lock file, like
``apko lock``; ``apkoci fetch --lockfile LOCK --arch A --output DIR`` downloads and verifies the
locked packages of one architecture. Both are the only steps of a build that use the network.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from apkoci.cli_options import (
    add_allow_untrusted_option,
    add_include_path_option,
    add_timeout_option,
)
from apkoci.lock.fetch import fetch_locked_packages
from apkoci.lock.lock import lock_configuration
from apkoci.lock.lockfile import read_lock, write_lock


def default_lock_path(config: str) -> str:
    """apko's default output: ``apko.yaml`` -> ``apko.lock.json``, beside the configuration."""
    return os.path.splitext(config)[0] + ".lock.json"


def _lock_command(args: argparse.Namespace) -> int:
    lock = lock_configuration(
        args.config,
        archs=args.arch or None,
        include_paths=args.include_path,
        allow_untrusted=args.allow_untrusted,
        timeout=args.timeout,
    )
    output = args.output or default_lock_path(args.config)
    write_lock(lock, output)
    counts = Counter(package.architecture for package in lock.contents.packages)
    summary = ", ".join(f"{counts[arch]} for {arch}" for arch in lock.architectures)
    print(f"wrote {output}: {summary or 'no packages'}")
    return 0


def add_lock_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "lock",
        help="resolve an apko configuration into a lock file (apko's apko.lock.json format)",
        description=(
            "Resolve the configuration's packages for each architecture, the way apk-tools would "
            "on a fresh root, and write apko's lock file (format v1): per architecture the "
            "packages in install order, with where each comes from and the checksums of its "
            "parts, plus the SHA-256 and size of each .apk so builds can fetch them hermetically. "
            "apko reads the result too. Relative paths in the configuration are relative to its "
            "folder."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="the apko.yaml to lock")
    parser.add_argument(
        "--output",
        "-o",
        metavar="LOCK",
        help="where to write the lock (default: CONFIG with .lock.json for its extension)",
    )
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help="an architecture to lock (amd64 or x86_64, arm64 or aarch64, ...); repeat for "
        "several (default: the configuration's `archs`, else all of apko's)",
    )
    add_include_path_option(parser)
    add_allow_untrusted_option(parser)
    add_timeout_option(parser)
    parser.set_defaults(run=_lock_command)


def _fetch_command(args: argparse.Namespace) -> int:
    lock = read_lock(args.lockfile)
    written = fetch_locked_packages(
        lock, args.arch, args.output, base_dir=args.base_dir, timeout=args.timeout
    )
    print(f"fetched {len(written)} packages for {args.arch} into {args.output}")
    return 0


def add_fetch_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fetch",
        help="download and verify the locked packages of one architecture",
        description=(
            "Fetch every package a lock file has for ARCH into DIR as <name>-<version>.apk, "
            "in install order. Each file is verified before it is kept: by its SHA-256 and size "
            "when the lock records them (locks apkoci wrote), else by its control checksum (Q1) "
            "and data hash (locks apko wrote). Nothing unverified is left in DIR."
        ),
    )
    parser.add_argument("--lockfile", required=True, metavar="LOCK", help="the lock file")
    parser.add_argument(
        "--arch", required=True, metavar="ARCH", help="the architecture (amd64 or x86_64, ...)"
    )
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="the folder to write the packages to"
    )
    parser.add_argument(
        "--base-dir",
        metavar="DIR",
        help="the folder relative package paths in the lock are relative to (default: the folder "
        "of the configuration the lock was made from, as the lock names it)",
    )
    add_timeout_option(parser)
    parser.set_defaults(run=_fetch_command)
