"""The analyst copy (CONTRACT: analysts never block the pipeline and never see half a run).

DuckDB allows one writer per file, and a reader holding the working warehouse would break
scheduled runs (PITFALLS). So after every successful run the core, reporting and audit tables
are copied into a fresh file beside the target, which is then renamed over the analyst
database in one atomic step. A reader that has the old file open keeps reading the old
snapshot; the next connection sees the new one. A crash before the rename leaves the previous
analyst database untouched.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

# What analysts get: everything but the raw records and the intermediate staging tables
# (views are published as tables, so the copy stands on its own).
PUBLISHED_SCHEMAS = ("core", "reporting", "audit")


@dataclass(frozen=True)
class PublishReport:
    """What one publication wrote."""

    path: Path
    tables: int
    rows: int
    seconds: float


def _published_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return [
        (schema, table)
        for schema, table in con.execute(
            """select table_schema, table_name from information_schema.tables
               where table_catalog = current_database()
                 and table_type in ('BASE TABLE', 'VIEW')
                 and table_schema in ('core', 'reporting', 'audit')
               order by table_schema, table_name"""
        ).fetchall()
    ]


def publish_analytics(con: duckdb.DuckDBPyConnection, target: Path) -> PublishReport:
    """Copy the published schemas of the open warehouse into ``target``, atomically."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging_file = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    alias = "analytics_publish"
    tables = _published_tables(con)
    rows = 0
    con.execute(f"attach ? as {alias}", [str(staging_file)])
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists {alias}.{schema}")
        for schema, table in tables:
            con.execute(f"create table {alias}.{schema}.{table} as select * from {schema}.{table}")
            rows += int(
                con.execute(f"select count(*) from {alias}.{schema}.{table}").fetchall()[0][0]
            )
        con.execute(f"checkpoint {alias}")
    except BaseException:
        con.execute(f"detach {alias}")
        _remove(staging_file)
        raise
    con.execute(f"detach {alias}")
    _fsync(staging_file)
    os.replace(staging_file, target)
    _fsync(target.parent)
    _remove(Path(f"{staging_file}.wal"))
    return PublishReport(
        path=target, tables=len(tables), rows=rows, seconds=time.perf_counter() - started
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
