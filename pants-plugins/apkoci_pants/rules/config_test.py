from __future__ import annotations

import base64
import hashlib
import json

import pytest
from apkoci_pants import register
from apkoci_pants.rules.config import (
    ConfigReferences,
    StagedConfig,
    StagedConfigRequest,
    config_references,
    is_local,
    workspace_path,
)
from apkoci_pants.subsystems import ApkoImageError
from apkoci_pants.target_types import ApkoImageArchsField, ApkoImageConfigField
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(
        target_types=register.target_types(),
        rules=[
            *register.rules(),
            QueryRule(StagedConfig, [StagedConfigRequest]),
            QueryRule(DigestContents, [Digest]),
        ],
    )


def stage(rule_runner: RuleRunner, address: Address) -> StagedConfig:
    target = rule_runner.get_target(address)
    return rule_runner.request(
        StagedConfig,
        [
            StagedConfigRequest(
                address, target[ApkoImageConfigField], target[ApkoImageArchsField].value
            )
        ],
    )


def contents(rule_runner: RuleRunner, digest) -> dict:
    return {f.path: f.content for f in rule_runner.request(DigestContents, [digest])}


def test_references() -> None:
    text = b"""
include: base.yaml
contents:
  keyring:
    - ./keys/local.rsa.pub
    - https://packages.wolfi.dev/os/wolfi-signing.rsa.pub
    - name: inline.rsa.pub
      content: "-----BEGIN PUBLIC KEY-----"
  repositories:
    - https://dl-cdn.alpinelinux.org/alpine/v3.19/main
    - "@local ./packages"
  build_repositories:
    - file:///abs/repo
  runtime_repositories:
    - ./only-written-to-the-image
"""
    assert config_references(text) == ConfigReferences(
        include="base.yaml",
        keyring=("./keys/local.rsa.pub",),
        repositories=("./packages", "file:///abs/repo"),
    )


@pytest.mark.parametrize("text", [b"contents: [unclosed", b"- a list", b"", b"contents: 3"])
def test_references_of_broken_configs_are_empty(text: bytes) -> None:
    # The engine reports these, with line numbers; here they simply name no file.
    assert config_references(text) == ConfigReferences()


def test_is_local() -> None:
    assert is_local("./packages") and is_local("packages") and is_local("file:///x")
    assert not is_local("https://example.com/os") and not is_local("http://x/y")


def test_workspace_path() -> None:
    assert workspace_path("./packages", "img", "it") == "img/packages"
    assert workspace_path("../shared/keys/k.pub", "a/img", "it") == "a/shared/keys/k.pub"
    for outside in ("/etc/apk/keys/k.pub", "file:///srv/repo", "../../k.pub"):
        with pytest.raises(ApkoImageError, match="outside the build root"):
            workspace_path(outside, "img", "A key of img/apko.yaml")


def test_stage_config_follows_includes_and_finds_local_files(rule_runner: RuleRunner) -> None:
    top = b"include: common/base.yaml\ncontents:\n  keyring: [./keys/top.rsa.pub]\n"
    base = b"""contents:
  keyring: [./keys/base.rsa.pub, https://example.com/remote.rsa.pub]
  repositories: ["@local ./repo", https://example.com/os]
"""
    rule_runner.write_files(
        {
            "img/BUILD": "apko_image()",
            "img/apko.yaml": top,
            "img/common/base.yaml": base,
            "img/keys/top.rsa.pub": "top",
            "img/keys/base.rsa.pub": "base",
            "img/keys/unused.rsa.pub": "unused",
            "img/repo/x86_64/APKINDEX.tar.gz": "index",
            "img/repo/x86_64/a-1.0-r0.apk": "apk",
        }
    )
    staged = stage(rule_runner, Address("img"))
    assert (staged.directory, staged.config_name) == ("img", "apko.yaml")
    assert staged.files == ("img/apko.yaml", "img/common/base.yaml")
    assert staged.user_files == staged.files
    expected = "sha256-" + base64.b64encode(hashlib.sha256(top + base).digest()).decode()
    assert staged.checksum == expected
    assert staged.keyring == ("img/keys/top.rsa.pub", "img/keys/base.rsa.pub")
    assert staged.repositories == ("img/repo",)
    assert set(contents(rule_runner, staged.config_digest)) == set(staged.files)
    assert set(contents(rule_runner, staged.keyring_digest)) == set(staged.keyring)
    assert set(contents(rule_runner, staged.repositories_digest)) == {
        "img/repo/x86_64/APKINDEX.tar.gz",
        "img/repo/x86_64/a-1.0-r0.apk",
    }
    assert staged.relative("img/apko.lock.json") == "apko.lock.json"


def test_stage_config_wraps_archs_and_extra_options(rule_runner: RuleRunner) -> None:
    rule_runner.set_options(
        [
            "--apkoci-extra-repositories=['https://example.com/os', 'shared/repo']",
            "--apkoci-extra-keyring=['shared/keys/extra.rsa.pub']",
        ]
    )
    rule_runner.write_files(
        {
            "img/BUILD": "apko_image(archs=['aarch64'])",
            "img/apko.yaml": "contents: {}\n",
            "shared/repo/aarch64/APKINDEX.tar.gz": "index",
            "shared/keys/extra.rsa.pub": "key",
        }
    )
    staged = stage(rule_runner, Address("img"))
    assert staged.config_name == ".apkoci-apko.yaml"
    assert staged.files == ("img/.apkoci-apko.yaml", "img/apko.yaml")
    assert staged.user_files == ("img/apko.yaml",)
    wrapper = json.loads(contents(rule_runner, staged.config_digest)["img/.apkoci-apko.yaml"])
    assert wrapper == {
        "include": "apko.yaml",
        "archs": ["aarch64"],
        "contents": {
            "repositories": ["https://example.com/os", "../shared/repo"],
            "keyring": ["../shared/keys/extra.rsa.pub"],
        },
    }
    assert staged.keyring == ("shared/keys/extra.rsa.pub",)
    assert staged.repositories == ("shared/repo",)


def test_stage_config_at_the_build_root(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"BUILD": "apko_image(name='img')", "apko.yaml": "contents: {}\n"})
    staged = stage(rule_runner, Address("", target_name="img"))
    assert (staged.directory, staged.config_name, staged.files) == ("", "apko.yaml", ("apko.yaml",))
    assert staged.relative("apko.lock.json") == "apko.lock.json"


@pytest.mark.parametrize(
    "config, message",
    [
        (
            "contents:\n  keyring: [/etc/apk/keys/a.rsa.pub]\n",
            "A key of img/apko.yaml is '/etc/apk/keys",
        ),
        (
            "contents:\n  repositories: [../../outside]\n",
            "A repository of img/apko.yaml is '../../outside'",
        ),
        ("contents:\n  keyring: [./missing.rsa.pub]\n", "img/missing.rsa.pub"),
        ("contents:\n  repositories: [./missing-repo]\n", "img/missing-repo"),
    ],
)
def test_stage_config_errors(rule_runner: RuleRunner, config: str, message: str) -> None:
    rule_runner.write_files({"img/BUILD": "apko_image()", "img/apko.yaml": config})
    with pytest.raises(ExecutionError, match=message):
        stage(rule_runner, Address("img"))
