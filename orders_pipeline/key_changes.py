"""Which keys of the tables with a unique key changed since the last publication (issue 15).

Publishing brings a keyed table of the analyst copy up to date by key (publish.py). Finding
the keys that changed by comparing every row of the warehouse with every row of the copy
reads both tables whole, which grows with the history; but the builds that change a keyed
table already know which keys they replace: an entity model's build the keys of its
``changed_keys`` (models.py: its SQL inserts only those), identity resolution the
identifiers and orders of the customers it re-resolved (identity.py). They log those keys
here, in the transaction that replaces the rows, and a build that replaces the whole table
logs that instead. Each publication reads the log and empties it in the transaction that
records its build (``state.publication_builds``), so the log always holds what changed
since the last publication: what a copy of that publication lacks.

The log is only trusted for a copy made after logging began (``state.key_changes_start``):
builds made before it (by a version that did not log) may have changed keys it does not
name. Publishing falls back to the row comparison whenever the log cannot say (no start, a
whole-table build, a row count that disagrees afterwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from orders_pipeline.warehouse import table_exists

LOG = "state.key_changes"
START = "state.key_changes_start"


def ensure_log(con: duckdb.DuckDBPyConnection) -> None:
    """Create the log when it does not exist yet, noting from which publication build on it
    is complete: the next one (the publications so far may lack changes nobody logged)."""
    con.execute("create schema if not exists state")
    con.execute(
        f"""create table if not exists {LOG} (
                table_name varchar not null,  -- schema.table with a unique key
                key        varchar[]          -- its key's values as text; NULL: the
                                              -- build replaced the whole table
            )"""
    )
    con.execute(
        f"""create table if not exists {START} (
                publication_build bigint not null  -- the first build the log is complete for
            )"""
    )
    last = 0
    if table_exists(con, "state", "publication_builds"):
        last = con.execute(
            "select coalesce(max(build_no), 0) from state.publication_builds"
        ).fetchall()[0][0]
    con.execute(
        f"insert into {START} select ? where not exists (select 1 from {START})", [last + 1]
    )


def log_keys(con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str], keys_sql: str) -> None:
    """Log the keys ``keys_sql`` selects (columns named as ``key``) as changed in ``table``;
    the caller holds the transaction that replaces their rows."""
    ensure_log(con)
    values = ", ".join(f'cast("{column}" as varchar)' for column in key)
    con.execute(
        f"insert into {LOG} select distinct ?, [{values}] from ({keys_sql})",  # noqa: S608
        [table],
    )


def log_whole(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Log that ``table`` was replaced whole (its keys are not listed)."""
    ensure_log(con)
    con.execute(f"insert into {LOG} values (?, null)", [table])


@dataclass(frozen=True)
class Changes:
    """What the log says changed in one table since the last publication."""

    whole: bool  # replaced whole: the log names no keys


def changes_since_publication(
    con: duckdb.DuckDBPyConnection, publication_build: int
) -> dict[str, Changes] | None:
    """What changed in each keyed table since the last publication, which a copy of
    ``publication_build`` holds; None when the log is not complete for that copy (tables
    missing from the dict did not change)."""
    if not table_exists(con, "state", "key_changes_start"):
        return None
    start = con.execute(f"select min(publication_build) from {START}").fetchall()[0][0]
    if start is None or publication_build < start:
        return None
    rows = con.execute(f"select table_name, bool_or(key is null) from {LOG} group by 1").fetchall()
    return {table: Changes(bool(whole)) for table, whole in rows}


def clear(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the log: a publication now holds every change it lists (the caller's
    transaction also records that publication's build)."""
    ensure_log(con)
    con.execute(f"delete from {LOG}")
