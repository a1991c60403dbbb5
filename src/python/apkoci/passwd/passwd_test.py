from __future__ import annotations

import pytest
from apkoci.passwd import (
    GroupEntry,
    PasswdError,
    UserEntry,
    find_user,
    format_entries,
    merge_entries,
    parse_group,
    parse_passwd,
)

# The first lines of alpine-baselayout-data 3.4's /etc/passwd and /etc/group.
ALPINE_PASSWD = """\
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
"""
ALPINE_GROUP = """\
root:x:0:root
bin:x:1:root,bin,daemon
wheel:x:10:root
nogroup:x:65533:
"""


def test_passwd_round_trips() -> None:
    entries = parse_passwd(ALPINE_PASSWD)
    assert entries[0] == UserEntry("root", 0, 0, "x", "root", "/root", "/bin/ash")
    assert [entry.name for entry in entries] == ["root", "bin", "daemon", "sshd", "nobody"]
    assert format_entries(entries) == ALPINE_PASSWD


def test_group_round_trips_with_and_without_members() -> None:
    entries = parse_group(ALPINE_GROUP)
    assert entries[1] == GroupEntry("bin", 1, "x", ("root", "bin", "daemon"))
    assert entries[3].members == ()
    assert format_entries(entries) == ALPINE_GROUP


def test_blank_lines_are_skipped_and_bad_lines_named() -> None:
    assert len(parse_passwd("\n" + ALPINE_PASSWD + "\n\n")) == 5
    with pytest.raises(PasswdError, match=r"etc/passwd, line 2: expected 7 fields .* found 3"):
        parse_passwd("root:x:0:0:root:/root:/bin/sh\nbroken:x:1\n")
    with pytest.raises(PasswdError, match=r"my/group, line 1: the gid 'ten' is not a number"):
        parse_group("wheel:x:ten:root\n", source="my/group")


def test_merge_replaces_by_name_in_place_and_appends_the_rest() -> None:
    existing = parse_passwd(ALPINE_PASSWD)
    nonroot = UserEntry(
        "nonroot", 65532, 65532, info="Account created by apko", home="/home/nonroot"
    )
    new_bin = UserEntry("bin", 1, 1, home="/usr/bin", shell="/bin/false")
    merged = merge_entries(existing, [nonroot, new_bin])
    assert [entry.name for entry in merged] == [
        "root",
        "bin",
        "daemon",
        "sshd",
        "nobody",
        "nonroot",
    ]
    assert merged[1] == new_bin
    assert format_entries(merged).endswith(
        "nonroot:x:65532:65532:Account created by apko:/home/nonroot:\n"
    )


def test_find_user_by_name_then_uid() -> None:
    entries = parse_passwd(ALPINE_PASSWD)
    assert find_user(entries, "daemon") == entries[2]
    assert find_user(entries, "65534") == entries[4]
    assert find_user(entries, "nope") is None and find_user(entries, "4242") is None


def test_fields_that_would_corrupt_the_file_are_refused() -> None:
    with pytest.raises(PasswdError, match="holds ':'"):
        UserEntry("evil", 1, 1, home="/a:b").line()
    with pytest.raises(PasswdError, match="without ','"):
        GroupEntry("g", 1, members=("a,b",)).line()
