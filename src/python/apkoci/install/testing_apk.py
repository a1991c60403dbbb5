"""For tests: build small, unsigned ``.apk`` files from a description of their entries.

:func:`build_apk` writes a control member (``.PKGINFO`` and scripts) and a data member whose regular
files and symlinks carry ``APK-TOOLS.checksum.SHA1`` records, as abuild and melange write them. The
data tar is streamed, so a test can package a file of any size without holding it in memory. It is
no substitute for the real APK writer: no signature, and only what the install tests need.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from apkoci.apk.apkfile import PAX_CHECKSUM_SHA1, PkgInfo, data_hash
from apkoci.apk.dependency import parse_dependencies
from apkoci.apk.index import Package


@dataclass(frozen=True)
class Spec:
    """One data tar entry. ``kind`` is file, dir, symlink, hardlink, char, block or fifo."""

    kind: str = "file"
    data: bytes = b""
    source: Optional[Path] = None  # a file on disk to stream as the content (instead of data)
    mode: Optional[int] = None  # default 0644 for files, 0755 for directories, 0777 for symlinks
    uid: int = 0
    gid: int = 0
    uname: str = "root"
    gname: str = "root"
    target: str = ""  # symlink target, or the path a hard link links to
    xattrs: Mapping[str, bytes] = field(default_factory=dict)
    checksum: Optional[
        str
    ] = None  # the SHA-1 record to write; default: the right one ("" for none)
    devmajor: int = 0
    devminor: int = 0


EntrySpec = Union[bytes, Spec]

_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def build_apk(
    out_dir: Path,
    name: str,
    version: str = "1.0-r0",
    entries: Union[Mapping[str, EntrySpec], Sequence[Tuple[str, EntrySpec]]] = (),
    *,
    origin: str = "",
    replaces: str = "",
    replaces_priority: int = 0,
    arch: str = "x86_64",
    scripts: Mapping[str, bytes] = {},
    triggers: str = "",
    auto_dirs: bool = True,
) -> Path:
    """Write ``<out_dir>/<name>-<version>.apk`` with ``entries`` (path -> bytes for a 0644 file,
    or a :class:`Spec`), in the order given. With ``auto_dirs`` the missing parent directories are
    added (0755 root) before the first entry inside them."""
    items = list(entries.items()) if isinstance(entries, Mapping) else list(entries)
    if auto_dirs:
        items = _with_parent_directories(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        data_member = Path(scratch) / "data.tar.gz"
        _write_data_member(data_member, items)
        with open(data_member, "rb") as raw:
            datahash = data_hash(iter(lambda: raw.read(1 << 20), b""))
        package = Package(
            name=name,
            version=version,
            arch=arch,
            origin=origin or name,
            description=f"{name} for tests",
            license="MIT",
            replaces=parse_dependencies(replaces),
            replaces_priority=replaces_priority,
        )
        extra = [("triggers", triggers)] if triggers else []
        pkginfo = PkgInfo.from_package(package, datahash, extra).format().encode("utf-8")
        control = [(".PKGINFO", pkginfo)] + [
            (f".{script}", data) for script, data in scripts.items()
        ]
        path = out_dir / f"{name}-{version}.apk"
        with open(path, "wb") as out:
            out.write(_gzip(_cut_tar(control)))
            with open(data_member, "rb") as raw:
                shutil.copyfileobj(raw, out, 1 << 20)
    return path


def _with_parent_directories(items: List[Tuple[str, EntrySpec]]) -> List[Tuple[str, EntrySpec]]:
    seen = {path for path, spec in items if isinstance(spec, Spec) and spec.kind == "dir"}
    result: List[Tuple[str, EntrySpec]] = []
    for path, spec in items:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen.add(parent)
                result.append((parent, Spec("dir")))
        result.append((path, spec))
    return result


def _write_data_member(path: Path, items: List[Tuple[str, EntrySpec]]) -> None:
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as compressed:
            # A GzipFile is a binary file object, but not an IO[bytes] subclass as the stubs ask.
            with tarfile.open(
                fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT  # type: ignore[arg-type]
            ) as archive:
                for name, spec in items:
                    _add(archive, name, spec if isinstance(spec, Spec) else Spec(data=spec))


def _add(archive: tarfile.TarFile, name: str, spec: Spec) -> None:
    info = tarfile.TarInfo(name)
    info.type = _TYPES[spec.kind]
    default_mode = {"dir": 0o755, "symlink": 0o777}.get(spec.kind, 0o644)
    info.mode = default_mode if spec.mode is None else spec.mode
    info.uid, info.gid, info.uname, info.gname = spec.uid, spec.gid, spec.uname, spec.gname
    info.mtime = 0
    info.linkname = spec.target
    info.devmajor, info.devminor = spec.devmajor, spec.devminor
    pax: Dict[str, str] = {
        f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
        for key, value in spec.xattrs.items()
    }
    content: Optional[IO[bytes]] = None
    if spec.kind == "file":
        if spec.source is not None:
            info.size = os.path.getsize(spec.source)
            digest = _sha1_of_file(spec.source)
            content = open(spec.source, "rb")
        else:
            info.size = len(spec.data)
            digest = hashlib.sha1(spec.data).hexdigest()
            content = io.BytesIO(spec.data)
    elif spec.kind in ("symlink", "hardlink"):
        digest = hashlib.sha1(spec.target.encode("utf-8")).hexdigest()
    else:
        digest = ""
    checksum = digest if spec.checksum is None else spec.checksum
    if checksum and spec.kind != "dir":
        pax[PAX_CHECKSUM_SHA1] = checksum
    info.pax_headers = pax
    try:
        archive.addfile(info, content)
    finally:
        if content is not None:
            content.close()


def _sha1_of_file(path: Path) -> str:
    hasher = hashlib.sha1()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _cut_tar(files: List[Tuple[str, bytes]]) -> bytes:
    """A tar of small files without its end-of-archive blocks (apk's "cut" control tar)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
        end = archive.offset
    return buffer.getvalue()[:end]


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        compressed.write(data)
    return buffer.getvalue()
