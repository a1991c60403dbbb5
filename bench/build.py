"""Benchmark: the layer step of an image build on a large synthetic package set.

What is timed is the process the Pants backend runs for a package layer, as it runs it: a fresh
``python -m apkoci layer`` that checks the locked ``.apk`` files, installs them into a file tree
(inflating every data tar into the staging folder, one spool file per package, in a helper process
that runs ahead of the install; checking each file's SHA-1), writes the apk database and the
build's file-tree steps, and writes the tree as one layer blob, with gzip and then with zstd. The
cpu figures count the helper too (the launcher's rusage holds the children a step waited for).
Beside it, measured in the same run on the same machine:

- ``tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c tree | gzip -n`` on the
  same files unpacked (all packages in one folder): the usual way to a reproducible layer;
- ``tar ... | zstd -T2`` when ``zstd`` is installed;
- ``python -m apkoci dir-layer`` of that unpacked folder: the layer writer alone, on exactly the
  input of the tar pipelines (no packages to unpack).

The goals (from the issue): the layer step with gzip no slower than the gzip pipeline, with zstd at
most half the gzip pipeline's time, and a peak memory under 200 MiB whatever the image size. The
layer step does more than the pipeline: it also has to unpack the packages before it can write
the layer, which the dir-layer rows leave out.

The package set is seeded pseudo-random data, the same bytes on every run and machine: 20 packages
(made with :func:`apkoci.apk.writer.build_package`, what ``apkoci package`` does, in a repository
with an unsigned index, locked with ``apkoci lock --allow-untrusted``) with folders up to seven
levels deep, executables, shared libraries with their ``.so`` symlinks and a hard link
per package. Content is a mix of text (words drawn from a made-up vocabulary, which deflate
shrinks about 3x) and binary-like data (random bytes broken by runs and repeats, about 1.7x), so
compression does real work. It is made once into ``--workdir`` and reused by later runs with the
same ``--size-mib``/``--files``/``--seed``.

Run it by hand: ``python bench/build.py`` (from the repository root, with the engine's
dependencies installed, or ``PYTHONPATH=src/python``). ``--runs N`` sets the repetitions,
``--size-mib`` and ``--files`` the size of the package set, ``--workdir DIR`` keeps it for later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

PACKAGES = 20
ARCH = "x86_64"
VERSION = "1.0-r0"
# Bump when the generator changes, so that package sets made by an older one are not reused.
GENERATOR_VERSION = 3
READY_FILE = "READY.json"

GOAL_PEAK_MIB = 200.0
LAYER_FILES = {"gzip": "layer.tar.gz", "zstd": "layer.tar.zst"}


# --------------------------------------------------------------------------------------------------
# The synthetic package set.


@dataclass(frozen=True)
class DataSetSpec:
    """What a package set is made from; its name keys the cache."""

    size_mib: float
    files: int
    seed: int

    @property
    def name(self) -> str:
        return f"synthetic-v{GENERATOR_VERSION}-{self.size_mib:g}MiB-{self.files}files-s{self.seed}"


@dataclass(frozen=True)
class DataSet:
    """A made package set, laid out as a build would find it, and the same files unpacked."""

    root: Path
    stats: Dict[str, int]

    @property
    def sources(self) -> Path:
        """One folder per package: what the packages are made from."""
        return self.root / "sources"

    @property
    def packages_dir(self) -> Path:
        """The repository's folder for the architecture: the ``.apk`` files and the index."""
        return self.root / "repository" / ARCH

    @property
    def keyring_dir(self) -> Path:
        """An empty keyring: the index is not signed (see _make_repository)."""
        return self.root / "keys"

    @property
    def config(self) -> Path:
        return self.root / "apko.yaml"

    @property
    def lockfile(self) -> Path:
        return self.root / "apko.lock.json"

    @property
    def filetree(self) -> Path:
        """``apkoci split-config``'s description of the file tree: the layer step's input."""
        return self.root / "split" / "filetree.json"

    @property
    def unpacked(self) -> Path:
        """Every package's files in one folder: what the reference pipelines tar."""
        return self.root / "unpacked"


@dataclass(frozen=True)
class _PlannedFile:
    package: str
    path: str
    size: int
    binary: bool
    mode: int


def _rng(spec: DataSetSpec, *labels: object) -> random.Random:
    # A string seed is hashed (SHA-512) by random, so each label gets its own stream, the same on
    # every run.
    return random.Random(":".join(str(part) for part in (spec.seed, *labels)))


Vocabulary = Tuple[List[str], List[float]]


def _vocabulary(rng: random.Random) -> Vocabulary:
    """Made-up words with Zipf-like cumulative weights; some end a line or a clause."""
    letters = "etaoinshrdlucmfwypvbgkjqxz_"
    words = []
    for index in range(4000):
        word = "".join(rng.choices(letters, k=rng.randint(1, 11)))
        words.append(word + ("\n" if index % 9 == 4 else ", " if index % 13 == 7 else " "))
    cumulative = []
    total = 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 1)
        cumulative.append(total)
    return words, cumulative


def _text(rng: random.Random, size: int, vocabulary: Vocabulary) -> bytes:
    words, cumulative = vocabulary
    pieces: List[str] = []
    length = 0
    while length < size:  # words average about 6.5 bytes: draw many at once, cut to size
        batch = "".join(rng.choices(words, cum_weights=cumulative, k=max(16, (size - length) // 4)))
        pieces.append(batch)
        length += len(batch)
    return "".join(pieces).encode("ascii")[:size]


def _binary(rng: random.Random, size: int) -> bytes:
    """Machine-code-like bytes: random stretches, runs of one byte, repeats of recent bytes."""
    data = bytearray()
    while len(data) < size:
        choice = rng.random()
        if choice < 0.25 or len(data) < 64:
            data += rng.randbytes(rng.randint(16, 256))
        elif choice < 0.5:
            data += bytes((rng.choice((0, 0, 0, 0xFF, 0x90)),)) * rng.randint(4, 64)
        else:
            length = rng.randint(8, 64)
            start = len(data) - rng.randint(length, min(len(data), 4096))
            data += data[start : start + length]
    return bytes(data[:size])


def _package_names() -> List[str]:
    return [f"synth-{index:02d}" for index in range(PACKAGES)]


def _subdirs(rng: random.Random) -> str:
    return "".join(f"d{rng.randrange(6)}/" for _ in range(rng.randint(0, 4)))


def _plan(spec: DataSetSpec) -> List[_PlannedFile]:
    """Every regular file: which package ships it, where, how big, text or binary.

    Sizes follow a log-normal distribution (many small files, a few of several MiB), scaled so that
    they add up to ``size_mib``; packages get unequal shares of the files.
    """
    rng = _rng(spec, "plan")
    names = _package_names()
    shares = [1.0 / (rank + 1) ** 0.7 for rank in range(len(names))]
    rng.shuffle(shares)
    raw_sizes = [rng.lognormvariate(0.0, 1.6) for _ in range(spec.files)]
    scale = spec.size_mib * (1 << 20) / sum(raw_sizes)
    extensions = ("txt", "py", "h", "conf", "html", "json", "md")
    planned = []
    for index, raw_size in enumerate(raw_sizes):
        package = rng.choices(names, weights=shares)[0]
        binary = rng.random() < 0.45
        mode = 0o644
        if binary:
            place = rng.random()
            if place < 0.2:
                path, mode = f"usr/bin/{package}-{index}", 0o755
            elif place < 0.5:
                path, mode = f"usr/lib/lib{package}-{index}.so.1.{index % 7}", 0o755
            else:
                path = f"usr/lib/{package}/{_subdirs(rng)}{package}-{index}.bin"
        else:
            areas = (
                f"usr/share/{package}",
                f"usr/lib/{package}",
                f"usr/share/doc/{package}",
                f"etc/{package}",
            )
            area = rng.choices(areas, weights=(5, 4, 1, 0.3))[0]
            path = f"{area}/{_subdirs(rng)}f{index}.{rng.choice(extensions)}"
        planned.append(_PlannedFile(package, path, max(1, round(raw_size * scale)), binary, mode))
    return planned


def generate(spec: DataSetSpec, workdir: Path, env: Dict[str, str]) -> DataSet:
    """The package set for ``spec`` under ``workdir``, made now unless a complete one is there."""
    root = workdir / spec.name
    ready = root / READY_FILE
    if ready.exists():
        return DataSet(root, json.loads(ready.read_text()))
    if root.exists():
        shutil.rmtree(root)  # what an interrupted run left
    started = time.perf_counter()
    print(f"making {spec.name} in {workdir} (once; later runs reuse it) ...", flush=True)
    stats = {"files": 0, "bytes": 0, "text_bytes": 0, "binary_bytes": 0, "symlinks": 0}
    dataset = DataSet(root, stats)
    _write_sources(spec, dataset, stats)
    _make_repository(dataset)
    _run_apkoci(
        ["lock", str(dataset.config), "--output", str(dataset.lockfile), "--allow-untrusted"], env
    )
    _run_apkoci(
        ["split-config", str(dataset.config), "--output", str(dataset.filetree.parent)], env
    )
    stats["directories"] = _merge_trees(dataset.sources, _package_names(), dataset.unpacked)
    stats["hardlinks"] = PACKAGES
    stats["apk_bytes"] = sum(path.stat().st_size for path in dataset.packages_dir.glob("*.apk"))
    stats["seconds"] = round(time.perf_counter() - started)
    ready.write_text(json.dumps(stats, indent=2))
    return dataset


def _write_sources(spec: DataSetSpec, dataset: DataSet, stats: Dict[str, int]) -> None:
    vocabulary = _vocabulary(_rng(spec, "vocabulary"))
    for number, planned in enumerate(_plan(spec)):
        target = dataset.sources / planned.package / planned.path
        target.parent.mkdir(parents=True, exist_ok=True)
        rng = _rng(spec, "content", number)
        if planned.binary:
            target.write_bytes(_binary(rng, planned.size))
        else:
            target.write_bytes(_text(rng, planned.size, vocabulary))
        os.chmod(target, planned.mode)
        stats["files"] += 1
        stats["bytes"] += planned.size
        stats["binary_bytes" if planned.binary else "text_bytes"] += planned.size
        if ".so.1." in target.name:  # a shared library: its soname and development symlinks
            for link in (target.name.rsplit(".", 1)[0], target.name.split(".so.")[0] + ".so"):
                os.symlink(target.name, target.parent / link)
                stats["symlinks"] += 1
    for package in _package_names():
        tree = dataset.sources / package
        # Every package ships its own data folder, a command symlink to it and a hard-linked alias.
        data_dir = tree / "usr" / "share" / package
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "VERSION").write_text(f"{package} {VERSION}\n")
        (tree / "usr" / "bin").mkdir(parents=True, exist_ok=True)
        os.symlink(f"../share/{package}", tree / "usr" / "bin" / f"{package}-data")
        os.link(data_dir / "VERSION", data_dir / "RELEASE")
        stats["symlinks"] += 1


def _make_repository(dataset: DataSet) -> None:
    """The packages, their index, and an apko.yaml installing them all."""
    from apkoci.apk.writer import PackageSpec, build_index, build_package

    dataset.packages_dir.mkdir(parents=True)
    apks = []
    for package in _package_names():
        spec = PackageSpec(
            name=package,
            version=VERSION,
            arch=ARCH,
            description=f"synthetic package {package} (apkoci benchmark)",
            license="MIT",
        )
        apks.append(dataset.packages_dir / f"{package}-{VERSION}.apk")
        build_package(dataset.sources / package, spec, apks[-1])
    # Unsigned, so that nothing in the set is random: a key cannot be made from a seed. The lock is
    # made with --allow-untrusted; the layer step checks each package against the lock anyway.
    build_index(apks, dataset.packages_dir / "APKINDEX.tar.gz")
    dataset.keyring_dir.mkdir()
    packages = "".join(f"    - {package}\n" for package in _package_names())
    dataset.config.write_text(
        "contents:\n"
        "  repositories:\n"
        f"    - ./{dataset.packages_dir.parent.name}\n"
        f"  packages:\n{packages}"
        f"archs:\n  - {ARCH}\n"
    )


def _run_apkoci(arguments: Sequence[str], env: Dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "apkoci", *arguments], env=env, check=True, stdout=subprocess.DEVNULL
    )


def _merge_trees(sources: Path, packages: Sequence[str], merged: Path) -> int:
    """Lay every package's tree into ``merged``: files hard-linked (the same bytes, no copy),
    symlinks made again, folders made. Returns how many folders the union has."""
    merged.mkdir(parents=True)
    directories = set()
    for package in packages:
        tree = sources / package
        for directory, subdirs, files in os.walk(tree):
            relative = Path(directory).relative_to(tree)
            for name in subdirs + files:
                source = Path(directory) / name
                destination = merged / relative / name
                if source.is_symlink():
                    os.symlink(os.readlink(source), destination)
                elif source.is_dir():
                    destination.mkdir(exist_ok=True)
                    directories.add(str(relative / name))
                else:
                    os.link(source, destination)
    return len(directories)


# --------------------------------------------------------------------------------------------------
# Measuring one step in a fresh process.


@dataclass(frozen=True)
class Measurement:
    """One run of one step: wall and CPU seconds (user + system), peak RSS, output size."""

    wall: float
    cpu: float
    peak_mib: float
    output_bytes: int


# Peak RSS comes from the rusage of the measured process, but a process forked from a big one
# starts with the forking process's memory as its high-water mark (Linux keeps it across exec). So
# each step is started by this small launcher, a bare interpreter, which forks the step, waits for
# it with wait4 and writes wall time, CPU time and peak RSS (KiB) into the file named by its first
# argument. Linux folds into a process's rusage the children it waited for, so a shell pipeline's
# peak is that of its biggest member. What the launcher's own fork weighs is measured in the same
# run (the "floor" printed with the figures).
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write("%r %r %d" % (time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
                               usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure_with_rusage(argv: Sequence[str], env: Dict[str, str], output: Path) -> Measurement:
    """Runs a command to completion in a fresh process; measures it and the size of ``output``."""
    if output.exists():
        output.unlink()
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as usage:
        completed = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, usage.name, *argv],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if completed.returncode != 0:
            raise SystemExit(f"{shlex.join(argv)} failed with exit code {completed.returncode}")
        wall, cpu, peak_kib = usage.read().split()
    return Measurement(
        wall=float(wall),
        cpu=float(cpu),
        peak_mib=int(peak_kib) / 1024,
        output_bytes=output.stat().st_size if output.exists() else 0,
    )


@dataclass(frozen=True)
class Step:
    """A measured command and the file it writes."""

    label: str
    argv: Tuple[str, ...]
    output: Path


def reference_step(label: str, tree: Path, compressor: str, output: Path) -> Step:
    tar = "tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c -C {} .".format(
        shlex.quote(str(tree))
    )
    command = f"{tar} | {compressor} > {shlex.quote(str(output))}"
    return Step(label, ("sh", "-c", command), output)


def layer_step(python: str, dataset: DataSet, compression: str, out: Path) -> Step:
    """``apkoci layer``: the package layer step, as the Pants backend runs it."""
    output_dir = out / f"layer-{compression}"
    argv = (
        python, "-m", "apkoci", "layer",
        "--filetree", str(dataset.filetree),
        "--lockfile", str(dataset.lockfile),
        "--arch", ARCH,
        "--packages", str(dataset.packages_dir),
        "--keyring-dir", str(dataset.keyring_dir),
        "--output", str(output_dir),
        "--compression", compression,
        "--source-date-epoch", "0",
    )  # fmt: skip
    return Step(f"apkoci layer, {compression}", argv, output_dir / LAYER_FILES[compression])


def dir_layer_step(python: str, dataset: DataSet, compression: str, out: Path) -> Step:
    """``apkoci dir-layer`` of the unpacked tree: the layer writer on the pipelines' input."""
    output_dir = out / f"dir-layer-{compression}"
    argv = (
        python, "-m", "apkoci", "dir-layer",
        "--dir", str(dataset.unpacked),
        "--prefix", "/",
        "--output", str(output_dir),
        "--compression", compression,
        "--source-date-epoch", "0",
    )  # fmt: skip
    return Step(f"apkoci dir-layer, {compression}", argv, output_dir / LAYER_FILES[compression])


# --------------------------------------------------------------------------------------------------
# Checking what apkoci wrote against the unpacked tree.


def check_layer(blob: Path, compression: str, unpacked: Path) -> int:
    """Compare a layer with the unpacked tree: every path of the tree is in the layer with the same
    kind, mode and content or target. Returns the number of layer members; SystemExit otherwise.

    The package layer also holds the apk database and the folders of a fresh root, not compared.
    """
    found: Dict[str, Tuple[str, int, str]] = {}
    with _open_blob(blob, compression) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name.rstrip("/")
            content = tar.extractfile(member) if member.isreg() else None
            if content is not None:
                found[name] = ("file", member.mode, _sha1_of(content))
            elif member.islnk():
                found[name] = found[member.linkname]
            elif member.issym():
                found[name] = ("symlink", 0, member.linkname)
            else:
                found[name] = ("dir" if member.isdir() else "other", member.mode, "")
    problems = [
        f"{path}: the layer has {found.get(path)}, the tree {want}"
        for path, want in _tree_members(unpacked)
        if found.get(path) != want
    ]
    if problems:
        raise SystemExit(f"{blob} does not hold the tree: " + "; ".join(problems[:5]))
    return len(found)


def _open_blob(blob: Path, compression: str) -> IO[bytes]:
    if compression == "gzip":
        import gzip

        return gzip.open(blob, "rb")  # type: ignore[return-value]
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(open(blob, "rb"), closefd=True)


def _sha1_of(stream: IO[bytes]) -> str:
    hasher = hashlib.sha1()
    chunk = stream.read(1 << 20)
    while chunk:
        hasher.update(chunk)
        chunk = stream.read(1 << 20)
    return hasher.hexdigest()


def _tree_members(tree: Path) -> Iterator[Tuple[str, Tuple[str, int, str]]]:
    for directory, subdirs, files in os.walk(tree):
        for name in subdirs + files:
            path = Path(directory) / name
            relative = str(path.relative_to(tree))
            mode = os.lstat(path).st_mode & 0o7777
            if path.is_symlink():
                yield relative, ("symlink", 0, os.readlink(path))
            elif path.is_dir():
                yield relative, ("dir", mode, "")
            else:
                with open(path, "rb") as file:
                    yield relative, ("file", mode, _sha1_of(file))


# --------------------------------------------------------------------------------------------------
# The report.


def _median(runs: Sequence[Measurement], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def _peak(runs: Sequence[Measurement]) -> float:
    return max(run.peak_mib for run in runs)


def print_table(results: Dict[str, List[Measurement]]) -> None:
    print(f"{'':<34} {'wall s':>7} {'(min)':>7} {'cpu s':>7} {'peak RSS':>10} {'output':>10}")
    for label, runs in results.items():
        print(
            f"{label:<34} {_median(runs, 'wall'):7.2f} {min(run.wall for run in runs):7.2f} "
            f"{_median(runs, 'cpu'):7.2f} {_peak(runs):6.1f} MiB "
            f"{runs[0].output_bytes / (1 << 20):6.1f} MiB"
        )


REFERENCE_GZIP = "reference: tar | gzip -n"
REFERENCE_ZSTD = "reference: tar | zstd -T2"


def _ratios(results: Dict[str, List[Measurement]], step: str, field: str, base: float) -> str:
    return ", ".join(
        f"{compression} {_median(results[f'apkoci {step}, {compression}'], field) / base:.2f}x"
        for compression in LAYER_FILES
    )


def print_goals(results: Dict[str, List[Measurement]]) -> Dict[str, bool]:
    """The issue's goals for the layer step, met or not, with the figures they compare."""
    reference = _median(results[REFERENCE_GZIP], "wall")
    gzip_ratio = _median(results["apkoci layer, gzip"], "wall") / reference
    zstd_ratio = _median(results["apkoci layer, zstd"], "wall") / reference
    peak = max(_peak(runs) for label, runs in results.items() if label.startswith("apkoci"))
    goals = {
        "layer, gzip: no slower than tar | gzip -n": (gzip_ratio <= 1, f"{gzip_ratio:.2f}x"),
        "layer, zstd: at most half of tar | gzip -n": (zstd_ratio <= 0.5, f"{zstd_ratio:.2f}x"),
        f"peak RSS under {GOAL_PEAK_MIB:g} MiB": (peak < GOAL_PEAK_MIB, f"{peak:.1f} MiB"),
    }
    for goal, (met, figure) in goals.items():
        print(f"goal: {goal:<44} {'met' if met else 'MISSED'} ({figure})")
    # The same comparisons for the layer writer alone, and by CPU time, which a busy machine
    # stretches far less than wall time.
    reference_cpu = _median(results[REFERENCE_GZIP], "cpu")
    for step in ("layer", "dir-layer"):
        wall = _ratios(results, step, "wall", reference)
        cpu = _ratios(results, step, "cpu", reference_cpu)
        print(f"  apkoci {step + ':':<10} wall {wall}; cpu {cpu} (of tar | gzip -n)")
    return {goal: met for goal, (met, _) in goals.items()}


@dataclass(frozen=True)
class BenchmarkResult:
    """What a run found, for the smoke test: the figures are for people to read."""

    stats: Dict[str, int]  # what the package set holds
    results: Dict[str, List[Measurement]]  # per step, one measurement per run
    goals: Dict[str, bool]  # met or not
    layers: Dict[str, Dict[str, Any]]  # per apkoci step, the layer.json it wrote
    members: Dict[str, int]  # per compression, how many members the checked package layer has


def main(argv: Optional[Sequence[str]] = None) -> BenchmarkResult:
    """Prints the figures; returns them, the goals and the layers' descriptions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=float, default=300)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="where the package set is kept between runs")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run apkoci")
    args = parser.parse_args(argv)
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="apkoci-bench-") as workdir:
            return run_benchmark(args, Path(workdir))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return run_benchmark(args, args.workdir.resolve())


def run_benchmark(args: argparse.Namespace, workdir: Path) -> BenchmarkResult:
    for tool in ("sh", "tar", "gzip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"the reference pipeline needs `{tool}`: install it")
    # The child processes import the engine from wherever this interpreter finds it.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    dataset = generate(DataSetSpec(args.size_mib, args.files, args.seed), workdir, env)
    stats = dataset.stats
    mib = 1 << 20
    print(
        f"python: {args.python} ({sys.version.split()[0]} runs this script); runs: {args.runs}; "
        f"cpus: {os.cpu_count()}\n"
        f"package set: {dataset.root}\n  {PACKAGES} packages ({stats['apk_bytes'] / mib:.1f} MiB "
        f"of .apk) holding {stats['files']} files of {stats['bytes'] / mib:.1f} MiB "
        f"({stats['text_bytes'] / mib:.1f} MiB text, {stats['binary_bytes'] / mib:.1f} MiB "
        f"binary-like), {stats['symlinks']} symlinks, {stats['hardlinks']} hard links, "
        f"{stats['directories']} folders"
    )
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    steps = [reference_step(REFERENCE_GZIP, dataset.unpacked, "gzip -n", out / "ref.tar.gz")]
    if shutil.which("zstd"):
        steps.append(
            reference_step(REFERENCE_ZSTD, dataset.unpacked, "zstd -q -T2", out / "ref.tar.zst")
        )
    for compression in LAYER_FILES:
        steps.append(layer_step(args.python, dataset, compression, out))
    for compression in LAYER_FILES:
        steps.append(dir_layer_step(args.python, dataset, compression, out))
    results: Dict[str, List[Measurement]] = {step.label: [] for step in steps}
    load_before = os.getloadavg()[0]
    # Interleaved, so that a machine getting busier or quieter affects every step alike.
    for _ in range(args.runs):
        for step in steps:
            results[step.label].append(measure_with_rusage(step.argv, env, step.output))
    floor = measure_with_rusage(("true",), env, out / "none")
    print(
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the "
        "machine stretches wall times; cpu s, user + system of the step, much less)\n"
        f"peak RSS floor (the launcher's fork running `true`): {floor.peak_mib:.1f} MiB"
    )
    print_table(results)
    goals = print_goals(results)
    layers = {
        step.label: json.loads((step.output.parent / "layer.json").read_text())
        for step in steps
        if step.label.startswith("apkoci")
    }
    members = {
        compression: check_layer(
            out / f"layer-{compression}" / LAYER_FILES[compression], compression, dataset.unpacked
        )
        for compression in LAYER_FILES
    }
    print(f"check: both package layers hold the unpacked tree ({members['gzip']} members)")
    return BenchmarkResult(stats, results, goals, layers, members)


if __name__ == "__main__":
    main()
