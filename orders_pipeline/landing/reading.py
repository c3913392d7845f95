"""Reading one landed file exactly once by content (docs/semantics.md §1: a file is ingested once,
keyed by the sha256 of its bytes).

A file is opened once, beneath the landing folder without following a symbolic link at any
step (``open_beneath``), and every read of it goes through that one handle: the scan hashes
it, and the lander reads it again from the same handle through :class:`HashingReader`, so
the sha256 recorded in ``audit.loads`` is the sha256 of exactly the bytes that were landed.
A file replaced under the same name (write-then-rename) after it was opened is not seen: the
handle keeps the file it opened, and the replacement is a new file for the next run. A file
written in place between the two reads gives two different hashes: it is not landed, and is
read again on the next run.

``.gz`` after a supported suffix is decompressed as it streams; the sha256 is of the file's
bytes as landed (compressed).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

GZIP_SUFFIX = ".gz"
BLOCK_BYTES = 1 << 20


class NotFollowed(OSError):
    """The path is not a regular file beneath the landing folder (a symbolic link somewhere
    on it, a FIFO, a device...): it is skipped, never read."""


class ChangedWhileRead(OSError):
    """The file's bytes changed while it was being read: nothing of it is landed; the next
    run reads it again."""


def open_beneath(root: Path, relative: str) -> tuple[BinaryIO, os.stat_result]:
    """Open ``relative`` (POSIX, under ``root``) for reading without following a symbolic
    link at any step, and only if it is a regular file. ``O_NOFOLLOW`` on every component,
    each opened relative to its parent's descriptor, so a folder swapped for a link after the
    scan cannot lead outside the landing folder either; ``O_NONBLOCK`` so a FIFO cannot
    block the run before it is refused."""
    parts = relative.split("/")
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(
                    part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory
                )
            except OSError as error:
                raise _not_followed(error, relative) from None
            os.close(directory)
            directory = inner
        try:
            fd = os.open(
                parts[-1],
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY,
                dir_fd=directory,
            )
        except OSError as error:
            raise _not_followed(error, relative) from None
    finally:
        os.close(directory)
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise NotFollowed(errno.EINVAL, "not a regular file", relative)
    return open(fd, "rb"), status  # noqa: SIM115 - the caller owns the handle


def _not_followed(error: OSError, relative: str) -> OSError:
    # ELOOP: the last component is a link; ENOTDIR: a folder on the way is a link (or a file)
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return NotFollowed(error.errno, "a symbolic link: not followed", relative)
    return error


class HashingReader(io.RawIOBase):
    """A read-only stream over ``handle`` that feeds every byte it returns to a sha256, so
    what a lander parses and what is hashed are the same bytes. Forward only."""

    def __init__(self, handle: BinaryIO) -> None:
        super().__init__()
        self._handle = handle
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        count = self._handle.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self._digest.update(memoryview(buffer)[:count])
        return count or 0

    def finish(self) -> str:
        """Hash what the lander did not read (the tail of a refused file), then the sha256."""
        for block in iter(lambda: self._handle.read(BLOCK_BYTES), b""):
            self._digest.update(block)
        return self._digest.hexdigest()


def signature(status: os.stat_result) -> tuple[int, int, int, int, int]:
    """What identifies a file's content without reading it: device, inode, size, mtime and
    ctime (ns). ``cp -p``, ``rsync -t`` and ``tar x`` can set the mtime, never the ctime."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@dataclass
class OpenedFile:
    """One file of the landing folder, open for the whole time it is hashed and landed."""

    relative: str
    handle: BinaryIO
    status: os.stat_result  # at open
    gzipped: bool
    _reader: HashingReader | None = field(default=None, repr=False)

    def sha256(self) -> str:
        """The sha256 of the file's bytes, read from the start through this handle."""
        self.handle.seek(0)
        # read into one reused buffer (no new bytes object per block)
        return hashlib.file_digest(self.handle, "sha256").hexdigest()

    def stream(self) -> BinaryIO:
        """The file's content from the start (decompressed when gzipped), hashed as read."""
        self.handle.seek(0)
        self._reader = HashingReader(self.handle)
        if self.gzipped:
            return gzip.GzipFile(fileobj=self._reader, mode="rb")  # type: ignore[return-value]
        return io.BufferedReader(self._reader, BLOCK_BYTES)  # type: ignore[return-value]

    def landed_sha256(self) -> str:
        """The sha256 of the bytes the last :meth:`stream` delivered (and of the rest of the
        file, which a lander may leave unread)."""
        if self._reader is None:
            raise RuntimeError("landed_sha256() before stream()")
        return self._reader.finish()


@contextlib.contextmanager
def opened(root: Path, relative: str) -> Iterator[OpenedFile]:
    """Open a landing file for hashing and landing (``open_beneath``); closed on exit."""
    handle, status = open_beneath(root, relative)
    try:
        yield OpenedFile(relative, handle, status, relative.lower().endswith(GZIP_SUFFIX))
    finally:
        handle.close()


# Byte order marks, longest first (UTF-32LE starts with the UTF-16LE mark).
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe\x00\x00", "UTF-32LE"),
    (b"\xfe\xff", "UTF-16BE"),
    (b"\xff\xfe", "UTF-16LE"),
)


def foreign_encoding(head: bytes) -> str | None:
    """The name of the encoding when the file's first bytes show UTF-16 or UTF-32 (a byte
    order mark, or the zero bytes that ASCII text has in those encodings: RFC 4627 §3), else
    None. UTF-8 text never holds a zero byte in its first characters."""
    for mark, name in _BOMS:
        if head.startswith(mark):
            return f"{name} (byte order mark)"
    sample = head[:4]
    if len(sample) == 4:
        if sample[:3] == b"\x00\x00\x00" and sample[3]:
            return "UTF-32BE (no byte order mark)"
        if sample[0] and sample[1:] == b"\x00\x00\x00":
            return "UTF-32LE (no byte order mark)"
    if len(sample) >= 2:
        if sample[0] == 0 and sample[1]:
            return "UTF-16BE (no byte order mark)"
        if sample[0] and sample[1] == 0:
            return "UTF-16LE (no byte order mark)"
    return None


def encoding_reason(encoding: str) -> str:
    """The ``decode_error`` of a file in another encoding (validation quarantines it)."""
    return (
        f"the file is {encoding}, not UTF-8; it was not read further: send it as UTF-8 "
        "and land it again"
    )


def peek(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes of ``stream`` and a stream that still starts with them."""
    head = stream.read(size)
    return head, _Prefixed(head, stream)  # type: ignore[return-value]


class _Prefixed(io.RawIOBase):
    """``prefix`` then the rest of ``stream``: a peeked stream read again from its start."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            # a read the prefix cannot fill goes on into the stream: a lander reading in
            # blocks gets a whole block, not the peeked head alone (issue 15: a file of
            # lines used to take two inserts, the head's and the rest's)
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
