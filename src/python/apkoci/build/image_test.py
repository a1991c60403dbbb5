from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.image import _history, archive_name, container_config, image_annotations
from apkoci.config import load_configuration


def _config(tmp_path: Path, text: str):
    path = tmp_path / "apko.yaml"
    path.write_text(textwrap.dedent(text))
    return load_configuration(path)


def test_container_config_follows_apko(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        entrypoint:
          command: /usr/bin/app --name "two words"
        cmd: serve --port 8080
        accounts:
          run-as: "65532"
        work-dir: /app
        stop-signal: SIGTERM
        volumes: [/data]
        environment:
          LANG: C.UTF-8
        """,
    )
    container = container_config(config, {"a": "b"})
    assert container.entrypoint == ("/usr/bin/app", "--name", "two words")
    assert container.cmd == ("serve", "--port", "8080")
    # A configuration that sets an environment gets exactly it (apkoci.config.image_environment).
    # apko's defaults join the configuration's own variables.
    assert container.env == (
        ("LANG", "C.UTF-8"),
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"),
        ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),
    )
    assert (container.user, container.working_dir, container.stop_signal) == (
        "65532",
        "/app",
        "SIGTERM",
    )
    assert (container.volumes, container.labels) == (("/data",), (("a", "b"),))


def test_shell_fragment_and_default_environment(tmp_path: Path) -> None:
    config = _config(tmp_path, "entrypoint:\n  shell-fragment: echo $HOME && exit 3\n")
    container = container_config(config, {})
    assert container.entrypoint == ("/bin/sh", "-c", "echo $HOME && exit 3")
    assert dict(container.env)["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    with pytest.raises(BuildError, match="cannot be split into words"):
        container_config(_config(tmp_path, 'cmd: "echo \\"unterminated"\n'), {})


def test_annotations_and_history(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        vcs-url: https://github.com/example/app@0123abc
        annotations:
          org.opencontainers.image.title: app
          org.opencontainers.image.vendor: Example
          keep: config
          override: config
        """,
    )
    annotations = image_annotations(config, {"override": "cli"}, 86400)
    assert annotations == {
        "org.opencontainers.image.title": "app",
        "org.opencontainers.image.vendor": "Example",
        "keep": "config",
        "override": "cli",
        "org.opencontainers.image.source": "https://github.com/example/app",
        "org.opencontainers.image.revision": "0123abc",
        "org.opencontainers.image.created": "1970-01-02T00:00:00Z",
    }
    assert _history(config, 1)[0].comment == "app by Example"
    plain = _config(tmp_path, "vcs-url: https://github.com/example/app\n")
    assert "org.opencontainers.image.source" not in image_annotations(plain, {}, 0)
    assert _history(plain, 1)[0].comment == "This is an apkoci single-layer image"
    assert _history(plain, 2)[1].comment == ""


def test_archive_name() -> None:
    assert archive_name(["cgr.dev/chainguard/static:latest", "x:1"]) == "static"
    assert archive_name([]) == "image"
