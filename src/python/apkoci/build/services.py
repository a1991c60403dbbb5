"""The s6 supervision tree of an ``entrypoint`` of ``type: service-bundle``.

The image then runs ``/bin/s6-svscan /sv`` (the configuration loader sets that command and adds
the ``s6`` package); each service is a folder ``/sv/<name>`` holding a ``run`` script that execs
the service's command. As apko writes them (``pkg/s6``): ``/sv`` and each service folder 0777,
``run`` 0755 with ``#!/bin/execlineb``, the command, and a newline. Services are written in name
order (apko walks a Go map, in no fixed order; the tree is the same either way).
"""

from __future__ import annotations

from typing import List

from apkoci.build.errors import BuildError
from apkoci.config import Entrypoint
from apkoci.install.filetree import FileTree, FileTreeError

SUPERVISION_DIR = "sv"
SERVICE_DIR_MODE = 0o777
RUN_SCRIPT_MODE = 0o755


def run_script(command: str) -> bytes:
    """The ``run`` file of a service running ``command``."""
    return f"#!/bin/execlineb\n{command}\n".encode("utf-8")


def write_supervision_tree(tree: FileTree, entrypoint: Entrypoint) -> List[str]:
    """Write ``/sv/<name>/run`` for each service of ``entrypoint``; returns the run files."""
    written = []
    for name, command in sorted(entrypoint.services):
        if not name or "/" in name or name in (".", ".."):
            raise BuildError(
                f"entrypoint.services: {name!r} is not a service name (a plain folder name)"
            )
        folder = f"{SUPERVISION_DIR}/{name}"
        try:
            tree.mkdir(SUPERVISION_DIR, mode=SERVICE_DIR_MODE)
            tree.mkdir(folder, mode=SERVICE_DIR_MODE)
            tree.chmod(SUPERVISION_DIR, SERVICE_DIR_MODE)
            tree.chmod(folder, SERVICE_DIR_MODE)
            tree.write_file(f"{folder}/run", run_script(command), mode=RUN_SCRIPT_MODE)
        except FileTreeError as error:
            raise BuildError(f"cannot write the service {name!r}: {error}") from None
        written.append(f"{folder}/run")
    return written
