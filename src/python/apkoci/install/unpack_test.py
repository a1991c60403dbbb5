"""The unpacker gives what the package's own reading gives, with its helper process or without,
and reports a broken package where the install gets to it."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from apkoci.apk.apkfile import ApkFormatError, ApkIntegrityError, PkgInfo, read_apk
from apkoci.install.filetree import FileTree
from apkoci.install.testing_apk import Spec, build_apk
from apkoci.install.unpack import Unpacker, helper_process_possible
from apkoci.testing import shared_testdata

HELPER = [True, False]


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        yield tree


def _packages(tmp_path: Path) -> List[Path]:
    big = bytes(range(256)) * 12000  # 3 MiB: several chunks
    return [
        build_apk(tmp_path / "repo", "one", entries={"usr/share/one/a": b"a" * 1000}),
        build_apk(
            tmp_path / "repo",
            "two",
            entries={
                "usr/share/two/big": big,
                "usr/share/two/link": Spec("symlink", target="big"),
                "usr/share/two/empty": b"",
            },
        ),
        shared_testdata("wolfi", "hello-wolfi-2.12.1-r0.apk"),
    ]


def _read_back(spool_path: str, offset: int, size: int) -> bytes:
    with open(spool_path, "rb") as file:
        file.seek(offset)
        return file.read(size)


@pytest.mark.parametrize("helper", HELPER, ids=["helper", "in-process"])
def test_entries_and_contents_are_the_packages_own(
    tree: FileTree, tmp_path: Path, helper: bool
) -> None:
    apks = [read_apk(path) for path in _packages(tmp_path)]
    jobs = [(apk, tree.new_spool()) for apk in apks]
    with Unpacker(jobs, helper=helper) as unpacker:
        assert (unpacker._pid is not None) == (helper and helper_process_possible())
        for index, apk in enumerate(apks):
            expected = [
                (entry.name, entry.info.type, entry.sha1, content.read() if content else None)
                for entry, content in apk.data_entries()
            ]
            spool = jobs[index][1]
            got = []
            for entry, region in unpacker.entries(index):
                data = None
                if region is not None:
                    assert region.offset + region.size <= spool.size
                    data = _read_back(spool.path, region.offset, region.size)
                    assert region.sha1 == hashlib.sha1(data).hexdigest()
                got.append((entry.name, entry.info.type, entry.sha1, data))
            assert got == expected
            spool.flush()
            assert os.path.getsize(spool.path) == spool.size


def _broken_packages(tmp_path: Path) -> Tuple[Path, Path, Path]:
    good = build_apk(tmp_path / "repo", "good", entries={"usr/share/good": b"good\n" * 100})
    truncated = build_apk(tmp_path / "repo", "cut", entries={"usr/share/cut": os.urandom(5000)})
    truncated.write_bytes(truncated.read_bytes()[:-100])
    trailing = build_apk(tmp_path / "repo", "trailing", entries={"usr/share/t": b"t"})
    trailing.write_bytes(trailing.read_bytes() + b"junk")
    return good, truncated, trailing


@pytest.mark.parametrize("helper", HELPER, ids=["helper", "in-process"])
def test_a_broken_package_fails_when_its_turn_comes(
    tree: FileTree, tmp_path: Path, helper: bool
) -> None:
    good, truncated, trailing = _broken_packages(tmp_path)
    for broken, message in (
        (truncated, "the file ends in the middle of a gzip member"),
        (trailing, "unexpected bytes after the data member"),
    ):
        apks = [read_apk(good), read_apk(broken), read_apk(good)]
        jobs = [(apk, tree.new_spool()) for apk in apks]
        with Unpacker(jobs, helper=helper) as unpacker:
            names = [entry.name for entry, _ in unpacker.entries(0)]
            assert names == ["usr", "usr/share", "usr/share/good"]
            with pytest.raises(ApkFormatError, match=f"{broken.name}: {message}"):
                list(unpacker.entries(1))


@pytest.mark.parametrize("helper", HELPER, ids=["helper", "in-process"])
def test_the_datahash_is_checked(tree: FileTree, tmp_path: Path, helper: bool) -> None:
    path = build_apk(tmp_path / "repo", "x", entries={"usr/share/x": b"x"})
    apk = read_apk(path)
    fields = tuple(
        (key, "0" * 64 if key == "datahash" else value) for key, value in apk.pkginfo.fields
    )
    forged = dataclasses.replace(apk, pkginfo=PkgInfo(fields))
    with Unpacker([(forged, tree.new_spool())], helper=helper) as unpacker:
        with pytest.raises(ApkIntegrityError, match="datahash"):
            list(unpacker.entries(0))


def test_jobs_are_taken_in_order_and_closing_early_stops_the_helper(
    tree: FileTree, tmp_path: Path
) -> None:
    apks = [read_apk(path) for path in _packages(tmp_path)]
    unpacker = Unpacker([(apk, tree.new_spool()) for apk in apks])
    with pytest.raises(ValueError, match="job 1 was asked for before job 0"):
        unpacker.entries(1)
    entries = unpacker.entries(0)
    next(entries)
    pid = unpacker._pid
    unpacker.close()
    if pid is not None:  # the helper was stopped and reaped: no such process any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert unpacker._pid is None and unpacker._pipe is None
