"""APK repositories and their signed indexes (``<repository>/<arch>/APKINDEX.tar.gz``).

A repository is written in apko.yaml (and /etc/apk/repositories) as a local path (``/path``,
``./relative``), a ``file://`` URL or an ``http(s)://`` URL, optionally preceded by a tag:
``"@local /path"``. A tagged repository's packages are only installed when asked for by
``name@tag`` (the resolver's business; here the tag is just carried along).

``APKINDEX.tar.gz`` is signature gzip member(s) followed by one gzip'ed tar holding ``DESCRIPTION``
and ``APKINDEX`` (the index text, parsed by index.py). The signature covers the compressed bytes of
that second part; see signature.py.
"""

from __future__ import annotations

import base64
import io
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, List, NamedTuple, Optional, Tuple, Union

from apkoci.apk.apkfile import ApkFormatError, read_signed_head
from apkoci.apk.index import Package, PackageCatalog, parse_index_text
from apkoci.apk.signature import Keyring, verify_signatures
from apkoci.errors import ApkociError

if TYPE_CHECKING:
    import urllib.request

INDEX_FILENAME = "APKINDEX.tar.gz"
DEFAULT_TIMEOUT_SECONDS = 60.0
# An index is a few MiB (Alpine main: 0.7 MiB compressed); refuse endless or absurd responses.
MAX_INDEX_BYTES = 256 * 1024 * 1024

_REMOTE_SCHEMES = ("http", "https")


class RepositoryError(ApkociError):
    """A repository cannot be parsed or its index cannot be fetched or read."""


@dataclass(frozen=True)
class Repository:
    """Where packages come from: ``url`` is a local path, a ``file://`` or an ``http(s)://`` URL.

    ``url`` never ends in ``/``; ``tag`` is the ``@tag`` prefix without the ``@`` (or None).
    """

    url: str
    tag: Optional[str] = None

    @classmethod
    def parse(
        cls, text: str, base_dir: Optional[Union[str, "os.PathLike[str]"]] = None
    ) -> "Repository":
        """Parse the apko.yaml spelling, e.g. ``"https://packages.wolfi.dev/os"``,
        ``"./packages"`` or ``"@local /work/packages"``.

        A relative local path is made absolute against ``base_dir`` when given, else it stays
        relative (to the directory apkoci runs in, as in apko).
        """
        fields = text.split()
        tag: Optional[str] = None
        if fields and fields[0].startswith("@"):
            tag = fields[0][1:]
            fields = fields[1:]
            if not tag:
                raise RepositoryError(f"repository {text!r}: the tag after '@' is empty")
        if len(fields) != 1:
            raise RepositoryError(
                f"repository {text!r}: expected a path or URL, optionally preceded by @tag "
                "(e.g. '@local /work/packages' or 'https://packages.wolfi.dev/os')"
            )
        url = fields[0]
        scheme = urllib.parse.urlsplit(url).scheme if "://" in url else ""
        if scheme and scheme not in _REMOTE_SCHEMES + ("file",):
            raise RepositoryError(
                f"repository {text!r}: unsupported scheme {scheme}://; use a local path, "
                "file://, http:// or https://"
            )
        if not scheme and base_dir is not None and not os.path.isabs(url):
            url = os.path.normpath(os.path.join(os.path.abspath(base_dir), url))
        stripped = url.rstrip("/")
        return cls(url=stripped or "/", tag=tag)

    def __str__(self) -> str:
        """The apko.yaml / /etc/apk/repositories spelling (parses back to the same value)."""
        return f"@{self.tag} {self.url}" if self.tag else self.url

    @property
    def is_remote(self) -> bool:
        """Whether the repository is fetched over http(s)."""
        return urllib.parse.urlsplit(self.url).scheme in _REMOTE_SCHEMES

    def local_path(self) -> Optional[Path]:
        """The directory of a local (path or ``file://``) repository; None for a remote one."""
        if self.is_remote:
            return None
        if self.url.startswith("file://"):
            return Path(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path))
        return Path(self.url)

    def index_url(self, arch: str) -> str:
        """``<repository>/<arch>/APKINDEX.tar.gz``."""
        return f"{self.url}/{arch}/{INDEX_FILENAME}"

    def package_url(self, arch: str, filename: str) -> str:
        """``<repository>/<arch>/<name>-<version>.apk``: where a package of this repository is."""
        return f"{self.url}/{arch}/{filename}"


@dataclass(frozen=True)
class RepositoryIndex:
    """The verified, parsed ``APKINDEX.tar.gz`` of one repository for one architecture.

    An index from :func:`load_index` reads its packages lazily: ``packages`` is a plain list,
    made (every stanza read) the first time it is asked for, while the resolver finds the few
    packages it needs through :attr:`catalog` without reading the others. Either way the index
    is checked in full when it is loaded, and it compares, prints and copies like any other.
    """

    repository: Repository
    arch: str
    description: str  # the DESCRIPTION file, e.g. "v3.18.4-102-g2e4d1fdc0a6"
    packages: List[Package]
    verified_by: Optional[str] = None  # the key name that verified it; None if allow_untrusted

    @classmethod
    def _from_catalog(
        cls,
        repository: Repository,
        arch: str,
        description: str,
        catalog: PackageCatalog,
        verified_by: Optional[str],
    ) -> "RepositoryIndex":
        """An index whose ``packages`` list is made from ``catalog`` on first use."""
        index = cls.__new__(cls)
        for name, value in (
            ("repository", repository),
            ("arch", arch),
            ("description", description),
            ("verified_by", verified_by),
            ("_catalog", catalog),
        ):
            object.__setattr__(index, name, value)
        return index

    def __getattr__(self, name: str) -> object:
        # Only called for attributes not set: `packages` of an index made by _from_catalog.
        catalog = self.__dict__.get("_catalog")
        if name != "packages" or catalog is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        packages = catalog.packages()
        object.__setattr__(self, "packages", packages)
        return packages

    @property
    def catalog(self) -> PackageCatalog:
        """The packages found by name, read only when asked for (what the resolver uses)."""
        catalog = self.__dict__.get("_catalog")
        if catalog is None:
            # An index made from a list of packages: the list is the index (indexes are values,
            # never changed once made), so its catalog is made once.
            catalog = PackageCatalog.from_packages(self.packages)
            object.__setattr__(self, "_catalog", catalog)
        return catalog


class _IndexArchive(NamedTuple):
    description: str
    text: str  # the APKINDEX file
    verified_by: Optional[str]


def read_index_archive(
    data_or_path: Union[bytes, str, "os.PathLike[str]"],
    keyring: Keyring,
    source: str,
    allow_untrusted: bool = False,
) -> Tuple[str, List[Package]]:
    """Verify and parse an ``APKINDEX.tar.gz`` given as bytes or a path.

    Returns ``(description, packages)``. Raises SignatureError when it is unsigned or no
    signature verifies with ``keyring`` (unless ``allow_untrusted``), ApkFormatError when it is
    not an index archive; errors name ``source``.
    """
    archive = _read_index_archive(data_or_path, keyring, source, allow_untrusted)
    return archive.description, parse_index_text(archive.text, source=source)


def _read_index_archive(
    data_or_path: Union[bytes, str, "os.PathLike[str]"],
    keyring: Keyring,
    source: str,
    allow_untrusted: bool,
) -> _IndexArchive:
    if isinstance(data_or_path, bytes):
        return _read_index_stream(io.BytesIO(data_or_path), keyring, source, allow_untrusted)
    try:
        raw = open(data_or_path, "rb")
    except OSError as error:
        raise RepositoryError(f"cannot read index {source}: {error.strerror}") from None
    with raw:
        return _read_index_stream(raw, keyring, source, allow_untrusted)


def _read_index_stream(
    raw: BinaryIO, keyring: Keyring, source: str, allow_untrusted: bool
) -> _IndexArchive:
    head, pending = read_signed_head(raw, source)
    if pending or raw.read(1):
        raise ApkFormatError(
            f"{source}: unexpected data after the index's gzip member (an index is signature "
            "member(s) and one gzip'ed tar); rebuild it with `melange index` or `apk index`"
        )
    verified_by = verify_signatures(
        head.signatures, [head.signed_member.raw], keyring, source, allow_untrusted
    )
    files = dict(head.signed_files)
    if "APKINDEX" not in files:
        names = ", ".join(files) or "nothing"
        raise ApkFormatError(
            f"{source} is not an APK index: its archive holds {names}, but no APKINDEX file"
        )
    # The index is UTF-8 in practice; a stray byte in a description must not make the whole
    # repository unusable, and names and versions are ASCII anyway.
    description = files.get("DESCRIPTION", b"").decode("utf-8", errors="replace").strip()
    index = files.pop("APKINDEX")
    del head  # (the tar, a copy of the index: the decoded text need not be made beside it)
    text = index.decode("utf-8", errors="replace")
    return _IndexArchive(description=description, text=text, verified_by=verified_by)


def load_index(
    repository: Repository,
    arch: str,
    keyring: Keyring,
    allow_untrusted: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> RepositoryIndex:
    """Fetch, verify and parse ``repository``'s index for ``arch``.

    Local and ``file://`` repositories are read directly; http(s) ones are fetched with urllib
    (``timeout`` seconds per connection attempt and read). Basic-auth credentials may be given in
    the URL (``https://user:token@host/...``); they are sent as a header and never shown in errors.
    """
    url = repository.index_url(arch)
    local = repository.local_path()
    if local is not None:
        path = local / arch / INDEX_FILENAME
        if not path.is_file():
            raise RepositoryError(
                f"repository {repository.url} has no index for {arch}: {path} does not exist. "
                f"Check the path and that the repository has packages for {arch} (build the "
                "index with `melange index` or `apk index`)"
            )
        source = str(path)
        archive = _read_index_archive(path, keyring, source, allow_untrusted)
    else:
        data = fetch_url(url, timeout=timeout)
        source = redact_url(url)
        archive = _read_index_archive(data, keyring, source, allow_untrusted)
    return RepositoryIndex._from_catalog(
        repository=repository,
        arch=arch,
        description=archive.description,
        catalog=PackageCatalog.from_index_text(archive.text, source=source),
        verified_by=archive.verified_by,
    )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return _with_userinfo(parts, f"{parts.username}:***@")


def _with_userinfo(parts: urllib.parse.SplitResult, userinfo: str) -> str:
    """The URL of ``parts`` with its ``user:password@`` part replaced by ``userinfo``."""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address loses its brackets in .hostname
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}{host}{port}"))


def http_request(url: str) -> "urllib.request.Request":
    """A GET of an http(s) ``url`` for urllib; credentials in the URL are sent as Basic
    authentication (urllib does not take them from the URL itself) and stripped from it."""
    # Imported here: urllib.request (and the http and email packages it brings) costs more to
    # import than resolving against a local index takes, and only remote repositories need it.
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "apkoci"}
    if parts.username is not None:
        credentials = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        url = _with_userinfo(parts, "")
    return urllib.request.Request(url, headers=headers)


def fetch_url(
    url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS, limit: int = MAX_INDEX_BYTES
) -> bytes:
    """GET an http(s) URL into memory, with a clear RepositoryError naming the URL on failure."""
    import urllib.error
    import urllib.request

    shown = redact_url(url)
    request = http_request(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the open response; we only need its status
        hint = " (wrong URL or architecture?)" if error.code == 404 else ""
        raise RepositoryError(
            f"fetching {shown} failed: HTTP {error.code} {error.reason}{hint}"
        ) from None
    except urllib.error.URLError as error:
        raise RepositoryError(f"cannot fetch {shown}: {error.reason}") from None
    except (OSError, ValueError) as error:  # timeouts mid-read, connection resets, bad URLs
        raise RepositoryError(f"cannot fetch {shown}: {error}") from None
    if len(data) > limit:
        raise RepositoryError(f"{shown} is larger than the limit of {limit} bytes")
    return data
