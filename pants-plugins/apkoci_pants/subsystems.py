"""Options: `[apkoci]` (defaults for every image) and `[apkoci-engine]` (the engine's Python tool).

The engine (`src/python/apkoci`, importable without Pants) runs out of process, as a PEX built
from its own modules and the three libraries it needs: every build step is a cached, sandboxed
process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from apkoci_pants.target_types import LayerCompression
from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.option.option_types import BoolOption, EnumOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.docutil import bin_name
from pants.util.strutil import softwrap

# `source_date_epoch` policies other than a fixed number of seconds.
FROM_PACKAGES = "packages"
FROM_ENVIRONMENT = "environment"


class ApkoImageError(Exception):
    """A problem with an `apko_image` or the `[apkoci]` options; the message says what to do."""


@dataclass(frozen=True)
class SourceDateEpochPolicy:
    """Where the layers' file times and the image's `created` come from.

    `seconds` is a fixed time; `from_environment` reads `$SOURCE_DATE_EPOCH`; neither means the
    engine's own default, the newest build time of the installed packages (what apko does).
    """

    seconds: Optional[int] = None
    from_environment: bool = False


class ApkociSubsystem(Subsystem):
    options_scope = "apkoci"
    help = "Defaults for every `apko_image` target (minimal OCI images from APK packages)."

    extra_repositories = StrListOption(
        help=softwrap(
            f"""
            APK repositories to add to every image's configuration, after its own (like apko's
            `--repository-append`): URLs, or folders relative to the build root.
            Changing this makes every lock file stale: run `{bin_name()} generate-lockfiles`.
            """
        ),
    )
    extra_keyring = StrListOption(
        help=softwrap(
            f"""
            Public keys to add to every image's keyring, after its own (like apko's
            `--keyring-append`): URLs, or files relative to the build root.
            Changing this makes every lock file stale: run `{bin_name()} generate-lockfiles`.
            """
        ),
    )
    compression = EnumOption(
        default=LayerCompression.gzip,
        help="How to compress layers when an `apko_image` does not say (its `compression` field).",
    )
    source_date_epoch = StrOption(
        default=FROM_PACKAGES,
        help=softwrap(
            f"""
            The time given to the image's files and its `created` date, which make images
            reproducible: `{FROM_PACKAGES}` (the newest build time among the installed packages,
            as apko does; the layers of first-party files then get 0), `{FROM_ENVIRONMENT}` (the
            `SOURCE_DATE_EPOCH` variable of the environment Pants runs in, which must then be
            set), or a number of seconds since 1970 (e.g. `0`).
            """
        ),
    )
    require_lockfile = BoolOption(
        default=False,
        help=softwrap(
            f"""
            If true, `{bin_name()} package` of an `apko_image` without a lock file fails and says
            which command writes it. If false (the default), it resolves the packages from the
            repositories for this run, with a warning: such a build is not reproducible, as it
            installs whatever the repositories hold today. Set it in CI.
            """
        ),
    )
    tailor = BoolOption(
        default=True,
        help=softwrap(
            f"""
            If true, `{bin_name()} tailor` adds an `apko_image` target beside every `apko.yaml`
            (and `<name>.apko.yaml`) that no target owns.
            """
        ),
    )

    def compression_or(self, field_value: Optional[str]) -> str:
        """The compression to use: the target's, else this option's."""
        return field_value or self.compression.value

    @property
    def source_date_epoch_policy(self) -> SourceDateEpochPolicy:
        value = self.source_date_epoch.strip()
        if value == FROM_PACKAGES:
            return SourceDateEpochPolicy()
        if value == FROM_ENVIRONMENT:
            return SourceDateEpochPolicy(from_environment=True)
        if re.fullmatch(r"[0-9]+", value):
            return SourceDateEpochPolicy(seconds=int(value))
        raise ApkoImageError(
            f"[apkoci].source_date_epoch is {value!r}: use `{FROM_PACKAGES}`, "
            f"`{FROM_ENVIRONMENT}` or a number of seconds since 1970 such as `0`."
        )


class ApkociEngine(PythonToolRequirementsBase):
    options_scope = "apkoci-engine"
    help = softwrap(
        """
        The apkoci engine, which resolves, fetches and installs APK packages and writes OCI
        images. Its own modules ship with this backend; these options choose the third-party
        libraries it runs with.
        """
    )

    # Keep in step with 3rdparty/python/engine-requirements.txt, which the engine's tests use.
    default_version = "PyYAML>=6.0,<7"
    default_extra_requirements = ["cryptography>=41", "zstandard>=0.21,<1"]
    default_requirements = [default_version, *default_extra_requirements]

    # The engine supports Python 3.9 to 3.12, whichever the machine has.
    register_interpreter_constraints = True
    default_interpreter_constraints = ["CPython>=3.9,<3.13"]

    default_lockfile_resource = ("apkoci_pants", "apkoci-engine.lock")
    lockfile_rules_type = LockfileRules.SIMPLE


def rules():
    return [*ApkociSubsystem.rules(), *ApkociEngine.rules()]
