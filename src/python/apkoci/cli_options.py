"""Options several `apkoci` sub-commands share, spelt and explained once."""

from __future__ import annotations

import argparse

from apkoci.apk.repository import DEFAULT_TIMEOUT_SECONDS


def add_include_path_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-path",
        action="append",
        default=[],
        metavar="DIR",
        help="another folder to look for the configuration's `include` in; repeat for several",
    )


def add_allow_untrusted_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="accept indexes that are unsigned or signed by keys not in the keyring",
    )


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"network timeout per connection and read (default: {DEFAULT_TIMEOUT_SECONDS:g})",
    )
