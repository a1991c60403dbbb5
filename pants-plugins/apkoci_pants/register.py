"""The apkoci Pants backend: `apko_image` targets, built into OCI images from APK packages, and
`apk_package`/`apk_repository` targets, first-party APKs the images can install.

Enable it with `backend_packages = ["apkoci_pants"]` in pants.toml.
"""

from __future__ import annotations

from apkoci_pants import subsystems, tailor
from apkoci_pants.apk_targets import ApkPackageTarget, ApkRepositoryTarget
from apkoci_pants.rules import apk, config, engine, fetch, image, layer, lock, package
from apkoci_pants.target_types import ApkoImageTarget


def target_types():
    return [ApkoImageTarget, ApkPackageTarget, ApkRepositoryTarget]


def rules():
    return [
        *subsystems.rules(),
        *tailor.rules(),
        *engine.rules(),
        *config.rules(),
        *lock.rules(),
        *fetch.rules(),
        *layer.rules(),
        *image.rules(),
        *package.rules(),
        *apk.rules(),
    ]
