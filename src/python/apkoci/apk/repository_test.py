from __future__ import annotations

import base64
import gzip
import http.server
import io
import tarfile
import threading
from functools import partial
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from apkoci.apk.apkfile import ApkFormatError, read_signed_head
from apkoci.apk.apkfile_test import gzip_member, public_pem, signature_member, tar_bytes
from apkoci.apk.repository import (
    Repository,
    RepositoryError,
    fetch_url,
    load_index,
    read_index_archive,
    redact_url,
)
from apkoci.apk.signature import Keyring, SignatureError
from apkoci.testing import shared_testdata
from cryptography.hazmat.primitives.asymmetric import rsa

ALPINE_6165EE59 = "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
ALPINE_616AE350 = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"
SIGNING_KEYS = [
    "chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub",
    "chainguard-60912bbc46bfc8ed6bda0b50db3a8a5f3c4344d6bc8549ec9b84d96140b475d1.rsa.pub",
    "chainguard-61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3.rsa.pub",
]


def keyring_of(*parts: str) -> Keyring:
    return Keyring.from_paths([shared_testdata(*parts)])


def _p_lines(path: Path) -> int:
    """How many packages an index lists, counted without our parser."""
    with tarfile.open(path) as archive:
        handle = archive.extractfile("APKINDEX")
        assert handle is not None
        return sum(1 for line in handle.read().split(b"\n") if line.startswith(b"P:"))


# --- Repository spellings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, url, tag, remote",
    [
        ("/work/packages", "/work/packages", None, False),
        ("/work/packages/", "/work/packages", None, False),
        ("./packages", "./packages", None, False),
        ("file:///srv/repo", "file:///srv/repo", None, False),
        (
            "https://dl-cdn.alpinelinux.org/alpine/v3.18/main/",
            "https://dl-cdn.alpinelinux.org/alpine/v3.18/main",
            None,
            True,
        ),
        ("http://127.0.0.1:8080/os", "http://127.0.0.1:8080/os", None, True),
        ("@local /repo", "/repo", "local", False),
        (
            "  @edge   https://dl-cdn.alpinelinux.org/alpine/edge/main ",
            "https://dl-cdn.alpinelinux.org/alpine/edge/main",
            "edge",
            True,
        ),
    ],
)
def test_repository_spellings(text: str, url: str, tag: str, remote: bool) -> None:
    repository = Repository.parse(text)
    assert (repository.url, repository.tag, repository.is_remote) == (url, tag, remote)
    assert Repository.parse(str(repository)) == repository
    assert repository.index_url("x86_64") == f"{url}/x86_64/APKINDEX.tar.gz"


def test_repository_paths() -> None:
    assert Repository.parse("./packages", base_dir="/work/project").url == "/work/project/packages"
    assert Repository.parse("../up", base_dir="/work/project").url == "/work/up"
    assert Repository.parse("/abs", base_dir="/work/project").url == "/abs"
    assert Repository.parse("file:///srv/my%20repo").local_path() == Path("/srv/my repo")
    assert Repository.parse("./packages").local_path() == Path("packages")
    assert Repository.parse("https://example.com/os").local_path() is None
    assert str(Repository.parse("@local ./x", base_dir="/b")) == "@local /b/x"
    repo = Repository.parse("https://packages.wolfi.dev/os")
    assert repo.package_url("aarch64", "busybox-1.36.1-r0.apk") == (
        "https://packages.wolfi.dev/os/aarch64/busybox-1.36.1-r0.apk"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "expected a path or URL"),
        ("@local", "expected a path or URL"),
        ("@ /repo", "the tag after '@' is empty"),
        ("/a /b", "expected a path or URL"),
        ("ftp://example.com/repo", r"unsupported scheme ftp://"),
    ],
)
def test_repository_refuses(text: str, message: str) -> None:
    with pytest.raises(RepositoryError, match=message):
        Repository.parse(text)


# --- Every shared index verifies with the right keys, and only with them -------------------------

INDEXES = [
    # (path parts, keyring parts, key that verifies, package count)
    (("alpine", "v3.16-main-x86_64"), ("alpine", "keys"), ALPINE_6165EE59),
    (("alpine", "v3.17-main-aarch64"), ("alpine", "keys"), ALPINE_616AE350),
    (
        ("signing", "rsa256-signed"),
        ("signing", "rsa256-signed", "test-rsa256.rsa.pub"),
        "test-rsa256.rsa.pub",
    ),
    (("signing", "signing"), ("signing", "signing", "keys"), SIGNING_KEYS[0]),
    (("apko-cli", "packages", "x86_64"), ("apko-cli", "melange.rsa.pub"), "melange.rsa.pub"),
    (("apko-cli", "packages", "aarch64"), ("apko-cli", "melange.rsa.pub"), "melange.rsa.pub"),
    (
        ("apko-cli", "private_packages", "packages", "x86_64"),
        ("apko-cli", "private_packages", "private_pkg_key.rsa.pub"),
        "private_pkg_key.rsa.pub",
    ),
    (
        ("apko-cli", "private_packages", "packages", "aarch64"),
        ("apko-cli", "private_packages", "private_pkg_key.rsa.pub"),
        "private_pkg_key.rsa.pub",
    ),
]
INDEX_IDS = ["/".join(parts) for parts, _, _ in INDEXES]

# A keyring none of the shared indexes is signed with (wrong for each, right for none).
WRONG_KEYS = {
    ("alpine", "keys"): ("apko-cli", "melange.rsa.pub"),
    ("signing", "rsa256-signed", "test-rsa256.rsa.pub"): ("alpine", "keys"),
    ("signing", "signing", "keys"): ("signing", "rsa256-signed", "test-rsa256.rsa.pub"),
    ("apko-cli", "melange.rsa.pub"): ("apko-cli", "private_packages", "private_pkg_key.rsa.pub"),
    ("apko-cli", "private_packages", "private_pkg_key.rsa.pub"): ("apko-cli", "melange.rsa.pub"),
}


@pytest.mark.parametrize("index, keys, key_name", INDEXES, ids=INDEX_IDS)
def test_shared_index_verifies_with_its_keys(
    index: Tuple[str, ...], keys: Tuple[str, ...], key_name: str
) -> None:
    path = shared_testdata(*index, "APKINDEX.tar.gz")
    _, packages = read_index_archive(path, keyring_of(*keys), str(path))
    assert len(packages) == _p_lines(path) > 0
    loaded = load_index(
        Repository.parse(str(path.parent.parent)), path.parent.name, keyring_of(*keys)
    )
    assert loaded.verified_by == key_name
    assert loaded.packages == packages
    assert loaded.arch == path.parent.name


@pytest.mark.parametrize("index, keys, key_name", INDEXES, ids=INDEX_IDS)
def test_shared_index_fails_with_the_wrong_keys(
    index: Tuple[str, ...], keys: Tuple[str, ...], key_name: str
) -> None:
    path = shared_testdata(*index, "APKINDEX.tar.gz")
    wrong = keyring_of(*WRONG_KEYS[keys])
    with pytest.raises(SignatureError) as error:
        read_index_archive(path, wrong, str(path))
    message = str(error.value)
    assert message.startswith(f"{path} is signed with key ")
    assert key_name in message  # the key it wants
    assert all(name in message for name in wrong.names)  # the keys we had
    assert "contents.keyring" in message and "allow-untrusted" in message
    # allow-untrusted reads it anyway.
    _, packages = read_index_archive(path, wrong, str(path), allow_untrusted=True)
    assert len(packages) == _p_lines(path)


def test_alpine_indexes_in_detail() -> None:
    path = shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")
    description, packages = read_index_archive(path, keyring_of("alpine", "keys"), str(path))
    assert description.startswith("v3.16.")
    baselayout = next(p for p in packages if p.name == "alpine-baselayout")
    assert (baselayout.version, baselayout.arch, baselayout.checksum) == (
        "3.2.0-r23",
        "x86_64",
        "Q19UI7UxyiUywG6aew9c3lCBPshsE=",
    )
    assert len(packages) > 4000


@pytest.mark.parametrize("key", SIGNING_KEYS)
def test_triple_signed_index_verifies_with_any_one_of_its_keys(key: str) -> None:
    path = shared_testdata("signing", "signing", "APKINDEX.tar.gz")
    only_one = keyring_of("signing", "signing", "keys", key)
    loaded = load_index(Repository.parse(str(path.parent.parent)), "signing", only_one)
    assert loaded.verified_by == key
    assert len(loaded.packages) == 16


def test_triple_signed_index_error_lists_all_three_keys() -> None:
    path = shared_testdata("signing", "signing", "APKINDEX.tar.gz")
    with pytest.raises(SignatureError) as error:
        read_index_archive(path, keyring_of("alpine", "keys"), "signing/APKINDEX.tar.gz")
    assert f"signed with key {', '.join(SIGNING_KEYS)}, but no such key" in str(error.value)


def test_signature_of_one_index_on_another_is_a_bad_signature() -> None:
    # Both are signed with melange.rsa.pub; glue x86_64's signature to aarch64's index.
    def split(arch: str) -> Tuple[bytes, bytes]:
        data = shared_testdata("apko-cli", "packages", arch, "APKINDEX.tar.gz").read_bytes()
        head, _ = read_signed_head(io.BytesIO(data), arch)
        return data[: head.signed_member.offset], data[head.signed_member.offset :]

    x86_signature, _ = split("x86_64")
    _, aarch64_index = split("aarch64")
    keyring = keyring_of("apko-cli", "melange.rsa.pub")
    with pytest.raises(SignatureError, match=r"forged: BAD signature: \.SIGN\.RSA256\.melange"):
        read_index_archive(x86_signature + aarch64_index, keyring, "forged")
    _, packages = read_index_archive(
        x86_signature + aarch64_index, keyring, "f", allow_untrusted=True
    )
    assert {p.arch for p in packages} == {"aarch64"}


@pytest.fixture(scope="module")
def test_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _index_member(text: str) -> bytes:
    return gzip_member(tar_bytes([("DESCRIPTION", b"test"), ("APKINDEX", text.encode())], False))


STANZA = "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:hello\nV:1.0-r0\nA:x86_64\nS:1\nI:1\n\n"


def test_unsigned_index_is_refused_unless_allowed() -> None:
    data = _index_member(STANZA)
    with pytest.raises(SignatureError, match=r"unsigned\.tar\.gz is not signed"):
        read_index_archive(data, Keyring(), "unsigned.tar.gz")
    description, packages = read_index_archive(data, Keyring(), "u", allow_untrusted=True)
    assert description == "test" and [p.name for p in packages] == ["hello"]


def test_bad_signature_by_one_known_key_but_good_by_another(test_key: rsa.RSAPrivateKey) -> None:
    # apko accepts an index when any signature with a known key verifies.
    index = _index_member(STANZA)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signatures = gzip_member(
        tar_bytes(
            [
                *_entries(signature_member(other, "first.rsa.pub", b"not the index", "RSA")),
                *_entries(signature_member(test_key, "second.rsa.pub", index, "RSA256")),
            ],
            cut=True,
        )
    )
    keyring = Keyring.from_files(
        {"first.rsa.pub": public_pem(other), "second.rsa.pub": public_pem(test_key)}
    )
    loaded = read_index_archive(signatures + index, keyring, "two")
    assert [p.name for p in loaded[1]] == ["hello"]
    only_first = Keyring.from_files({"first.rsa.pub": public_pem(other)})
    with pytest.raises(SignatureError, match="BAD signature"):
        read_index_archive(signatures + index, only_first, "two")


def _entries(member: bytes) -> List[Tuple[str, bytes]]:
    """The (name, content) entries of a gzip'ed signature member."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(member))) as archive:
        return [(info.name, _read(archive, info)) for info in archive]


def _read(archive: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(info)
    assert handle is not None
    return handle.read()


def test_index_archive_format_errors() -> None:
    no_index = gzip_member(tar_bytes([("DESCRIPTION", b"x")], False))
    with pytest.raises(ApkFormatError, match="no APKINDEX file"):
        read_index_archive(no_index, Keyring(), "idx", allow_untrusted=True)
    with pytest.raises(ApkFormatError, match="unexpected data after the index"):
        read_index_archive(_index_member(STANZA) * 2, Keyring(), "idx", allow_untrusted=True)
    with pytest.raises(ApkFormatError, match="not an APK file"):
        read_index_archive(b"<html>404</html>", Keyring(), "idx")


def test_load_index_from_file_url_and_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    repo_dir = shared_testdata("apko-cli", "packages")
    keyring = keyring_of("apko-cli", "melange.rsa.pub")
    by_url = load_index(Repository.parse(repo_dir.as_uri()), "x86_64", keyring)
    monkeypatch.chdir(repo_dir.parent)
    relative = load_index(Repository.parse("@local ./packages"), "x86_64", keyring)
    assert by_url.packages == relative.packages
    assert relative.repository.tag == "local"
    assert sorted(p.name for p in relative.packages) == [
        "custom-ca-certs-1",
        "custom-ca-certs-2",
        "pretend-baselayout",
        "replayout",
    ]


def test_load_index_for_a_missing_arch() -> None:
    repository = Repository.parse(str(shared_testdata("apko-cli", "packages")))
    with pytest.raises(
        RepositoryError, match=r"has no index for riscv64: .*riscv64/APKINDEX\.tar\.gz"
    ):
        load_index(repository, "riscv64", Keyring())


# --- http(s) repositories ------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; paths under /private/ need basic auth user:secret."""

    def do_GET(self) -> None:
        if self.path.startswith("/private/"):
            expected = "Basic " + base64.b64encode(b"user:secret").decode()
            if self.headers.get("Authorization") != expected:
                self.send_error(401, "Unauthorized")
                return
            self.path = self.path[len("/private") :]
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_root() -> Iterator[str]:
    directory = shared_testdata("apko-cli")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_load_index_over_http(http_root: str) -> None:
    keyring = keyring_of("apko-cli", "melange.rsa.pub")
    remote = load_index(Repository.parse(f"{http_root}/packages"), "aarch64", keyring, timeout=10)
    local = load_index(
        Repository.parse(str(shared_testdata("apko-cli", "packages"))), "aarch64", keyring
    )
    assert remote.packages == local.packages
    assert remote.verified_by == "melange.rsa.pub"


def test_http_errors_name_the_url(http_root: str) -> None:
    keyring = keyring_of("apko-cli", "melange.rsa.pub")
    with pytest.raises(RepositoryError) as error:
        load_index(Repository.parse(f"{http_root}/packages"), "s390x", keyring, timeout=10)
    assert str(error.value) == (
        f"fetching {http_root}/packages/s390x/APKINDEX.tar.gz failed: HTTP 404 File not found "
        "(wrong URL or architecture?)"
    )
    with pytest.raises(
        SignatureError, match=f"{http_root}/packages/x86_64/APKINDEX.tar.gz is signed"
    ):
        load_index(Repository.parse(f"{http_root}/packages"), "x86_64", Keyring(), timeout=10)


def test_http_basic_auth_from_the_url_is_sent_and_redacted(http_root: str) -> None:
    keyring = keyring_of("apko-cli", "melange.rsa.pub")
    authed = http_root.replace("http://", "http://user:secret@")
    loaded = load_index(
        Repository.parse(f"{authed}/private/packages"), "x86_64", keyring, timeout=10
    )
    assert len(loaded.packages) == 4
    wrong = http_root.replace("http://", "http://user:wrong@")
    with pytest.raises(RepositoryError) as error:
        load_index(Repository.parse(f"{wrong}/private/packages"), "x86_64", keyring, timeout=10)
    assert "HTTP 401" in str(error.value) and "wrong" not in str(error.value)
    assert "user:***@127.0.0.1" in str(error.value)


def test_unreachable_host() -> None:
    # Port 9 on localhost (discard) is closed on any sane test machine: connection refused.
    with pytest.raises(RepositoryError, match=r"cannot fetch http://127\.0\.0\.1:9/x/APKINDEX"):
        fetch_url("http://127.0.0.1:9/x/APKINDEX.tar.gz", timeout=5)


def test_redact_url() -> None:
    assert redact_url("https://u:p@host:8443/x") == "https://u:***@host:8443/x"
    assert redact_url("https://host/x") == "https://host/x"
    assert redact_url("http://u:p@[::1]:8080/x") == "http://u:***@[::1]:8080/x"


# --- An index from load_index reads its packages lazily, and is a value like any other ----------


def _alpine_repository(tmp_path: Path) -> Repository:
    (tmp_path / "x86_64").mkdir()
    (tmp_path / "x86_64" / "APKINDEX.tar.gz").symlink_to(
        shared_testdata("alpine", "v3.16-main-x86_64", "APKINDEX.tar.gz")
    )
    return Repository(url=str(tmp_path))


def test_loaded_index_reads_packages_on_first_use_and_equals_one_read_in_full(
    tmp_path: Path,
) -> None:
    import copy
    import dataclasses
    import pickle

    from apkoci.apk.repository import RepositoryIndex

    repository = _alpine_repository(tmp_path)
    keyring = keyring_of("alpine", "keys")
    lazy = load_index(repository, "x86_64", keyring)
    assert "packages" not in vars(lazy)  # not read yet...
    path = tmp_path / "x86_64" / "APKINDEX.tar.gz"
    description, packages = read_index_archive(path, keyring, str(path))
    eager = RepositoryIndex(
        repository, "x86_64", description, packages, verified_by=lazy.verified_by
    )
    (busybox,) = lazy.catalog.named("busybox")
    assert lazy.catalog.package(busybox).name == "busybox"
    # ...and then read in full when asked for: a plain list, equal to the careful reading.
    pickled = pickle.loads(pickle.dumps(load_index(repository, "x86_64", keyring)))
    assert pickled.packages == packages
    assert copy.copy(load_index(repository, "x86_64", keyring)) == eager
    assert lazy == eager and eager == lazy
    assert type(lazy.packages) is list and len(lazy.packages) == 4929
    assert lazy.packages is lazy.packages
    assert repr(lazy) == repr(eager)
    assert dataclasses.replace(lazy, description="x") == dataclasses.replace(eager, description="x")
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert not hasattr(lazy, "nothing_such")
    # An index made from a list has a catalog of that list.
    assert eager.catalog.package(0) is packages[0] and len(eager.catalog) == len(packages)


def test_loaded_index_is_checked_in_full_when_loaded(tmp_path: Path) -> None:
    # A malformed stanza that no resolve would read fails the load, as the careful reading does.
    good = _index_member(STANZA)
    bad = _index_member(STANZA + "C:Q1B=\nP:broken\nV:1\nD:bad=1.0bc\n\n")
    (tmp_path / "x86_64").mkdir()
    for content, name in ((good, "good"), (bad, "bad")):
        (tmp_path / "x86_64" / "APKINDEX.tar.gz").write_bytes(content)
        repository = Repository(url=str(tmp_path))
        path = tmp_path / "x86_64" / "APKINDEX.tar.gz"
        if name == "good":
            index = load_index(repository, "x86_64", Keyring(), allow_untrusted=True)
            assert [p.name for p in index.packages] == ["hello"]
            continue
        with pytest.raises(Exception) as careful:
            read_index_archive(path, Keyring(), str(path), allow_untrusted=True)
        with pytest.raises(type(careful.value)) as lazy:
            load_index(repository, "x86_64", Keyring(), allow_untrusted=True)
        assert str(lazy.value) == str(careful.value)
        assert "invalid dependency 'bad=1.0bc'" in str(lazy.value)
