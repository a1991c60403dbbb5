"""The image step: layers and `image.json` in, an OCI layout, docker archives and SBOMs out.

Each arch gets its package layer folder, then the first-party layer folders on top, in the order
of `layers=`/`dependencies`. A folder may hold several blobs (a package layer built with
`layering`); the engine puts every blob of every folder into the image, in that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from apkoci_pants.rules.engine import EngineProcess, EngineResult
from apkoci_pants.rules.layer import IMAGE_CONFIG, BuiltLayer
from pants.engine.addresses import Address
from pants.engine.fs import (
    AddPrefix,
    Digest,
    DigestContents,
    DigestSubset,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule

_IMAGE_OUTPUT = "image"
# The engine's summary of what it wrote (digests of the index and of each arch's manifest).
SUMMARY = "image.json"


@dataclass(frozen=True)
class ImageRequest:
    address: Address
    image_config: Digest
    arch_layers: Tuple[Tuple[str, BuiltLayer], ...]
    extra_layers: Tuple[BuiltLayer, ...]
    references: Tuple[str, ...]
    formats: Tuple[str, ...]
    annotations: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class BuiltImage:
    """What the image step wrote, at the root of `digest`; `index_digest` if the summary has it."""

    digest: Digest
    index_digest: Optional[str]


def _index_digest(summary: bytes) -> Optional[str]:
    """The image index's digest, from the engine's summary: `{"index": {"digest": ...}, ...}`."""
    index = json.loads(summary).get("index") or {}
    return index.get("digest")


def _description(request: ImageRequest) -> str:
    # The package layer folder of an arch may hold several layers (`layering`): count folders.
    extra = len(request.extra_layers)
    first_party = f" and {extra} first-party layer{'s' * (extra != 1)}" if extra else ""
    formats = ", ".join(request.formats) or "default formats"
    return (
        f"Assembling the image {request.address}: {len(request.arch_layers)} archs, their "
        f"package layers{first_party} each ({formats})"
    )


def layer_folder_args(
    arch_folders: Sequence[Tuple[str, str]], extra_folders: Sequence[str]
) -> Tuple[str, ...]:
    """`--arch ARCH=FOLDER,EXTRA...` per arch: its package layer folder, then the first-party
    folders on top (the engine reads every blob each folder's `layer.json` lists)."""
    return tuple(
        arg
        for arch, folder in arch_folders
        for arg in ("--arch", f"{arch}={','.join([folder, *extra_folders])}")
    )


@rule(desc="Assembling an apko image")
async def build_image(request: ImageRequest) -> BuiltImage:
    # Each layer in a folder of its own; the extra layers, the same on every arch, once.
    arch_folders = [f"layers/{arch}" for arch, _ in request.arch_layers]
    extra_folders = [f"layers/extra-{index}" for index in range(len(request.extra_layers))]
    placed = await MultiGet(
        Get(Digest, AddPrefix(layer.digest, folder))
        for folder, layer in zip(
            [*arch_folders, *extra_folders],
            [*(layer for _, layer in request.arch_layers), *request.extra_layers],
        )
    )
    inputs = await Get(Digest, MergeDigests([request.image_config, *placed]))
    arch_args = layer_folder_args(
        [(arch, folder) for (arch, _), folder in zip(request.arch_layers, arch_folders)],
        extra_folders,
    )
    result = await Get(
        EngineResult,
        EngineProcess(
            argv=(
                "image",
                "--image",
                IMAGE_CONFIG,
                *arch_args,
                "--output",
                _IMAGE_OUTPUT,
                *(arg for reference in request.references for arg in ("--tag", reference)),
                *(arg for fmt in request.formats for arg in ("--format", fmt)),
                *(arg for k, v in request.annotations for arg in ("--annotation", f"{k}={v}")),
            ),
            description=_description(request),
            input_digest=inputs,
            output_directories=(_IMAGE_OUTPUT,),
        ),
    )
    output = await Get(Digest, RemovePrefix(result.output_digest, _IMAGE_OUTPUT))
    summary = await Get(DigestContents, DigestSubset(output, PathGlobs([SUMMARY])))
    return BuiltImage(output, _index_digest(summary[0].content) if summary else None)


def rules():
    return collect_rules()
