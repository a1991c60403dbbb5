"""Fixtures for the SBOM tests: real Alpine packages, the images apk-tools made of them, validators.

The packages come from the shared test data: the APKINDEX of Alpine v3.16 main (x86_64) and v3.17
main (aarch64), with the package sets apk-tools 2.14 installed for a few worlds
(``expected-resolutions.json``), and the installed database of a real Alpine 3.18 image (aarch64).
An image's digest stands in as the SHA-256 of its packages' checksums: no image is built here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest
from apkoci.apk.index import Package, parse_index_text
from apkoci.sbom.facts import ImageFacts, parse_os_release
from apkoci.testing import shared_testdata

# /etc/os-release as Alpine's alpine-release package writes it.
ALPINE_OS_RELEASE = """\
NAME="Alpine Linux"
ID=alpine
VERSION_ID={version}
PRETTY_NAME="Alpine Linux v{branch}"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

# (index, world) of the cases apk-tools resolved; the first one is alpine-base.
RESOLVED_IMAGES = (
    ("v3.16-main-x86_64", ("alpine-base",)),
    ("v3.16-main-x86_64", ("build-base",)),
    ("v3.17-main-aarch64", ("git", "openssh")),
)


@functools.lru_cache(maxsize=None)
def _index(name: str) -> Dict[Tuple[str, str], Package]:
    path = shared_testdata("alpine", name, "APKINDEX.tar.gz")
    with tarfile.open(path) as archive:
        member = archive.extractfile("APKINDEX")
        assert member is not None
        text = member.read().decode("utf-8")
    return {
        (package.name, package.version): package
        for package in parse_index_text(text, f"{path}:APKINDEX")
    }


def index_packages(name: str) -> List[Package]:
    """Every package of a shared Alpine index (``v3.16-main-x86_64``...)."""
    return list(_index(name).values())


def resolved_packages(index: str, world: Sequence[str]) -> List[Package]:
    """The packages apk-tools installed for ``world`` from ``index``, in its install order."""
    cases = json.loads(shared_testdata("alpine", "expected-resolutions.json").read_text())["cases"]
    (case,) = [
        case for case in cases if case["index"] == index and tuple(case["world"]) == tuple(world)
    ]
    packages = _index(index)
    return [packages[(name, version)] for name, version in case["install"]]


def installed_db_packages() -> List[Package]:
    """The packages of a real Alpine 3.18 image, from its ``lib/apk/db/installed``."""
    path = shared_testdata("alpine", "installed-db", "alpine-aarch64-installed")
    return parse_index_text(path.read_text(encoding="utf-8"), str(path))


def alpine_os_release(alpine_base: Package) -> Dict[str, str]:
    """The os-release of an Alpine release, whose version is that of its alpine-base package."""
    version = alpine_base.version.rsplit("-r", 1)[0]
    branch = ".".join(version.split(".")[:2])
    return parse_os_release(ALPINE_OS_RELEASE.format(version=version, branch=branch))


def alpine_base(packages: Sequence[Package]) -> Package:
    (package,) = [package for package in packages if package.name == "alpine-base"]
    return package


def stand_in_digest(packages: Sequence[Package], arch: str) -> str:
    text = arch + "".join(sorted(package.checksum for package in packages))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def image_facts(packages: Sequence[Package], arch: str, release: Package, **changes) -> ImageFacts:
    """The facts of an image of ``packages``, built at a fixed time, named
    ``cgr.dev/apkoci/base:latest``,
    of the Alpine release of the alpine-base package ``release``."""
    values: Dict[str, Any] = dict(
        digest=stand_in_digest(packages, arch),
        arch=arch,
        packages=tuple(packages),
        created=1700000000,
        os_release=alpine_os_release(release),
        reference="cgr.dev/apkoci/base:latest",
    )
    values.update(changes)
    return ImageFacts(**values)


@pytest.fixture(
    params=[*RESOLVED_IMAGES, ("installed-db", ())],
    ids=lambda case: f"{case[0]}:{'+'.join(case[1])}",
)
def real_image(request) -> ImageFacts:
    """An image of real packages: each resolved case, and the real installed database."""
    index, world = request.param
    if index == "installed-db":
        packages = installed_db_packages()
        return image_facts(packages, "aarch64", alpine_base(packages))
    arch = index.rsplit("-", 1)[1]
    return image_facts(resolved_packages(index, world), arch, alpine_base(index_packages(index)))


def run_pyspdxtools(path: Path) -> subprocess.CompletedProcess:
    """``pyspdxtools -i path``: parses the document, prints every validation error, exits 1 if any.

    It runs as a module of this interpreter, with this process's import path, so that it is found
    in a virtualenv and in a Pants test sandbox alike.
    """
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(
        [sys.executable, "-m", "spdx_tools.spdx.clitools.pyspdxtools", "-i", str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


@pytest.fixture
def check_spdx(tmp_path: Path) -> Callable[[bytes, str], dict]:
    """``check_spdx(data, file_name)`` writes the document, asserts pyspdxtools finds it valid."""

    def check(data: bytes, file_name: str) -> dict:
        path = tmp_path / file_name
        path.write_bytes(data)
        result = run_pyspdxtools(path)
        assert (
            result.returncode == 0
        ), f"pyspdxtools rejects {file_name}:\n{result.stderr}{result.stdout}"
        assert "invalid" not in result.stderr.lower(), result.stderr
        return json.loads(data)

    return check


@pytest.fixture(scope="session")
def cyclonedx_1_5_errors() -> Callable[[bytes], List[str]]:
    """The errors of a document against the official CycloneDX 1.5 JSON schema (strict variant),
    as cyclonedx-python-lib ships it (with its SPDX and JSF schemas), checked by jsonschema offline.
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_5)

    def errors(data: bytes) -> List[str]:
        found = validator.validate_str(data.decode("utf-8"), all_errors=True)
        return [str(error) for error in found or ()]

    return errors
