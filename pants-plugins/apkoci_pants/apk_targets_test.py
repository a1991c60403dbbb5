from __future__ import annotations

import pytest
from apkoci_pants import register
from apkoci_pants.apk_targets import (
    ApkPackageArchField,
    ApkPackageNameField,
    ApkPackageRootField,
    ApkPackageSourceDateEpochField,
    ApkPackageSourcesField,
    ApkRepositoryArchsField,
    ApkRepositoryOutputPathField,
    repository_folder,
)
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(target_types=register.target_types(), rules=register.rules())


def test_package_defaults(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"pkgs/BUILD": "apk_package(name='hello', version='1.0-r0')", "pkgs/root/a.txt": "a"}
    )
    target = rule_runner.get_target(Address("pkgs", target_name="hello"))
    assert target[ApkPackageRootField].value == "root"
    assert target[ApkPackageSourcesField].value == ("root/**",)
    assert target[ApkPackageNameField].value_or_default(target.address) == "hello"
    assert target[ApkPackageArchField].value == "noarch"
    assert target[ApkPackageSourceDateEpochField].value == 0


def test_repository_defaults(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"pkgs/BUILD": "apk_repository(name='repo', packages=[':a'])"})
    target = rule_runner.get_target(Address("pkgs", target_name="repo"))
    assert target[ApkRepositoryArchsField].value == ("x86_64", "aarch64")
    assert target[ApkRepositoryOutputPathField].value_or_default(file_ending=None) == "pkgs/repo"
    assert repository_folder(target.address) == "pkgs/repo"
    assert repository_folder(Address("", target_name="repo")) == "repo"


@pytest.mark.parametrize(
    "build, message",
    [
        ("apk_package(name='p', version='1-r0', root='../up')", "inside the BUILD file's folder"),
        ("apk_package(name='p', version='1-r0', root='/abs')", "inside the BUILD file's folder"),
        (
            "apk_package(name='p', version='1-r0', scripts={'post-install': '/x.sh'})",
            "gives the post-install script as '/x.sh'",
        ),
        ("apk_package(name='p', version='1-r0', source_date_epoch=-1)", "give 0 or a later"),
        ("apk_package(name='p')", "version"),
        ("apk_repository(name='p', packages=[])", "is empty: list at least one"),
        ("apk_repository(name='p', packages=[':a'], archs=['noarch'])", "is not a folder"),
        ("apk_repository(name='p', packages=[':a'], archs=['x86_64', 'x86_64'])", "once"),
        ("apk_repository(name='p', packages=[':a'], archs=[])", "list each architecture"),
    ],
)
def test_invalid_fields(rule_runner: RuleRunner, build: str, message: str) -> None:
    rule_runner.write_files({"pkgs/BUILD": build})
    with pytest.raises(ExecutionError, match=message):
        rule_runner.get_target(Address("pkgs", target_name="p"))


def test_root_is_normalized(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"pkgs/BUILD": "apk_package(name='p', version='1-r0', root='./a/')"})
    target = rule_runner.get_target(Address("pkgs", target_name="p"))
    assert target[ApkPackageRootField].value == "a"
