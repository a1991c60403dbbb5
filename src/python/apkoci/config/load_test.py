"""Tests of the loader: every field, apko's merge of includes, defaults, checksums, every error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest
from apkoci.apk.version import VersionError, canonical_operator
from apkoci.config.conftest import WriteConfig, indented
from apkoci.config.load import (
    ConfigError,
    configuration_checksum,
    configuration_digest,
    load_configuration,
)
from apkoci.config.model import (
    ALL_ARCHS,
    SERVICE_BUNDLE_COMMAND,
    AdditionalCertificate,
    BaseImage,
    Group,
    KeyringEntry,
    Layering,
    PackageSpec,
    PathMutation,
    User,
    find_arch,
)
from apkoci.errors import ApkociError
from apkoci.testing import shared_testdata


def problems_of(path: Path) -> List[str]:
    """The problem lines of loading ``path``, with the temporary folder cut off the file names."""
    with pytest.raises(ConfigError) as caught:
        load_configuration(path)
    return [line.replace(str(path.parent) + os.sep, "") for line in str(caught.value).splitlines()]


# --- The real configurations of apko's CLI tests --------------------------------------------------


def test_apko_cli_configuration_loads() -> None:
    config = load_configuration(shared_testdata("apko-cli", "apko.yaml"))
    assert config.contents.keyring == (KeyringEntry(uri="./testdata/melange.rsa.pub"),)
    assert config.contents.repositories == ("./testdata/packages",)
    assert config.contents.packages == (PackageSpec(text="replayout", name="replayout"),)
    assert config.entrypoint.command == "/bin/sh -l"
    assert [arch.apk for arch in config.archs] == ["x86_64", "aarch64"]


def test_apko_cli_layering_configuration_loads() -> None:
    config = load_configuration(shared_testdata("apko-cli", "layering.yaml"))
    assert config.contents.build_repositories == ("./packages",)
    assert config.contents.runtime_repositories == ("apk.cgr.dev/runtime-only-repo",)
    assert config.layering == Layering(strategy="origin", budget=2)


def test_apko_cli_certificates_configuration_loads() -> None:
    config = load_configuration(shared_testdata("apko-cli", "apko-certs.yaml"))
    assert [spec.name for spec in config.contents.packages] == [
        "pretend-baselayout",
        "custom-ca-certs-1",
        "custom-ca-certs-2",
    ]
    assert config.certificates is not None
    assert config.certificates.providers == ("custom-ca-certificates",)
    assert config.certificates.additional == ()


def test_checksum_is_the_one_apko_writes_into_its_lock_file() -> None:
    # apko's internal/cli/testdata/apko.lock.json, made from this very apko.yaml, records
    # "config": {"name": "apko.yaml", "checksum":
    # "sha256-eal7+HCFuOLz/8m3vNO5cYyNK0Zw7AphCcsc76TbTXg="}.
    path = shared_testdata("apko-cli", "apko.yaml")
    assert configuration_checksum(path) == "sha256-eal7+HCFuOLz/8m3vNO5cYyNK0Zw7AphCcsc76TbTXg="


# --- Every field ----------------------------------------------------------------------------------


def test_every_field_is_read(
    complete_config: Path, certificate_pem: str, public_key_pem: str
) -> None:
    config = load_configuration(complete_config)
    contents = config.contents
    # Lists: the included file's entries first; repositories lose a trailing slash.
    assert contents.repositories == (
        "https://base.example/os",
        "https://packages.wolfi.dev/os",
        "@local ./local-packages",
    )
    assert contents.build_repositories == ("./packages",)
    assert contents.runtime_repositories == ("https://runtime.example/os",)
    assert contents.keyring == (
        KeyringEntry(uri="https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"),
        KeyringEntry(name="inline.rsa.pub", content=public_key_pem.strip("\n") + "\n"),
    )
    assert contents.runtime_keyring == (
        KeyringEntry(name="runtime.rsa.pub", content=public_key_pem.strip("\n") + "\n"),
    )
    assert contents.packages == (
        PackageSpec(text="base-package", name="base-package"),
        PackageSpec(text="wolfi-base", name="wolfi-base"),
        PackageSpec(text="busybox=1.36.1-r0", name="busybox", operator="=", version="1.36.1-r0"),
        PackageSpec(
            text="python-3.12>=3.12.1", name="python-3.12", operator=">=", version="3.12.1"
        ),
        PackageSpec(text="mine@local", name="mine", pin="local"),
    )
    assert contents.baseimage is None
    assert config.entrypoint.command == "/usr/bin/python3 -m http.server"
    assert config.cmd == "--bind 0.0.0.0"
    assert config.stop_signal == "SIGTERM"
    assert config.work_dir == "/srv"
    assert config.accounts.run_as == "65532"  # a number in the YAML, a string to apko
    assert config.accounts.groups == (Group(groupname="nonroot", gid=65532, members=("nonroot",)),)
    assert config.accounts.users == (
        User(username="nonroot", uid=65532, gid=65532, shell="/bin/ash", homedir="/home/nonroot"),
        User(username="other", uid=1000, gid=None, shell="", homedir="/var/other"),
    )
    assert [arch.name for arch in config.archs] == ["amd64", "arm64", "arm/v7", "386"]
    assert dict(config.environment) == {"FROM_BASE": "base", "SHARED": "mine", "PORT": "8000"}
    assert config.paths == (
        PathMutation(
            path="/srv", type="directory", uid=65532, gid=65532, permissions=0o755, recursive=True
        ),
        PathMutation(path="/srv/ready", type="empty-file", permissions=0o644),
        PathMutation(path="/srv/link", type="symlink", source="/srv/ready", permissions=0o777),
        PathMutation(path="/srv/hard", type="hardlink", source="/srv/ready", permissions=0o644),
        PathMutation(path="/etc/motd", type="permissions", permissions=0o600),
    )
    assert config.vcs_url == "https://github.com/example/image@0123abcd"
    assert config.annotations == (("org.opencontainers.image.title", "example"),)
    assert config.volumes == ("/srv/data",)
    assert config.layering == Layering(strategy="origin", budget=5)
    assert config.certificates is not None
    assert config.certificates.additional == (
        AdditionalCertificate(name="test-ca", content=certificate_pem),
    )
    assert config.certificates.providers == ("custom-ca-certificates",)


@pytest.mark.parametrize("written", ["0o755", "0755", "493", "0x1ed", "0b111_101_101"])
def test_permissions_read_as_yaml_v3_reads_integers(
    write_config: WriteConfig, written: str
) -> None:
    path = write_config(
        f"""
        paths:
          - path: /x
            type: directory
            permissions: {written}
        """
    )
    assert load_configuration(path).paths[0].permissions == 0o755


def test_base_image(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          baseimage:
            image: ./base_image
            apkindex: ./base_image/metadata
          packages: [base-package]
        archs: [aarch64]
        """
    )
    assert load_configuration(path).contents.baseimage == BaseImage(
        image="./base_image", apkindex="./base_image/metadata"
    )


def test_yaml_merge_keys_are_flattened(write_config: WriteConfig) -> None:
    path = write_config(
        """
        paths:
          - &dir {path: /a, type: directory, permissions: 0o700}
          - <<: *dir
            path: /b
        """
    )
    assert [(p.path, p.permissions) for p in load_configuration(path).paths] == [
        ("/a", 0o700),
        ("/b", 0o700),
    ]


def test_booleans_accept_yaml_1_1_spellings_like_yaml_v3(write_config: WriteConfig) -> None:
    path = write_config(
        "paths: [{path: /a, type: directory, recursive: yes}, {path: /b, type: directory,"
        " recursive: False}]"
    )
    assert [p.recursive for p in load_configuration(path).paths] == [True, False]


# --- Defaults -------------------------------------------------------------------------------------


def test_defaults_apko_applies_to_a_configuration(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          packages: [busybox]
        accounts:
          users: [{username: app, uid: 1000}]
        """
    )
    config = load_configuration(path)
    assert config.archs == ALL_ARCHS
    assert config.accounts.users[0].homedir == "/home/app"
    assert config.accounts.users[0].gid is None  # apko uses the uid while building
    assert config.environment == ()  # PATH is an image-build default (model.image_environment)


def test_service_bundle_runs_s6(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          packages: [nginx]
        entrypoint:
          type: service-bundle
          services:
            nginx: /usr/sbin/nginx -g "daemon off;"
        """
    )
    config = load_configuration(path)
    assert config.entrypoint.command == SERVICE_BUNDLE_COMMAND
    assert config.entrypoint.services == (("nginx", '/usr/sbin/nginx -g "daemon off;"'),)
    assert [spec.text for spec in config.contents.packages] == ["nginx", "s6"]


def test_empty_layering_means_one_layer(write_config: WriteConfig) -> None:
    assert load_configuration(write_config("layering: {}")).layering is None


# --- Includes -------------------------------------------------------------------------------------


def test_include_merges_like_apko_merge_into(write_config: WriteConfig) -> None:
    # apko's TestMergeInto "conflict resolution": the including file wins single values and shared
    # map keys; lists are the included file's entries followed by its own.
    write_config(
        """
        contents:
          keyring: [foo]
          build_repositories: [foo]
          repositories: [foo]
          packages: [foo]
        cmd: foo
        stop-signal: foo
        work-dir: foo
        accounts:
          run-as: foo
          users: [{username: foo, uid: 1000, gid: 1000, homedir: /home/foo}]
        environment: {EXTRA: foo, VAR: foo}
        annotations: {org.extra: foo, org.blah: foo}
        archs: [riscv64]
        entrypoint: {command: /bin/foo}
        """,
        name="base/foo.yaml",
    )
    path = write_config(
        """
        include: base/foo.yaml
        cmd: bar
        stop-signal: bar
        work-dir: bar
        accounts:
          run-as: bar
          users: [{username: bar, uid: 1001, gid: 1001, homedir: /home/bar}]
        environment: {VAR: bar}
        annotations: {org.blah: bar}
        """
    )
    config = load_configuration(path)
    assert config.contents.keyring == (KeyringEntry(uri="foo"),)
    assert config.contents.repositories == ("foo",)
    assert (config.cmd, config.stop_signal, config.work_dir, config.accounts.run_as) == (
        "bar",
        "bar",
        "bar",
        "bar",
    )
    assert [user.username for user in config.accounts.users] == ["foo", "bar"]
    assert dict(config.environment) == {"EXTRA": "foo", "VAR": "bar"}
    assert dict(config.annotations) == {"org.extra": "foo", "org.blah": "bar"}
    assert config.archs == (find_arch("riscv64"),)  # unset here, so the included file's
    assert config.entrypoint.command == "/bin/foo"


def test_include_chain_is_relative_to_each_including_file(
    write_config: WriteConfig, tmp_path: Path, monkeypatch
) -> None:
    write_config("contents: {packages: [deepest]}", name="a/b/c.yaml")
    write_config("include: b/c.yaml\ncontents: {packages: [middle]}", name="a/middle.yaml")
    path = write_config("include: a/middle.yaml\ncontents: {packages: [top]}")
    monkeypatch.chdir("/")
    assert [spec.name for spec in load_configuration(path).contents.packages] == [
        "deepest",
        "middle",
        "top",
    ]


def test_include_paths_are_searched_after_the_including_folder(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    write_config("contents: {packages: [shared]}", name="library/shared.yaml")
    path = write_config("include: shared.yaml", name="images/apko.yaml")
    assert [
        spec.name
        for spec in load_configuration(path, include_paths=[tmp_path / "library"]).contents.packages
    ] == ["shared"]


def test_checksum_covers_included_files_in_apko_order(write_config: WriteConfig) -> None:
    import base64
    import hashlib

    base = write_config("contents: {packages: [base]}\n", name="base.yaml")
    path = write_config("include: base.yaml\n")
    expected = base64.b64encode(
        hashlib.sha256(path.read_bytes() + base.read_bytes()).digest()
    ).decode()
    assert configuration_checksum(path) == "sha256-" + expected
    base.write_text("contents: {packages: [changed]}\n")
    assert configuration_checksum(path) != "sha256-" + expected


def test_digest_follows_meaning_not_formatting(write_config: WriteConfig) -> None:
    first = write_config("contents: {packages: [a, b]}\narchs: [x86_64]\n", name="first.yaml")
    second = write_config(
        "# a comment\narchs:\n  - amd64\ncontents:\n  packages:\n    - a\n    - b\n",
        name="second.yaml",
    )
    third = write_config("contents: {packages: [b, a]}\narchs: [x86_64]\n", name="third.yaml")
    digest = configuration_digest(load_configuration(first))
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert configuration_digest(load_configuration(second)) == digest
    assert (
        configuration_digest(load_configuration(third)) != digest
    )  # the order of packages is kept


# --- Errors ---------------------------------------------------------------------------------------


def test_config_error_is_an_engine_error() -> None:
    assert issubclass(ConfigError, ApkociError)


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "apko.yaml") == [
        "apko.yaml: cannot be read: No such file or directory"
    ]


def test_unknown_keys_at_every_depth_suggest_the_closest_key(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contnets:
          packages: [a]
        contents:
          repositorys: [x]
        accounts:
          users:
            - username: a
              uid: 1
              home: /x
        paths:
          - path: /a
            type: directory
            permission: 0o755
        layering:
          stratgy: origin
        """
    )
    problems = problems_of(path)
    assert problems[0].startswith(
        "apko.yaml:1: contnets: unknown key: did you mean 'contents'? the keys here are"
    )
    assert problems[1].startswith(
        "apko.yaml:4: contents.repositorys: unknown key: did you mean 'repositories'?"
    )
    assert problems[2].startswith(
        "apko.yaml:9: accounts.users[0].home: unknown key: did you mean 'homedir'?"
    )
    assert problems[3].startswith(
        "apko.yaml:13: paths[0].permission: unknown key: did you mean 'permissions'?"
    )
    assert problems[4].startswith(
        "apko.yaml:15: layering.stratgy: unknown key: did you mean 'strategy'?"
    )
    assert len(problems) == 5


def test_unknown_key_without_a_close_match_lists_the_keys(write_config: WriteConfig) -> None:
    (problem,) = problems_of(write_config("entrypoint: {zzz: 1}"))
    assert (
        problem == "apko.yaml:1: entrypoint.zzz: unknown key: the keys here are command, services,"
        " shell-fragment, type"
    )


def test_retired_key_says_why(write_config: WriteConfig) -> None:
    (problem,) = problems_of(write_config("os-release: {name: x}"))
    assert problem.startswith(
        "apko.yaml:1: os-release: is not a key of apko's configuration any more:"
    )


def test_wrong_types(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          packages: busybox
        cmd: [a, b]
        accounts:
          users:
            - username: a
              uid: abc
        environment: [A=1]
        paths:
          - {path: /a, type: directory, recursive: maybe, uid: "0"}
        """
    )
    assert problems_of(path) == [
        "apko.yaml:2: contents.packages: expected a list, got 'busybox': write each entry on a line"
        " of its own, starting with '- '",
        "apko.yaml:3: cmd: expected a string, got a list",
        "apko.yaml:7: accounts.users[0].uid: expected an integer, got 'abc'",
        "apko.yaml:8: environment: expected a mapping of names to values, got a list",
        "apko.yaml:10: paths[0].recursive: expected true or false, got 'maybe'",
        "apko.yaml:10: paths[0].uid: expected an integer, got the string '0': remove the quotes",
    ]


def test_bad_permissions(write_config: WriteConfig) -> None:
    path = write_config(
        """
        paths:
          - {path: /a, type: directory, permissions: 0o17777}
          - {path: /b, type: directory, permissions: "0755"}
          - {path: /c, type: directory, permissions: rwxr-xr-x}
        """
    )
    assert problems_of(path) == [
        "apko.yaml:2: paths[0].permissions: 0o17777 is no file mode: use an octal mode from 0 to"
        " 0o7777, like 0o755",
        "apko.yaml:3: paths[1].permissions: expected an integer, got the string '0755': remove the"
        " quotes",
        "apko.yaml:4: paths[2].permissions: expected an integer, got 'rwxr-xr-x'",
    ]


def test_bad_paths(write_config: WriteConfig) -> None:
    path = write_config(
        """
        paths:
          - {path: /a, type: dir}
          - {path: /b, type: symlink}
          - {path: /c, type: directory, source: /x}
          - {path: /d, type: empty-file, recursive: true}
          - {type: directory}
        """
    )
    assert problems_of(path) == [
        "apko.yaml:2: paths[0].type: unknown path type 'dir': did you mean 'directory'? use one of"
        " directory, empty-file, hardlink, symlink, permissions",
        "apko.yaml:3: paths[1].source: is required for a symlink: add `source: /the/link/target`",
        "apko.yaml:4: paths[2].source: only links have a source: remove it, or make the type one of"
        " hardlink, symlink",
        "apko.yaml:5: paths[3].recursive: only a directory can be recursive: remove it",
        "apko.yaml:6: paths[4].path: is required: add `path: /path/in/the/image`",
    ]


def test_unknown_and_repeated_archs(write_config: WriteConfig) -> None:
    path = write_config("archs: [x86_64, amd64, arm65, all, sparc]")
    assert problems_of(path) == [
        "apko.yaml:1: archs[1]: 'amd64' is listed already (as 'x86_64'): remove one of them",
        "apko.yaml:1: archs[2]: unknown architecture 'arm65': did you mean 'arm64'? apko knows 386,"
        " aarch64, amd64,"
        " arm/v6, arm/v7, arm64, armhf, armv7, loong64, loongarch64, ppc64le, riscv64, s390x, x86,"
        " x86_64",
        "apko.yaml:1: archs[3]: 'all' is not an architecture: leave `archs` out to build for all of"
        " them",
        "apko.yaml:1: archs[4]: unknown architecture 'sparc': apko knows 386, aarch64, amd64,"
        " arm/v6, arm/v7, arm64,"
        " armhf, armv7, loong64, loongarch64, ppc64le, riscv64, s390x, x86, x86_64",
    ]


def test_accounts_problems(write_config: WriteConfig) -> None:
    path = write_config(
        """
        accounts:
          users:
            - {username: root, uid: 0}
            - {uid: 5}
            - {username: "bad:name", uid: 6, gid: -1}
          groups:
            - {groupname: g}
        """
    )
    assert problems_of(path) == [
        "apko.yaml:3: accounts.users[0].uid: is 0, which is root: apko creates no root user; to run"
        " as root, set `run-as: 0` instead",
        "apko.yaml:4: accounts.users[1].username: is required: add `username: nonroot`",
        "apko.yaml:5: accounts.users[2].username: 'bad:name' cannot be an account name: remove the"
        " ':' and spaces",
        "apko.yaml:5: accounts.users[2].gid: -1 is out of range: use a number from 0 to 4294967295",
        "apko.yaml:7: accounts.groups[0].gid: is required: add `gid: 65532`",
    ]


def test_duplicate_users_across_an_include(write_config: WriteConfig) -> None:
    write_config("accounts: {users: [{username: app, uid: 1000}]}", name="base.yaml")
    path = write_config(
        "include: base.yaml\naccounts:\n  users:\n    - {username: app, uid: 1001}\n"
    )
    assert problems_of(path) == [
        "apko.yaml:4: accounts.users[0]: user 'app' is defined twice (perhaps in an included file):"
        " keep one"
    ]


def test_package_problems(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          repositories: ["@main https://example/os", "@ bad"]
          packages:
            - "busybox=not a version"
            - "foo=1.0@main"
            - "two words"
            - "baz<>1.0"
            - "qux<>~1.0"
            - ""
        """
    )
    with pytest.raises(VersionError) as operator_error:  # the message is the version module's
        canonical_operator("<>~")
    assert problems_of(path) == [
        "apko.yaml:2: contents.repositories[1]: '@ bad' is not a tagged repository: write '@tag"
        " url', the tag made of letters and digits",
        "apko.yaml:4: contents.packages[0]: 'busybox=not a version': 'not a version' is not an APK"
        " version (like 1.2.3-r0)",
        "apko.yaml:6: contents.packages[2]: 'two words' is not a package: write 'name',"
        " 'name=1.2.3-r0', 'name>=1.2' or 'name@tag'",
        "apko.yaml:7: contents.packages[3]: 'baz<>1.0': '1.0' is not a package checksum (like"
        " Q1m6wB0UFePGN8Drz82pC8y2uAiu8=)",
        f"apko.yaml:8: contents.packages[4]: 'qux<>~1.0': {operator_error.value}",
        "apko.yaml:9: contents.packages[5]: is empty: give a package name, or remove the entry",
    ]


def test_a_pin_needs_a_tagged_repository(write_config: WriteConfig) -> None:
    path = write_config(
        'contents:\n  repositories: ["@main https://example/os"]\n'
        "  packages: [foo@main, bar@local]\n"
    )
    assert problems_of(path) == [
        "apko.yaml:3: contents.packages[1]: 'bar@local' is pinned to @local, but no repository is"
        " tagged so:"
        " add '@local <url>' to contents.repositories (or build_repositories)"
    ]


def test_keyring_problems(write_config: WriteConfig, certificate_pem: str) -> None:
    path = write_config(
        f"""
        contents:
          keyring:
            - name: ../escape.rsa.pub
              content: |
{indented(certificate_pem, 16)}
            - {{name: only-a-name.rsa.pub}}
          runtime_keyring:
            - https://example/key.rsa.pub
        """
    )
    problems = problems_of(path)
    assert (
        problems[0]
        == "apko.yaml:3: contents.keyring[0].name: '../escape.rsa.pub' is not a file name: use"
        " letters, digits, '.', '_' and '-'"
    )
    assert problems[1] == (
        "apko.yaml:4: contents.keyring[0].content: holds a 'CERTIFICATE' PEM block: give the RSA"
        " public key ('-----BEGIN PUBLIC KEY-----')"
    )
    line = problems[2].split(":")[1]  # after the certificate's lines
    assert (
        problems[2] == f"apko.yaml:{line}: contents.keyring[1].content: is required: add"
        " `content: <the key's PEM text, as a | block>`"
    )
    assert problems[3] == (
        f"apko.yaml:{int(line) + 2}: contents.runtime_keyring[0]: expected an inline key (`name:`"
        " and `content:`), got"
        " 'https://example/key.rsa.pub': the runtime keyring takes the key itself, so the image"
        " does not depend on a file or URL at build time"
    )
    assert len(problems) == 4


def test_certificate_problems(
    write_config: WriteConfig, certificate_pem: str, public_key_pem: str
) -> None:
    path = write_config(
        f"""
        certificates:
          additional:
            - name: my/../../cert
              content: |
{indented(certificate_pem, 16)}
            - name: two
              content: |
{indented(certificate_pem + certificate_pem, 16)}
            - name: a-key
              content: |
{indented(public_key_pem, 16)}
        """
    )
    problems = problems_of(path)
    assert (
        problems[0]
        == "apko.yaml:3: certificates.additional[0].name: 'my/../../cert' is an invalid name: it"
        " must match ^[a-zA-Z0-9_-]+$"
    )
    assert problems[1].endswith(
        "certificates.additional[1].content: holds 2 PEM blocks: give exactly one '-----BEGIN"
        " CERTIFICATE-----' block per entry"
    )
    assert problems[2].endswith(
        "certificates.additional[2].content: holds a 'PUBLIC KEY' PEM block: give a '-----BEGIN"
        " CERTIFICATE-----' block"
    )
    assert len(problems) == 3


def test_entrypoint_problems(write_config: WriteConfig) -> None:
    path = write_config(
        """
        entrypoint:
          type: systemd
          command: /bin/a
          shell-fragment: echo hi
          services:
            web: /bin/web
        """
    )
    assert problems_of(path) == [
        "apko.yaml:2: entrypoint.type: 'systemd' is no entrypoint type: the only type is"
        " 'service-bundle'; remove `type` for a plain command",
    ]
    path = write_config(
        "entrypoint:\n  command: /bin/a\n  shell-fragment: echo hi\n  services: {web: /bin/web}\n"
    )
    assert problems_of(path) == [
        "apko.yaml:2: entrypoint.services: services only run in a service bundle: add `type:"
        " service-bundle`",
        "apko.yaml:2: entrypoint: both `command` and `shell-fragment` are set: keep one (apko would"
        " run the shell fragment)",
    ]


def test_base_image_takes_only_contents_and_archs(write_config: WriteConfig) -> None:
    path = write_config(
        """
        contents:
          baseimage: {image: ./img, apkindex: ./idx}
        entrypoint: {command: /bin/sh}
        environment: {A: b}
        """
    )
    assert problems_of(path) == [
        "apko.yaml:2: contents.baseimage: with a base image apko only takes contents, archs and"
        " include: remove entrypoint, environment"
    ]


def test_layering_problems(write_config: WriteConfig) -> None:
    path = write_config("layering: {strategy: size, budget: -1}")
    assert problems_of(path) == [
        "apko.yaml:1: layering.strategy: unknown layering strategy 'size': use origin",
        "apko.yaml:1: layering.budget: -1 is out of range: use a number from 0 to 2147483647",
    ]


def test_include_cycle(write_config: WriteConfig) -> None:
    write_config("include: apko.yaml\ncontents: {packages: [b]}\n", name="b.yaml")
    path = write_config("include: b.yaml\ncontents: {packages: [a]}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(
        "b.yaml:1: include: includes 'apko.yaml', which includes this file again ("
    )
    assert problem.endswith("apko.yaml): remove one of the includes")


def test_self_include_is_a_cycle(write_config: WriteConfig) -> None:
    (problem,) = problems_of(write_config("include: apko.yaml\n"))
    assert problem.startswith(
        "apko.yaml:1: include: includes 'apko.yaml', which includes this file again"
    )


def test_missing_include(write_config: WriteConfig) -> None:
    (problem,) = problems_of(write_config("contents: {packages: [a]}\ninclude: nowhere.yaml\n"))
    assert problem.startswith("apko.yaml:2: include: cannot find 'nowhere.yaml' (looked for ")
    assert problem.endswith(
        "nowhere.yaml): include names a local file, relative to the including file"
    )


def test_problems_of_included_files_name_that_file(write_config: WriteConfig) -> None:
    write_config("contents:\n  packages: [a]\ncmd: {}\n", name="lib/base.yaml")
    (problem,) = problems_of(write_config("include: lib/base.yaml\n"))
    assert problem == f"lib{os.sep}base.yaml:3: cmd: expected a string, got a mapping"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "apko.yaml: is empty: an apko configuration needs at least `contents:`"),
        (
            "contents: [\n",
            "apko.yaml:2: is not valid YAML: expected the node content, but found '<stream end>'",
        ),
        ("- a\n- b\n", "apko.yaml:1: expected a mapping of keys to values, got a list"),
        ("cmd: a\ncmd: b\n", "apko.yaml:2: cmd: is set twice in the same mapping: keep one"),
        (
            "cmd: a\n---\ncmd: b\n",
            "apko.yaml:3: holds more than one YAML document: keep one configuration per file",
        ),
        (
            "environment: {'A=B': c}",
            "apko.yaml:1: environment.A=B: is no variable name: names cannot contain '='",
        ),
    ],
)
def test_document_problems(write_config: WriteConfig, text: str, expected: str) -> None:
    assert problems_of(write_config(text)) == [expected]
