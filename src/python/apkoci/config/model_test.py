"""Tests of the model: apko's architectures and aliases, key names, the image-build defaults."""

from __future__ import annotations

from dataclasses import fields

import pytest
from apkoci.config.model import (
    ALL_ARCHS,
    Accounts,
    BaseImage,
    Contents,
    Entrypoint,
    Group,
    ImageConfiguration,
    Layering,
    OciPlatform,
    PathMutation,
    User,
    arch_spellings,
    find_arch,
    image_environment,
)


@pytest.mark.parametrize(
    "spelling, name, apk, platform",
    [
        ("x86_64", "amd64", "x86_64", OciPlatform("linux", "amd64")),
        ("amd64", "amd64", "x86_64", OciPlatform("linux", "amd64")),
        ("aarch64", "arm64", "aarch64", OciPlatform("linux", "arm64")),
        ("arm64", "arm64", "aarch64", OciPlatform("linux", "arm64")),
        ("armv7", "arm/v7", "armv7", OciPlatform("linux", "arm", "v7")),
        ("arm/v7", "arm/v7", "armv7", OciPlatform("linux", "arm", "v7")),
        ("armhf", "arm/v6", "armhf", OciPlatform("linux", "arm", "v6")),
        ("arm/v6", "arm/v6", "armhf", OciPlatform("linux", "arm", "v6")),
        ("x86", "386", "x86", OciPlatform("linux", "386")),
        ("386", "386", "x86", OciPlatform("linux", "386")),
        ("loongarch64", "loong64", "loongarch64", OciPlatform("linux", "loong64")),
        ("loong64", "loong64", "loongarch64", OciPlatform("linux", "loong64")),
        ("ppc64le", "ppc64le", "ppc64le", OciPlatform("linux", "ppc64le")),
        ("riscv64", "riscv64", "riscv64", OciPlatform("linux", "riscv64")),
        ("s390x", "s390x", "s390x", OciPlatform("linux", "s390x")),
    ],
)
def test_arch_aliases_are_apkos(spelling: str, name: str, apk: str, platform: OciPlatform) -> None:
    arch = find_arch(spelling)
    assert arch is not None
    assert (arch.name, arch.apk, arch.oci, str(arch)) == (name, apk, platform, name)


def test_unknown_arch_spellings() -> None:
    for spelling in ("all", "host", "i386", "arm", "AMD64", ""):
        assert find_arch(spelling) is None


def test_all_archs_is_apkos_list_in_its_order() -> None:
    assert [arch.name for arch in ALL_ARCHS] == [
        "386",
        "amd64",
        "arm64",
        "arm/v6",
        "arm/v7",
        "loong64",
        "ppc64le",
        "riscv64",
        "s390x",
    ]
    assert len({arch.apk for arch in ALL_ARCHS}) == len(ALL_ARCHS)
    assert (
        len(arch_spellings()) == 2 * len(ALL_ARCHS) - 3
    )  # ppc64le, riscv64, s390x are spelt alike


def test_image_environment_adds_defaults_for_unset_names() -> None:
    assert image_environment(ImageConfiguration()) == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    )
    config = ImageConfiguration(environment=(("PATH", "/bin"), ("TZ", "UTC")))
    assert image_environment(config) == (
        "PATH=/bin",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        "TZ=UTC",
    )


def yaml_keys(cls) -> list:
    return [f.metadata["yaml"] for f in fields(cls) if "yaml" in f.metadata]


def test_yaml_keys_are_apkos_in_its_order() -> None:
    # The keys and order of apko's ImageConfiguration and friends (pkg/build/types/types.go,
    # schema.json).
    assert yaml_keys(ImageConfiguration) == [
        "contents",
        "entrypoint",
        "cmd",
        "stop-signal",
        "work-dir",
        "accounts",
        "archs",
        "environment",
        "paths",
        "vcs-url",
        "annotations",
        "volumes",
        "layering",
        "certificates",
    ]
    assert yaml_keys(Contents) == [
        "build_repositories",
        "runtime_repositories",
        "repositories",
        "keyring",
        "runtime_keyring",
        "packages",
        "baseimage",
    ]
    assert yaml_keys(Entrypoint) == ["type", "command", "shell-fragment", "services"]
    assert yaml_keys(Accounts) == ["run-as", "users", "groups"]
    assert yaml_keys(User) == ["username", "uid", "gid", "shell", "homedir"]
    assert yaml_keys(Group) == ["groupname", "gid", "members"]
    assert yaml_keys(PathMutation) == [
        "path",
        "type",
        "uid",
        "gid",
        "permissions",
        "source",
        "recursive",
    ]
    assert yaml_keys(BaseImage) == ["image", "apkindex"]
    assert yaml_keys(Layering) == ["strategy", "budget"]


def test_configurations_are_values() -> None:
    x86_64, amd64 = find_arch("x86_64"), find_arch("amd64")
    assert x86_64 is not None and amd64 is not None
    first = ImageConfiguration(environment=(("A", "1"),), archs=(x86_64,))
    second = ImageConfiguration(environment=(("A", "1"),), archs=(amd64,))
    assert first == second and hash(first) == hash(second)
    with pytest.raises(AttributeError):
        first.cmd = "changed"  # type: ignore[misc]
