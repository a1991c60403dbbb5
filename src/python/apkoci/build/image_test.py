from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional

import pytest
from apkoci.build.errors import BuildError
from apkoci.build.image import (
    ArchLayers,
    _history,
    archive_name,
    container_config,
    image_annotations,
)
from apkoci.build.layerinfo import BlobInfo, LayerInfo, layer_file_name, write_layer_info
from apkoci.config import find_arch, load_configuration
from apkoci.oci.layer import Entry, write_layer


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


def test_an_arch_gets_every_blob_of_its_folders_in_order(tmp_path: Path) -> None:
    def folder(name: str, count: int, arch: Optional[str]) -> Path:
        out = tmp_path / name
        out.mkdir()
        layers = [
            write_layer(
                [Entry.file(f"{name}-{index}", data=name.encode())],
                out / layer_file_name("none", index if count > 1 else None),
                compression="none",
                mtime=index,
            )
            for index in range(count)
        ]
        write_layer_info(LayerInfo.of([BlobInfo.of(layer) for layer in layers], 3, arch), out)
        return out

    packages, app = folder("packages", 3, "x86_64"), folder("app", 1, None)
    arch = ArchLayers.read(find_arch("x86_64"), [packages, app])  # type: ignore[arg-type]
    assert [layer.path.relative_to(tmp_path).as_posix() for layer in arch.blobs] == [
        "packages/layer-0.tar",
        "packages/layer-1.tar",
        "packages/layer-2.tar",
        "app/layer.tar",
    ]
    with pytest.raises(BuildError, match="packages was built for x86_64, not for aarch64"):
        ArchLayers.read(find_arch("aarch64"), [packages])  # type: ignore[arg-type]
