"""Landing every new file of one source folder into its raw table (SEMANTICS §1): each file in
its own transaction with its ``audit.loads`` row, so a crash never leaves half a file, and a
file that cannot be read is reported and retried on the next run without blocking the others.

A source says how its files become raw records with a :data:`LandRecords` function; this
module owns everything around it (which files are new, sequence numbers, the transaction,
errors that name the file).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing.files import LandedFile, new_files, next_file_seq

# (connection, file, file_seq, loaded_at, in_python) -> records inserted into the raw table.
# ``in_python`` is the retry after DuckDB's own reader refused the file's content: a lander
# that reads with DuckDB must then split the file in Python so its good records still load;
# a lander that always reads in Python ignores it.
LandRecords = Callable[[duckdb.DuckDBPyConnection, LandedFile, int, datetime, bool], int]


@dataclass
class LandingReport:
    """What one landing pass did, for asset metadata and the CLI summary."""

    source: str
    files_loaded: list[str] = field(default_factory=list)
    records_landed: int = 0
    files_unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


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
    """Land every new file of every source folder, one report per source. SEMANTICS §3:
    files first seen in the same run are taken in lexicographic order of their path under
    the landing folder, across sources, so their arrival sequence follows that order."""
    reports: dict[str, LandingReport] = {}
    pending: list[tuple[LandedFile, SourceFolder]] = []
    for source in sources:
        scan = new_files(con, settings.landing_dir, source.name, source.suffixes)
        reports[source.name] = LandingReport(
            source=source.name,
            files_unchanged=len(scan.already_loaded),
            unreadable=list(scan.unreadable),
        )
        pending += [(landed, source) for landed in scan.new]
    for landed, source in sorted(pending, key=lambda entry: entry[0].relative):
        report = reports[source.name]
        try:
            records = _land_file(con, landed, source.land_records)
        except OSError as error:
            report.unreadable.append((landed.relative, f"{type(error).__name__}: {error}"))
            continue
        except duckdb.IOException as error:
            report.unreadable.append((landed.relative, f"IOException: {first_line(error)}"))
            continue
        report.files_loaded.append(landed.relative)
        report.records_landed += records
    return reports


def _land_file(con: duckdb.DuckDBPyConnection, landed: LandedFile, land: LandRecords) -> int:
    """Land one file in its own transaction. DuckDB refusing the file's content (its JSON or
    CSV reader, an encoding it rejects) must not cost the file's good records: the file is
    landed again with ``in_python``, so validation can quarantine what is bad. Any other
    failure stops the run with an error that names the file."""
    try:
        return _land_in_transaction(con, landed, land, in_python=False)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        pass
    try:
        return _land_in_transaction(con, landed, land, in_python=True)
    except (OSError, duckdb.IOException):
        raise
    except duckdb.Error as error:
        # The file's name is the first thing a person needs; the runner shows only the
        # innermost error of a chain, so the DuckDB message is carried in this one.
        raise LandingError(
            f"could not land {landed.relative}: {type(error).__name__}: {first_line(error)}"
        ) from None


def _land_in_transaction(
    con: duckdb.DuckDBPyConnection, landed: LandedFile, land: LandRecords, *, in_python: bool
) -> int:
    loaded_at = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        file_seq = next_file_seq(con)
        records = land(con, landed, file_seq, loaded_at, in_python)
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
