"""Load an ``apko.yaml``: parse it, follow its ``include`` chain, validate it, apply the defaults.

The YAML is read with PyYAML's *composer*, so every value still knows its line, and each value is
interpreted by the type apko's Go struct gives it (not by YAML 1.1's guesses): ``run-as: 65532`` and
``archs: [386]`` are strings, ``permissions: 0o755``, ``0755`` and ``493`` are the same integer
(Go's ``yaml.v3`` reads all three), a quoted ``"493"`` is a string and so no integer. Unknown keys
are errors, as they are for apko (it decodes with ``KnownFields``).

Every problem of every file is collected and raised together as one :class:`ConfigError`, one line
per problem: ``apko.yaml:12: accounts.users[0].uid: expected an integer, got 'abc'``, followed by
what to do about it.

``include`` names a local file, relative to the including file (then to each of ``include_paths``,
apko's ``--include-paths``; apko itself looks relative to the working directory first, which is not
hermetic). The included file is loaded the same way (it may include in turn; a cycle is an error)
and merged *under* the including one, as apko's ``MergeInto`` does:

- single values (``cmd``, ``stop-signal``, ``work-dir``, ``vcs-url``, ``accounts.run-as``,
  ``archs``, ``layering``, ``contents.baseimage``) and the ``entrypoint`` as a whole come from the
  including file when it sets them, otherwise from the included one;
- lists are concatenated, the included file's entries first: repositories of all three kinds, both
  keyrings, packages, users, groups, paths, volumes, certificates;
- maps (``environment``, ``annotations``) are united, the including file winning on a shared key.

Two checksums serve lock files. :func:`configuration_checksum` is apko's: a lock's
``"config": {"name": ..., "checksum": "sha256-<base64>"}`` is the SHA-256 of the raw bytes of the
configuration file followed by those of its includes, in the order they are read. It changes with
any edit, comments included, and matches the lock files apko writes. :func:`configuration_digest` is
a SHA-256 of the resolved configuration's canonical form: it changes only when the meaning does.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

import yaml
from apkoci.apk.version import CHECKSUM_OPERATOR, VersionError, canonical_operator, is_valid_version
from apkoci.config.model import (
    ALL_ARCHS,
    LAYERING_STRATEGIES,
    LINK_PATH_TYPES,
    PACKAGE_SPEC_PATTERN,
    PATH_TYPES,
    SERVICE_BUNDLE,
    SERVICE_BUNDLE_COMMAND,
    SERVICE_BUNDLE_PACKAGE,
    Accounts,
    AdditionalCertificate,
    Arch,
    BaseImage,
    Certificates,
    Contents,
    Entrypoint,
    Group,
    ImageConfiguration,
    KeyringEntry,
    Layering,
    PackageSpec,
    PathMutation,
    StringMap,
    User,
    arch_spellings,
    find_arch,
)
from apkoci.config.show import configuration_data
from apkoci.errors import ApkociError
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathLike = Union[str, "os.PathLike[str]"]

UINT32_MAX = 2**32 - 1
INT32_MAX = 2**31 - 1
MAX_PERMISSIONS = 0o7777

# Keys older apko versions knew and the current format does not: say so rather than "unknown".
_RETIRED_KEYS = {
    "os-release": "apko no longer writes /etc/os-release from its configuration; install a package "
    "that ships it (e.g. your distribution's baselayout) and remove this key",
}

# Names that become file names in the image (/etc/apk/keys/<name>, /sv/<name>) must not climb out.
_CERTIFICATE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")  # apko's rule for additional certificates
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_REPOSITORY_TAG = re.compile(r"^@([A-Za-z0-9]+)\s+(\S.*)$")
_ACCOUNT_NAME_FORBIDDEN = re.compile(r"[:\s]")  # would corrupt /etc/passwd and /etc/group
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)

# Go's strconv.ParseInt with base 0, which yaml.v3 uses: decimal, 0x.., 0o.., 0b.., and a leading 0
# for octal (YAML 1.1's 0755, still read by yaml.v3), with underscores between digits.
_GO_INTEGER = re.compile(
    r"[-+]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    r"|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)\Z"
)
_LEGACY_OCTAL = re.compile(r"[-+]?0[0-7_]+\Z")
_NULLS = ("", "~", "null", "Null", "NULL")
# yaml.v3 reads YAML 1.1's yes/no/on/off into a bool field, for compatibility; so do we.
_TRUE = ("true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
_FALSE = ("false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF")
_MERGE_TAG = "tag:yaml.org,2002:merge"


# --- Errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration: where (file, 1-based line, key path) and what to do."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(ApkociError):
    """An ``apko.yaml`` that cannot be used; ``problems`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --- Reading one file's nodes ---------------------------------------------------------------------

Entry = Tuple[Node, str]
"""A YAML value and its key path (``accounts.users[0].uid``)."""


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.style is None and node.value in _NULLS


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if _is_null(node):
        return "nothing"
    return repr(node.value)


def _yaml_keys(cls: Type) -> Dict[str, str]:
    """YAML key -> attribute name, for the fields of a model class (see ``model.yaml_key``)."""
    return {f.metadata["yaml"]: f.name for f in fields(cls) if "yaml" in f.metadata}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the choice closest to ``word``, or nothing when none is close.

    Close is difflib's idea of it, or a choice that starts with the word (``dir`` for
    ``directory``).
    """
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = [choice for choice in choices if word and choice.startswith(word)][:1]
    return f"did you mean {close[0]!r}? " if close else ""


def _unknown_key_message(key: str, known: Iterable[str]) -> str:
    if key in _RETIRED_KEYS:
        return f"is not a key of apko's configuration any more: {_RETIRED_KEYS[key]}"
    known = sorted(known)
    return f"unknown key: {_did_you_mean(key, known)}the keys here are {', '.join(known)}"


class _Origins:
    """Where each parsed value came from (file, line, key path), for problems found after merging.

    Values are looked up by identity: every parsed value stays alive in the configurations being
    merged, so identities are unique for the length of a load.
    """

    def __init__(self) -> None:
        self._where: Dict[int, Tuple[str, int, str]] = {}

    def note(self, value: object, file: str, node: Node, path: str) -> None:
        self._where[id(value)] = (file, node.start_mark.line + 1, path)

    def problem(self, value: object, message: str, key_suffix: str = "") -> Problem:
        file, line, path = self._where.get(id(value), ("", 0, ""))
        return Problem(file, line, path + key_suffix, message)


class _Reader:
    """Turns the YAML nodes of one file into model values, noting every problem on the way.

    Each method takes an :data:`Entry` (or ``None`` for a key that is absent) and returns the value,
    or a harmless stand-in after noting a problem, so one pass finds every problem of the file.
    """

    def __init__(self, file: str, problems: List[Problem], origins: _Origins) -> None:
        self.file = file
        self.problems = problems
        self.origins = origins

    def problem(self, node: Optional[Node], path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.file, line, path, message))

    def note(self, value: object, node: Node, path: str) -> None:
        self.origins.note(value, self.file, node, path)

    # -- Documents and mappings --

    def document(self, data: bytes) -> Optional[Node]:
        """The single YAML document of a file (``None``, with a problem noted, if there is none)."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            self.problem(None, "", f"is not UTF-8 text ({error}): save it as UTF-8")
            return None
        try:
            documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 0
            self.problems.append(
                Problem(self.file, line, "", f"is not valid YAML: {error.problem}")
            )
            return None
        except yaml.YAMLError as error:
            self.problem(None, "", f"is not valid YAML: {error}")
            return None
        if not documents or _is_null(documents[0]):
            self.problem(None, "", "is empty: an apko configuration needs at least `contents:`")
            return None
        if len(documents) > 1:
            self.problem(
                documents[1],
                "",
                "holds more than one YAML document: keep one configuration per file",
            )
        return documents[0]

    def _pairs(self, node: MappingNode, path: str) -> List[Tuple[Node, Node]]:
        """A mapping's key/value pairs, merge keys (``<<: *base``) flattened as yaml.v3 does."""
        own: List[Tuple[Node, Node]] = []
        merged: List[Tuple[Node, Node]] = []
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                own.append((key, value))
                continue
            for source in value.value if isinstance(value, SequenceNode) else [value]:
                if isinstance(source, MappingNode):
                    merged.extend(self._pairs(source, path))
                else:
                    self.problem(
                        source,
                        _child(path, "<<"),
                        f"merges {_describe(source)}: merge a mapping (an anchor like *base)",
                    )
        own_keys = {key.value for key, _ in own if isinstance(key, ScalarNode)}
        seen_merged = set()
        result = []
        for key, value in merged:
            # The mapping's own keys override merged ones; among merged sources the first one wins.
            if isinstance(key, ScalarNode):
                if key.value in own_keys or key.value in seen_merged:
                    continue
                seen_merged.add(key.value)
            result.append((key, value))
        return result + own

    def fields(
        self, entry: Optional[Entry], cls: Type, extra_keys: Sequence[str] = ()
    ) -> Dict[str, Entry]:
        """The values of a mapping that holds the fields of ``cls``, by attribute name.

        Unknown keys (other than ``extra_keys``, returned under their own name) and keys set twice
        are problems.
        """
        if entry is None or _is_null(entry[0]):
            return {}
        node, path = entry
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping of keys to values, got {_describe(node)}")
            return {}
        by_key = _yaml_keys(cls)
        by_key.update((key, key) for key in extra_keys)
        found: Dict[str, Entry] = {}
        for key_node, value_node in self._pairs(node, path):
            if not isinstance(key_node, ScalarNode):
                self.problem(
                    key_node, path, f"has {_describe(key_node)} as a key: keys are plain words"
                )
                continue
            key_path = _child(path, key_node.value)
            attr = by_key.get(key_node.value)
            if attr is None:
                self.problem(key_node, key_path, _unknown_key_message(key_node.value, by_key))
            elif attr in found:
                self.problem(key_node, key_path, "is set twice in the same mapping: keep one")
            else:
                found[attr] = (value_node, key_path)
        return found

    def require(
        self, found: Dict[str, Entry], attr: str, cls: Type, parent: Entry, example: str
    ) -> None:
        """Note a problem when the required field ``attr`` of ``cls`` is missing from ``found``."""
        if attr in found and not _is_null(found[attr][0]):
            return
        key = next(k for k, a in _yaml_keys(cls).items() if a == attr)
        node, path = found.get(attr, parent)
        self.problem(node, _child(parent[1], key), f"is required: add `{key}: {example}`")

    # -- Scalars --

    def string(self, entry: Optional[Entry]) -> str:
        """Any scalar, as written (``65532`` is the string ``'65532'``); empty if absent or null."""
        if entry is None or _is_null(entry[0]):
            return ""
        node, path = entry
        if not isinstance(node, ScalarNode):
            self.problem(node, path, f"expected a string, got {_describe(node)}")
            return ""
        return node.value

    def integer(self, entry: Optional[Entry], minimum: int, maximum: int) -> Optional[int]:
        """An integer in Go's syntax (``493``, ``0o755``, ``0755``, ``0x1ed``), or ``None``."""
        if entry is None or _is_null(entry[0]):
            return None
        node, path = entry
        if not isinstance(node, ScalarNode):
            self.problem(node, path, f"expected an integer, got {_describe(node)}")
            return None
        text = node.value
        if node.style is not None:
            self.problem(
                node, path, f"expected an integer, got the string {text!r}: remove the quotes"
            )
            return None
        if not _GO_INTEGER.match(text):
            self.problem(node, path, f"expected an integer, got {text!r}")
            return None
        digits = text.replace("_", "")
        value = int(digits, 8) if _LEGACY_OCTAL.match(digits) else int(digits, 0)
        if not minimum <= value <= maximum:
            self.problem(
                node, path, f"{text} is out of range: use a number from {minimum} to {maximum}"
            )
            return None
        return value

    def boolean(self, entry: Optional[Entry]) -> bool:
        if entry is None or _is_null(entry[0]):
            return False
        node, path = entry
        if isinstance(node, ScalarNode) and node.style is None:
            if node.value in _TRUE:
                return True
            if node.value in _FALSE:
                return False
        self.problem(node, path, f"expected true or false, got {_describe(node)}")
        return False

    # -- Collections --

    def items(self, entry: Optional[Entry]) -> List[Entry]:
        """The entries of a list, each with its key path (``paths[2]``); empty if absent or null."""
        if entry is None or _is_null(entry[0]):
            return []
        node, path = entry
        if not isinstance(node, SequenceNode):
            self.problem(
                node,
                path,
                f"expected a list, got {_describe(node)}: write each entry on a line of its own,"
                " starting with '- '",
            )
            return []
        return [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]

    def strings(self, entry: Optional[Entry]) -> Tuple[str, ...]:
        """A list of non-empty strings."""
        result = []
        for item in self.items(entry):
            value = self.string(item)
            if value:
                result.append(value)
            elif isinstance(item[0], ScalarNode):
                self.problem(item[0], item[1], "is empty: remove the entry or give it a value")
        return tuple(result)

    def string_map(self, entry: Optional[Entry]) -> StringMap:
        """A mapping of strings to strings, as sorted pairs; a null value is the empty string."""
        if entry is None or _is_null(entry[0]):
            return ()
        node, path = entry
        if not isinstance(node, MappingNode):
            self.problem(
                node, path, f"expected a mapping of names to values, got {_describe(node)}"
            )
            return ()
        result: Dict[str, str] = {}
        for key_node, value_node in self._pairs(node, path):
            if not isinstance(key_node, ScalarNode) or _is_null(key_node):
                self.problem(
                    key_node,
                    path,
                    f"has {_describe(key_node)} as a name: names are non-empty words",
                )
                continue
            key_path = _child(path, key_node.value)
            if key_node.value in result:
                self.problem(key_node, key_path, "is set twice in the same mapping: keep one")
                continue
            result[key_node.value] = self.string((value_node, key_path))
        return tuple(sorted(result.items()))


# --- Sections -------------------------------------------------------------------------------------


def _read_repositories(reader: _Reader, entry: Optional[Entry]) -> Tuple[str, ...]:
    """A list of repositories: URLs or paths, optionally tagged (``@local ./packages``)."""
    result = []
    for item in reader.items(entry):
        value = reader.string(item).strip()
        if not value:
            reader.problem(
                item[0], item[1], "is empty: give the repository's URL or path, or remove the entry"
            )
            continue
        if value.startswith("@") and not _REPOSITORY_TAG.match(value):
            reader.problem(
                item[0],
                item[1],
                f"{value!r} is not a tagged repository: write '@tag url', the tag made of letters"
                " and digits",
            )
            continue
        # apko trims a trailing slash (it would double the slash before the arch folder).
        result.append(value.rstrip("/"))
    return tuple(result)


def _pem_blocks(content: str) -> List[Tuple[str, str]]:
    return [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(content)]


def _public_key_problem(content: str) -> Optional[str]:
    """Why ``content`` is not one PEM-encoded RSA public key (``None`` when it is)."""
    blocks = _pem_blocks(content)
    if len(blocks) != 1:
        return (
            f"holds {len(blocks)} PEM blocks: give exactly one '-----BEGIN PUBLIC KEY-----' block"
        )
    kind, block = blocks[0]
    if kind != "PUBLIC KEY":
        return f"holds a {kind!r} PEM block: give the RSA public key ('-----BEGIN PUBLIC KEY-----')"
    try:
        key = load_pem_public_key(block.encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        return f"is no readable public key ({error}): paste the whole .rsa.pub file"
    if not isinstance(key, RSAPublicKey):
        return "is not an RSA key: APK signatures use RSA keys"
    return None


def _certificate_problem(content: str) -> Optional[str]:
    """Why ``content`` is not exactly one PEM-encoded X.509 certificate (``None`` when it is)."""
    blocks = _pem_blocks(content)
    if len(blocks) != 1:
        return (
            f"holds {len(blocks)} PEM blocks: give exactly one '-----BEGIN CERTIFICATE-----' block"
            " per entry"
        )
    kind, block = blocks[0]
    if kind != "CERTIFICATE":
        return f"holds a {kind!r} PEM block: give a '-----BEGIN CERTIFICATE-----' block"
    try:
        x509.load_pem_x509_certificate(block.encode())
    except ValueError as error:
        return f"is no readable X.509 certificate ({error})"
    return None


def _read_inline_key(reader: _Reader, entry: Entry) -> Optional[KeyringEntry]:
    found = reader.fields(entry, KeyringEntry)
    reader.require(found, "name", KeyringEntry, entry, "mirror.rsa.pub")
    reader.require(found, "content", KeyringEntry, entry, "<the key's PEM text, as a | block>")
    name, content = reader.string(found.get("name")), reader.string(found.get("content"))
    if not (name and content):
        return None
    ok = True
    if not _FILE_NAME.match(name):
        reader.problem(
            found["name"][0],
            found["name"][1],
            f"{name!r} is not a file name: use letters, digits, '.', '_' and '-'",
        )
        ok = False
    key_problem = _public_key_problem(content)
    if key_problem:
        reader.problem(found["content"][0], found["content"][1], key_problem)
        ok = False
    return KeyringEntry(name=name, content=content) if ok else None


def _read_keyring(
    reader: _Reader, entry: Optional[Entry], inline_only: bool
) -> Tuple[KeyringEntry, ...]:
    """``keyring`` (paths/URLs or inline keys) or ``runtime_keyring`` (inline keys only)."""
    result = []
    for item in reader.items(entry):
        node, path = item
        if isinstance(node, MappingNode):
            key = _read_inline_key(reader, item)
            if key is not None:
                result.append(key)
        elif inline_only:
            reader.problem(
                node,
                path,
                f"expected an inline key (`name:` and `content:`), got {_describe(node)}: the"
                " runtime keyring takes the key itself, so the image does not depend on a file or"
                " URL at build time",
            )
        else:
            uri = reader.string(item)
            if uri:
                result.append(KeyringEntry(uri=uri))
            elif isinstance(node, ScalarNode):
                reader.problem(
                    node, path, "is empty: give the key's path or URL, or remove the entry"
                )
    return tuple(result)


def _parse_package(reader: _Reader, item: Entry) -> Optional[PackageSpec]:
    node, path = item
    text = reader.string(item).strip()
    if not text:
        if isinstance(node, ScalarNode):
            reader.problem(node, path, "is empty: give a package name, or remove the entry")
        return None
    match = PACKAGE_SPEC_PATTERN.match(text)
    if not match or re.search(r"\s", match.group("name")):
        reader.problem(
            node,
            path,
            f"{text!r} is not a package: write 'name', 'name=1.2.3-r0', 'name>=1.2' or 'name@tag'",
        )
        return None
    operator = match.group("op") or ""
    version = match.group("version") or ""
    if operator:
        try:
            operator = canonical_operator(operator)
        except VersionError as error:
            reader.problem(node, path, f"{text!r}: {error}")
            return None
        if operator == CHECKSUM_OPERATOR and not version.startswith("Q1"):
            reader.problem(
                node,
                path,
                f"{text!r}: {version!r} is not a package checksum"
                " (like Q1m6wB0UFePGN8Drz82pC8y2uAiu8=)",
            )
            return None
        if operator != CHECKSUM_OPERATOR and not is_valid_version(version):
            reader.problem(
                node, path, f"{text!r}: {version!r} is not an APK version (like 1.2.3-r0)"
            )
            return None
    spec = PackageSpec(
        text=text,
        name=match.group("name"),
        operator=operator,
        version=version,
        pin=match.group("pin") or "",
    )
    reader.note(spec, node, path)
    return spec


def _read_contents(reader: _Reader, entry: Optional[Entry]) -> Contents:
    found = reader.fields(entry, Contents)
    return Contents(
        build_repositories=_read_repositories(reader, found.get("build_repositories")),
        runtime_repositories=_read_repositories(reader, found.get("runtime_repositories")),
        repositories=_read_repositories(reader, found.get("repositories")),
        keyring=_read_keyring(reader, found.get("keyring"), inline_only=False),
        runtime_keyring=_read_keyring(reader, found.get("runtime_keyring"), inline_only=True),
        packages=tuple(
            p
            for p in (_parse_package(reader, item) for item in reader.items(found.get("packages")))
            if p
        ),
        baseimage=_read_baseimage(reader, found.get("baseimage")),
    )


def _read_baseimage(reader: _Reader, entry: Optional[Entry]) -> Optional[BaseImage]:
    if entry is None or _is_null(entry[0]):
        return None
    found = reader.fields(entry, BaseImage)
    reader.require(found, "image", BaseImage, entry, "path/to/oci-layout")
    reader.require(found, "apkindex", BaseImage, entry, "path/to/index-folder")
    baseimage = BaseImage(
        image=reader.string(found.get("image")), apkindex=reader.string(found.get("apkindex"))
    )
    reader.note(baseimage, entry[0], entry[1])
    return baseimage


def _read_entrypoint(reader: _Reader, entry: Optional[Entry]) -> Entrypoint:
    found = reader.fields(entry, Entrypoint)
    kind = reader.string(found.get("type"))
    if kind not in ("", SERVICE_BUNDLE):
        reader.problem(
            found["type"][0],
            found["type"][1],
            f"{kind!r} is no entrypoint type: the only type is {SERVICE_BUNDLE!r}; remove `type`"
            " for a plain command",
        )
    services = reader.string_map(found.get("services"))
    for name, command in services:
        service_path = _child(found["services"][1], name)
        if not _FILE_NAME.match(name):
            reader.problem(
                found["services"][0],
                service_path,
                "is no service name: use letters, digits, '.', '_' and '-'",
            )
        if not command:
            reader.problem(
                found["services"][0],
                service_path,
                "has no command: give the command the service runs",
            )
    entrypoint = Entrypoint(
        type=kind,
        command=reader.string(found.get("command")),
        shell_fragment=reader.string(found.get("shell_fragment")),
        services=services,
    )
    if entry is not None:
        reader.note(entrypoint, entry[0], entry[1])
    return entrypoint


def _account_name(reader: _Reader, found: Dict[str, Entry], attr: str) -> str:
    name = reader.string(found.get(attr))
    if name and _ACCOUNT_NAME_FORBIDDEN.search(name):
        reader.problem(
            found[attr][0],
            found[attr][1],
            f"{name!r} cannot be an account name: remove the ':' and spaces",
        )
    return name


def _read_user(reader: _Reader, entry: Entry) -> User:
    found = reader.fields(entry, User)
    reader.require(found, "username", User, entry, "nonroot")
    reader.require(found, "uid", User, entry, "65532")
    uid = reader.integer(found.get("uid"), 0, UINT32_MAX)
    if uid == 0:
        reader.problem(
            found["uid"][0],
            found["uid"][1],
            "is 0, which is root: apko creates no root user; to run as root, set `run-as: 0`"
            " instead",
        )
    user = User(
        username=_account_name(reader, found, "username"),
        uid=uid or 0,
        gid=reader.integer(found.get("gid"), 0, UINT32_MAX),
        shell=reader.string(found.get("shell")),
        homedir=reader.string(found.get("homedir")),
    )
    reader.note(user, entry[0], entry[1])
    return user


def _read_group(reader: _Reader, entry: Entry) -> Group:
    found = reader.fields(entry, Group)
    reader.require(found, "groupname", Group, entry, "nonroot")
    reader.require(found, "gid", Group, entry, "65532")
    members = reader.strings(found.get("members"))
    for index, member in enumerate(members):
        if _ACCOUNT_NAME_FORBIDDEN.search(member):
            reader.problem(
                found["members"][0],
                f"{found['members'][1]}[{index}]",
                f"{member!r} cannot be a user name: remove the ':' and spaces",
            )
    group = Group(
        groupname=_account_name(reader, found, "groupname"),
        gid=reader.integer(found.get("gid"), 0, UINT32_MAX) or 0,
        members=members,
    )
    reader.note(group, entry[0], entry[1])
    return group


def _read_accounts(reader: _Reader, entry: Optional[Entry]) -> Accounts:
    found = reader.fields(entry, Accounts)
    return Accounts(
        run_as=reader.string(found.get("run_as")),
        users=tuple(_read_user(reader, item) for item in reader.items(found.get("users"))),
        groups=tuple(_read_group(reader, item) for item in reader.items(found.get("groups"))),
    )


def _read_archs(reader: _Reader, entry: Optional[Entry]) -> Tuple[Arch, ...]:
    result: List[Arch] = []
    spelled: Dict[Arch, str] = {}
    for item in reader.items(entry):
        node, path = item
        name = reader.string(item)
        arch = find_arch(name)
        if name == "all":
            reader.problem(
                node,
                path,
                "'all' is not an architecture: leave `archs` out to build for all of them",
            )
        elif arch is None:
            hint = _did_you_mean(name, arch_spellings())
            reader.problem(
                node,
                path,
                f"unknown architecture {name!r}: {hint}apko knows {', '.join(arch_spellings())}",
            )
        elif arch in spelled:
            reader.problem(
                node, path, f"{name!r} is listed already (as {spelled[arch]!r}): remove one of them"
            )
        else:
            spelled[arch] = name
            result.append(arch)
    return tuple(result)


def _read_environment(reader: _Reader, entry: Optional[Entry]) -> StringMap:
    if entry is None:
        return ()
    environment = reader.string_map(entry)
    for name, _ in environment:
        if "=" in name:
            reader.problem(
                entry[0], _child(entry[1], name), "is no variable name: names cannot contain '='"
            )
    return environment


def _read_path(reader: _Reader, entry: Entry) -> PathMutation:
    found = reader.fields(entry, PathMutation)
    reader.require(found, "path", PathMutation, entry, "/path/in/the/image")
    reader.require(found, "type", PathMutation, entry, " | ".join(PATH_TYPES))
    kind = reader.string(found.get("type"))
    if kind and kind not in PATH_TYPES:
        hint = _did_you_mean(kind, PATH_TYPES)
        reader.problem(
            found["type"][0],
            found["type"][1],
            f"unknown path type {kind!r}: {hint}use one of {', '.join(PATH_TYPES)}",
        )
    source = reader.string(found.get("source"))
    if kind in LINK_PATH_TYPES and not source:
        node, _ = found.get("source", entry)
        reader.problem(
            node,
            _child(entry[1], "source"),
            f"is required for a {kind}: add `source: /the/link/target`",
        )
    elif source and kind in PATH_TYPES and kind not in LINK_PATH_TYPES:
        reader.problem(
            found["source"][0],
            found["source"][1],
            "only links have a source: remove it, or make the type one of"
            f" {', '.join(LINK_PATH_TYPES)}",
        )
    recursive = reader.boolean(found.get("recursive"))
    if recursive and kind in PATH_TYPES and kind != "directory":
        reader.problem(
            found["recursive"][0],
            found["recursive"][1],
            "only a directory can be recursive: remove it",
        )
    permissions = reader.integer(found.get("permissions"), -(2**63), 2**63)
    if permissions is not None and not 0 <= permissions <= MAX_PERMISSIONS:
        reader.problem(
            found["permissions"][0],
            found["permissions"][1],
            f"{found['permissions'][0].value} is no file mode: use an octal mode from 0 to 0o7777,"
            " like 0o755",
        )
        permissions = None
    return PathMutation(
        path=reader.string(found.get("path")),
        type=kind,
        uid=reader.integer(found.get("uid"), 0, UINT32_MAX) or 0,
        gid=reader.integer(found.get("gid"), 0, UINT32_MAX) or 0,
        permissions=permissions or 0,
        source=source,
        recursive=recursive,
    )


def _read_layering(reader: _Reader, entry: Optional[Entry]) -> Optional[Layering]:
    found = reader.fields(entry, Layering)
    if entry is None or not found:
        return None  # `layering: {}` asks for nothing: one layer, as without the key
    strategy = reader.string(found.get("strategy"))
    if not strategy:
        node, _ = found.get("strategy", entry)
        reader.problem(
            node,
            _child(entry[1], "strategy"),
            f"is required with a budget: add `strategy: {LAYERING_STRATEGIES[0]}`",
        )
    elif strategy not in LAYERING_STRATEGIES:
        reader.problem(
            found["strategy"][0],
            found["strategy"][1],
            f"unknown layering strategy {strategy!r}: use {' or '.join(LAYERING_STRATEGIES)}",
        )
    budget = reader.integer(found.get("budget"), 0, INT32_MAX)
    return Layering(strategy=strategy or LAYERING_STRATEGIES[0], budget=budget or 0)


def _read_certificate(reader: _Reader, entry: Entry) -> Optional[AdditionalCertificate]:
    found = reader.fields(entry, AdditionalCertificate)
    reader.require(found, "name", AdditionalCertificate, entry, "my-ca")
    reader.require(
        found, "content", AdditionalCertificate, entry, "<the certificate's PEM text, as a | block>"
    )
    name, content = reader.string(found.get("name")), reader.string(found.get("content"))
    if not (name and content):
        return None
    ok = True
    if not _CERTIFICATE_NAME.match(name):
        reader.problem(
            found["name"][0],
            found["name"][1],
            f"{name!r} is an invalid name: it must match {_CERTIFICATE_NAME.pattern}",
        )
        ok = False
    problem = _certificate_problem(content)
    if problem:
        reader.problem(found["content"][0], found["content"][1], problem)
        ok = False
    return AdditionalCertificate(name=name, content=content) if ok else None


def _read_certificates(reader: _Reader, entry: Optional[Entry]) -> Optional[Certificates]:
    found = reader.fields(entry, Certificates)
    additional = tuple(
        c
        for c in (_read_certificate(reader, item) for item in reader.items(found.get("additional")))
        if c
    )
    certificates = Certificates(
        additional=additional, providers=reader.strings(found.get("providers"))
    )
    return certificates if certificates != Certificates() else None


def _read_configuration(
    reader: _Reader, root: Optional[Node]
) -> Tuple[ImageConfiguration, Optional[Entry]]:
    """One file's configuration (no defaults, ``archs`` empty if unset) and its ``include``."""
    if root is None:
        return ImageConfiguration(archs=()), None
    found = reader.fields((root, ""), ImageConfiguration, extra_keys=("include",))
    config = ImageConfiguration(
        contents=_read_contents(reader, found.get("contents")),
        entrypoint=_read_entrypoint(reader, found.get("entrypoint")),
        cmd=reader.string(found.get("cmd")),
        stop_signal=reader.string(found.get("stop_signal")),
        work_dir=reader.string(found.get("work_dir")),
        accounts=_read_accounts(reader, found.get("accounts")),
        archs=_read_archs(reader, found.get("archs")),
        environment=_read_environment(reader, found.get("environment")),
        paths=tuple(_read_path(reader, item) for item in reader.items(found.get("paths"))),
        vcs_url=reader.string(found.get("vcs_url")),
        annotations=reader.string_map(found.get("annotations")),
        volumes=reader.strings(found.get("volumes")),
        layering=_read_layering(reader, found.get("layering")),
        certificates=_read_certificates(reader, found.get("certificates")),
    )
    include = found.get("include")
    if include is not None and not reader.string(include):
        if not isinstance(include[0], ScalarNode):
            return config, None  # reader.string noted the problem
        reader.problem(
            include[0], include[1], "is empty: name the file to include, or remove the key"
        )
        return config, None
    return config, include


# --- Merging includes -----------------------------------------------------------------------------


def _merge_maps(base: StringMap, top: StringMap) -> StringMap:
    merged = dict(base)
    merged.update(top)
    return tuple(sorted(merged.items()))


def _merge(base: ImageConfiguration, top: ImageConfiguration) -> ImageConfiguration:
    """``top`` (the including file) over ``base`` (the included one), as apko's MergeInto does."""
    contents = Contents(
        build_repositories=base.contents.build_repositories + top.contents.build_repositories,
        runtime_repositories=base.contents.runtime_repositories + top.contents.runtime_repositories,
        repositories=base.contents.repositories + top.contents.repositories,
        keyring=base.contents.keyring + top.contents.keyring,
        runtime_keyring=base.contents.runtime_keyring + top.contents.runtime_keyring,
        packages=base.contents.packages + top.contents.packages,
        baseimage=top.contents.baseimage
        if top.contents.baseimage is not None
        else base.contents.baseimage,
    )
    accounts = Accounts(
        run_as=top.accounts.run_as or base.accounts.run_as,
        users=base.accounts.users + top.accounts.users,
        groups=base.accounts.groups + top.accounts.groups,
    )
    certificates: Optional[Certificates] = None
    if base.certificates is not None or top.certificates is not None:
        base_certs, top_certs = (
            base.certificates or Certificates(),
            top.certificates or Certificates(),
        )
        certificates = Certificates(
            additional=base_certs.additional + top_certs.additional,
            providers=base_certs.providers
            + tuple(p for p in top_certs.providers if p not in base_certs.providers),
        )
    return ImageConfiguration(
        contents=contents,
        entrypoint=top.entrypoint if top.entrypoint != Entrypoint() else base.entrypoint,
        cmd=top.cmd or base.cmd,
        stop_signal=top.stop_signal or base.stop_signal,
        work_dir=top.work_dir or base.work_dir,
        accounts=accounts,
        archs=top.archs or base.archs,
        environment=_merge_maps(base.environment, top.environment),
        paths=base.paths + top.paths,
        vcs_url=top.vcs_url or base.vcs_url,
        annotations=_merge_maps(base.annotations, top.annotations),
        volumes=base.volumes + top.volumes,
        layering=top.layering if top.layering is not None else base.layering,
        certificates=certificates,
    )


# --- Checks across the merged configuration, and apko's defaults ----------------------------------


def _cross_checks(config: ImageConfiguration, origins: _Origins) -> List[Problem]:
    """Problems only the merged configuration shows (a pin whose repository is in an include...)."""
    problems: List[Problem] = []

    # With a base image, apko takes nothing but contents, archs and include (parse() in apko).
    baseimage = config.contents.baseimage
    if baseimage is not None:
        unsupported = [
            key
            for key, value, empty in (
                ("entrypoint", config.entrypoint, Entrypoint()),
                ("cmd", config.cmd, ""),
                ("stop-signal", config.stop_signal, ""),
                ("work-dir", config.work_dir, ""),
                ("accounts", config.accounts, Accounts()),
                ("environment", config.environment, ()),
                ("paths", config.paths, ()),
                ("annotations", config.annotations, ()),
            )
            if value != empty
        ]
        if unsupported:
            problems.append(
                origins.problem(
                    baseimage,
                    "with a base image apko only takes contents, archs and include: remove"
                    f" {', '.join(unsupported)}",
                )
            )

    tags = {
        match.group(1)
        for repository in config.contents.repositories + config.contents.build_repositories
        for match in [_REPOSITORY_TAG.match(repository)]
        if match
    }
    for spec in config.contents.packages:
        if spec.pin and spec.pin not in tags:
            problems.append(
                origins.problem(
                    spec,
                    f"{spec.text!r} is pinned to @{spec.pin}, but no repository is tagged so: add"
                    f" '@{spec.pin} <url>' to contents.repositories (or build_repositories)",
                )
            )

    for what, items, name_of in (
        ("user", config.accounts.users, lambda user: user.username),
        ("group", config.accounts.groups, lambda group: group.groupname),
    ):
        seen = set()
        for item in items:
            name = name_of(item)
            if name in seen:
                problems.append(
                    origins.problem(
                        item,
                        f"{what} {name!r} is defined twice (perhaps in an included file): keep one",
                    )
                )
            seen.add(name)

    entrypoint = config.entrypoint
    if entrypoint.type == SERVICE_BUNDLE:
        if entrypoint.command not in ("", SERVICE_BUNDLE_COMMAND):
            problems.append(
                origins.problem(
                    entrypoint,
                    f"a service bundle always runs {SERVICE_BUNDLE_COMMAND!r}: remove `command`",
                    ".command",
                )
            )
        if entrypoint.shell_fragment:
            problems.append(
                origins.problem(
                    entrypoint,
                    "a service bundle runs its services: remove `shell-fragment`",
                    ".shell-fragment",
                )
            )
    else:
        if entrypoint.services:
            problems.append(
                origins.problem(
                    entrypoint,
                    f"services only run in a service bundle: add `type: {SERVICE_BUNDLE}`",
                    ".services",
                )
            )
        if entrypoint.command and entrypoint.shell_fragment:
            problems.append(
                origins.problem(
                    entrypoint,
                    "both `command` and `shell-fragment` are set: keep one (apko would run the"
                    " shell fragment)",
                )
            )
    return problems


def _apply_defaults(config: ImageConfiguration) -> ImageConfiguration:
    """apko's ``Validate`` mutations, and the architectures apko builds when none are named."""
    users = tuple(
        replace(user, homedir=user.homedir or f"/home/{user.username}")
        for user in config.accounts.users
    )
    config = replace(
        config, accounts=replace(config.accounts, users=users), archs=config.archs or ALL_ARCHS
    )
    if config.entrypoint.type == SERVICE_BUNDLE:
        packages = config.contents.packages
        # apko appends s6 unconditionally (apk ignores the duplicate); once is enough, and keeps a
        # printed configuration loading back to the same one.
        if not any(spec.name == SERVICE_BUNDLE_PACKAGE for spec in packages):
            packages += (PackageSpec(text=SERVICE_BUNDLE_PACKAGE, name=SERVICE_BUNDLE_PACKAGE),)
        config = replace(
            config,
            entrypoint=replace(config.entrypoint, command=SERVICE_BUNDLE_COMMAND),
            contents=replace(config.contents, packages=packages),
        )
    return config


# --- Files ----------------------------------------------------------------------------------------


def _include_candidates(value: str, including: Path, include_paths: Sequence[Path]) -> List[Path]:
    candidate = Path(value)
    if candidate.is_absolute():
        return [candidate]
    return [including.parent / candidate] + [
        Path(directory) / candidate for directory in include_paths
    ]


class _Loader:
    """One load: the files read (in apko's checksum order), the problems, the values' origins."""

    def __init__(self, include_paths: Sequence[PathLike]) -> None:
        self.include_paths = [Path(p) for p in include_paths]
        self.problems: List[Problem] = []
        self.origins = _Origins()
        self.contents: List[bytes] = []

    def read(self, path: Path, chain: Tuple[Path, ...] = ()) -> ImageConfiguration:
        """The configuration in ``path`` merged over what it includes (``archs`` unset if unset)."""
        label = str(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            self.problems.append(
                Problem(label, 0, "", f"cannot be read: {error.strerror or error}")
            )
            return ImageConfiguration(archs=())
        self.contents.append(data)  # apko hashes a file before it reads what the file includes
        reader = _Reader(label, self.problems, self.origins)
        config, include = _read_configuration(reader, reader.document(data))
        if include is None:
            return config
        node, key_path = include
        value = reader.string(include)
        candidates = _include_candidates(value, path, self.include_paths)
        target = next((c for c in candidates if c.is_file()), None)
        if target is None:
            looked = ", ".join(str(c) for c in candidates)
            reader.problem(
                node,
                key_path,
                f"cannot find {value!r} (looked for {looked}): include names a local file, relative"
                " to the including file",
            )
            return config
        chain = chain + (path.resolve(),)
        if target.resolve() in chain:
            cycle = " -> ".join(str(p) for p in chain + (target.resolve(),))
            reader.problem(
                node,
                key_path,
                f"includes {value!r}, which includes this file again ({cycle}): remove one of the"
                " includes",
            )
            return config
        return _merge(self.read(target, chain), config)

    def load(self, path: PathLike) -> ImageConfiguration:
        config = self.read(Path(path))
        if not self.problems:
            self.problems.extend(_cross_checks(config, self.origins))
        if self.problems:
            raise ConfigError(self.problems)
        return _apply_defaults(config)


def load_configuration(
    path: PathLike, include_paths: Sequence[PathLike] = ()
) -> ImageConfiguration:
    """Read, merge, validate and complete the apko configuration in ``path``.

    ``include_paths`` are more folders to look for included files in, after the including file's
    own. Raises :class:`ConfigError` listing every problem found.
    """
    return _Loader(include_paths).load(path)


def configuration_checksum(path: PathLike, include_paths: Sequence[PathLike] = ()) -> str:
    """apko's lock-file checksum of a configuration: ``sha256-`` + base64 SHA-256 of its files.

    The files are the configuration and its includes, hashed one after the other in the order apko
    reads them (a file, then what it includes). The configuration must load: a broken one raises
    :class:`ConfigError`.
    """
    loader = _Loader(include_paths)
    loader.load(path)
    digest = hashlib.sha256()
    for data in loader.contents:
        digest.update(data)
    return "sha256-" + base64.b64encode(digest.digest()).decode("ascii")


def configuration_digest(config: ImageConfiguration) -> str:
    """``sha256:<hex>`` of the configuration's canonical form: equal configurations, equal digests.

    The canonical form is the data :func:`apkoci.config.show.format_configuration` prints, as JSON
    with sorted keys and no spaces; a comment or a reordered key in the file does not change it.
    """
    canonical = json.dumps(
        configuration_data(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
