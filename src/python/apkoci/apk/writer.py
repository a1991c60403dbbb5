"""Writing APK v2 packages and signed repository indexes, the way abuild and melange do.

:func:`build_package` makes a ``.apk`` from a directory tree and a :class:`PackageSpec`;
:func:`build_index` makes a signed ``APKINDEX.tar.gz`` from ``.apk`` files; and
:func:`generate_signing_key` makes an RSA key pair to sign them with (for tests and examples).
What the files look like is described in apkfile.py (reading) and signature.py (what is signed);
the facts the writer needs on top, checked against apk-tools 2.14 (``src/tar.c``,
``src/extract_v2.c``, ``src/app_index.c``), abuild and melange, and against the real Alpine and
melange files in the shared test data:

- A package is up to three gzip members: signature, control, data. The signature and control
  tars are *cut* (no end-of-archive blocks), so that the members read as one tar stream; the data
  tar ends with the two zero blocks. (abuild also pads the data tar to GNU tar's 10 KiB records;
  melange does not; apk-tools reads both.)
- Headers are POSIX ustar (``ustar\\0`` + ``00``). apk-tools reads only ``path``, ``linkpath``,
  ``SCHILY.xattr.*`` and ``APK-TOOLS.checksum.*`` from PAX records, *not* ``size``, ``uid``,
  ``gid`` or ``mtime``: those must fit the ustar fields, and we refuse what does not fit (a file
  of 8 GiB or more, ids above 2097151) instead of writing a package apk would misread.
- Each regular file (hard links included) carries the PAX record ``APK-TOOLS.checksum.SHA1`` with
  the hex SHA-1 of its content, each symlink the SHA-1 of its target (apk-tools records both in
  its installed database). apk-tools resolves ``uname``/``gname`` through the image's
  ``/etc/passwd`` and ``/etc/group`` and falls back to the numeric ids, so owners other than root
  get empty names unless the caller gives them.
- The signature is over the compressed control member (the package's ``datahash``, the SHA-256
  of the compressed data member, covers the data). melange signs ``RSA256`` (SHA-256) today;
  abuild-sign still defaults to ``RSA`` (SHA-1); apk-tools 2.14 checks both. We default to
  ``RSA256``.
- ``apk index`` writes ``DESCRIPTION`` (only when given) and then ``APKINDEX``, ``root``-owned,
  mode 0644, with the end-of-archive blocks; ``abuild-sign`` prepends the signature member, a cut
  tar over the compressed index member.

Determinism: entries are sorted (depth first, names compared as bytes), every mtime is the
``source_date_epoch``, owners come from the ``owners`` overrides (root:root by default, never the
file system's), gzip headers carry neither a time nor a name, and the tar and gzip framing is
written here byte by byte rather than by ``tarfile``/``gzip``, whose output changes between
Python versions. The deflate stream itself comes from zlib: the same zlib gives the same bytes.
RSA PKCS#1 v1.5 signatures are deterministic, so signed files are reproducible too.

File contents are streamed: each regular file is read twice (once to hash it for the PAX record
that precedes it, once to compress it), never held in memory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import (
    IO,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from apkoci.apk.apkfile import (
    PAX_CHECKSUM_SHA1,
    SCRIPT_NAMES,
    PkgInfo,
    control_checksum,
    data_hash,
    package_from_pkginfo,
    read_apk,
)
from apkoci.apk.dependency import Dependency, DependencyError, parse_dependency
from apkoci.apk.index import Package, format_index_text
from apkoci.apk.signature import DIGEST_OF_ALGORITHM, load_private_key, sign
from apkoci.apk.version import compare_versions, is_valid_version
from apkoci.errors import ApkociError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PathLike = Union[str, "os.PathLike[str]"]
# A signing key: a PEM file (its name, plus ".pub", is the default key name, as abuild and melange
# do it), PEM bytes, or a loaded key.
SigningKey = Union[PathLike, bytes, rsa.RSAPrivateKey]

DEFAULT_SIGNATURE_ALGORITHM = "RSA256"

_BLOCK = 512
_CHUNK = 64 * 1024
_END_OF_ARCHIVE = b"\0" * (2 * _BLOCK)


class PackageWriterError(ApkociError):
    """A package or index cannot be written from what was given."""


# --- What goes into a package ---------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """Who owns a file in the package. ``user``/``group`` None: ``root`` for id 0, else empty
    (apk-tools then keeps the numeric id)."""

    uid: int = 0
    gid: int = 0
    user: Optional[str] = None
    group: Optional[str] = None

    @property
    def user_name(self) -> str:
        return self.user if self.user is not None else ("root" if self.uid == 0 else "")

    @property
    def group_name(self) -> str:
        return self.group if self.group is not None else ("root" if self.gid == 0 else "")


ROOT = Owner()

DependencyLike = Union[str, Dependency]


@dataclass(frozen=True)
class PackageSpec:
    """The metadata of a package to build (what an APKBUILD or melange.yaml says about it).

    The fields hold the types annotated; for convenience (values read from YAML) the constructor
    also takes lists, dependencies as strings (``"so:libc.musl-x86_64.so.1"``, ``"busybox>=1.36"``)
    and ``scripts`` as a mapping, and normalizes them. ``scripts`` maps apk's script names
    (``pre-install``, ``post-install``, ``pre-deinstall``, ``post-deinstall``, ``pre-upgrade``,
    ``post-upgrade``, ``trigger``) to the files holding them; ``triggers`` are the directory globs
    whose changes run the ``trigger`` script. ``origin`` defaults to ``name``. Invalid values
    raise PackageWriterError naming the package and the field.
    """

    name: str
    version: str
    arch: str
    description: str = ""
    url: str = ""
    license: str = ""
    origin: str = ""
    maintainer: str = ""
    packager: str = ""
    commit: str = ""
    depends: Tuple[Dependency, ...] = ()
    provides: Tuple[Dependency, ...] = ()
    install_if: Tuple[Dependency, ...] = ()
    replaces: Tuple[Dependency, ...] = ()
    provider_priority: Optional[int] = None
    replaces_priority: int = 0
    scripts: Tuple[Tuple[str, Path], ...] = ()  # (name, file), sorted by name
    triggers: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not is_valid_version(self.version):
            raise self._error(
                f"version {self.version!r} is not an apk version (e.g. '1.2.3-r0'); see "
                "apk-tools' version rules"
            )
        if not self.arch or any(char.isspace() or char == "/" for char in self.arch):
            raise self._error(f"arch {self.arch!r} must be a word such as 'x86_64' or 'noarch'")
        for field in _ONE_LINE_FIELDS:
            if "\n" in getattr(self, field):
                raise self._error(f"{field} contains a line break; .PKGINFO values are one line")
        if not self.origin:
            object.__setattr__(self, "origin", self.name)
        for field in ("depends", "provides", "install_if", "replaces"):
            object.__setattr__(self, field, self._dependencies(field, getattr(self, field)))
        for field in ("provider_priority", "replaces_priority"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise self._error(f"{field} must be a whole number of 0 or more, got {value!r}")
        object.__setattr__(self, "scripts", self._scripts(self.scripts))
        if isinstance(self.triggers, str):
            raise self._error(f"triggers must be a list of paths, not one string {self.triggers!r}")
        object.__setattr__(self, "triggers", tuple(self.triggers))
        has_trigger_script = any(name == "trigger" for name, _ in self.scripts)
        if bool(self.triggers) != has_trigger_script:
            raise self._error(
                "a trigger script needs `triggers` (the paths that run it) and `triggers` need a "
                "`trigger` script: give both or neither"
            )
        for path in self.triggers:
            if not path or any(char.isspace() for char in path):
                raise self._error(f"trigger path {path!r} must be one word without spaces")

    def _error(self, problem: str) -> PackageWriterError:
        return PackageWriterError(f"package {self.name!r}: {problem}")

    def _dependencies(self, field: str, values: Iterable[DependencyLike]) -> Tuple[Dependency, ...]:
        if isinstance(values, str):
            raise self._error(f"{field} must be a list of dependencies, not one string {values!r}")
        parsed = []
        for value in values:
            try:
                parsed.append(value if isinstance(value, Dependency) else parse_dependency(value))
            except DependencyError as error:
                raise self._error(f"{field}: {error}") from None
        return tuple(parsed)

    def _scripts(
        self, scripts: Union[Mapping[str, PathLike], Iterable[Tuple[str, PathLike]]]
    ) -> Tuple[Tuple[str, Path], ...]:
        pairs = scripts.items() if isinstance(scripts, Mapping) else scripts
        normalized: Dict[str, Path] = {}
        for name, path in pairs:
            name = name[1:] if name.startswith(".") else name
            if name not in SCRIPT_NAMES:
                raise self._error(
                    f"unknown script {name!r}: apk runs only {', '.join(SCRIPT_NAMES)}"
                )
            normalized[name] = Path(path)
        return tuple(sorted(normalized.items()))

    def package(self, installed_size: int, build_time: int) -> Package:
        """The Package this spec describes (without the checksum and size of a built file)."""
        return Package(
            name=self.name,
            version=self.version,
            arch=self.arch,
            installed_size=installed_size,
            description=self.description,
            url=self.url,
            license=self.license,
            origin=self.origin,
            maintainer=self.maintainer,
            build_time=build_time,
            commit=self.commit,
            depends=self.depends,
            provides=self.provides,
            install_if=self.install_if,
            replaces=self.replaces,
            provider_priority=self.provider_priority,
            replaces_priority=self.replaces_priority,
        )


# The PackageSpec fields written to .PKGINFO as they are, which must therefore be one line.
_ONE_LINE_FIELDS = ("description", "url", "license", "origin", "maintainer", "packager", "commit")


def _check_name(name: str) -> None:
    """A package name is what a dependency can name: no spaces, operators, ``!`` or ``@``; and no
    ``/`` either, as it becomes part of a file name."""
    try:
        dependency: Optional[Dependency] = parse_dependency(name)
    except DependencyError:
        dependency = None
    if dependency is None or dependency.name != name or dependency.op or "/" in name:
        raise PackageWriterError(
            f"package name {name!r} is not a valid apk package name (e.g. 'hello-world': no "
            "spaces, version operators, '!', '@' or '/')"
        )


# --- Signing keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKeyPair:
    """An RSA key pair as abuild-keygen and ``melange keygen`` write it (PEM)."""

    private_pem: bytes  # PKCS#1 "RSA PRIVATE KEY", unencrypted
    public_pem: bytes  # SubjectPublicKeyInfo "PUBLIC KEY": what /etc/apk/keys holds

    def write(self, directory: PathLike, name: str) -> Tuple[Path, Path]:
        """Write ``<name>.rsa`` and ``<name>.rsa.pub`` into ``directory``; returns both paths.

        Sign with the first: its default key name is the second's file name.
        """
        private_path = Path(directory) / f"{name}.rsa"
        public_path = Path(directory) / f"{name}.rsa.pub"
        # The private key is created readable by its owner only.
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "wb") as handle:
            handle.write(self.private_pem)
        public_path.write_bytes(self.public_pem)
        return private_path, public_path


def generate_signing_key(bits: int = 2048) -> SigningKeyPair:
    """A new RSA key pair for signing packages and indexes (tests, examples, local repositories)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKeyPair(private_pem=private_pem, public_pem=public_pem)


@dataclass(frozen=True)
class _Signer:
    key: rsa.RSAPrivateKey
    key_name: str
    algorithm: str


def _signer(
    signing_key: Optional[SigningKey], key_name: Optional[str], algorithm: str
) -> Optional[_Signer]:
    """The key to sign with and the name of its public key; None for an unsigned file."""
    if signing_key is None:
        if key_name is not None:
            raise PackageWriterError(f"key_name {key_name!r} given without a signing_key")
        return None
    if algorithm not in DIGEST_OF_ALGORITHM:
        raise PackageWriterError(
            f"unknown signature algorithm {algorithm!r}: use one of "
            f"{', '.join(DIGEST_OF_ALGORITHM)}"
        )
    if isinstance(signing_key, rsa.RSAPrivateKey):
        key = signing_key
    elif isinstance(signing_key, bytes):
        key = load_private_key(signing_key, source="the signing key")
    else:
        path = Path(signing_key)
        try:
            pem = path.read_bytes()
        except OSError as error:
            raise PackageWriterError(f"cannot read signing key {path}: {error.strerror}") from None
        key = load_private_key(pem, source=str(path))
        key_name = key_name or f"{path.name}.pub"
    if not key_name:
        raise PackageWriterError(
            "key_name is needed with a signing key given as bytes or a key object: it is the file "
            "name of the public key in /etc/apk/keys, e.g. 'melange.rsa.pub'"
        )
    if "/" in key_name or "\0" in key_name:
        raise PackageWriterError(f"key_name {key_name!r} must be a file name, without '/'")
    return _Signer(key=key, key_name=key_name, algorithm=algorithm)


def _signature_member(signer: _Signer, signed: bytes, epoch: int) -> bytes:
    """The gzip'ed, cut tar with the one ``.SIGN.<algorithm>.<key name>`` entry over ``signed``."""
    signature = sign(signer.key, [signed], signer.key_name, signer.algorithm)
    return _gzip_bytes(_file_entry(signature.member_name, signature.value, 0o644, epoch))


# --- Tar framing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    """What one tar entry's header says."""

    name: bytes
    # b"0" file, b"1" hard link, b"2" symlink, b"3"/b"4" char/block device, b"5" dir, b"6" fifo
    typeflag: bytes
    mode: int
    owner: Owner
    mtime: int
    size: int = 0
    linkname: bytes = b""
    device: Tuple[int, int] = (0, 0)
    sha1: Optional[str] = None  # the APK-TOOLS.checksum.SHA1 PAX record


def _header_bytes(header: _Header) -> bytes:
    """The header block(s) of an entry: a PAX ``x`` header first when it needs records."""
    what = header.name.decode("utf-8", "replace")
    records: List[Tuple[bytes, bytes]] = []
    if len(header.name) > 100:
        records.append((b"path", header.name))
    if len(header.linkname) > 100:
        records.append((b"linkpath", header.linkname))
    if header.sha1 is not None:
        records.append((PAX_CHECKSUM_SHA1.encode(), header.sha1.encode()))
    user, group = header.owner.user_name.encode(), header.owner.group_name.encode()
    for label, name in (("user", user), ("group", group)):
        if len(name) > 32:
            raise PackageWriterError(
                f"{what}: {label} name {name!r} is longer than tar's 32 bytes (apk-tools does not "
                "read longer names from PAX records); use a shorter name or a numeric id"
            )
    block = _ustar_block(
        what,
        name=header.name[:100],
        typeflag=header.typeflag,
        mode=header.mode,
        uid=header.owner.uid,
        gid=header.owner.gid,
        size=header.size,
        mtime=header.mtime,
        linkname=header.linkname[:100],
        user=user,
        group=group,
        device=header.device,
    )
    if not records:
        return block
    pax = b"".join(_pax_record(key, value) for key, value in records)
    # Named like GNU tar's: <dir>/PaxHeaders/<base> (the name is informational only).
    directory, _, base = header.name.rpartition(b"/")
    pax_name = (directory or b".") + b"/PaxHeaders/" + base
    pax_header = _ustar_block(
        what,
        name=pax_name[:100],
        typeflag=b"x",
        mode=0o644,
        uid=0,
        gid=0,
        size=len(pax),
        mtime=header.mtime,
        device=None,
    )
    return pax_header + _padded(pax) + block


def _ustar_block(
    what: str,
    *,
    name: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: bytes = b"",
    user: bytes = b"",
    group: bytes = b"",
    device: Optional[Tuple[int, int]] = (0, 0),
) -> bytes:
    """One POSIX ustar header block. ``device`` None leaves the device fields empty (as GNU tar
    and Go do for PAX headers)."""
    octal = functools.partial(_octal, what)
    devices = b"\0" * 16
    if device is not None:
        devices = octal("device major", device[0], 8) + octal("device minor", device[1], 8)
    block = bytearray(
        name.ljust(100, b"\0")
        + octal("mode", mode, 8)
        + octal("uid", uid, 8)
        + octal("gid", gid, 8)
        + octal("size", size, 12)
        + octal("mtime", mtime, 12)
        + b" " * 8  # the checksum is computed with its own field as spaces
        + typeflag
        + linkname.ljust(100, b"\0")
        + b"ustar\x0000"
        + user.ljust(32, b"\0")
        + group.ljust(32, b"\0")
        + devices
        + b"\0" * 167  # prefix (unused: long names go to a PAX path record) and padding
    )
    assert len(block) == _BLOCK
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _octal(what: str, field: str, value: int, width: int) -> bytes:
    """A zero-padded octal tar field with its NUL; apk-tools reads nothing else (no base-256)."""
    digits = width - 1
    if not 0 <= value < 8**digits:
        limit = 8**digits - 1
        raise PackageWriterError(
            f"{what}: {field} {value} does not fit a tar header (at most {limit}); apk-tools reads "
            "this field from the ustar header only"
        )
    return b"%0*o\0" % (digits, value)


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``<length> <key>=<value>\\n``, where the length counts its own digits too."""
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    if len(str(length)) > len(str(len(body))):
        length += 1
    return b"%d" % length + body


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def _padded(data: bytes) -> bytes:
    return data + _padding(len(data))


def _file_entry(name: str, content: bytes, mode: int, epoch: int) -> bytes:
    """A small, root-owned regular file as a tar entry (control files, signatures, index files)."""
    header = _Header(
        name=name.encode(), typeflag=b"0", mode=mode, owner=ROOT, mtime=epoch, size=len(content)
    )
    return _header_bytes(header) + _padded(content)


# --- Gzip framing ---------------------------------------------------------------------------------


class _GzipWriter:
    """One gzip member, compressed as it is written and passed to ``emit`` piece by piece.

    The header is fixed: no name, mtime 0, "maximum compression" and "Unix" (byte for byte what
    ``gzip -n -9`` writes in abuild's packages).
    """

    _HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"

    def __init__(self, emit: Callable[[bytes], object]) -> None:
        self._emit = emit
        self._compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        emit(self._HEADER)

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        compressed = self._compressor.compress(data)
        if compressed:
            self._emit(compressed)

    def close(self) -> None:
        self._emit(self._compressor.flush())
        self._emit(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))


def _gzip_bytes(data: bytes) -> bytes:
    pieces: List[bytes] = []
    writer = _GzipWriter(pieces.append)
    writer.write(data)
    writer.close()
    return b"".join(pieces)


# --- The data tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TreeEntry:
    """One file system entry of the package's tree, by its path in the archive."""

    path: str  # e.g. "usr/bin/hello": relative, "/"-separated, no trailing "/"
    source: Path
    status: os.stat_result  # lstat: symlinks are not followed
    # Symlinks: what the link says. Regular files with several links: the archive path of the
    # first of them, which holds the content (for that first path itself, its own path).
    link_target: str = ""
    is_hard_link: bool = False  # a later path of a file with several links: a tar hard link


def _walk(directory: Path) -> Iterator[_TreeEntry]:
    """Every entry under ``directory`` (not itself), parents first, names sorted as bytes.

    A regular file with several links is written in full at its first path; its other paths
    become hard links to that one.
    """
    first_path_of_inode: Dict[Tuple[int, int], str] = {}

    def visit(source: Path, prefix: str) -> Iterator[_TreeEntry]:
        try:
            names = sorted(os.listdir(source), key=os.fsencode)
        except OSError as error:
            raise PackageWriterError(f"cannot list {source}: {error.strerror}") from None
        for name in names:
            child = source / name
            path = f"{prefix}{name}"
            try:
                status = os.lstat(child)
            except OSError as error:
                raise PackageWriterError(f"cannot read {child}: {error.strerror}") from None
            if stat.S_ISLNK(status.st_mode):
                yield _TreeEntry(path, child, status, link_target=os.readlink(child))
            elif stat.S_ISREG(status.st_mode) and status.st_nlink > 1:
                inode = (status.st_dev, status.st_ino)
                first = first_path_of_inode.setdefault(inode, path)
                yield _TreeEntry(path, child, status, link_target=first, is_hard_link=first != path)
            else:
                yield _TreeEntry(path, child, status)
            if stat.S_ISDIR(status.st_mode):
                yield from visit(child, f"{path}/")

    return visit(directory, "")


def _typeflag(entry: _TreeEntry) -> bytes:
    mode = entry.status.st_mode
    if entry.is_hard_link:
        return b"1"
    for test, flag in (
        (stat.S_ISREG, b"0"),
        (stat.S_ISDIR, b"5"),
        (stat.S_ISLNK, b"2"),
        (stat.S_ISCHR, b"3"),
        (stat.S_ISBLK, b"4"),
        (stat.S_ISFIFO, b"6"),
    ):
        if test(mode):
            return flag
    raise PackageWriterError(
        f"{entry.source} is a socket or other special file, which a package cannot hold; remove it "
        "from the package directory"
    )


def _file_sha1(path: Path) -> Tuple[str, int]:
    """Hex SHA-1 and size of a file's content, streamed."""
    hasher = hashlib.sha1()
    size = 0
    for chunk in _read_chunks(path):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _read_chunks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                yield chunk
    except OSError as error:
        raise PackageWriterError(f"cannot read {path}: {error.strerror}") from None


def _normalized_owners(owners: Optional[Mapping[str, Owner]]) -> Dict[str, Owner]:
    """Owner overrides by archive path (``/usr/bin/x``, ``usr/bin/x`` and ``usr/bin/x/`` alike)."""
    normalized: Dict[str, Owner] = {}
    for path, owner in (owners or {}).items():
        key = path.strip("/")
        if not key or key.startswith("./") or key == ".":
            raise PackageWriterError(
                f"owner override {path!r}: name a path inside the package, e.g. 'usr/bin/hello'"
            )
        if not isinstance(owner, Owner):
            raise PackageWriterError(f"owner override {path!r}: expected an Owner, got {owner!r}")
        normalized[key] = owner
    return normalized


def _write_data_member(
    directory: Path, owners: Dict[str, Owner], epoch: int, emit: Callable[[bytes], object]
) -> int:
    """Write the data member (gzip'ed tar of the tree) to ``emit``; returns the installed size:
    the bytes of regular file content, each hard-linked file counted once."""
    gzip = _GzipWriter(emit)
    installed_size = 0
    # Per first path of a hard-linked inode: its content SHA-1 and its owner.
    hard_link_targets: Dict[str, Tuple[str, Owner]] = {}
    unused_owners = set(owners)
    for entry in _walk(directory):
        unused_owners.discard(entry.path)
        owner = owners.get(entry.path, ROOT)
        typeflag = _typeflag(entry)
        sha1: Optional[str] = None
        size = 0
        if entry.is_hard_link:
            sha1, target_owner = hard_link_targets[entry.link_target]
            if entry.path in owners and owner != target_owner:
                raise PackageWriterError(
                    f"{entry.source} is a hard link to {entry.link_target}, which has another "
                    "owner override: hard links share one owner, give both paths the same one"
                )
            owner = target_owner
        elif typeflag == b"0":
            sha1, size = _file_sha1(entry.source)
            installed_size += size
            if entry.link_target:  # the first path of a hard-linked file
                hard_link_targets[entry.path] = (sha1, owner)
        elif typeflag == b"2":
            sha1 = hashlib.sha1(os.fsencode(entry.link_target)).hexdigest()
        rdev = entry.status.st_rdev if typeflag in (b"3", b"4") else 0
        header = _Header(
            name=os.fsencode(entry.path),
            typeflag=typeflag,
            mode=stat.S_IMODE(entry.status.st_mode),
            owner=owner,
            mtime=epoch,
            size=size,
            linkname=os.fsencode(entry.link_target) if typeflag in (b"1", b"2") else b"",
            device=(os.major(rdev), os.minor(rdev)),
            sha1=sha1,
        )
        gzip.write(_header_bytes(header))
        if typeflag == b"0":
            _copy_content(entry.source, size, sha1, gzip)
    if unused_owners:
        raise PackageWriterError(
            f"owner overrides for paths that are not in {directory}: "
            f"{', '.join(sorted(unused_owners))}; fix the paths (relative to the package root)"
        )
    gzip.write(_END_OF_ARCHIVE)
    gzip.close()
    return installed_size


def _copy_content(source: Path, size: int, sha1: Optional[str], gzip: _GzipWriter) -> None:
    """Stream a file into the tar, checking it is still what was hashed for its header."""
    hasher = hashlib.sha1()
    copied = 0
    for chunk in _read_chunks(source):
        copied += len(chunk)
        if copied > size:
            break
        hasher.update(chunk)
        gzip.write(chunk)
    if copied != size or hasher.hexdigest() != sha1:
        raise PackageWriterError(
            f"{source} changed while the package was being written; build again once nothing "
            "writes to the package directory"
        )
    gzip.write(_padding(size))


# --- Packages -------------------------------------------------------------------------------------


def _control_member(pkginfo: PkgInfo, scripts: Sequence[Tuple[str, Path]], epoch: int) -> bytes:
    """The gzip'ed, cut control tar: ``.PKGINFO``, then the scripts (mode 0755) by name."""
    text = "# Generated by apkoci\n" + pkginfo.format()
    tar = [_file_entry(".PKGINFO", text.encode("utf-8"), 0o644, epoch)]
    for name, path in scripts:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise PackageWriterError(
                f"cannot read the {name} script {path}: {error.strerror}"
            ) from None
        tar.append(_file_entry(f".{name}", content, 0o755, epoch))
    # No end-of-archive blocks: the data member's tar continues the stream.
    return _gzip_bytes(b"".join(tar))


def build_package(
    directory: PathLike,
    metadata: PackageSpec,
    out_path: PathLike,
    signing_key: Optional[SigningKey] = None,
    key_name: Optional[str] = None,
    source_date_epoch: int = 0,
    owners: Optional[Mapping[str, Owner]] = None,
    signature_algorithm: str = DEFAULT_SIGNATURE_ALGORITHM,
) -> Package:
    """Build the ``.apk`` of the files under ``directory`` described by ``metadata``.

    ``signing_key`` (optional) signs it as ``.SIGN.<signature_algorithm>.<key_name>``; ``key_name``
    defaults to the key file's name plus ``.pub``. Every mtime, and ``builddate``, is
    ``source_date_epoch``. ``owners`` overrides the owner of archive paths (``"usr/bin/su"``);
    everything else is root:root. Modes (setuid bits included) come from the file system.

    Returns the Package as ``read_apk(out_path)`` reads it back (``checksum`` is its ``Q1``
    identity, ``size`` its file size). ``out_path`` is replaced atomically.
    """
    root = Path(directory)
    if not root.is_dir():
        raise PackageWriterError(f"package directory {root} does not exist or is not a directory")
    _octal(str(out_path), "source_date_epoch", source_date_epoch, 12)
    signer = _signer(signing_key, key_name, signature_algorithm)
    owner_overrides = _normalized_owners(owners)
    out = Path(out_path)
    if not out.parent.is_dir():
        raise PackageWriterError(f"cannot write {out}: the directory {out.parent} does not exist")
    with tempfile.TemporaryFile(dir=out.parent) as data_file:
        installed_size = _write_data_member(
            root, owner_overrides, source_date_epoch, data_file.write
        )
        data_file.seek(0)
        datahash = data_hash(iter(lambda: data_file.read(_CHUNK), b""))
        extra = [("packager", metadata.packager)] if metadata.packager else []
        if metadata.triggers:
            extra.append(("triggers", " ".join(metadata.triggers)))
        package = metadata.package(installed_size, build_time=source_date_epoch)
        pkginfo = PkgInfo.from_package(package, datahash=datahash, extra=extra)
        control = _control_member(pkginfo, metadata.scripts, source_date_epoch)
        head = _signature_member(signer, control, source_date_epoch) if signer else b""
        data_file.seek(0)
        _write_atomically(out, [head, control], data_file)
    return package_from_pkginfo(pkginfo, control_checksum(control), out.stat().st_size, str(out))


def _write_atomically(out: Path, head: Iterable[bytes], rest: Optional[IO[bytes]] = None) -> None:
    """Write ``head`` then the rest of the file ``rest`` to ``out``, replacing it in one step."""
    descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with open(descriptor, "wb") as handle:
            for piece in head:
                handle.write(piece)
            if rest is not None:
                shutil.copyfileobj(rest, handle, _CHUNK)
        os.chmod(temporary, 0o644)  # what abuild gives packages and indexes, whatever the umask
        os.replace(temporary, out)
    except BaseException:
        os.unlink(temporary)
        raise


# --- Indexes --------------------------------------------------------------------------------------


def _compare_index_order(a: Package, b: Package) -> int:
    """Name, then version (apk's order), then the version's spelling for versions apk deems
    equal (``1.0`` and ``1.00``): the bytes must not depend on the order the files come in."""
    if a.name != b.name:
        return -1 if a.name < b.name else 1
    by_version = compare_versions(a.version, b.version)
    return by_version or (a.version > b.version) - (a.version < b.version)


def build_index(
    apk_paths: Iterable[PathLike],
    out_path: PathLike,
    signing_key: Optional[SigningKey] = None,
    key_name: Optional[str] = None,
    description: str = "",
    source_date_epoch: int = 0,
    signature_algorithm: str = DEFAULT_SIGNATURE_ALGORITHM,
) -> List[Package]:
    """Write the ``APKINDEX.tar.gz`` of the packages ``apk_paths``; returns them in index order.

    Each stanza's ``C:`` is the package's Q1 checksum and ``S:`` its file size, read from the
    file. Packages are sorted by name, then version (so the bytes do not depend on the order of
    ``apk_paths``); two files of the same name and version are an error. ``description`` becomes
    the ``DESCRIPTION`` file (left out when empty, as ``apk index`` does).
    """
    _octal(str(out_path), "source_date_epoch", source_date_epoch, 12)
    if "\n" in description:
        raise PackageWriterError("the index description must be one line")
    signer = _signer(signing_key, key_name, signature_algorithm)
    packages: Dict[Tuple[str, str], Tuple[Package, Path]] = {}
    for entry in apk_paths:
        path = Path(entry)
        package = read_apk(path).package
        key = (package.name, package.version)
        if key in packages:
            raise PackageWriterError(
                f"{path} and {packages[key][1]} are both {package.filename}: an index lists each "
                "name and version once; remove one of them"
            )
        packages[key] = (package, path)
    ordered = sorted(
        (package for package, _ in packages.values()),
        key=functools.cmp_to_key(_compare_index_order),
    )
    tar = []
    if description:
        tar.append(
            _file_entry("DESCRIPTION", description.encode("utf-8"), 0o644, source_date_epoch)
        )
    text = format_index_text(ordered).encode("utf-8")
    tar.append(_file_entry("APKINDEX", text, 0o644, source_date_epoch))
    tar.append(_END_OF_ARCHIVE)
    index = _gzip_bytes(b"".join(tar))
    head = _signature_member(signer, index, source_date_epoch) if signer else b""
    _write_atomically(Path(out_path), [head, index])
    return ordered
