"""User and group accounts of an image: ``/etc/passwd`` and ``/etc/group`` as values.

:mod:`apkoci.passwd.passwd` parses both files (:func:`parse_passwd`, :func:`parse_group`), merges
the accounts a configuration adds into what the packages shipped (:func:`merge_entries`) and writes
them back (:func:`format_entries`), the way apko's ``pkg/passwd`` does (differences are in that
module's documentation).
"""

from __future__ import annotations

from apkoci.passwd.passwd import (
    GROUP_PATH,
    NO_HOME,
    PASSWD_PATH,
    GroupEntry,
    PasswdError,
    UserEntry,
    find_user,
    format_entries,
    merge_entries,
    parse_group,
    parse_passwd,
)

__all__ = [
    "GROUP_PATH",
    "NO_HOME",
    "PASSWD_PATH",
    "GroupEntry",
    "PasswdError",
    "UserEntry",
    "find_user",
    "format_entries",
    "merge_entries",
    "parse_group",
    "parse_passwd",
]
