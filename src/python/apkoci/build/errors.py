"""The error every build step raises for what it cannot do with the image it is given."""

from __future__ import annotations

from apkoci.errors import ApkociError


class BuildError(ApkociError):
    """A build step that cannot be carried out: the message names the path, package or setting
    and how to fix it."""
