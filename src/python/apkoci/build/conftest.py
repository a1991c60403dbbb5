"""Fixtures of the build tests: a signed APK repository made with apkoci's own writer.

:func:`test_repository` makes ``<repo>/<arch>/*.apk`` and a signed ``APKINDEX.tar.gz`` per
architecture, and the key that signs them, ``<repo>/keys/test.rsa.pub``:

- ``baselayout`` (both architectures): ``/etc/os-release``, ``/etc/passwd`` and ``/etc/group`` with
  root and nobody, ``/etc/motd``, ``/tmp``; built at :data:`BASELAYOUT_TIME`;
- ``busybox`` (x86_64 only): Debian's static ``/bin/busybox`` from the ``busybox-static`` package
  (``tools/install-test-tools`` installs it) and its applet manifest
  ``/etc/busybox-paths.d/busybox`` (what ``busybox --list-full`` prints, one absolute path a line,
  the file Alpine's and Wolfi's busybox packages ship); it depends on ``baselayout``; built at
  :data:`BUSYBOX_TIME`, the newest;
- ``hello`` (both architectures): ``/usr/share/hello/<arch>.txt``, so the architectures' trees
  differ; depends on ``baselayout``.

:func:`write_config` writes an ``apko.yaml`` that trusts and uses the repository, followed by
the rest of the configuration the test gives.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Sequence

import pytest
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.writer import PackageSpec, build_index, build_package, generate_signing_key
from apkoci.oci.testing_tools import is_root, podman_command, require_tool, run_tool

BASELAYOUT_TIME = 1_700_000_000
BUSYBOX_TIME = 1_700_100_000
HELLO_TIME = 1_700_050_000
ARCHS = ("x86_64", "aarch64")

OS_RELEASE = (
    'NAME="apkoci test"\nID=apkocitest\nVERSION_ID=1.0.0\nPRETTY_NAME="apkoci test 1.0.0"\n'
    'HOME_URL="https://example.com/apkoci"\n'
)
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
GROUP = "root:x:0:root\nnobody:x:65534:\n"


@dataclass(frozen=True)
class TestRepository:
    """A signed repository: ``path`` holds ``<arch>/``, ``key`` is the public key file."""

    __test__ = False  # not a test class, whatever its name

    path: Path
    key: Path


def _tree(root: Path, files: Mapping[str, bytes], modes: Mapping[str, int] = {}) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(modes.get(name, 0o644))
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    return root


def _busybox_manifest(busybox: str) -> bytes:
    listed = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
    return "".join(f"/{line}\n" for line in sorted(listed.stdout.split())).encode()


def _make_repository(root: Path, busybox: str) -> TestRepository:
    keys = root / "keys"
    keys.mkdir(parents=True)
    private_key, public_key = generate_signing_key().write(keys, "test")
    trees = root / "trees"
    for arch in ARCHS:
        folder = root / "repo" / arch
        folder.mkdir(parents=True)
        packages = [
            (
                PackageSpec("baselayout", "1.0-r0", arch, description="base layout", license="MIT"),
                _tree(
                    trees / arch / "baselayout",
                    {
                        "etc/os-release": OS_RELEASE.encode(),
                        "etc/passwd": PASSWD.encode(),
                        "etc/group": GROUP.encode(),
                        "etc/motd": b"welcome\n",
                    },
                ),
                BASELAYOUT_TIME,
            ),
            (
                PackageSpec(
                    "hello",
                    "2.0-r1",
                    arch,
                    description="greetings",
                    license="GPL-3.0-or-later",
                    depends=parse_dependencies("baselayout"),
                ),
                _tree(trees / arch / "hello", {f"usr/share/hello/{arch}.txt": b"hello\n"}),
                HELLO_TIME,
            ),
        ]
        if arch == "x86_64":
            packages.append(
                (
                    PackageSpec(
                        "busybox",
                        "1.35.0-r0",
                        arch,
                        description="Debian's static busybox",
                        license="GPL-2.0-only",
                        depends=parse_dependencies("baselayout"),
                    ),
                    _tree(
                        trees / arch / "busybox",
                        {
                            "bin/busybox": Path(busybox).read_bytes(),
                            "etc/busybox-paths.d/busybox": _busybox_manifest(busybox),
                        },
                        {"bin/busybox": 0o755},
                    ),
                    BUSYBOX_TIME,
                )
            )
        apks = []
        for spec, tree, epoch in packages:
            out = folder / f"{spec.name}-{spec.version}.apk"
            build_package(tree, spec, out, signing_key=private_key, source_date_epoch=epoch)
            apks.append(out)
        build_index(apks, folder / "APKINDEX.tar.gz", signing_key=private_key)
    shutil.rmtree(trees)
    return TestRepository(root / "repo", public_key)


@pytest.fixture(scope="session")
def test_repository(tmp_path_factory: pytest.TempPathFactory) -> TestRepository:
    busybox = require_tool("busybox")
    return _make_repository(tmp_path_factory.mktemp("repository"), busybox)


def write_config(
    directory: Path, repository: TestRepository, body: str, name: str = "apko.yaml"
) -> Path:
    """``directory/name``: an apko.yaml trusting and using ``repository``, plus ``body``."""
    head = textwrap.dedent(
        f"""\
        contents:
          keyring:
            - {repository.key}
          repositories:
            - {repository.path}
        """
    )
    path = directory / name
    path.write_text(head + textwrap.dedent(body))
    return path


SMALL_IMAGE = """\
  packages:
    - busybox
accounts:
  groups:
    - groupname: app
      gid: 1000
  users:
    - username: app
      uid: 1000
      gid: 1000
  run-as: app
work-dir: /work
entrypoint:
  command: /bin/busybox echo hello
paths:
  - path: /data/cache
    type: directory
    uid: 1000
    gid: 1000
    permissions: 0o750
  - path: /etc/motd-link
    type: symlink
    source: /etc/motd
annotations:
  org.opencontainers.image.title: small
archs:
  - x86_64
"""


def digests_of(directory: Path) -> Dict[str, bytes]:
    """Every file under ``directory`` by relative path, with its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def run_cli(args: Sequence[str]) -> int:
    from apkoci.cli import main

    return main(list(args))


@pytest.fixture
def podman() -> Iterator[List[str]]:
    """The podman command on a throw-away storage root (as root, without systemd)."""
    if not is_root():
        pytest.skip("podman load into a private storage root is tested as root")
    # podman refuses a runroot longer than 50 characters: not under pytest's deep tmp_path.
    root = Path(tempfile.mkdtemp(prefix="apkoci-podman-", dir="/tmp"))
    command = podman_command(root)
    yield command
    run_tool([*command, "image", "unmount", "--all"])
    shutil.rmtree(root, ignore_errors=True)
