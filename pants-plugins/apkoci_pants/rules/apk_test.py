"""apk_package / apk_repository with the engine: a signed repository, and an image installing
from it (lock, then package), plus the errors a wrong BUILD file gets."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest
from apkoci_pants import register
from apkoci_pants.apk_targets import NOARCH
from apkoci_pants.rules.apk import ApkRepositoryFieldSet, BuiltApk, arch_folders, files_outside_root
from apkoci_pants.rules.lock import GenerateApkoImageLockfile
from apkoci_pants.rules.package import ApkoImageFieldSet
from apkoci_pants.rules.package_test import INHERITED_ENV, OPTIONS, layer_digests, layer_names
from pants.core.goals import package as package_goal
from pants.core.goals.generate_lockfiles import GenerateLockfileResult
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import FileTarget, GenericTarget
from pants.core.target_types import rules as core_target_type_rules
from pants.core.util_rules import source_files
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

# The committed example key (examples/keys), a dependency of these tests: public, DO NOT USE.
KEY_NAME = "apkoci-example-DO-NOT-USE.rsa"
EXAMPLE_KEYS = Path("examples/keys")


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=[*register.target_types(), FileTarget, GenericTarget],
        rules=[
            *register.rules(),
            *core_target_type_rules(),
            *package_goal.rules(),
            *source_files.rules(),
            QueryRule(BuiltPackage, [ApkRepositoryFieldSet]),
            QueryRule(BuiltPackage, [ApkoImageFieldSet]),
            QueryRule(GenerateLockfileResult, [GenerateApkoImageLockfile]),
        ],
    )
    runner.set_options(OPTIONS, env_inherit=INHERITED_ENV)
    return runner


PACKAGES_BUILD = """\
apk_repository(
    name="repository",
    packages=[":base", ":tool"],
    signing_key="//keys:signing-key",
    description="test repository",
)
apk_package(
    name="base",
    package_name="test-base",
    version="1.0-r0",
    description="base files",
    source_date_epoch=1000,
)
apk_package(
    name="tool",
    version="2.1-r3",
    arch="x86_64",
    root="tool",
    sources=["tool/**"],
    depends=["test-base"],
    provides=["cmd:tool"],
    scripts={"post-install": "tool.post-install"},
    source_date_epoch=2000,
)
"""


def write_repository(rule_runner: RuleRunner, build: str = PACKAGES_BUILD) -> None:
    rule_runner.write_files(
        {
            "keys/BUILD": f"file(name='signing-key', source='{KEY_NAME}')",
            f"keys/{KEY_NAME}": (EXAMPLE_KEYS / KEY_NAME).read_text(),
            f"keys/{KEY_NAME}.pub": (EXAMPLE_KEYS / f"{KEY_NAME}.pub").read_text(),
            "pkgs/BUILD": build,
            "pkgs/root/etc/motd": "hello from a test package\n",
            "pkgs/tool/usr/bin/tool": "#!/bin/sh\necho tool\n",
            "pkgs/tool.post-install": "#!/bin/sh\nexit 0\n",
        }
    )
    (Path(rule_runner.build_root) / "pkgs/tool/usr/bin/tool").chmod(0o755)


def package_repository(rule_runner: RuleRunner) -> Path:
    target = rule_runner.get_target(Address("pkgs", target_name="repository"))
    built = rule_runner.request(BuiltPackage, [ApkRepositoryFieldSet.create(target)])
    rule_runner.write_digest(built.digest)
    return Path(rule_runner.build_root) / "pkgs" / "repository"


def members(path: Path) -> Dict[str, tarfile.TarInfo]:
    """The entries of an .apk or index: its gzip members read as one tar stream, as apk does."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as archive:
        return {member.name: member for member in archive.getmembers()}


def read_member(path: Path, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as archive:
        return archive.extractfile(name).read().decode()  # type: ignore[union-attr]


def index_stanzas(index: Path) -> List[Dict[str, str]]:
    text = read_member(index, "APKINDEX")
    return [
        dict(line.split(":", 1) for line in stanza.splitlines())
        for stanza in text.strip().split("\n\n")
    ]


def test_repository(rule_runner: RuleRunner) -> None:
    write_repository(rule_runner)
    output = package_repository(rule_runner)
    assert sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()) == [
        "aarch64/APKINDEX.tar.gz",
        "aarch64/test-base-1.0-r0.apk",
        "x86_64/APKINDEX.tar.gz",
        "x86_64/test-base-1.0-r0.apk",
        "x86_64/tool-2.1-r3.apk",
    ]
    # A noarch package is built once: the same file in every arch folder.
    base = output / "x86_64/test-base-1.0-r0.apk"
    assert base.read_bytes() == (output / "aarch64/test-base-1.0-r0.apk").read_bytes()

    signature = f".SIGN.RSA256.{KEY_NAME}.pub"
    index = output / "x86_64/APKINDEX.tar.gz"
    index_members = members(index)
    assert list(index_members) == [signature, "DESCRIPTION", "APKINDEX"]
    assert read_member(index, "DESCRIPTION") == "test repository"
    # Dated like the newest package it lists.
    assert {m.mtime for m in index_members.values()} == {2000}
    stanzas = {stanza["P"]: stanza for stanza in index_stanzas(index)}
    assert stanzas["test-base"]["A"] == NOARCH and stanzas["tool"]["A"] == "x86_64"
    assert stanzas["tool"]["D"] == "test-base" and stanzas["tool"]["p"] == "cmd:tool"
    assert stanzas["tool"]["S"] == str((output / "x86_64/tool-2.1-r3.apk").stat().st_size)
    assert [s["P"] for s in index_stanzas(output / "aarch64/APKINDEX.tar.gz")] == ["test-base"]

    tool = output / "x86_64/tool-2.1-r3.apk"
    tool_members = members(tool)
    assert signature in tool_members and ".post-install" in tool_members
    assert tool_members["usr/bin/tool"].mode == 0o755
    assert tool_members["usr/bin/tool"].uname == "root"
    assert "pkgver = 2.1-r3" in read_member(tool, ".PKGINFO").splitlines()
    assert read_member(base, "etc/motd") == "hello from a test package\n"
    assert members(base)["etc/motd"].mode == 0o644 and members(base)["etc/motd"].mtime == 1000


IMAGE_CONFIG = f"""\
contents:
  keyring: [../keys/{KEY_NAME}.pub]
  repositories: [../pkgs/repository]
  packages: [tool]
archs: [x86_64]
"""


def test_image_installs_from_repository(rule_runner: RuleRunner) -> None:
    write_repository(rule_runner)
    rule_runner.write_files(
        {
            "img/BUILD": "apko_image(dependencies=['//pkgs:repository'])",
            "img/apko.yaml": IMAGE_CONFIG,
        }
    )
    request = GenerateApkoImageLockfile(
        resolve_name="img:img",
        lockfile_dest="img/apko.lock.json",
        diff=False,
        address=Address("img"),
    )
    result = rule_runner.request(GenerateLockfileResult, [request])
    rule_runner.write_digest(result.digest)
    lock = json.loads((Path(rule_runner.build_root) / "img/apko.lock.json").read_text())
    assert [p["url"] for p in lock["contents"]["packages"]] == [
        "../pkgs/repository/x86_64/test-base-1.0-r0.apk",
        "../pkgs/repository/x86_64/tool-2.1-r3.apk",
    ]
    # The built repository is at its folder only in the sandboxes, never in the workspace.
    assert not (Path(rule_runner.build_root) / "pkgs/repository").exists()

    target = rule_runner.get_target(Address("img"))
    built = rule_runner.request(BuiltPackage, [ApkoImageFieldSet.create(target)])
    rule_runner.write_digest(built.digest)
    output = Path(rule_runner.build_root) / "img" / "img"
    # One layer: the repository is where packages come from, not a layer of its own.
    (layer,) = layer_digests(output)["amd64"]
    files = layer_names(output, layer)
    assert {"etc/motd", "usr/bin/tool", f"etc/apk/keys/{KEY_NAME}.pub"} <= set(files)

    # An edited package is rebuilt; the lock still pins the old one, and says what to run.
    rule_runner.write_files({"pkgs/root/etc/motd": "edited\n"})
    with pytest.raises(ExecutionError, match="changed since img/apko.lock.json was written"):
        rule_runner.request(BuiltPackage, [ApkoImageFieldSet.create(target)])


@pytest.mark.parametrize(
    "image_build, config, message",
    [
        (
            "apko_image(dependencies=['//pkgs:repository'])",
            "contents: {packages: [tool]}\n",
            "does not install from it: add the repository's folder \\(pkgs/repository",
        ),
        (
            "apko_image()",
            IMAGE_CONFIG,
            "the folder of the apk_repository pkgs:repository: add it to the image's",
        ),
    ],
)
def test_image_and_repository_must_agree(
    rule_runner: RuleRunner, image_build: str, config: str, message: str
) -> None:
    write_repository(rule_runner)
    rule_runner.write_files({"img/BUILD": image_build, "img/apko.yaml": config})
    request = GenerateApkoImageLockfile(
        resolve_name="img:img",
        lockfile_dest="img/apko.lock.json",
        diff=False,
        address=Address("img"),
    )
    with pytest.raises(ExecutionError, match=message):
        rule_runner.request(GenerateLockfileResult, [request])


@pytest.mark.parametrize(
    "written, instead, message",
    [
        (':tool"]', ':notapackage"]', "lists pkgs:notapackage: list only `apk_package`"),
        ('arch="x86_64"', 'arch="armv7"', "is built for armv7, which pkgs:repository does not"),
        ('["tool/**"]', '["tool/**", "root/etc/motd"]', "has sources outside its `root`"),
        ("//keys:signing-key", ":notapackage", "which has 0 files: point it at a `file`"),
    ],
)
def test_repository_errors(
    rule_runner: RuleRunner, written: str, instead: str, message: str
) -> None:
    assert written in PACKAGES_BUILD
    build = PACKAGES_BUILD.replace(written, instead) + "target(name='notapackage')\n"
    write_repository(rule_runner, build)
    with pytest.raises(ExecutionError, match=message):
        package_repository(rule_runner)


# --- Pure functions -------------------------------------------------------------------------------


def built(name: str, version: str, arch: str, target: str = "") -> BuiltApk:
    return BuiltApk(
        address=Address("pkgs", target_name=target or name),
        name=name,
        version=version,
        arch=arch,
        filename=f"{name}-{version}.apk",
        source_date_epoch=0,
        digest=EMPTY_DIGEST,
    )


def test_arch_folders() -> None:
    base, tool = built("base", "1-r0", NOARCH), built("tool", "1-r0", "x86_64")
    folders = arch_folders((tool, base), ("x86_64", "aarch64"), Address("pkgs"))
    assert folders == {"x86_64": (base, tool), "aarch64": (base,)}

    with pytest.raises(Exception, match="would hold no package"):
        arch_folders((tool,), ("x86_64", "aarch64"), Address("pkgs"))
    with pytest.raises(Exception, match="pkgs:base and pkgs:again are both base-1-r0.apk"):
        arch_folders((base, built("base", "1-r0", NOARCH, "again")), ("x86_64",), Address("pkgs"))


def test_files_outside_root() -> None:
    files = ("pkgs/root/etc/motd", "pkgs/rootless", "pkgs/other/x")
    assert files_outside_root(files, "pkgs/root") == ("pkgs/rootless", "pkgs/other/x")
    assert files_outside_root(files, "") == ()
