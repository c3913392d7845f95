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

Each logging call numbers its rows (``change_no``, growing across publications: the largest
number cleared is kept per table in ``state.key_changes_cleared``), so a reader other than
publishing can tell what was logged since it last looked and whether a publication cleared
some of it in between: the asset checks that read only the keys written since they passed
(checks.py, ``-- incremental_on: key_changes``).

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
CLEARED = "state.key_changes_cleared"


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
    # added after the log (a log made before has none: its rows count as number 0)
    con.execute(f"alter table {LOG} add column if not exists change_no bigint")
    con.execute(
        f"""create table if not exists {CLEARED} (
                table_name varchar not null,  -- schema.table with a unique key
                change_no  bigint  not null   -- the largest number of its rows cleared
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
        f"insert into {LOG} (table_name, key, change_no) "  # noqa: S608
        f"select distinct ?, [{values}], ? from ({keys_sql})",
        [table, next_change_no(con)],
    )


def log_whole(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Log that ``table`` was replaced whole (its keys are not listed)."""
    ensure_log(con)
    con.execute(
        f"insert into {LOG} (table_name, key, change_no) values (?, null, ?)",
        [table, next_change_no(con)],
    )


def last_change_no(con: duckdb.DuckDBPyConnection) -> int:
    """The number of the last logging call (0: none yet); the caller has ensured the log."""
    return int(
        con.execute(
            f"""select greatest(
                    (select coalesce(max(change_no), 0) from {LOG}),
                    (select coalesce(max(change_no), 0) from {CLEARED}))"""
        ).fetchall()[0][0]
    )


def next_change_no(con: duckdb.DuckDBPyConnection) -> int:
    """The number of a new logging call: one more than any logged or cleared so far."""
    return last_change_no(con) + 1


def keys_since(con: duckdb.DuckDBPyConnection, table: str, change_no: int) -> bool:
    """Whether the log still lists, key by key, every change of ``table`` logged after call
    ``change_no``: none of them was cleared by a publication, and none replaced the whole
    table."""
    ensure_log(con)
    cleared, whole = con.execute(
        f"""select (select coalesce(max(change_no), 0) from {CLEARED} where table_name = ?),
                   (select count(*) from {LOG}
                    where table_name = ? and key is null and coalesce(change_no, 0) > ?)""",
        [table, table, change_no],
    ).fetchall()[0]
    return cleared <= change_no and whole == 0


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
    # the largest number cleared per table, one row each: what a reader that last looked
    # before it can no longer find in the log
    con.execute(
        f"""insert into {CLEARED}
            select table_name, max(change_no) from {LOG}
            where change_no is not null group by table_name"""
    )
    con.execute(
        f"""delete from {CLEARED} as older
            where change_no < (select max(change_no) from {CLEARED} as newer
                               where newer.table_name = older.table_name)"""
    )
    con.execute(f"delete from {LOG}")
