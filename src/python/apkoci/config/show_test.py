"""Tests of the printout: apko's key names and order, determinism, and printout -> load -> equal."""

from __future__ import annotations

from pathlib import Path

import pytest
from apkoci.config.conftest import WriteConfig
from apkoci.config.load import configuration_digest, load_configuration
from apkoci.config.model import ImageConfiguration
from apkoci.config.show import format_configuration
from apkoci.testing import shared_testdata


def reload(config: ImageConfiguration, write_config: WriteConfig) -> ImageConfiguration:
    return load_configuration(write_config(format_configuration(config), name="printed/apko.yaml"))


def test_prints_the_apko_cli_configuration() -> None:
    config = load_configuration(shared_testdata("apko-cli", "apko.yaml"))
    assert format_configuration(config) == (
        "contents:\n"
        "  repositories:\n"
        "  - ./testdata/packages\n"
        "  keyring:\n"
        "  - ./testdata/melange.rsa.pub\n"
        "  packages:\n"
        "  - replayout\n"
        "entrypoint:\n"
        "  command: /bin/sh -l\n"
        "archs:\n"
        "- amd64\n"
        "- arm64\n"
    )


@pytest.mark.parametrize("name", ["apko.yaml", "layering.yaml", "apko-certs.yaml"])
def test_real_configurations_round_trip(name: str, write_config: WriteConfig) -> None:
    config = load_configuration(shared_testdata("apko-cli", name))
    assert reload(config, write_config) == config


def test_complete_configuration_round_trips(
    complete_config: Path, write_config: WriteConfig
) -> None:
    config = load_configuration(complete_config)
    again = reload(config, write_config)
    assert again == config
    assert configuration_digest(again) == configuration_digest(config)
    assert format_configuration(again) == format_configuration(config)


def test_printout_reads_well(complete_config: Path) -> None:
    text = format_configuration(load_configuration(complete_config))
    assert "  permissions: 0o755\n" in text  # file modes in octal
    assert "  run-as: '65532'\n" in text  # a string that looks like a number stays a string
    assert "- '386'\n" in text
    assert "    content: |\n      -----BEGIN CERTIFICATE-----\n" in text  # PEM as a literal block
    assert "include" not in text  # merged away
    keys = [
        line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "-"))
    ]
    assert keys == [
        "contents",
        "entrypoint",
        "cmd",
        "stop-signal",
        "work-dir",
        "accounts",
        "archs",
        "environment",
        "paths",
        "vcs-url",
        "annotations",
        "volumes",
        "layering",
        "certificates",
    ]


def test_defaults_are_printed_and_stay_put(write_config: WriteConfig) -> None:
    path = write_config(
        """
        entrypoint:
          type: service-bundle
          services: {web: /bin/web}
        accounts:
          users: [{username: app, uid: 10}]
        """
    )
    config = load_configuration(path)
    text = format_configuration(config)
    assert (
        "command: /bin/s6-svscan /sv" in text and "- s6\n" in text and "homedir: /home/app" in text
    )
    assert "- s390x\n" in text  # archs left out: all of apko's
    assert reload(config, write_config) == config  # and loading again adds nothing twice


def test_empty_configuration_prints_archs_only() -> None:
    assert format_configuration(ImageConfiguration()).splitlines()[0] == "archs:"
