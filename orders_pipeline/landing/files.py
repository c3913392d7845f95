"""Finding the files of the landing folder and knowing, without reading them, which ones
were loaded already (docs/semantics.md §1: a file is ingested once, keyed by the sha256 of its
bytes).

What is read: regular files inside a source folder with one of its suffixes (optionally
followed by ``.gz``). Never followed or read: symbolic links (to files or folders, at any
depth, a source folder itself included), FIFOs, sockets and devices. Those and files with
an unknown suffix are *skipped*: listed in the run output and in ``audit.skipped_files`` by
name only. Hidden files and names a writer is still busy with (``IN_PROGRESS_SUFFIXES``)
are neither read nor listed. The scan only lists; ``reading.open_beneath`` enforces the
same rule again when the file is opened, so a link swapped in after the scan is not read.

The hash cache (``state.file_hashes``) spares re-reading the whole history every run. It is
sound: an entry is used only when the file's device, inode, size, mtime and ctime (ns) are
those recorded, and only when those timestamps are older than the moment the entry was
recorded by more than :data:`RACY_NS` (git's "racily clean" rule): a write in the same
timestamp tick as the hash could otherwise leave every field unchanged. ``cp -p``,
``rsync -t`` and ``tar x`` set the mtime but cannot set the ctime, and a new inode is a
new file.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import polars as pl

from orders_pipeline.landing.reading import GZIP_SUFFIX, signature
from orders_pipeline.warehouse import transaction

# A file still being written must not be ingested half: writers use a temporary name (a
# leading dot, or one of these suffixes) and rename it when complete.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress")
# Timestamps within this much of the moment a hash was recorded make the entry "racy": the
# file is hashed again next run. Covers coarse kernel clocks and 1-2 s filesystem granularity.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class LandedFile:
    """One complete file in a source folder of the landing area, as a lander sees it."""

    path: Path
    relative: str  # POSIX path under the landing folder: the name used everywhere else
    source: str
    sha256: str
    size_bytes: int
    # The one stream of the file's content (landing.reading.OpenedFile.stream): every lander
    # reads through it, so what is landed is what is hashed. None: open ``path`` (tests).
    opener: Callable[[], BinaryIO] | None = field(default=None, compare=False, repr=False)

    @property
    def format_name(self) -> str:
        """The file's name in lower case without a trailing ``.gz``: what says its format."""
        return self.path.name.lower().removesuffix(GZIP_SUFFIX)

    def open(self) -> BinaryIO:
        """The file's content from its start, decompressed when gzipped."""
        if self.opener is not None:
            return self.opener()
        if self.path.name.lower().endswith(GZIP_SUFFIX):
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return self.path.open("rb")


def is_complete(path: Path) -> bool:
    """False for hidden files and files whose name says a writer is still busy with them."""
    name = path.name
    return not name.startswith(".") and not name.lower().endswith(IN_PROGRESS_SUFFIXES)


def has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    """Whether ``name`` ends with one of ``suffixes``, optionally followed by ``.gz``."""
    return name.lower().removesuffix(GZIP_SUFFIX).endswith(suffixes)


@dataclass(frozen=True)
class Candidate:
    """A regular file with a known suffix, seen by the scan (not read yet)."""

    relative: str
    source: str
    status: os.stat_result  # lstat at scan time


@dataclass(frozen=True)
class Skipped:
    """An entry of the landing folder that is not read, and why (by name only)."""

    relative: str
    source: str
    reason: str


@dataclass
class LandingScan:
    """What a look at the landing folder found: the files to consider, in lexicographic
    order of their path (docs/semantics.md §3), and what was skipped."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


LINK_REASON = "a symbolic link: links are never followed; copy or move the file itself here"
SPECIAL_REASON = "not a regular file (a FIFO, socket or device): never read"


def scan_landing(
    landing_dir: Path, suffixes_by_source: Mapping[str, tuple[str, ...]]
) -> LandingScan:
    """Walk the given source folders of the landing folder without following links (module
    docstring). The landing folder itself may be a link: it is configuration, not data."""
    scan = LandingScan()
    for source, suffixes in suffixes_by_source.items():
        folder = landing_dir / source
        try:
            status = folder.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(status.st_mode):
            scan.skipped.append(Skipped(source, source, LINK_REASON))
        elif stat.S_ISDIR(status.st_mode):
            _scan_folder(folder, source, source, suffixes, scan)
        else:
            scan.skipped.append(
                Skipped(source, source, "not a folder: the files of a source go in a folder "
                        "of that name")
            )  # fmt: skip
    scan.candidates.sort(key=lambda c: c.relative)
    scan.skipped.sort(key=lambda s: s.relative)
    return scan


def _entries(folder: Path, relative: str, source: str, scan: LandingScan) -> list[os.DirEntry]:
    """The entries of a folder; a folder that cannot be listed is a skipped entry."""
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except OSError as error:
        scan.skipped.append(Skipped(relative, source, f"cannot be listed: {type(error).__name__}"))
        return []


def _scan_folder(
    folder: Path, relative: str, source: str, suffixes: tuple[str, ...], scan: LandingScan
) -> None:
    for entry in _entries(folder, relative, source, scan):
        name = f"{relative}/{entry.name}"
        hidden = entry.name.startswith(".")
        if hidden and not entry.is_dir(follow_symlinks=False):
            continue  # a writer's temporary name (a folder's name does not matter)
        if entry.is_symlink():
            scan.skipped.append(Skipped(name, source, LINK_REASON))
        elif entry.is_dir(follow_symlinks=False):
            _scan_folder(Path(entry.path), name, source, suffixes, scan)
        elif not entry.is_file(follow_symlinks=False):
            scan.skipped.append(Skipped(name, source, SPECIAL_REASON))
        elif entry.name.lower().endswith(IN_PROGRESS_SUFFIXES):
            continue
        elif has_suffix(entry.name, suffixes):
            scan.candidates.append(Candidate(name, source, entry.stat(follow_symlinks=False)))
        else:
            listed = ", ".join(suffixes)
            scan.skipped.append(
                Skipped(name, source, f"unknown suffix: {source}/ reads {listed} "
                        "(each optionally followed by .gz)")
            )  # fmt: skip


class HashCache:
    """``state.file_hashes``: the sha256 of each file at its signature (module docstring).
    Only a shortcut: whether a file is new is decided by ``audit.loads``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._entries = {
            (source, file): (tuple(sig), sha256, recorded_at_ns)
            for source, file, *sig, sha256, recorded_at_ns in con.execute(
                """select source, file, device, inode, size_bytes, mtime_ns, ctime_ns, sha256,
                          recorded_at_ns
                   from state.file_hashes"""
            ).fetchall()
        }
        self._fresh: list[tuple[object, ...]] = []

    def known_sha256(self, candidate: Candidate) -> str | None:
        """The sha256 recorded for the file as it is now, if the entry can be trusted."""
        entry = self._entries.get((candidate.source, candidate.relative))
        if entry is None:
            return None
        recorded, sha256, recorded_at_ns = entry
        status = candidate.status
        racy = max(status.st_mtime_ns, status.st_ctime_ns) >= recorded_at_ns - RACY_NS
        return sha256 if recorded == signature(status) and not racy else None

    def covers_only(self, present: Iterable[Candidate]) -> bool:
        """Whether every entry is of a file in ``present`` (none for a file gone since)."""
        here = {(c.source, c.relative) for c in present}
        return all(key in here for key in self._entries)

    def remember(self, source: str, relative: str, status: os.stat_result, sha256: str,
                 recorded_at_ns: int) -> None:  # fmt: skip
        """Note the sha256 of a file read whole at ``status`` (written by :meth:`save`)."""
        self._fresh.append((source, relative, *signature(status), sha256, recorded_at_ns))

    def save(self, con: duckdb.DuckDBPyConnection, present: Iterable[Candidate]) -> None:
        """Write the entries noted, and forget files that are no longer there."""
        here = {(c.source, c.relative) for c in present}
        gone = [key for key in self._entries if key not in here]
        if not self._fresh and not gone:
            return
        # one statement each, from frames (issue 15: a statement per file, each delete
        # scanning the table, was most of a run's bookkeeping over hundreds of files)
        keys = pl.DataFrame(
            [*gone, *((row[0], row[1]) for row in self._fresh)],
            schema={"source": pl.String, "file": pl.String},
            orient="row",
        )
        fresh = pl.DataFrame(self._fresh, schema=_HASH_COLUMNS, orient="row")
        con.register("hash_cache_keys", keys)
        con.register("hash_cache_fresh", fresh)
        try:
            with transaction(con):
                con.execute(
                    "delete from state.file_hashes as h using hash_cache_keys as k "
                    "where h.source = k.source and h.file = k.file"
                )
                con.execute("insert into state.file_hashes select * from hash_cache_fresh")
        finally:
            con.unregister("hash_cache_keys")
            con.unregister("hash_cache_fresh")
        self._fresh = []


# The columns of ``state.file_hashes`` (warehouse.py), in order.
_HASH_COLUMNS = {
    "source": pl.String, "file": pl.String, "device": pl.UInt64, "inode": pl.UInt64,
    "size_bytes": pl.Int64, "mtime_ns": pl.Int64, "ctime_ns": pl.Int64, "sha256": pl.String,
    "recorded_at_ns": pl.Int64,
}  # fmt: skip


def record_skipped(
    con: duckdb.DuckDBPyConnection, skipped: list[Skipped], seen_at: datetime
) -> None:
    """Record this scan's skipped entries in ``audit.skipped_files``: one row per entry and
    reason, ``first_seen_at`` kept from earlier scans, ``seen_at`` this scan's time."""
    if not skipped:
        return
    rows = [(s.source, s.relative, s.reason) for s in skipped]
    first_seen = {
        (file, reason): first
        for file, reason, first in con.execute(
            "select file, reason, first_seen_at from audit.skipped_files"
        ).fetchall()
    }
    with transaction(con):
        con.executemany(
            "delete from audit.skipped_files where file = ? and reason = ?",
            [(file, reason) for _, file, reason in rows],
        )
        con.executemany(
            "insert into audit.skipped_files values (?, ?, ?, ?, ?)",
            [
                (source, file, reason, first_seen.get((file, reason), seen_at), seen_at)
                for source, file, reason in rows
            ],
        )


def next_file_seq(con: duckdb.DuckDBPyConnection) -> int:
    """The next free file sequence number (global across sources)."""
    row = con.execute("select coalesce(max(file_seq), 0) + 1 from audit.loads").fetchall()[0]
    return int(row[0]) if row else 1
