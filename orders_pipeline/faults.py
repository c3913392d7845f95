"""Running out of a resource (a full disk, a file size limit, DuckDB's memory or its spill
folder) told as one line a person can act on, instead of DuckDB's own text.

These are not bad input: nothing about the data is wrong, the run stops and the warehouse
keeps what it last committed (every file lands, validates and models in its own
transaction). The message says what ran out, where, which setting to change, and that
running again carries on. DuckDB often reports the real cause only inside a later error
("cannot rollback - no transaction is active" after a commit that could not be written,
"CHECKPOINT during DETACH failed"), so :func:`explain_error` reads the whole chain of an
error, causes and contexts, every line.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator

# What to do next is the same for every resource fault.
_RERUN = (
    "then run again: the warehouse keeps its last consistent state and the next run "
    "carries on from there."
)

# DuckDB: 'Could not write file "<path>": No space left on device' (also "File too large",
# "Disk quota exceeded"); Python: "[Errno 28] No space left on device: '<path>'".
_DUCKDB_WRITE = re.compile(r'[Cc]ould not write file "(?P<path>[^"]+)": (?P<reason>[^\n]+)')
_PYTHON_ERRNO = re.compile(
    r"\[Errno (?P<errno>\d+)\] (?P<reason>[^:\n]+)(?:: (?P<quote>['\"])(?P<path>.+?)(?P=quote))?"
)

_DISK_FULL = ("No space left on device", "Disk quota exceeded")
_TOO_LARGE = ("File too large",)
_DISK_ERRNOS = {errno.ENOSPC: _DISK_FULL[0], errno.EDQUOT: _DISK_FULL[1]}
_TOO_LARGE_ERRNOS = {errno.EFBIG: _TOO_LARGE[0]}

# DuckDB: "Out of Memory Error: failed to allocate data of size 4.0 MiB (17.8 MiB/19.0 MiB
# used)" or "could not allocate block of size ..."; when the spill folder cannot take more:
# "Out of Memory Error: failed to offload data block of size 256.0 KiB (0 bytes/57.5 KiB
# used). This limit was set by the 'max_temp_directory_size' setting."
_OUT_OF_MEMORY = "Out of Memory Error"
_ALLOCATE = re.compile(
    r"of size (?P<size>[\d.]+ \w+) \((?P<used>[\d.]+ \w+)/(?P<limit>[\d.]+ \w+) used\)"
)
_OFFLOAD = re.compile(r"failed to offload data block")


def explain_resource_error(message: str) -> str | None:
    """One line saying which resource ran out, where, and what to do; ``None`` when
    ``message`` (an error's full text, any number of lines) is not about a resource."""
    if _OUT_OF_MEMORY in message:
        return _out_of_memory(message)
    for match in _DUCKDB_WRITE.finditer(message):
        explained = _write_failed(match["path"], match["reason"].strip())
        if explained:
            return explained
    for match in _PYTHON_ERRNO.finditer(message):
        reason = _DISK_ERRNOS.get(int(match["errno"])) or _TOO_LARGE_ERRNOS.get(int(match["errno"]))
        if reason:
            return _write_failed(match["path"], reason)
    return None


def explain_error(error: object) -> str | None:
    """:func:`explain_resource_error` of the first error in a chain that is about a resource.

    ``error`` is a Python exception (its ``__cause__`` and ``__context__`` are followed) or
    Dagster's serialised error (``message``, ``cause``, ``context``)."""
    for message in _chain_messages(error):
        explained = explain_resource_error(message)
        if explained:
            return explained
    return None


def _chain_messages(error: object, depth: int = 0) -> Iterator[str]:
    if error is None or depth > 20:
        return
    if isinstance(error, BaseException):
        if isinstance(error, OSError) and error.errno is not None:
            # the number says it even when a subclass words its message differently
            yield f"[Errno {error.errno}] {error.strerror}" + (
                f": {str(error.filename)!r}" if error.filename else ""
            )
        yield str(error)
        yield from _chain_messages(error.__cause__, depth + 1)
        yield from _chain_messages(error.__context__, depth + 1)
    else:
        yield str(getattr(error, "message", error) or "")
        yield from _chain_messages(getattr(error, "cause", None), depth + 1)
        yield from _chain_messages(getattr(error, "context", None), depth + 1)


def _write_failed(path: str | None, reason: str) -> str | None:
    where = f"could not write {path}" if path else "could not write a file"
    if reason in _DISK_FULL:
        return (
            f"the disk is full: {where} ({reason}). Free space on that disk, or move "
            f"ORDERS_WAREHOUSE (and ORDERS_DUCKDB_TEMP_DIR) to a bigger one, {_RERUN}"
        )
    if reason in _TOO_LARGE:
        return (
            f"a file size limit was reached: {where} ({reason}: the file system or the "
            "process's file size limit, `ulimit -f`, caps how big a file may grow). Raise the "
            f"limit, or move ORDERS_WAREHOUSE to a file system that allows bigger files, {_RERUN}"
        )
    return None


def _out_of_memory(message: str) -> str:
    if _OFFLOAD.search(message):
        return (
            "DuckDB ran out of memory and could not spill to disk: its temp folder "
            "(ORDERS_DUCKDB_TEMP_DIR, by default .duckdb_tmp beside the warehouse) is full. "
            "Point ORDERS_DUCKDB_TEMP_DIR at a disk with free space or raise "
            f"ORDERS_DUCKDB_MEMORY_LIMIT, {_RERUN}"
        )
    numbers = _ALLOCATE.search(message)
    detail = (
        f" ({numbers['used']} of its {numbers['limit']} limit in use, could not get "
        f"{numbers['size']} more)"
        if numbers
        else ""
    )
    return (
        f"DuckDB ran out of memory{detail}. Raise ORDERS_DUCKDB_MEMORY_LIMIT (or lower "
        f"ORDERS_DUCKDB_THREADS), {_RERUN}"
    )
