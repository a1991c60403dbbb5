"""A BuildGrid server on 127.0.0.1, serving Pants a remote cache (CAS and ActionCache) for a test.

BuildGrid (`pip install buildgrid==0.4.4`, Python 3.11 or newer) comes from a virtualenv of its
own: `tests/install-buildgrid` makes one and prints the path of its `bgd`, which the tests find
in `$APKOCI_BGD` (or on PATH). The server listens on a free port of 127.0.0.1 only, stores blobs
in a temporary folder, and ends with the test process, or after `LIFETIME_SECONDS` at the latest
(coreutils' `timeout` kills it then). `RemoteCache.stop` kills it (and anything it started).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List

from pants_clone import BUILD_ROOT_ENV, ended_with_this_process, skip_or_fail

BGD_ENV = "APKOCI_BGD"
CONFIG_TEMPLATE = Path(__file__).with_name("buildgrid.yaml")
HOST = "127.0.0.1"
LIFETIME_SECONDS = 1800
START_TIMEOUT_SECONDS = 60


def find_bgd() -> str:
    """The `bgd` command: `$APKOCI_BGD`, else on PATH, else installed now by
    `tests/install-buildgrid` (once: it keeps its virtualenv in the user's cache), so that
    `./pants test ::` needs no set-up step; skips (fails under CI=true) when that fails."""
    configured = os.environ.get(BGD_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            skip_or_fail(f"{BGD_ENV}={configured} is not an executable `bgd`")
        return configured
    found = shutil.which("bgd")
    if found is not None:
        return found
    installer = Path(os.environ.get(BUILD_ROOT_ENV, ".")) / "tests" / "install-buildgrid"
    env = dict(os.environ)
    if "HOME" not in env:  # Pants' sandbox may not pass it: keep the virtualenv in /tmp then
        env.setdefault("APKOCI_BUILDGRID_VENV", str(Path(tempfile.gettempdir()) / "apkoci-bgd"))
    installed = subprocess.run(
        [str(installer)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900
    )
    if installed.returncode != 0:
        skip_or_fail(
            f"BuildGrid's `bgd` is not installed and {installer} failed:\n"
            + installed.stderr.decode(errors="replace")
        )
    return installed.stdout.decode().strip()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now; the server takes it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(1)
        return client.connect_ex((HOST, port)) == 0


@dataclass
class RemoteCache:
    """A running server; `pants_options` point a Pants run at it."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return f"grpc://{HOST}:{self.port}"

    def pants_options(self, *, write: bool) -> List[str]:
        """Read the remote cache, and write it too when `write` (what pants.toml would say)."""
        return [
            f"--remote-store-address={self.address}",
            "--remote-cache-read",
            "--remote-cache-write" if write else "--no-remote-cache-write",
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_remote_cache(folder: Path) -> RemoteCache:
    """Start BuildGrid with its configuration, storage and log under `folder`."""
    bgd = find_bgd()
    port = free_port()
    storage = folder / "cas"
    storage.mkdir(parents=True)
    config = folder / "buildgrid.yaml"
    config.write_text(
        string.Template(CONFIG_TEMPLATE.read_text()).substitute(
            address=f"{HOST}:{port}", storage=str(storage)
        )
    )
    log = folder / "bgd.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                "timeout",
                "--signal=KILL",
                str(LIFETIME_SECONDS),
                bgd,
                "server",
                "start",
                str(config),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # `timeout` passes the SIGTERM on to the server.
            preexec_fn=ended_with_this_process(signal.SIGTERM),
        )
    server = RemoteCache(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _accepts_connections(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(
                f"BuildGrid did not start listening on {HOST}:{port}:\n{log.read_text()[-4000:]}"
            )
        time.sleep(0.5)
    return server
