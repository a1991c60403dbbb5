"""Print a resolved configuration as YAML, in apko's key names: what ``apkoci show-config`` shows.

The printout is deterministic: keys come in apko's order (the order of its Go structs, which is what
``apko show-config`` prints), maps are sorted, empty values are left out, file modes read ``0o755``
and multi-line text (certificates, inline keys) is a literal block. Loading the printout gives back
an equal :class:`~apkoci.config.model.ImageConfiguration`; the same data, as JSON, is the canonical
form behind :func:`apkoci.config.load.configuration_digest`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict

import yaml
from apkoci.config.model import Arch, ImageConfiguration, KeyringEntry, PackageSpec

# Defaults that mean "not set": a field holding one of them is left out of the printout.
_EMPTY = (None, "", (), False, 0)


class _Mode(int):
    """An integer printed in octal: a file mode."""


def _is_unset(value: Any, field: dataclasses.Field) -> bool:
    """Whether to leave a field out: it holds its default, and that default means "not set".

    Required fields are always shown, and so are meaningful defaults (``archs``: all of them).
    """
    if field.default is dataclasses.MISSING:
        return False
    default = field.default
    means_unset = dataclasses.is_dataclass(default) or default in _EMPTY
    return means_unset and value == default


def _data(value: Any, octal: bool = False) -> Any:
    """The plain YAML data (dicts, lists, strings, numbers) for a model value."""
    if isinstance(value, Arch):
        return value.name
    if isinstance(value, PackageSpec):
        return value.text
    if isinstance(value, KeyringEntry):
        return value.uri if value.uri else {"name": value.name, "content": value.content}
    if dataclasses.is_dataclass(value):
        result: Dict[str, Any] = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if "yaml" in field.metadata and not _is_unset(item, field):
                result[field.metadata["yaml"]] = _data(
                    item, octal=field.metadata.get("octal", False)
                )
        return result
    if isinstance(value, tuple):
        if value and all(isinstance(item, tuple) for item in value):
            return {key: item for key, item in value}  # a map, kept as sorted (key, value) pairs
        return [_data(item) for item in value]
    if octal and isinstance(value, int) and not isinstance(value, bool):
        return _Mode(value)
    return value


def configuration_data(config: ImageConfiguration) -> Dict[str, Any]:
    """The configuration as plain data in apko's key names: the printout before it is YAML."""
    return _data(config)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with file modes in octal and multi-line strings as literal blocks."""


def _represent_mode(dumper: yaml.SafeDumper, value: _Mode) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0o{int(value):o}")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(_Mode, _represent_mode)
_Dumper.add_representer(str, _represent_str)
# YAML 1.2's 0o755 is an integer to apko (and to our loader) but a string to PyYAML's YAML 1.1
# resolver: teach this dumper, so that it prints modes plain and quotes strings that look like them.
_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^0o[0-7]+$"), list("0"))


def format_configuration(config: ImageConfiguration) -> str:
    """The resolved configuration as a YAML document (see the module docstring)."""
    return yaml.dump(
        configuration_data(config),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )
