from __future__ import annotations

import pytest
from apkoci_pants import register
from apkoci_pants.target_types import (
    ApkoImageAnnotationsField,
    ApkoImageArchsField,
    ApkoImageCompressionField,
    ApkoImageConfigField,
    ApkoImageFormatsField,
    ApkoImageLayersField,
    ApkoImageLockfileField,
    ApkoImageRepositoryField,
    ApkoImageTagsField,
    default_lockfile_path,
    resolve_name,
)
from pants.core.target_types import FilesGeneratorTarget
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(
        target_types=[*register.target_types(), FilesGeneratorTarget], rules=register.rules()
    )


def test_defaults(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": "apko_image()", "img/apko.yaml": "contents: {}\n"})
    target = rule_runner.get_target(Address("img"))
    config = target[ApkoImageConfigField]
    assert config.file_path == "img/apko.yaml"
    assert target[ApkoImageLockfileField].path(config.file_path) == "img/apko.lock.json"
    assert target[ApkoImageArchsField].value is None
    assert target[ApkoImageTagsField].value == ("latest",)
    assert target[ApkoImageFormatsField].value == ("oci", "docker", "sbom-spdx")
    assert target[ApkoImageCompressionField].value is None
    assert target[ApkoImageRepositoryField].value_or_default() == "img"
    assert resolve_name(target.address) == "img:img"


def test_explicit_fields(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "img/BUILD": """\
apko_image(
    name="web",
    config="web.apko.yaml",
    lockfile="locks/web.json",
    archs=["x86_64", "aarch64"],
    repository="ghcr.io/acme/web",
    image_tags=["1.2.3", "latest"],
    annotations={"org.opencontainers.image.source": "https://example.com"},
    formats=["oci", "sbom-cyclonedx"],
    compression="zstd",
    layers={":static": "/srv/www"},
)
files(name="static", sources=["index.html"])
""",
            "img/web.apko.yaml": "contents: {}\n",
            "img/index.html": "<html/>",
        }
    )
    target = rule_runner.get_target(Address("img", target_name="web"))
    assert target[ApkoImageLockfileField].path("img/web.apko.yaml") == "img/locks/web.json"
    assert target[ApkoImageArchsField].value == ("x86_64", "aarch64")
    assert target[ApkoImageRepositoryField].value_or_default() == "ghcr.io/acme/web"
    assert target[ApkoImageTagsField].value == ("1.2.3", "latest")
    assert dict(target[ApkoImageAnnotationsField].value or {}) == {
        "org.opencontainers.image.source": "https://example.com"
    }
    assert dict(target[ApkoImageLayersField].value or {}) == {":static": "/srv/www"}
    assert resolve_name(target.address) == "img:web"


@pytest.mark.parametrize(
    "field, message",
    [
        ('archs=["x86_64", "x86_64"]', "lists ['x86_64'] twice"),
        ("archs=[]", "is empty"),
        ('repository="Not A Repo"', "not an image repository"),
        ('image_tags=["-bad"]', "which OCI does not allow"),
        ('formats=["tarball"]', "tarball"),
        ("formats=[]", "name at least one of"),
        ('compression="xz"', "xz"),
        ('layers={":app": "app"}', "such as '/app'"),
        ('layers={":app": "/app/../etc"}', "such as '/etc'"),
    ],
)
def test_invalid_fields(rule_runner: RuleRunner, field: str, message: str) -> None:
    rule_runner.write_files({"img/BUILD": f"apko_image({field})", "img/apko.yaml": "{}\n"})
    with pytest.raises(ExecutionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rule_runner.get_target(Address("img"))


def test_default_lockfile_path() -> None:
    assert default_lockfile_path("apko.yaml") == "apko.lock.json"
    assert default_lockfile_path("a/b/base.apko.yaml") == "a/b/base.apko.lock.json"
    assert default_lockfile_path("a/config") == "a/config.lock.json"
