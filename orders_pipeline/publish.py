"""The analyst copy (CONTRACT: analysts never block the pipeline and never see half a run).

DuckDB allows one writer per file, and a reader holding the working warehouse would break
scheduled runs (PITFALLS). So after every successful run the core, reporting and audit tables
are copied into a fresh file beside the target, which is then renamed over the analyst
database in one atomic step. A reader that has the old file open keeps reading the old
snapshot; the next connection sees the new one. A crash before the rename leaves the previous
analyst database untouched.
"""

from __future__ import annotations

import contextlib
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


# ORDERS_PII_MODE=hash: contact details are replaced in the analyst copy by a keyed hash
# (stable for a given ORDERS_PII_KEY), so analysts can count and join customers without
# seeing who they are. Column names per table; a list column has every element hashed.
PII_COLUMNS = ("email", "phone", "first_name", "last_name", "name", "bill_address",
               "ship_address", "emails", "phones")  # fmt: skip
# Identifier values are contact details when their type is one of these.
PII_IDENTIFIER_TYPES = ("email", "phone")
# The raw text of a refused record holds everything it was sent with: withheld when hashing.
PII_WITHHELD = {("audit", "quarantine"): ("raw",)}

_PII_MACRO = """
create or replace temp macro pii_hash(v) as
    case when v is null then null
         else 'pii_' || substr(sha256(getvariable('pii_key') || chr(31) || v::varchar), 1, 32)
    end
"""


def _select_list(con: duckdb.DuckDBPyConnection, schema: str, table: str, hash_pii: bool) -> str:
    """The published columns of a table, with contact details hashed when asked."""
    columns = con.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = ? and table_name = ? order by ordinal_position""",
        [schema, table],
    ).fetchall()
    if not hash_pii:
        return "*"
    names = {name for name, _ in columns}
    select = []
    for name, data_type in columns:
        quoted = f'"{name}"'
        if name in PII_WITHHELD.get((schema, table), ()):
            select.append(f"null::{data_type} as {quoted}")
        elif name in PII_COLUMNS and data_type.endswith("[]"):
            select.append(f"list_transform({quoted}, lambda v: pii_hash(v)) as {quoted}")
        elif name in PII_COLUMNS:
            select.append(f"pii_hash({quoted}) as {quoted}")
        elif name == "identifier_value" and "identifier_type" in names:
            types = ", ".join(f"'{t}'" for t in PII_IDENTIFIER_TYPES)
            select.append(
                f"case when identifier_type in ({types}) then pii_hash({quoted}) "
                f"else {quoted} end as {quoted}"
            )
        else:
            select.append(quoted)
    return ", ".join(select)


def publish_analytics(
    con: duckdb.DuckDBPyConnection, target: Path, pii_key: str | None = None
) -> PublishReport:
    """Copy the published schemas of the open warehouse into ``target``, atomically; with a
    ``pii_key``, contact details are replaced by keyed hashes (``PII_COLUMNS``)."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    # copies left by a run killed mid-publication (writers hold the lock, so none is live)
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):
        _remove(stale)
    staging_file = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    alias = "analytics_publish"
    tables = _published_tables(con)
    rows = 0
    hash_pii = pii_key is not None
    if hash_pii:
        con.execute("set variable pii_key = ?", [pii_key])
        con.execute(_PII_MACRO)
    con.execute(f"attach ? as {alias}", [str(staging_file)])
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists {alias}.{schema}")
        for schema, table in tables:
            columns = _select_list(con, schema, table, hash_pii)
            con.execute(
                f"create table {alias}.{schema}.{table} as select {columns} from {schema}.{table}"
            )
            rows += int(
                con.execute(f"select count(*) from {alias}.{schema}.{table}").fetchall()[0][0]
            )
        con.execute(f"checkpoint {alias}")
    except BaseException:
        # on a full disk the detach fails too (its checkpoint cannot be written); the copy
        # and its log are removed either way, and the first error is the one reported
        with contextlib.suppress(duckdb.Error):
            con.execute(f"detach {alias}")
        _remove(staging_file)
        _remove(Path(f"{staging_file}.wal"))
        raise
    try:
        con.execute(f"detach {alias}")
    except BaseException:
        _remove(staging_file)
        _remove(Path(f"{staging_file}.wal"))
        raise
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
