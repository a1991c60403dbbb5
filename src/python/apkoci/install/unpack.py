"""Inflating the data tars of the packages an install needs, ahead of it, in a helper process.

Inflating takes as long as everything else an install does in Python, and both want a core. A
thread cannot give inflating one: the GIL goes back and forth with every chunk and every file the
install hashes, which costs more than it gains. So :class:`Unpacker` forks a helper process that
reads each package's data member, checks that it ends the file, hashes it (SHA-256, the
``datahash``) and writes it inflated into that package's spool (see
:class:`apkoci.install.filetree.Spool`), one package after the other, as fast as it can. This
process reads each spool as it grows, parses it and installs; contents are never copied again.

The helper reports on a pipe how far it has written, the digest at the end of a member, or why
it stopped (the errors :func:`apkoci.apk.datatar.inflate_last_member` raises, raised here again
when the install gets to that package, so they come in the order they would without the helper).
Where no fork is to be had (another platform, or other threads running, which a fork would leave
in an unknown state) the same work is done here, one package at a time.
"""

from __future__ import annotations

import hashlib
import os
import signal
import struct
import threading
from typing import Iterator, List, Optional, Sequence, Tuple

from apkoci.apk.apkfile import ApkFile, DataContent, DataEntry
from apkoci.apk.datatar import GzipMemberError, inflate_last_member
from apkoci.install.filetree import Spool

# Messages from the helper: a kind, a number and 32 bytes; an error's message follows its record.
_RECORD = struct.Struct("<cQ32s")
_WRITTEN = b"W"  # the number of bytes of the member's spool written so far
_DONE = b"D"  # the member is all written (the number) and its SHA-256 (the 32 bytes)
_FAILED = b"F"  # the member cannot be read: problem name (the 32 bytes), message length
_READ_SIZE = 1 << 20


def helper_process_possible() -> bool:
    """Whether an :class:`Unpacker` can fork its helper here and now."""
    return hasattr(os, "fork") and threading.active_count() == 1


class Unpacker:
    """The data tars of ``jobs`` (package, spool to fill), inflated ahead of the install.

    Use as a context manager; :meth:`entries` gives a package's entries, in the order of
    ``jobs``. ``helper=False`` (or :func:`helper_process_possible` being False) inflates in this
    process instead, when the entries are asked for.
    """

    def __init__(self, jobs: Sequence[Tuple[ApkFile, Spool]], helper: bool = True) -> None:
        self._jobs = list(jobs)
        self._next = 0  # the job whose messages come next
        self._pid: Optional[int] = None
        self._pipe: Optional[int] = None
        if helper and len(self._jobs) > 0 and helper_process_possible():
            self._start()

    def __enter__(self) -> "Unpacker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def entries(self, index: int) -> Iterator[Tuple[DataEntry, Optional[DataContent]]]:
        """The entries of job ``index`` (as :meth:`ApkFile.spool_data` gives them), the jobs in
        order."""
        if index != self._next:
            raise ValueError(f"job {index} was asked for before job {self._next}")
        self._next += 1
        apk, spool = self._jobs[index]
        if self._pipe is None:
            return _flushed_after(apk.spool_data(spool.write), spool)
        if not self._previous_done:
            raise ValueError(f"job {index - 1} was not read to its end before job {index}")
        self._previous_done = False
        digest: List[str] = []
        return apk.spooled_entries(self._inflated(spool, digest), lambda: digest[0])

    def close(self) -> None:
        """Stop the helper (if it is still at work) and wait for it."""
        if self._pid is not None:
            if self._next < len(self._jobs) or not self._finished:
                try:
                    os.kill(self._pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None

    # --- In this process ---

    _finished = False  # every job's end was read
    _previous_done = True  # the job before the next one was read to its end

    def _inflated(self, spool: Spool, digest: List[str]) -> Iterator[bytes]:
        """The spool's bytes as the helper writes them; the member's SHA-256 into ``digest``."""
        descriptor = os.open(spool.path, os.O_RDONLY)
        try:
            position = 0
            while True:
                kind, number, extra = self._message()
                if kind == _FAILED:
                    raise GzipMemberError(self._read_exactly(number).decode(), _problem(extra))
                spool.mark_written(number)  # (written already: regions may point there now)
                while position < number:
                    chunk = os.pread(descriptor, min(_READ_SIZE, number - position), position)
                    if not chunk:
                        raise GzipMemberError(
                            f"{spool.path} ends before byte {number}", "unreadable"
                        )
                    position += len(chunk)
                    yield chunk
                if kind == _DONE:
                    digest.append(extra.hex())
                    self._previous_done = True
                    if self._next == len(self._jobs):
                        self._finished = True
                    return
        finally:
            os.close(descriptor)

    def _message(self) -> Tuple[bytes, int, bytes]:
        kind, number, extra = _RECORD.unpack(self._read_exactly(_RECORD.size))
        return kind, number, extra

    def _read_exactly(self, size: int) -> bytes:
        assert self._pipe is not None
        pieces = []
        while size:
            piece = os.read(self._pipe, size)
            if not piece:
                raise GzipMemberError(
                    "the helper process inflating the packages stopped without a word", "unreadable"
                )
            pieces.append(piece)
            size -= len(piece)
        return b"".join(pieces)

    def _start(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            os.close(read_end)
            jobs = [(apk.path, apk.data_offset, spool.path) for apk, spool in self._jobs]
            _helper_main(jobs, write_end)
        os.close(write_end)
        self._pid, self._pipe = pid, read_end


def _flushed_after(
    entries: Iterator[Tuple[DataEntry, Optional[DataContent]]], spool: Spool
) -> Iterator[Tuple[DataEntry, Optional[DataContent]]]:
    try:
        yield from entries
    finally:
        spool.flush()


def _problem(field: bytes) -> str:
    return field.rstrip(b"\0").decode("ascii")


# --- In the helper process ---


def _helper_main(jobs: Sequence[Tuple["os.PathLike[str]", int, str]], pipe: int) -> None:
    """Inflate every job into its spool, reporting on ``pipe``; then leave without cleaning up
    (what this process inherited belongs to its parent)."""
    status = 0
    try:
        for path, offset, spool_path in jobs:
            if not _inflate_job(path, offset, spool_path, pipe):
                status = 1
                break
    except BaseException:  # (a broken pipe: the parent is gone)
        status = 2
    finally:
        os._exit(status)


def _inflate_job(path: "os.PathLike[str]", offset: int, spool_path: str, pipe: int) -> bool:
    hasher = hashlib.sha256()
    written = 0
    try:
        with open(path, "rb") as raw, open(spool_path, "r+b", buffering=0) as spool:
            raw.seek(offset)
            for chunk in inflate_last_member(raw, hasher.update):
                view = memoryview(chunk)
                while view:
                    view = view[spool.write(view) :]
                written += len(chunk)
                _send(pipe, _RECORD.pack(_WRITTEN, written, b""))
    except GzipMemberError as error:
        _fail(pipe, error.problem, str(error))
        return False
    except (OSError, ValueError) as error:
        _fail(pipe, "unreadable", str(error))
        return False
    _send(pipe, _RECORD.pack(_DONE, written, hasher.digest()))
    return True


def _fail(pipe: int, problem: str, message: str) -> None:
    text = message.encode("utf-8", "replace")
    _send(pipe, _RECORD.pack(_FAILED, len(text), problem.encode("ascii")) + text)


def _send(pipe: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(pipe, view) :]
