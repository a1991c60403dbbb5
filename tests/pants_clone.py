"""Pants in a throw-away copy of this repository, with caches of its own, and what each run did.

The end-to-end tests prove caching and reproducibility the way a user meets them: by running
`./pants` in a fresh checkout. A `Clone` is such a checkout: the repository's files (tracked, and
untracked but not ignored, so that work not committed yet is tested too), with its own local store
(Pants' process cache), named caches and work dir, and no pantsd. Nothing is shared between
clones but the Pants installation (the folder `./pants` sets up outside the checkout, passed on
in `APKOCI_PANTS_BOOTSTRAP`, so that no clone bootstraps again). Every clone of a session copies
one `Checkout`, a snapshot of the repository taken once: a file edited in the repository during
the session changes no clone.

Every run records Pants' workunits (with the `workunit-logger` backend that ships with Pants), and
`PantsRun.processes` reads from them, for every process the run asked for, where its result came
from: `Ran` (executed), `HitLocally` (the local cache) or `HitRemotely` (a remote cache). The
counters `--stats-log` prints are kept too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest

# The build root of the repository under test. Tests run in a Pants sandbox, which holds only
# their own files, so pants.toml passes the build root in (`[test].extra_env_vars`).
BUILD_ROOT_ENV = "APKOCI_BUILDROOT"
# How long one Pants run may take before it counts as hung (a cold build of every example takes
# one to two minutes on 2 cores).
RUN_TIMEOUT_SECONDS = 900
# What every build runs: `package` of every example that builds offline, from this repository
# alone (those tagged `network` install from the internet).
PACKAGE_EXAMPLES = ("--tag=-network", "package", "examples::")
# Where `./pants` keeps the Pants installation it sets up (outside the checkout); it exports it, and
# pants.toml passes it on to tests (`[test].extra_env_vars`).
BOOTSTRAP_ENV = "APKOCI_PANTS_BOOTSTRAP"
# Where older versions of `./pants` kept it, inside the checkout: never a file of a checkout.
OLD_BOOTSTRAP = ".pants.bootstrap"

RAN = "Ran"
HIT_LOCALLY = "HitLocally"
HIT_REMOTELY = "HitRemotely"
# The cache scopes of processes Pants takes from a cache when their inputs are unchanged. The
# others it runs again on purpose, in every new Pants process or session: probes of the machine
# (which bash, which Python interpreters) and lock resolves, which must see today's world.
CACHED_SCOPES = frozenset({"Always", "Successful"})


def skip_or_fail(message: str) -> None:
    """Skip the test, or fail it under CI=true, where a skipped proof is a broken promise."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def source_build_root() -> Path:
    """The repository under test, with its Pants set up (`./pants` has run there once)."""
    value = os.environ.get(BUILD_ROOT_ENV)
    # Outside Pants (plain pytest in the repository), this file sits in <build root>/tests.
    root = Path(value) if value else Path(__file__).resolve().parents[1]
    if not (root / "pants").is_file() or not (root / "pants.toml").is_file():
        skip_or_fail(
            f"{root} is not the repository's build root: run these tests with `./pants test "
            f'tests::`, with `"{BUILD_ROOT_ENV}=%(buildroot)s"` in `[test].extra_env_vars`, or '
            f"set {BUILD_ROOT_ENV}"
        )
    return root


def pants_installation() -> Path:
    """The Pants installation `./pants` set up for the repository under test."""
    value = os.environ.get(BOOTSTRAP_ENV)
    if not value or not list(Path(value).glob("ready-*")):
        skip_or_fail(
            f"no Pants installation in ${BOOTSTRAP_ENV} ({value or 'unset'}): run these tests "
            f"with `./pants test tests::`, which sets it up and passes it on"
        )
    return Path(str(value))


def repository_files(root: Path) -> List[str]:
    """The files of a checkout of `root`: tracked, plus untracked ones git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    names = (name.decode() for name in listing.stdout.split(b"\0") if name)
    # A tracked file deleted in the working tree is not part of the work being tested.
    return sorted(name for name in names if os.path.lexists(root / name))


@dataclass(frozen=True)
class Checkout:
    """A snapshot of the repository's files, and the Pants installation clones of it use."""

    files: Path
    bootstrap: Path

    @classmethod
    def snapshot(cls, source: Path, where: Path) -> "Checkout":
        for name in repository_files(source):
            if name.split("/", 1)[0] == OLD_BOOTSTRAP:
                continue  # Not a file of the checkout, even where git does not ignore it.
            target = where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target, follow_symlinks=False)
        return cls(where, pants_installation())


def ended_with_this_process(signal_number: int) -> Callable[[], None]:
    """A `preexec_fn` that has Linux send the child `signal_number` when its parent dies.

    The tests run Pants and servers in sessions of their own, so that a timeout can kill each
    with everything it started; when Pants cancels a test (a file changed) or it is killed,
    nothing would stop them otherwise.
    """

    def set_parent_death_signal() -> None:
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal_number)

    return set_parent_death_signal


def process_group_run(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> "subprocess.CompletedProcess[str]":
    """Run `argv`; on timeout, kill it with every process it started (its process group)."""
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Pants stops what it started on SIGINT (as on Ctrl-C); SIGTERM waits for its rules.
        preexec_fn=ended_with_this_process(signal.SIGINT),
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"{' '.join(argv)} did not finish in {timeout}s; the end of its output:\n"
                f"{stderr[-4000:]}"
            )
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def pants_environment(cache_home: Path, bootstrap: Path) -> Dict[str, str]:
    """The environment of a clone's Pants: what finds tools and interpreters, no Pants options.

    Options given by environment variables (PANTS_*) in the test's own environment are left out,
    so that a clone sees only its pants.toml and the options its runs pass. Whatever would default
    to the user's cache folder (~/.cache) goes to `cache_home` instead, but for the Pants
    installation `bootstrap`, which every clone shares.
    """
    kept = ("PATH", "HOME", "PYENV_ROOT", "LANG", "LC_ALL", "LC_CTYPE")
    env = {name: os.environ[name] for name in kept if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["XDG_CACHE_HOME"] = str(cache_home)
    env[BOOTSTRAP_ENV] = str(bootstrap)
    return env


@dataclass(frozen=True)
class ProcessRun:
    """One process a Pants run asked for, and where its result came from (`RAN`, `HIT_*`)."""

    description: str
    source: str
    cache_scope: str
    # Whether a local sandbox ran it, if only to race a remote cache lookup.
    started_locally: bool


@dataclass(frozen=True)
class PantsRun:
    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    processes: Tuple[ProcessRun, ...]
    counters: Mapping[str, int] = field(default_factory=dict)

    def cacheable(self) -> List[ProcessRun]:
        """The processes Pants may take from a cache: the build itself (`CACHED_SCOPES`)."""
        return [p for p in self.processes if p.cache_scope in CACHED_SCOPES]

    def matching(self, pattern: str) -> List[ProcessRun]:
        """The processes whose description matches the regular expression `pattern`."""
        return [p for p in self.processes if re.search(pattern, p.description)]

    def report(self) -> str:
        """What the run did, for assertion messages."""
        lines = [f"{p.source:12} {p.cache_scope:21} {p.description}" for p in self.processes]
        return f"`{' '.join(self.argv[-3:])}` asked for these processes:\n  " + "\n  ".join(lines)


def read_workunits(log_dir: Path) -> Tuple[ProcessRun, ...]:
    """The processes in the workunit log of one run (the only file in `log_dir`)."""
    logs = sorted(log_dir.glob("*.json"))
    assert len(logs) == 1, f"expected one workunit log in {log_dir}, found {logs}"
    workunits = json.loads(logs[0].read_text())
    # A process that a local sandbox executes has a `run_local_process` workunit, named as the
    # process is; its `process` workunit says where the result came from, and holds the process'
    # definition (argv, inputs, cache scope, ...).
    local = {w.get("description") for w in workunits if w["name"] == "run_local_process"}
    processes = []
    for workunit in workunits:
        if workunit["name"] != "process":
            continue
        metadata = workunit.get("metadata") or {}
        definition = json.loads(metadata.get("definition") or "{}")
        description = definition.get("description", workunit.get("description", ""))
        processes.append(
            ProcessRun(
                description,
                metadata.get("source", ""),
                definition.get("cache_scope", ""),
                description in local,
            )
        )
    return tuple(sorted(processes, key=lambda p: p.description))


def read_counters(stderr: str) -> Dict[str, int]:
    """The counters `--stats-log` logs at the end of a run ("Counters:" then "  name: value")."""
    _, found, after = stderr.rpartition("Counters:\n")
    if not found:
        return {}
    counters = {}
    for line in after.splitlines():
        match = re.fullmatch(r"  (\w+): (\d+)", line)
        if not match:
            break
        counters[match.group(1)] = int(match.group(2))
    return counters


class Clone:
    """A copy of a `Checkout` at `root`, whose Pants caches live under `caches` only."""

    def __init__(self, root: Path, caches: Path, bootstrap: Path) -> None:
        self.root = root
        self.caches = caches
        self.bootstrap = bootstrap
        self._runs = 0

    @classmethod
    def create(cls, checkout: Checkout, where: Path) -> "Clone":
        """Copy `checkout` to `where`/repo; `where`/caches starts empty."""
        root, caches = where / "repo", where / "caches"
        shutil.copytree(checkout.files, root, symlinks=True)
        caches.mkdir(parents=True)
        return cls(root, caches, checkout.bootstrap)

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def isolation_options(self) -> List[str]:
        """The options that give this clone caches of its own and no daemon."""
        return [
            "--no-pantsd",
            "--no-pantsrc",
            "--no-watch-filesystem",
            "--no-dynamic-ui",
            f"--local-store-dir={self.caches / 'lmdb_store'}",
            f"--named-caches-dir={self.caches / 'named_caches'}",
            f"--pants-workdir={self.root / '.pants.d'}",
        ]

    def pants(self, *args: str, options: Iterable[str] = (), check: bool = True) -> PantsRun:
        """Run `./pants <options> <args>` in the clone; fail with its output if it fails."""
        self._runs += 1
        log_dir = self.caches / "workunits" / f"run-{self._runs:02d}"
        log_dir.mkdir(parents=True)
        argv = (
            "./pants",
            *self.isolation_options(),
            "--backend-packages=+['pants.backend.experimental.tools.workunit_logger']",
            "--workunit-logger-enabled",
            f"--workunit-logger-logdir={log_dir}",
            "--streaming-workunits-level=debug",
            "--stats-log",
            *options,
            *args,
        )
        result = process_group_run(
            argv,
            cwd=self.root,
            env=pants_environment(self.caches / "xdg-cache", self.bootstrap),
            timeout=RUN_TIMEOUT_SECONDS,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(args)}` failed in {self.root} (exit code {result.returncode}):\n"
                f"{result.stderr[-6000:]}"
            )
        processes = read_workunits(log_dir) if result.returncode == 0 else ()
        return PantsRun(
            argv,
            result.returncode,
            result.stdout,
            result.stderr,
            processes,
            read_counters(result.stderr),
        )

    @contextlib.contextmanager
    def preserving(self, *names: str) -> Iterator[None]:
        """Put the files `names` back as they were on leaving (deleting those that were not)."""
        saved = {
            name: (self.root / name).read_bytes() for name in names if (self.root / name).exists()
        }
        try:
            yield
        finally:
            for name in names:
                path = self.root / name
                if name in saved:
                    path.write_bytes(saved[name])
                elif path.exists():
                    path.unlink()


def file_digests(folder: Path) -> Dict[str, str]:
    """relative path -> sha256 of every file under `folder` (symlinks: their target)."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            digests[relative] = "symlink:" + os.readlink(path)
        elif path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            digests[relative] = digest.hexdigest()
    return digests


def difference(left: Mapping[str, str], right: Mapping[str, str]) -> Optional[str]:
    """Which paths of two `file_digests` differ, for assertion messages; None when equal."""
    changed = sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))
    return None if not changed else "these files differ: " + ", ".join(changed[:20])


def index_digests(run: PantsRun) -> List[str]:
    """The `index digest sha256:...` lines `package` prints, one per image, in order."""
    return re.findall(r"index digest (sha256:[0-9a-f]{64})", run.stdout + run.stderr)


@dataclass(frozen=True)
class Build:
    """A clone, its first `package` run, and the digest of every file that run wrote to dist/."""

    clone: Clone
    run: PantsRun
    dist: Dict[str, str]


def cold_build(checkout: Checkout, folder: Path, options: Sequence[str] = ()) -> Build:
    """Clone `checkout` into `folder` and package the examples there, with empty caches."""
    clone = Clone.create(checkout, folder)
    run = clone.pants(*PACKAGE_EXAMPLES, options=options)
    return Build(clone, run, file_digests(clone.dist))
