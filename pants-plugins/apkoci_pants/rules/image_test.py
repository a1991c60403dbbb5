"""The image step: how it hands the layer folders to the engine; a layered build end to end."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from apkoci_pants.rules import package_test
from apkoci_pants.rules.image import ImageRequest, _description, layer_folder_args
from apkoci_pants.rules.layer import BuiltLayer
from apkoci_pants.rules.package_test import (
    CONFIG,
    engine_step,
    layer_digests,
    layer_names,
    lock,
    package,
    write_image,
)
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST
from pants.testutil.rule_runner import RuleRunner


def test_each_arch_gets_its_package_folder_then_the_first_party_folders() -> None:
    args = layer_folder_args(
        [("x86_64", "layers/x86_64"), ("aarch64", "layers/aarch64")],
        ["layers/extra-0", "layers/extra-1"],
    )
    assert args == (
        "--arch",
        "x86_64=layers/x86_64,layers/extra-0,layers/extra-1",
        "--arch",
        "aarch64=layers/aarch64,layers/extra-0,layers/extra-1",
    )
    request = ImageRequest(
        address=Address("img"),
        image_config=EMPTY_DIGEST,
        arch_layers=(("x86_64", BuiltLayer(EMPTY_DIGEST)),),
        extra_layers=(BuiltLayer(EMPTY_DIGEST),),
        references=(),
        formats=("oci",),
        annotations=(),
    )
    assert _description(request) == (
        "Assembling the image img:img: 1 archs, their package layers and 1 first-party layer "
        "each (oci)"
    )


# The package pipeline's rule runner: this module's tests request the same rules.
rule_runner = package_test.rule_runner

LAYERING = "layering:\n  strategy: origin\n  budget: 3\n"


def test_a_layered_image_keeps_the_first_party_layers_on_top(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    rule_runner.write_files({"img/apko.yaml": CONFIG + LAYERING})
    lock(rule_runner)
    built = engine_step(lambda: package(rule_runner, Address("img")))
    rule_runner.write_digest(built.digest)
    output = Path(rule_runner.build_root) / "img" / "img"
    layers = layer_digests(output)
    for arch in ("amd64", "arm64"):
        # replayout replaces pretend-baselayout, so one package layer; then the top; then :static.
        package_layer, top, static = layers[arch]
        assert "lib/apk/db/installed" in layer_names(output, package_layer)
        assert "etc/apko.json" in layer_names(output, top)
        assert layer_names(output, static) == ["srv/img/static/index.html"]
    assert layers["amd64"][2] == layers["arm64"][2]
    blobs = output / "oci" / "blobs" / "sha256"
    with tarfile.open(blobs / layers["amd64"][1].split(":")[1]) as top_layer:
        record = json.load(top_layer.extractfile("etc/apko.json"))  # type: ignore[arg-type]
    assert record["layering"] == {"strategy": "origin", "budget": 3}
