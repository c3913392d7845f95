"""Landing every new file of one source folder into its raw table (docs/semantics.md §1): each
file in its own transaction with its ``audit.loads`` row, so a crash never leaves half a file, and a
file that cannot be read is reported and retried on the next run without blocking the others.

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
    with live_progress.task("landing", len(scan.candidates), total_bytes) as live:
        for candidate in scan.candidates:
            report = reports[candidate.source]
            records = _land_one(con, settings, candidate, by_name, loaded, cache, skipped, report)
            if live is not None:
                live.advance(files=1, nbytes=candidate.status.st_size, records=records or 0)
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


def _land_one(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    candidate: Candidate,
    by_name: dict[str, SourceFolder],
    loaded: dict[str, set[str]],
    cache: HashCache,
    skipped: list[Skipped],
    report: LandingReport,
) -> int | None:
    """Land one candidate file unless it was loaded before; count it in ``report``. Its
    records landed, or None."""
    if cache.known_sha256(candidate) in loaded[candidate.source]:
        report.files_unchanged += 1  # loaded before, not written since: not read again
        return None
    try:
        records = _land_candidate(con, settings, candidate, by_name[candidate.source],
                                  loaded[candidate.source], cache)  # fmt: skip
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
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    candidate: Candidate,
    source: SourceFolder,
    loaded: set[str],
    cache: HashCache,
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
            records = _land_file(con, landed, source.land_records, file)
            loaded.add(sha256)
        cache.remember(candidate.source, candidate.relative, file.status, sha256, recorded_at_ns)
        return records


def _describe(error: BaseException) -> str:
    if isinstance(error, duckdb.IOException):
        return f"IOException: {first_line(error)}"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return f"{type(error).__name__}: {error}"


def _land_file(
    con: duckdb.DuckDBPyConnection, landed: LandedFile, land: LandRecords, file: OpenedFile
) -> int:
    """Land one file in its own transaction. A failure other than reading the file stops
    the run with an error that names the file."""
    try:
        return _land_in_transaction(con, landed, land, file)
    except _UNREADABLE:
        raise
    except duckdb.Error as error:
        # The file's name is the first thing a person needs; the runner shows only the
        # innermost error of a chain, so the DuckDB message is carried in this one.
        raise LandingError(
            f"could not land {landed.relative}: {type(error).__name__}: {first_line(error)}"
        ) from None


def _land_in_transaction(
    con: duckdb.DuckDBPyConnection, landed: LandedFile, land: LandRecords, file: OpenedFile
) -> int:
    loaded_at = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        file_seq = next_file_seq(con)
        records = land(con, landed, file_seq, loaded_at)
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
        con.execute("commit")
    except BaseException:
        # a commit that failed (a full disk) has already ended the transaction: the rollback
        # then fails too, and must not hide the error that matters
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    return records


def first_line(error: BaseException) -> str:
    """DuckDB messages end with the SQL and a caret line; the first line says what failed."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
