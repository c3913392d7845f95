"""Landing every new file of one source folder into its raw table (docs/semantics.md §1): each
file's rows in the transaction that writes its ``audit.loads`` row, so a crash never leaves half
a file, and a file that cannot be read is reported and retried on the next run without blocking
the others. Files are landed in batches of about :data:`BATCH_BYTES` per transaction (issue 15:
a commit per file, with its fsync and checkpoints, was a third of landing's time); a file that
fails to be read has its rows removed from the open batch, which goes on.

Exactly once by content: a file is opened once (``reading.opened``), hashed through that
handle, and, when its sha256 is new, landed from the same handle through a hashing stream;
the sha256 in ``audit.loads`` is that of the bytes the lander read, and a file that changed
while it was read is not landed (it is read again next run). Loaded files whose signature is
unchanged are not read at all (``files.HashCache``).

A source says how its files become raw records with a :data:`LandRecords` function; this
module owns everything around it (which files are new, sequence numbers, the transaction,
errors that name the file).
"""

from __future__ import annotations

import contextlib
import errno
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb

from orders_pipeline import live_progress
from orders_pipeline.config import Settings
from orders_pipeline.interrupts import is_interruption
from orders_pipeline.landing.files import (
    Candidate,
    HashCache,
    LandedFile,
    Skipped,
    next_file_seq,
    record_skipped,
    scan_landing,
)
from orders_pipeline.landing.reading import ChangedWhileRead, NotFollowed, OpenedFile, opened

# (connection, file, file_seq, loaded_at) -> records inserted into the raw table. The lander
# reads the file's content only through ``file.open()``.
LandRecords = Callable[[duckdb.DuckDBPyConnection, LandedFile, int, datetime], int]

# What reading a file may raise that says "this file, not the run": retried next run.
_UNREADABLE = (OSError, EOFError, zlib.error, duckdb.IOException)
# Files are committed together until about this many bytes of them are in the transaction.
# A batch of several row groups (~120k records each) has DuckDB write its full row groups
# straight to the database file, compressed, instead of through the WAL and a checkpoint
# (issue 15: 64 MB batches, under one row group of ODP events each, cost 6-9 % more CPU).
BATCH_BYTES = 256 << 20


@dataclass
class LandingReport:
    """What one landing pass did, for asset metadata and the CLI summary."""

    source: str
    files_loaded: list[str] = field(default_factory=list)
    records_landed: int = 0
    files_unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


class LandingError(RuntimeError):
    """A file could not be landed for a reason other than reading it; names the file."""


class SourceFolder(Protocol):
    """What landing needs to know of a source (``sources.Source`` is one): its folder name,
    file suffixes and lander."""

    @property
    def name(self) -> str: ...

    @property
    def raw_table(self) -> str: ...

    @property
    def suffixes(self) -> tuple[str, ...]: ...

    @property
    def land_records(self) -> LandRecords: ...


def land_new_files(
    con: duckdb.DuckDBPyConnection, settings: Settings, sources: Sequence[SourceFolder]
) -> dict[str, LandingReport]:
    """Land every new file of every source folder, one report per source. docs/semantics.md §3:
    files first seen in the same run are taken in lexicographic order of their path under
    the landing folder, across sources, so their arrival sequence follows that order."""
    by_name = {source.name: source for source in sources}
    reports = {name: LandingReport(source=name) for name in by_name}
    scan = scan_landing(settings.landing_dir, {s.name: s.suffixes for s in sources})
    skipped = list(scan.skipped)
    loaded = {name: _loaded_sha256(con, name) for name in by_name}
    cache = HashCache(con)
    total_bytes = sum(c.status.st_size for c in scan.candidates)
    batch = _Batch(con)
    try:
        with live_progress.task("landing", len(scan.candidates), total_bytes) as live:
            for candidate in scan.candidates:
                report = reports[candidate.source]
                records = _land_one(settings, candidate, by_name, loaded, cache, skipped, report,
                                    batch)  # fmt: skip
                if live is not None:
                    live.advance(files=1, nbytes=candidate.status.st_size, records=records or 0)
        batch.commit()
    except BaseException:
        batch.rollback()  # nothing of the open batch is kept: its files are landed next run
        raise
    cache.save(con, scan.candidates)
    record_skipped(con, skipped, datetime.now(UTC))
    for entry in skipped:
        reports[entry.source].skipped.append((entry.relative, entry.reason))
    return reports


def nothing_to_land(
    con: duckdb.DuckDBPyConnection, settings: Settings, sources: Sequence[SourceFolder]
) -> bool:
    """Whether a landing pass would read no file (issue 15: a run with no new file): every
    file of the scan has a hash-cache entry that can be trusted (``HashCache.known_sha256``)
    for content already loaded, and no cached file is gone (the pass would forget it).
    Looks at the files' metadata only. The scan's skipped entries are recorded as a pass
    records them, so the run's output still lists them."""
    scan = scan_landing(settings.landing_dir, {s.name: s.suffixes for s in sources})
    cache = HashCache(con)
    loaded = {source.name: _loaded_sha256(con, source.name) for source in sources}
    unchanged = cache.covers_only(scan.candidates) and all(
        cache.known_sha256(candidate) in loaded[candidate.source] for candidate in scan.candidates
    )
    if unchanged:
        record_skipped(con, list(scan.skipped), datetime.now(UTC))
    return unchanged


class _Batch:
    """The open transaction that lands files until about :data:`BATCH_BYTES` of them are in
    it, and the next free ``file_seq`` inside it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.open = False
        self.bytes = 0
        self.files: list[str] = []
        self.next_seq = 0

    def file_seq(self) -> int:
        """The sequence number of the next file, the transaction begun if needed."""
        if not self.open:
            self.con.execute("begin transaction")
            self.open = True
            self.next_seq = next_file_seq(self.con)
        return self.next_seq

    def landed(self, relative: str, size_bytes: int) -> None:
        """A file's rows and its ``audit.loads`` row are in; commit once the batch is full."""
        self.next_seq += 1
        self.bytes += size_bytes
        self.files.append(relative)
        if self.bytes >= BATCH_BYTES:
            self.commit()

    def commit(self) -> None:
        if not self.open:
            return
        try:
            self.con.execute("commit")
        except duckdb.Error as error:
            # a commit that failed (a full disk) has ended the transaction; name its files
            self.open = False
            first, others = self.files[0], len(self.files) - 1
            more = f" (and {others} other file(s) of its batch)" if others else ""
            raise LandingError(
                f"could not land {first}{more}: {type(error).__name__}: {first_line(error)}"
            ) from None
        self.open, self.bytes, self.files = False, 0, []

    def rollback(self) -> None:
        if self.open:
            self.open, self.bytes, self.files = False, 0, []
            # after an error DuckDB may have ended the transaction itself
            with contextlib.suppress(duckdb.Error):
                self.con.execute("rollback")


def _land_one(
    settings: Settings,
    candidate: Candidate,
    by_name: dict[str, SourceFolder],
    loaded: dict[str, set[str]],
    cache: HashCache,
    skipped: list[Skipped],
    report: LandingReport,
    batch: _Batch,
) -> int | None:
    """Land one candidate file unless it was loaded before; count it in ``report``. Its
    records landed, or None."""
    if cache.known_sha256(candidate) in loaded[candidate.source]:
        report.files_unchanged += 1  # loaded before, not written since: not read again
        return None
    try:
        records = _land_candidate(settings, candidate, by_name[candidate.source],
                                  loaded[candidate.source], cache, batch)  # fmt: skip
    except NotFollowed as error:  # became a link (or a FIFO) after the scan
        skipped.append(Skipped(candidate.relative, candidate.source, str(error.strerror)))
        return None
    except _UNREADABLE as error:
        report.unreadable.append((candidate.relative, _describe(error)))
        return None
    if records is None:
        report.files_unchanged += 1
    else:
        report.files_loaded.append(candidate.relative)
        report.records_landed += records
    return records


def _loaded_sha256(con: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    rows = con.execute("select distinct sha256 from audit.loads where source = ?", [source])
    return {row[0] for row in rows.fetchall()}


def _land_candidate(
    settings: Settings,
    candidate: Candidate,
    source: SourceFolder,
    loaded: set[str],
    cache: HashCache,
    batch: _Batch,
) -> int | None:
    """Hash the file and land it if its content is new: its record count, or None when the
    same bytes were loaded before (under any name). One open handle for both."""
    recorded_at_ns = time.time_ns()  # before the read: see files.HashCache (racy entries)
    with opened(settings.landing_dir, candidate.relative) as file:
        sha256 = file.sha256()
        records = None
        if sha256 not in loaded:
            landed = LandedFile(
                path=settings.landing_dir / candidate.relative,
                relative=candidate.relative,
                source=candidate.source,
                sha256=sha256,
                size_bytes=file.status.st_size,
                opener=file.stream,
            )
            records = _land_file(batch, landed, source, file)
            loaded.add(sha256)
        cache.remember(candidate.source, candidate.relative, file.status, sha256, recorded_at_ns)
        return records


def _describe(error: BaseException) -> str:
    if isinstance(error, duckdb.IOException):
        return f"IOException: {first_line(error)}"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return f"{type(error).__name__}: {error}"


def _land_file(batch: _Batch, landed: LandedFile, source: SourceFolder, file: OpenedFile) -> int:
    """Land one file into the open batch. A file that cannot be read leaves none of its rows
    in it; a DuckDB error ends the batch (DuckDB aborts the transaction) and stops the run
    with an error that names the file."""
    try:
        records = _land_in_batch(batch, landed, source, file)
    except duckdb.Error as error:
        batch.rollback()
        if is_interruption(error):  # Ctrl-C while DuckDB read the file's rows from Python
            raise
        # The file's name is the first thing a person needs; the runner shows only the
        # innermost error of a chain, so the DuckDB message is carried in this one.
        raise LandingError(
            f"could not land {landed.relative}: {type(error).__name__}: {first_line(error)}"
        ) from None
    batch.landed(landed.relative, landed.size_bytes)
    return records


def _land_in_batch(
    batch: _Batch, landed: LandedFile, source: SourceFolder, file: OpenedFile
) -> int:
    con = batch.con
    loaded_at = datetime.now(UTC)
    file_seq = batch.file_seq()
    try:
        records = source.land_records(con, landed, file_seq, loaded_at)
        # the bytes the lander read, hashed as it read them: the same as the scan's, or the
        # file was written in place in between and nothing of it is kept
        if file.landed_sha256() != landed.sha256:
            raise ChangedWhileRead(
                errno.EAGAIN,
                "changed while it was being read; read again next run",
                landed.relative,
            )
        con.execute(
            """insert into audit.loads
            (file, source, sha256, size_bytes, file_seq, records, loaded_at)
            values (?, ?, ?, ?, ?, ?, ?)""",
            [
                landed.relative,
                landed.source,
                landed.sha256,
                landed.size_bytes,
                file_seq,
                records,
                loaded_at,
            ],
        )
    except _UNREADABLE as error:
        if isinstance(error, duckdb.Error):
            raise  # the transaction is aborted: the batch ends (_land_file)
        # read in part: the rows it got are removed, the batch goes on; the next file
        # takes this sequence number
        con.execute(
            f"delete from {source.raw_table} where file_seq = ?",  # noqa: S608 - trusted name
            [file_seq],
        )
        raise
    return records


def first_line(error: BaseException) -> str:
    """DuckDB messages end with the SQL and a caret line; the first line says what failed."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
