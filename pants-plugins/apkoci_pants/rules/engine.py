"""Running the engine: its PEX, and one sandboxed process per build step.

The engine's own modules (the `apkoci` package) ship with this backend: they are read from the
plugin's import path, so the PEX is built from exactly the engine the backend was written for, with
the third-party libraries `[apkoci-engine]` locks. Every step runs `apkoci <step> ...` on digests
only; a failed step shows the engine's own message (it names the file or package and the fix).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

from apkoci_pants.subsystems import ApkociEngine, ApkoImageError
from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules import pex
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

ENGINE_PACKAGE = "apkoci"
ENGINE_MAIN = EntryPoint(ENGINE_PACKAGE + ".cli", "main")


def engine_source_files(package: str = ENGINE_PACKAGE) -> Tuple[FileContent, ...]:
    """Every module of the engine's package (`apkoci`) and its sub-packages, tests left out.

    Read through `importlib.resources`, so it works wherever the package is importable from (a
    source folder on `[GLOBAL].pythonpath`, or a wheel installed with the plugin). Only folders
    with an `__init__.py` are packages; caches and other folders beside them are not shipped.
    """
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as error:
        raise ApkoImageError(
            f"The apkoci engine (the `{package}` package) is not importable by Pants, so "
            "there is nothing to run the build steps with: add its source root to "
            '`[GLOBAL].pythonpath` in pants.toml, e.g. `"%(buildroot)s/src/python"`.'
        ) from error

    def walk(folder, prefix: str) -> Iterator[FileContent]:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                if entry.joinpath("__init__.py").is_file():
                    yield from walk(entry, f"{prefix}/{entry.name}")
            elif entry.name.endswith(".py") and not _is_test_module(entry.name):
                yield FileContent(f"{prefix}/{entry.name}", entry.read_bytes())

    return tuple(walk(root, package))


def _is_test_module(name: str) -> bool:
    return name.endswith("_test.py") or name == "conftest.py"


@dataclass(frozen=True)
class EnginePex:
    pex: VenvPex


@rule(desc="Building the apkoci engine", level=LogLevel.DEBUG)
async def build_engine_pex(engine: ApkociEngine) -> EnginePex:
    sources = await Get(Digest, CreateDigest(engine_source_files()))
    request = engine.to_pex_request(
        # The tool's own constraints, which its lockfile was made for; without them Pants would
        # take `[python].interpreter_constraints`, which are the repository's, not the engine's.
        interpreter_constraints=engine.interpreter_constraints,
        main=ENGINE_MAIN,
        sources=sources,
    )
    venv_pex = await Get(VenvPex, PexRequest, request)
    return EnginePex(venv_pex)


@dataclass(frozen=True)
class EngineProcess:
    """One engine step: `apkoci <argv...>` in a sandbox holding `input_digest`.

    Paths in `argv`, `output_files` and `output_directories` are relative to `working_directory`
    (the sandbox's root when None). Only the lock and fetch steps may use the network; they say so
    with `cache_scope` (`PER_SESSION` for a lock, which must see today's repositories).
    """

    argv: Tuple[str, ...]
    description: str
    input_digest: Digest
    output_files: Tuple[str, ...] = ()
    output_directories: Tuple[str, ...] = ()
    working_directory: Optional[str] = None
    cache_scope: ProcessCacheScope = ProcessCacheScope.SUCCESSFUL
    level: LogLevel = LogLevel.INFO


@dataclass(frozen=True)
class EngineResult:
    output_digest: Digest
    stdout: bytes


class EngineStepError(ApkoImageError):
    """An engine step failed; the message is the engine's, under what the step was doing."""


@rule
async def run_engine(request: EngineProcess, engine: EnginePex) -> EngineResult:
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            engine.pex,
            argv=request.argv,
            description=request.description,
            level=request.level,
            input_digest=request.input_digest,
            working_directory=request.working_directory,
            output_files=request.output_files,
            output_directories=request.output_directories,
            cache_scope=request.cache_scope,
        ),
    )
    if result.exit_code != 0:
        message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise EngineStepError(
            f"{request.description} failed (apkoci {request.argv[0]}, exit code "
            f"{result.exit_code}):\n{message}"
        )
    return EngineResult(result.output_digest, result.stdout)


def rules():
    return [*collect_rules(), *pex.rules()]
