"""Landing ODP order-event payloads (SEMANTICS §1.1) from ``<landing>/odp_events/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing.files import new_files, next_file_seq
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


def land_odp_events(con: duckdb.DuckDBPyConnection, settings: Settings) -> LandingReport:
    """Land every new file of ``odp_events/``: its records into ``raw.odp_events`` and one row
    into ``audit.loads``, in one transaction per file so a crash never leaves half a file."""
    scan = new_files(con, settings.landing_dir, SOURCE, JSON_SUFFIXES)
    report = LandingReport(
        source=SOURCE, files_unchanged=len(scan.already_loaded), unreadable=list(scan.unreadable)
    )
    for landed in scan.new:
        loaded_at = datetime.now(UTC)
        con.execute("begin transaction")
        try:
            file_seq = next_file_seq(con)
            records = land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at)
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
        except OSError as error:
            con.execute("rollback")
            report.unreadable.append((landed.relative, f"{type(error).__name__}: {error}"))
            continue
        except duckdb.IOException as error:
            con.execute("rollback")
            report.unreadable.append((landed.relative, f"IOException: {error}"))
            continue
        except BaseException:
            con.execute("rollback")
            raise
        report.files_loaded.append(landed.relative)
        report.records_landed += records
    return report
