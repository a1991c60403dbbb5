from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import apkoci
import pytest
from apkoci.apk.apkfile import ApkIntegrityError, read_apk
from apkoci.install.database import (
    Acl,
    InstalledPackage,
    format_installed_db,
    format_scripts_tar,
    init_apk_database,
    parse_installed_db,
    q1_checksum,
    write_apk_database,
)
from apkoci.install.filetree import FileTree
from apkoci.install.install import (
    FileConflictError,
    InstallError,
    PackageToInstall,
    ProtectedPaths,
    install_packages,
)
from apkoci.install.testing_apk import Spec, build_apk
from apkoci.oci.layer import CHAR, DIR, FILE, SYMLINK, write_layer
from apkoci.testing import shared_testdata

APKO_PACKAGES = (
    "pretend-baselayout-1.0.0-r0",
    "replayout-1.0.0-r0",
    "custom-ca-certs-1-1.0.0-r0",
    "custom-ca-certs-2-1.0.0-r0",
)


def _apko_package(name: str) -> Path:
    return shared_testdata("apko-cli", "packages", "x86_64", f"{name}.apk")


def _baselayout() -> Path:
    return shared_testdata("alpine", "packages", "alpine-baselayout-3.2.0-r23.apk")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    with FileTree(tmp_path) as tree:
        yield tree


Expected = Tuple[str, int, int, int, str, str, Tuple[Tuple[str, bytes], ...]]


def _expected_from_tar(path: Path) -> Dict[str, Expected]:
    """path -> (kind, mode, uid, gid, link target, content sha1, xattrs) as the tar says."""
    expected: Dict[str, Expected] = {}
    for entry, content in read_apk(path).data_entries():
        info = entry.info
        xattrs = tuple(
            sorted(
                (key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))
                for key, value in info.pax_headers.items()
                if key.startswith("SCHILY.xattr.")
            )
        )
        if info.isdir():
            # apk-tools records directory xattrs in the database but does not set them.
            expected[info.name] = (DIR, info.mode, info.uid, info.gid, "", "", ())
        elif info.issym():
            expected[info.name] = (SYMLINK, 0o777, info.uid, info.gid, info.linkname, "", ())
        elif info.islnk():
            expected[info.name] = expected[info.linkname]  # the same content and metadata
        else:
            assert content is not None
            sha1 = hashlib.sha1(content.read()).hexdigest()
            expected[info.name] = (FILE, info.mode, info.uid, info.gid, "", sha1, xattrs)
    return expected


def _actual(tree: FileTree, paths) -> Dict[str, Expected]:
    actual = {}
    for path in paths:
        node = tree.node(path, follow_symlinks=False)
        assert node is not None, path
        actual[path] = (
            node.kind,
            node.mode,
            node.uid,
            node.gid,
            node.target,
            node.sha1,
            node.xattrs,
        )
    return actual


@pytest.mark.parametrize(
    "path",
    [pytest.param(lambda: _apko_package(name), id=name) for name in APKO_PACKAGES]
    + [
        pytest.param(_baselayout, id="alpine-baselayout-3.2.0-r23"),
        pytest.param(
            lambda: shared_testdata("wolfi", "hello-2.12-r0.apk"), id="wolfi-hello-xattrs"
        ),
    ],
)
def test_real_package_installs_as_its_tar_says(tree: FileTree, path) -> None:
    apk_path = path()
    expected = _expected_from_tar(apk_path)
    installed = install_packages(tree, [read_apk(apk_path)])
    assert sorted(tree.paths()) == sorted(expected)
    assert _actual(tree, expected) == expected
    assert {tree.node(p, follow_symlinks=False).owner for p in expected} == {
        installed[0].package.name
    }
    # The database lists every non-directory entry, with the tar's checksum records.
    files = {p for p, value in expected.items() if value[0] != DIR}
    assert sorted(installed[0].paths()) == sorted(files)


def test_owners_are_the_packaged_numbers_on_a_fresh_root(tree: FileTree) -> None:
    # melange packages carry uname "" / gname "dialout" with uid 501, gid 20.
    install_packages(tree, [read_apk(_apko_package("pretend-baselayout-1.0.0-r0"))])
    node = tree.node("etc/os-release")
    assert (node.uid, node.gid, node.mode) == (501, 20, 0o644)


def test_wolfi_xattrs_land_on_files_and_in_the_database(tree: FileTree) -> None:
    installed = install_packages(tree, [read_apk(shared_testdata("wolfi", "hello-2.12-r0.apk"))])[0]
    value = b'{"UID":-1,"GID":-1,"mode":755}'
    assert tree.node("usr/bin/hello").xattrs == (("com.docker.grpcfuse.ownership", value),)
    assert tree.node("usr/bin").xattrs == ()
    directories = {directory.path: directory for directory in installed.directories}
    xattr_sum = directories["usr/bin"].acl.xattr_checksum
    assert xattr_sum.startswith("Q1") and directories["usr/bin"].acl == Acl(0o755, 0, 0, xattr_sum)
    assert directories["usr/bin"].files[0].acl == Acl(
        0o755, 0, 0, xattr_sum
    )  # same xattrs, same sum
    assert (
        f"F:usr/bin\nM:0:0:755:{xattr_sum}\nR:hello\na:0:0:755:{xattr_sum}\nZ:"
        in format_installed_db([installed])
    )
    assert directories["usr/share"].acl == Acl(0o755)


def _stanza(installed: InstalledPackage) -> List[str]:
    return format_installed_db([installed]).split("\n")


def _header_fields(installed: InstalledPackage) -> List[str]:
    return [line[0] for line in _stanza(installed) if line and line[0] not in "FMRaZ"]


def test_alpine_baselayout_database_entry_matches_the_real_one(tree: FileTree) -> None:
    init_apk_database(tree, arch="aarch64")
    ours = install_packages(tree, [read_apk(_baselayout())])[0]
    real_db = shared_testdata("alpine", "installed-db", "alpine-aarch64-installed").read_text()
    real = next(p for p in parse_installed_db(real_db) if p.package.name == "alpine-baselayout")
    assert (ours.package.version, real.package.version) == ("3.2.0-r23", "3.4.3-r1")
    # Same header fields in the same order, where both have them (3.4.3 adds r:, 3.2.0 has p:).
    assert _header_fields(ours) == list("CPVASITULomtcDp")
    assert _header_fields(real) == list("CPVASITULomtcDr")
    # The directories both versions ship come in the same order with the same M: lines...
    ours_dirs = {d.path: d for d in ours.directories}
    real_dirs = {d.path: d for d in real.directories}
    common = [path for path in ours_dirs if path in real_dirs]
    assert len(common) > 60 and common == [path for path in real_dirs if path in ours_dirs]
    assert {p: ours_dirs[p].acl for p in common} == {p: real_dirs[p].acl for p in common}
    assert ours_dirs["root"].acl == Acl(0o700) and ours_dirs["var/tmp"].acl == Acl(0o1777)
    # ... and the files both ship have the same a: lines; the symlinks (same targets) the same Z:.
    ours_files = {(d.path, f.name): f for d in ours.directories for f in d.files}
    real_files = {(d.path, f.name): f for d in real.directories for f in d.files}
    shared = sorted(set(ours_files) & set(real_files))
    assert len(shared) >= 10
    assert {k: ours_files[k].acl for k in shared} == {k: real_files[k].acl for k in shared}
    for key in [("var", "run"), ("var/spool", "mail"), ("var/spool/cron", "crontabs")]:
        assert ours_files[key].checksum == real_files[key].checksum and ours_files[key].acl == Acl(
            0o777
        )
    unchanged = ("etc/modprobe.d", "aliases.conf")  # the same content in both versions
    assert (
        ours_files[unchanged].checksum
        == real_files[unchanged].checksum
        == "Q1WUbh6TBYNVK7e4Y+uUvLs/7viqk="
    )
    assert parse_installed_db(format_installed_db([ours]))[0].directories == ours.directories
    # Its four scripts are kept for scripts.tar, not run.
    assert [name for name, _ in ours.scripts] == [
        "pre-install",
        "pre-upgrade",
        "post-upgrade",
        "post-install",
    ]
    assert (
        b"alpine-baselayout-3.2.0-r23.Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=.post-install"
        in format_scripts_tar([ours])
    )
    # Directories made before the install keep their permissions (apk: they existed already).
    assert tree.node("proc").mode == 0o555 and tree.node("root").mode == 0o700


def test_replaces_lets_a_package_take_over_a_file(tree: FileTree) -> None:
    base, replacement = (
        read_apk(_apko_package(n)) for n in ("pretend-baselayout-1.0.0-r0", "replayout-1.0.0-r0")
    )
    expected = _expected_from_tar(replacement.path)["etc/os-release"][5]
    installed = install_packages(tree, [base, replacement])
    assert (
        tree.node("etc/os-release").sha1 == expected
        and tree.node("etc/os-release").owner == "replayout"
    )
    assert "etc/os-release" not in installed[0].paths() and "etc/os-release" in installed[1].paths()
    assert "r:pretend-baselayout" in _stanza(installed[1])


def test_a_package_replacing_the_new_one_keeps_its_file(tree: FileTree) -> None:
    base, replacement = (
        read_apk(_apko_package(n)) for n in ("pretend-baselayout-1.0.0-r0", "replayout-1.0.0-r0")
    )
    expected = _expected_from_tar(replacement.path)["etc/os-release"][5]
    installed = install_packages(tree, [replacement, base])
    assert (
        tree.node("etc/os-release").sha1 == expected
        and tree.node("etc/os-release").owner == "replayout"
    )
    assert "etc/os-release" in installed[0].paths() and "etc/os-release" not in installed[1].paths()


def test_wolfi_replaces_package_with_several_replaces(tree: FileTree, tmp_path: Path) -> None:
    replaces = read_apk(shared_testdata("wolfi", "replaces-0.0.1-r0.apk"))
    assert [str(d) for d in replaces.package.replaces] == ["foo", "bar"]
    foo = read_apk(build_apk(tmp_path, "foo", entries={"hello": b"foo's\n"}))
    baz = read_apk(build_apk(tmp_path, "baz", entries={"hello": b"baz's\n"}))
    installed = install_packages(tree, [foo, replaces])
    assert tree.read_bytes("hello") == b"hello\n" and tree.node("hello").owner == "replaces"
    text = format_installed_db(installed)
    # Top-level files sit in the root directory, written as an empty F: line; 501:20 as packaged.
    assert "r:foo bar\nF:\nR:hello\na:501:20:644\nZ:" in text
    assert installed[0].paths() == []
    with FileTree(tmp_path) as other:
        installed = install_packages(other, [replaces, foo])
        assert other.read_bytes("hello") == b"hello\n" and installed[1].paths() == []
    with FileTree(tmp_path) as other, pytest.raises(FileConflictError) as error:
        install_packages(other, [replaces, baz])
    message = str(error.value)
    assert "baz-1.0-r0 would overwrite hello, which replaces-0.0.1-r0 installed" in message
    assert "add 'replaces' to the replaces of baz" in message
    assert (error.value.path, error.value.package, error.value.owner) == (
        "hello",
        "baz",
        "replaces",
    )


def test_same_origin_overwrites_silently(tree: FileTree, tmp_path: Path) -> None:
    a = read_apk(build_apk(tmp_path, "lib-a", entries={"usr/lib/x": b"a"}, origin="lib"))
    b = read_apk(build_apk(tmp_path, "lib-b", entries={"usr/lib/x": b"b"}, origin="lib"))
    installed = install_packages(tree, [a, b])
    assert tree.read_bytes("usr/lib/x") == b"b" and installed[1].paths() == ["usr/lib/x"]


def test_replaces_priority_decides_between_packages_replacing_each_other(tmp_path: Path) -> None:
    low = read_apk(
        build_apk(tmp_path, "low", entries={"f": b"low"}, replaces="high", replaces_priority=1)
    )
    high = read_apk(
        build_apk(tmp_path, "high", entries={"f": b"high"}, replaces="low", replaces_priority=5)
    )
    for order in ([high, low], [low, high]):
        with FileTree(tmp_path) as tree:
            installed = install_packages(tree, order)
            assert tree.read_bytes("f") == b"high", [p.package.name for p in installed]
            owners = [p.package.name for p in installed if p.paths()]
            assert owners == ["high"] and "q:5" in _stanza(
                next(p for p in installed if p.package.name == "high")
            )


def test_versioned_replaces_only_match_their_versions(tree: FileTree, tmp_path: Path) -> None:
    old = read_apk(build_apk(tmp_path, "old", "3.0-r0", entries={"f": b"old"}))
    new = read_apk(build_apk(tmp_path, "new", entries={"f": b"new"}, replaces="old<2"))
    with pytest.raises(
        FileConflictError, match="new-1.0-r0 would overwrite f, which old-3.0-r0 installed"
    ):
        install_packages(tree, [old, new])


def test_directory_permissions_are_merged_across_packages(tree: FileTree, tmp_path: Path) -> None:
    specs = {
        "a": {
            "opt/x": Spec("dir", mode=0o755),
            "opt/y": Spec("dir", mode=0o700, uid=1000, gid=1000, uname="", gname=""),
        },
        "b": {"opt/x": Spec("dir", mode=0o750), "opt/y": Spec("dir", mode=0o755)},
    }
    packages = [
        read_apk(build_apk(tmp_path, name, entries=entries)) for name, entries in specs.items()
    ]
    installed = install_packages(tree, packages)
    x, y = tree.node("opt/x"), tree.node("opt/y")
    assert (x.mode, x.uid) == (0o750, 0)  # same owner: the modes are ANDed
    assert (y.mode, y.uid, y.gid) == (0o755, 0, 0)  # the lowest uid wins
    dirs_a = {d.path: d.acl for d in installed[0].directories}
    assert dirs_a["opt/y"] == Acl(0o700, 1000, 1000)  # each package records its own entry


def test_existing_directories_and_directory_symlinks_are_kept(
    tree: FileTree, tmp_path: Path
) -> None:
    tree.mkdir("etc")  # made before the install (by the database setup, say)
    usrmerge = read_apk(
        build_apk(
            tmp_path,
            "layout",
            entries={"usr/sbin": Spec("dir"), "sbin": Spec("symlink", target="usr/sbin")},
        )
    )
    legacy = read_apk(
        build_apk(tmp_path, "legacy", entries={"etc": Spec("dir", mode=0o700), "sbin/tool": b"elf"})
    )
    installed = install_packages(tree, [usrmerge, legacy])
    assert tree.node("etc").mode == 0o755
    assert tree.node("sbin", follow_symlinks=False).kind == SYMLINK
    assert (
        tree.read_bytes("usr/sbin/tool") == b"elf" and tree.node("usr/sbin/tool").owner == "legacy"
    )
    # The database keeps the names the package uses.
    assert "sbin/tool" in installed[1].paths()
    # A package cannot put a symlink where a directory is (apk's rename fails the same way).
    lib_link = read_apk(
        build_apk(tmp_path, "liblink", entries={"lib": Spec("symlink", target="usr/lib")})
    )
    with FileTree(tmp_path) as other, pytest.raises(
        InstallError, match="cannot install lib: a directory"
    ):
        init_apk_database(other, arch="x86_64")
        install_packages(other, [lib_link])


def test_protected_files_not_from_a_package_get_apk_new(tree: FileTree, tmp_path: Path) -> None:
    key = b"-----BEGIN PUBLIC KEY-----\n"
    init_apk_database(tree, arch="x86_64", keys={"same.rsa.pub": key, "other.rsa.pub": key})
    tree.mkdir("usr/share")
    tree.write_file("usr/share/readme", b"local")
    keys = read_apk(
        build_apk(
            tmp_path,
            "keys",
            entries={
                "etc/apk/keys/same.rsa.pub": key,
                "etc/apk/keys/other.rsa.pub": b"a different key\n",
                "usr/share/readme": b"packaged",
            },
        )
    )
    installed = install_packages(tree, [keys])
    assert tree.read_bytes("etc/apk/keys/same.rsa.pub") == key and not tree.exists(
        "etc/apk/keys/same.rsa.pub.apk-new"
    )
    assert tree.read_bytes("etc/apk/keys/other.rsa.pub") == key
    assert tree.read_bytes("etc/apk/keys/other.rsa.pub.apk-new") == b"a different key\n"
    assert tree.read_bytes("usr/share/readme") == b"packaged"  # not protected: overwritten
    assert "etc/apk/keys/other.rsa.pub" in installed[0].paths()


def test_protected_path_patterns() -> None:
    protected = ProtectedPaths.from_lines(
        ["+etc", "@etc/init.d", "!etc/apk", "-etc/ssl*", "# comment", "", "/srv/keep/"]
    )
    assert protected.is_protected("etc") and protected.is_protected("etc/init.d/x")
    assert not protected.is_protected("etc/ssl/certs") and not protected.is_protected("usr/etc")
    assert protected.is_protected("srv/keep/deeper") and not protected.is_protected("srv")
    assert not protected.is_protected("")


def test_user_and_group_names_map_through_the_trees_passwd(tree: FileTree, tmp_path: Path) -> None:
    tree.mkdir("etc")
    tree.write_file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:app:/app:/sbin/nologin\nbad line\n",
    )
    tree.write_file("etc/group", b"root:x:0:\napp:x:4321:\n")
    package = read_apk(
        build_apk(
            tmp_path,
            "app",
            entries={
                "srv/a": Spec(data=b"a", uname="app", gname="app", uid=501, gid=20),
                "srv/b": Spec(data=b"b", uname="nobody-here", gname="root", uid=7, gid=9),
                # An etc/passwd from a package counts only from the next run (apk reads it once).
                "etc/passwd": b"svc:x:99:99::/:/bin/false\n",
                "srv/c": Spec(data=b"c", uname="svc", uid=5, gid=5),
            },
        )
    )
    install_packages(tree, [package])
    assert (tree.node("srv/a").uid, tree.node("srv/a").gid) == (1234, 4321)
    assert (tree.node("srv/b").uid, tree.node("srv/b").gid) == (7, 0)
    assert tree.node("srv/c").uid == 5


def test_hidden_entries_and_keep_files_are_skipped(tree: FileTree, tmp_path: Path) -> None:
    package = read_apk(
        build_apk(tmp_path, "p", entries={".hidden": b"x", "var/.keep_p-0": b"", "var/ok": b"ok"})
    )
    installed = install_packages(tree, [package])
    assert tree.paths() == ["var", "var/ok"] and installed[0].paths() == ["var/ok"]


@pytest.mark.parametrize(
    "entries, message",
    [
        (
            {"usr": Spec("dir"), "usr/../../etc/shadow": b"x"},
            "refusing to install 'usr/../../etc/shadow'",
        ),
        ({"/etc/shadow": b"x"}, "absolute path"),
        ({"bad\x01name": b"x"}, "control characters"),
        ({"usr/bin/tool": b"x"}, "comes without its directory usr/bin"),
        (
            {"usr": Spec("dir"), "usr/link": Spec("hardlink", target="usr/missing")},
            "hard link to usr/missing",
        ),
        (
            {"usr": Spec("dir"), "usr/f": Spec(data=b"x", checksum="0" * 40)},
            "the package is corrupt",
        ),
    ],
)
def test_broken_packages_are_refused(tree: FileTree, tmp_path: Path, entries, message: str) -> None:
    package = read_apk(build_apk(tmp_path, "broken", entries=entries, auto_dirs=False))
    with pytest.raises(InstallError, match=message) as error:
        install_packages(tree, [package])
    assert "broken-1.0-r0.apk" in str(error.value)


def test_a_file_where_a_directory_is_and_the_reverse_are_refused(
    tree: FileTree, tmp_path: Path
) -> None:
    dirs = read_apk(build_apk(tmp_path, "dirs", entries={"opt/thing": Spec("dir")}))
    files = read_apk(build_apk(tmp_path, "files", entries={"opt/thing": b"x", "srv/x": b"x"}))
    more = read_apk(build_apk(tmp_path, "more", entries={"srv/x/y": b"x"}))
    with pytest.raises(
        InstallError, match="cannot install opt/thing: a directory from dirs is there"
    ):
        install_packages(tree, [dirs, files])
    with FileTree(tmp_path) as other, pytest.raises(
        InstallError, match="cannot create directory srv/x: a file from files is there"
    ):
        install_packages(other, [files, more])


def test_devices_symlinks_and_hard_links_from_a_package(tree: FileTree, tmp_path: Path) -> None:
    package = read_apk(
        build_apk(
            tmp_path,
            "p",
            entries={
                "dev/null": Spec("char", mode=0o666, devmajor=1, devminor=3),
                "bin/busybox": Spec(data=b"bb", mode=0o4755),
                "bin/sh": Spec("hardlink", target="bin/busybox"),
                "bin/ash": Spec("symlink", target="busybox"),
            },
        )
    )
    installed = install_packages(tree, [package])[0]
    null = tree.node("dev/null")
    assert (null.kind, null.devmajor, null.devminor, null.mode) == (CHAR, 1, 3, 0o666)
    assert tree.node("bin/sh").links == 2 and tree.node("bin/sh").mode == 0o4755
    files = {f.name: f for d in installed.directories for f in d.files}
    assert (
        files["sh"].checksum
        == files["busybox"].checksum
        == q1_checksum(hashlib.sha1(b"bb").digest())
    )
    assert files["ash"].checksum == q1_checksum(hashlib.sha1(b"busybox").digest())
    assert files["busybox"].acl == Acl(0o4755) and files["null"].checksum == ""


def test_index_stanza_tag_scripts_and_triggers_are_recorded(tree: FileTree, tmp_path: Path) -> None:
    apk = read_apk(
        build_apk(
            tmp_path,
            "fonts",
            entries={"usr/share/fonts/a": b"a"},
            replaces="oldfonts",
            scripts={"trigger": b"#!/bin/sh\nfc-cache\n", "post-install": b"#!/bin/sh\n"},
            triggers="/usr/share/fonts/*",
        )
    )
    index_package = dataclasses.replace(
        apk.package, description="from the index", provider_priority=0, replaces=()
    )
    installed = install_packages(
        tree, [PackageToInstall(apk, index_package, repository_tag="edge")]
    )[0]
    lines = _stanza(installed)
    assert "T:from the index" in lines and "r:oldfonts" in lines and "s:edge" in lines
    assert not any(line.startswith("k:") for line in lines)
    assert installed.triggers == ("/usr/share/fonts/*",)
    assert dict(installed.scripts) == {
        "trigger": b"#!/bin/sh\nfc-cache\n",
        "post-install": b"#!/bin/sh\n",
    }
    other = dataclasses.replace(index_package, checksum="Q1" + "B" * 27 + "=")
    with FileTree(tmp_path) as fresh, pytest.raises(ApkIntegrityError, match="control checksum"):
        install_packages(fresh, [PackageToInstall(apk, other)])
    with FileTree(tmp_path) as fresh, pytest.raises(InstallError, match="given twice"):
        install_packages(fresh, [apk, apk])


def test_installing_a_100_mib_package_streams(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as out:
        for _ in range(100):
            out.write(os.urandom(1 << 20))
    apk_path = build_apk(tmp_path / "repo", "big", entries={"usr/share/big.bin": Spec(source=big)})
    script = textwrap.dedent(
        """
        import resource, sys
        from apkoci.apk.apkfile import read_apk
        from apkoci.install.filetree import FileTree
        from apkoci.install.install import install_packages
        apk = read_apk(sys.argv[1])
        with FileTree(sys.argv[2]) as tree:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            install_packages(tree, [apk])
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            node = tree.node("usr/share/big.bin")
            print(after - before, node.size, node.sha1)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(Path(apkoci.__file__).resolve().parents[1]))
    result = subprocess.run(
        [sys.executable, "-c", script, str(apk_path), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    growth_kib, size, sha1 = result.stdout.split()
    assert int(size) == 100 << 20
    hasher = hashlib.sha1()
    with open(big, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    assert sha1 == hasher.hexdigest()
    assert int(growth_kib) < 8 * 1024, f"installing grew memory by {growth_kib} KiB"


def test_an_installed_tree_with_its_database_writes_a_layer(tree: FileTree, tmp_path: Path) -> None:
    init_apk_database(tree, arch="x86_64", keys={"melange.rsa.pub": b"key\n"})
    packages = [read_apk(_apko_package(name)) for name in APKO_PACKAGES]
    installed = install_packages(tree, packages)
    write_apk_database(tree, installed, world=["replayout", "custom-ca-certs-1"])
    layer = write_layer(tree.entries(), tmp_path / "layer.tar.gz", compression="gzip", mtime=0)
    with tarfile.open(layer.path) as archive:
        names = {member.name.rstrip("/") for member in archive.getmembers()}
        db = archive.extractfile("lib/apk/db/installed")
        assert db is not None
        assert parse_installed_db(db.read().decode()) == [
            dataclasses.replace(p, scripts=(), triggers=()) for p in installed
        ]
    assert {
        "etc/os-release",
        "etc/apk/world",
        "usr/local/share/ca-certificates/cert-d.crt",
    } <= names
