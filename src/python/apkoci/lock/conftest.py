"""Fixtures of the lock tests: apko's own CLI test setup, apko's lock of it, a local HTTP server.

apko's ``internal/cli/testdata/apko.yaml`` names ``./testdata/packages`` and
``./testdata/melange.rsa.pub``: paths relative to apko's ``internal/cli`` folder, where its test
runs. :func:`apko_workdir` recreates that layout in ``tmp_path`` without copying the data: the
configuration's text is copied (it is 186 bytes) and ``testdata`` is a symbolic link to the shared
copy of apko's test folder. Locking there must give what apko wrote in its
``internal/cli/testdata/apko.lock.json`` (apko commit c189124d9205) for the same packages, and
:func:`apko_lock_text` rebuilds that file from the values it holds.
"""

from __future__ import annotations

import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from apkoci.testing import shared_testdata

# apko's lock of its test configuration: per package (in apko's order: x86_64, then aarch64, each
# in install order) the name, architecture and the (range, checksum) of signature, control and
# data, then the Q1 checksum.
ApkoPackage = Tuple[str, str, Tuple[str, str], Tuple[str, str], Tuple[str, str], str]
APKO_PACKAGES: Tuple[ApkoPackage, ...] = (
    (
        "pretend-baselayout",
        "x86_64",
        ("bytes=0-646", "sha1-S+THz+JYZxcNzNCw2jI9YlnDnE4="),
        ("bytes=647-1628", "sha1-m6wB0UFePGN8Drz82pC8y2uAiu8="),
        ("bytes=1629-2929", "sha256-ckBapsaMu5EOb/e4Ei1s2l/+dZMEamHhUmaoJ8yeZwg="),
        "Q1m6wB0UFePGN8Drz82pC8y2uAiu8=",
    ),
    (
        "replayout",
        "x86_64",
        ("bytes=0-646", "sha1-M3D5FSI+rv4Qe3oJqVtR1CvOVKE="),
        ("bytes=647-1660", "sha1-1/HhSewwwOXgl0r0ffb0O0BRtYc="),
        ("bytes=1661-2960", "sha256-zmiHBvaqKHsF8CxQeHa0M4mZKwj7T4T5kRe9VpTkXUw="),
        "Q11/HhSewwwOXgl0r0ffb0O0BRtYc=",
    ),
    (
        "pretend-baselayout",
        "aarch64",
        ("bytes=0-647", "sha1-DaCiv+fkcPqYlZ1j6qUAyjvaaWQ="),
        ("bytes=648-1628", "sha1-JQ8nfsxa27d0f6oa056sdT5IcJY="),
        ("bytes=1629-2929", "sha256-cY5bE593kEpYKyqepLmkPc/RnAiPsIsm92XAHwi+U9I="),
        "Q1JQ8nfsxa27d0f6oa056sdT5IcJY=",
    ),
    (
        "replayout",
        "aarch64",
        ("bytes=0-646", "sha1-/2EQJW+59r1Vbi3AxFA7e9brusw="),
        ("bytes=647-1655", "sha1-u62watWiRSQgVtAIuVuYoDOaVO4="),
        ("bytes=1656-2954", "sha256-IMtgng48z5PaYwqYWLrGUKoaZUHFmigOnKRJ7KcmTQo="),
        "Q1u62watWiRSQgVtAIuVuYoDOaVO4=",
    ),
)
APKO_CONFIG_CHECKSUM = "sha256-eal7+HCFuOLz/8m3vNO5cYyNK0Zw7AphCcsc76TbTXg="

_APKO_HEAD = """{
  "version": "v1",
  "config": {
    "name": "apko.yaml",
    "checksum": "%s"
  },
  "contents": {
    "keyring": [
      {
        "name": "./testdata/melange.rsa.pub",
        "url": "./testdata/melange.rsa.pub"
      }
    ],
    "build_repositories": [],
    "runtime_repositories": [],
    "repositories": [
      {
        "name": "./testdata/packages/x86_64",
        "url": "./testdata/packages/x86_64/APKINDEX.tar.gz",
        "architecture": "x86_64"
      },
      {
        "name": "./testdata/packages/aarch64",
        "url": "./testdata/packages/aarch64/APKINDEX.tar.gz",
        "architecture": "aarch64"
      }
    ],
    "packages": [
"""
_APKO_PACKAGE = """      {
        "name": "%s",
        "url": "./testdata/packages/%s/%s-1.0.0-r0.apk",
        "version": "1.0.0-r0",
        "architecture": "%s",
        "signature": {
          "range": "%s",
          "checksum": "%s"
        },
        "control": {
          "range": "%s",
          "checksum": "%s"
        },
        "data": {
          "range": "%s",
          "checksum": "%s"
        },
        "checksum": "%s"
      }"""
_APKO_TAIL = """
    ]
  }
}
"""


def apko_lock_text() -> str:
    """The text of apko's lock of its CLI test configuration, as apko wrote it."""
    blocks = [
        _APKO_PACKAGE % (name, arch, name, arch, *signature, *control, *data, checksum)
        for name, arch, signature, control, data, checksum in APKO_PACKAGES
    ]
    return _APKO_HEAD % APKO_CONFIG_CHECKSUM + ",\n".join(blocks) + _APKO_TAIL


@pytest.fixture
def apko_cli() -> Path:
    """The shared copy of apko's ``internal/cli/testdata``."""
    return shared_testdata("apko-cli")


@pytest.fixture
def apko_workdir(apko_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory laid out like apko's ``internal/cli`` (see the module docstring)."""
    work = tmp_path / "cli"
    work.mkdir()
    (work / "apko.yaml").write_bytes((apko_cli / "apko.yaml").read_bytes())
    (work / "testdata").symlink_to(apko_cli, target_is_directory=True)
    monkeypatch.chdir(work)
    return work


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) while in the block; yields the
    base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
