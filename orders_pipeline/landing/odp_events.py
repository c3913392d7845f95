"""Landing ODP order-event payloads (SEMANTICS §1.1) from ``<landing>/odp_events/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing.files import LandedFile, new_files, next_file_seq
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file

SOURCE = "odp_events"
RAW_TABLE = "raw.odp_events"


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


def land_odp_events(con: duckdb.DuckDBPyConnection, settings: Settings) -> LandingReport:
    """Land every new file of ``odp_events/``: its records into ``raw.odp_events`` and one row
    into ``audit.loads``, in one transaction per file so a crash never leaves half a file.
    A file that cannot be read is reported and retried next run."""
    scan = new_files(con, settings.landing_dir, SOURCE, JSON_SUFFIXES)
    report = LandingReport(
        source=SOURCE, files_unchanged=len(scan.already_loaded), unreadable=list(scan.unreadable)
    )
    for landed in scan.new:
        try:
            records = _land_file(con, landed)
        except OSError as error:
            report.unreadable.append((landed.relative, f"{type(error).__name__}: {error}"))
            continue
        except duckdb.IOException as error:
            report.unreadable.append((landed.relative, f"IOException: {_first_line(error)}"))
            continue
        report.files_loaded.append(landed.relative)
        report.records_landed += records
    return report


def _land_file(con: duckdb.DuckDBPyConnection, landed: LandedFile) -> int:
    """Land one file in its own transaction. DuckDB refusing the file's content (its JSON
    reader, an encoding it rejects) must not cost the file's good records: the file is landed
    again, split line by line in Python, so validation can quarantine what is bad. Any other
    failure stops the run with an error that names the file."""
    try:
        return _land_in_transaction(con, landed, in_python=False)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        pass
    try:
        return _land_in_transaction(con, landed, in_python=True)
    except (OSError, duckdb.IOException):
        raise
    except duckdb.Error as error:
        # The file's name is the first thing a person needs; the runner shows only the
        # innermost error of a chain, so the DuckDB message is carried in this one.
        raise LandingError(
            f"could not land {landed.relative}: {type(error).__name__}: {_first_line(error)}"
        ) from None


def _land_in_transaction(
    con: duckdb.DuckDBPyConnection, landed: LandedFile, *, in_python: bool
) -> int:
    loaded_at = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        file_seq = next_file_seq(con)
        records = land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
        con.execute(
            """insert into audit.loads
            (file, source, sha256, size_bytes, file_seq, records, loaded_at)
            values (?, ?, ?, ?, ?, ?, ?)""",
            [
                landed.relative,
                SOURCE,
                landed.sha256,
                landed.size_bytes,
                file_seq,
                records,
                loaded_at,
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return records


def _first_line(error: BaseException) -> str:
    """DuckDB messages end with the SQL and a caret line; the first line says what failed."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
