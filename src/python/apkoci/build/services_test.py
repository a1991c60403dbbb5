from __future__ import annotations

from pathlib import Path

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.services import write_supervision_tree
from apkoci.config import Entrypoint
from apkoci.install.filetree import FileTree


def test_each_service_gets_a_run_script(tmp_path: Path) -> None:
    entrypoint = Entrypoint(
        type="service-bundle",
        services=(("nginx", "/usr/sbin/nginx -g 'daemon off;'"), ("cron", "crond -f")),
    )
    with FileTree(tmp_path) as tree:
        assert write_supervision_tree(tree, entrypoint) == ["sv/cron/run", "sv/nginx/run"]
        assert (
            tree.read_bytes("sv/nginx/run")
            == b"#!/bin/execlineb\n/usr/sbin/nginx -g 'daemon off;'\n"
        )
        assert (tree.node("sv").mode, tree.node("sv/cron").mode) == (0o777, 0o777)
        assert tree.node("sv/cron/run").mode == 0o755
        assert write_supervision_tree(tree, Entrypoint(command="/bin/sh")) == []
        with pytest.raises(BuildError, match="not a service name"):
            write_supervision_tree(
                tree, Entrypoint(type="service-bundle", services=(("a/b", "x"),))
            )
