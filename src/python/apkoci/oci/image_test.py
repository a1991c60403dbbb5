from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from apkoci.errors import ApkociError
from apkoci.oci.image import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
    Blob,
    ContainerConfig,
    Descriptor,
    HistoryEntry,
    ImageError,
    Platform,
    build_config,
    build_image,
    build_index,
    build_manifest,
    canonical_json,
    platform_for_arch,
    rfc3339_utc,
)
from apkoci.oci.layer import Entry, write_layer

DIFF_A = "sha256:" + "a" * 64
DIFF_B = "sha256:" + "b" * 64


def test_canonical_json_is_one_byte_form() -> None:
    value = {"b": [1, "ü"], "a": {"z": True, "y": None}}
    assert canonical_json(value) == '{"a":{"y":null,"z":true},"b":[1,"ü"]}'.encode("utf-8")
    assert canonical_json(json.loads(canonical_json(value))) == canonical_json(value)
    with pytest.raises(ImageError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ImageError):
        canonical_json({"x": object()})


@pytest.mark.parametrize(
    "arch, expected",
    [
        ("x86_64", Platform("amd64")),
        ("amd64", Platform("amd64")),
        ("aarch64", Platform("arm64", variant="v8")),
        ("arm64", Platform("arm64", variant="v8")),
        ("armv7", Platform("arm", variant="v7")),
        ("armhf", Platform("arm", variant="v6")),
        ("x86", Platform("386")),
        ("ppc64le", Platform("ppc64le")),
        ("s390x", Platform("s390x")),
        ("riscv64", Platform("riscv64")),
        ("loongarch64", Platform("loong64")),
        ("loong64", Platform("loong64")),
        ("arm/v7", Platform("arm", variant="v7")),
    ],
)
def test_apko_arch_names_map_to_oci_platforms(arch: str, expected: Platform) -> None:
    assert platform_for_arch(arch) == expected


def test_unknown_arch_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ImageError, match="'mips' is not known; use one of .*aarch64"):
        platform_for_arch("mips")


def test_platform_json_and_name() -> None:
    assert platform_for_arch("aarch64").to_json() == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }
    assert platform_for_arch("x86_64").to_json() == {"architecture": "amd64", "os": "linux"}
    assert str(platform_for_arch("armv7")) == "linux/arm/v7"


def test_rfc3339_from_epoch() -> None:
    assert rfc3339_utc(0) == "1970-01-01T00:00:00Z"
    assert rfc3339_utc(1700000000) == "2023-11-14T22:13:20Z"
    with pytest.raises(ImageError):
        rfc3339_utc(-5)


def test_config_document() -> None:
    run = ContainerConfig(
        entrypoint=["/usr/bin/tini", "--"],  # type: ignore[arg-type]
        cmd=("/bin/sh",),
        env={"PATH": "/usr/sbin:/usr/bin", "LANG": "C.UTF-8"},  # type: ignore[arg-type]
        user="65532:65532",
        working_dir="/home/nonroot",
        stop_signal="SIGQUIT",
        volumes=("/data",),
        labels=(("org.opencontainers.image.source", "https://example.com/x"),),
    )
    blob = build_config(
        platform_for_arch("aarch64"), [DIFF_A, DIFF_B], created=1700000000, config=run, author="me"
    )
    assert blob.media_type == MEDIA_TYPE_CONFIG
    assert blob.digest == "sha256:" + hashlib.sha256(blob.data).hexdigest()
    assert blob.data == canonical_json(blob.json())
    assert blob.json() == {
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "author": "me",
        "created": "2023-11-14T22:13:20Z",
        "config": {
            "Entrypoint": ["/usr/bin/tini", "--"],
            "Cmd": ["/bin/sh"],
            "Env": ["LANG=C.UTF-8", "PATH=/usr/sbin:/usr/bin"],  # sorted by name
            "User": "65532:65532",
            "WorkingDir": "/home/nonroot",
            "StopSignal": "SIGQUIT",
            "Volumes": {"/data": {}},
            "Labels": {"org.opencontainers.image.source": "https://example.com/x"},
        },
        "rootfs": {"type": "layers", "diff_ids": [DIFF_A, DIFF_B]},
        "history": [
            {"created": "2023-11-14T22:13:20Z", "created_by": "apkoci", "comment": "layer 1 of 2"},
            {"created": "2023-11-14T22:13:20Z", "created_by": "apkoci", "comment": "layer 2 of 2"},
        ],
    }


def test_config_bytes_do_not_depend_on_input_order() -> None:
    # A mapping is accepted where pairs are expected.
    mapping = {"A": "1", "B": "2"}
    first = ContainerConfig(env=mapping, labels={"x": "1", "y": "2"})  # type: ignore[arg-type]
    second = ContainerConfig(env=(("B", "2"), ("A", "1")), labels=(("y", "2"), ("x", "1")))
    platform = platform_for_arch("x86_64")
    assert (
        build_config(platform, [DIFF_A], created=0, config=first).data
        == build_config(platform, [DIFF_A], created=0, config=second).data
    )


def test_empty_config_fields_are_left_out() -> None:
    blob = build_config(platform_for_arch("x86_64"), [DIFF_A], created=0)
    assert blob.json()["config"] == {}
    assert "variant" not in blob.json() and "author" not in blob.json()


def test_history_must_match_the_layers() -> None:
    history = [HistoryEntry(created_by="apk add"), HistoryEntry(comment="env", empty_layer=True)]
    blob = build_config(platform_for_arch("x86_64"), [DIFF_A], created=0, history=history)
    assert blob.json()["history"][1] == {
        "created": "1970-01-01T00:00:00Z",
        "comment": "env",
        "empty_layer": True,
    }
    with pytest.raises(
        ImageError, match="history has 1 lines with a layer but the image has 2 layers"
    ):
        build_config(platform_for_arch("x86_64"), [DIFF_A, DIFF_B], created=0, history=history)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: build_config(platform_for_arch("x86_64"), ["sha256:abc"], created=0),
            "not a digest",
        ),
        (lambda: ContainerConfig(env=(("A=B", "1"),)), "must not contain '='"),
        (lambda: ContainerConfig(volumes=("data",)), "absolute path"),
        (lambda: ContainerConfig(entrypoint="/bin/sh"), "list of strings"),  # type: ignore
        (lambda: ContainerConfig(env=(("A", "1"), ("A", "2"))), "given twice"),
        (lambda: Descriptor(MEDIA_TYPE_CONFIG, DIFF_A, -1), "size"),
    ],
)
def test_bad_values_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageError, match=message):
        make()
    assert issubclass(ImageError, ApkociError)


def test_manifest_and_index_documents(tmp_path: Path) -> None:
    layer = write_layer([Entry.directory("etc")], tmp_path / "layer.tar.gz", mtime=0)
    image = build_image(
        [layer],
        platform_for_arch("aarch64"),
        created=0,
        annotations={"org.opencontainers.image.title": "t"},
    )
    manifest = image.manifest.json()
    assert manifest == {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {
            "mediaType": MEDIA_TYPE_CONFIG,
            "digest": image.config.digest,
            "size": image.config.size,
        },
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
        "annotations": {"org.opencontainers.image.title": "t"},
    }
    assert image.config.json()["rootfs"]["diff_ids"] == [layer.diff_id]
    other = build_image([layer], platform_for_arch("x86_64"), created=0)
    index = build_index([other.descriptor(), image.descriptor()], annotations={"a": "b"})
    assert index.media_type == MEDIA_TYPE_INDEX
    assert index.json() == {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": other.manifest.digest,
                "size": other.manifest.size,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": image.manifest.digest,
                "size": image.manifest.size,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
        ],
        "annotations": {"a": "b"},
    }


def test_index_refuses_duplicate_or_missing_platforms() -> None:
    manifest = Blob(MEDIA_TYPE_MANIFEST, b"{}")
    amd64 = manifest.descriptor(platform=platform_for_arch("x86_64"))
    with pytest.raises(ImageError, match="two manifests for platform linux/amd64"):
        build_index([amd64, amd64])
    with pytest.raises(ImageError, match="has no platform"):
        build_index([manifest.descriptor()])
    with pytest.raises(ImageError, match="at least one manifest"):
        build_index([])


def test_manifest_refuses_a_non_config_blob() -> None:
    with pytest.raises(ImageError, match="media type"):
        build_manifest(Blob(MEDIA_TYPE_MANIFEST, b"{}"), [])


def test_descriptor_annotations_merge_sorted() -> None:
    descriptor = Descriptor(MEDIA_TYPE_CONFIG, DIFF_A, 3, annotations=(("b", "2"),))
    merged = descriptor.with_annotations({"a": "1"})
    assert merged.annotations == (("a", "1"), ("b", "2"))
    assert merged.to_json()["annotations"] == {"a": "1", "b": "2"}
