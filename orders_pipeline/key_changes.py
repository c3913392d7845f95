"""Which keys of the tables with a unique key changed since the last publication (issue 15).

Publishing brings a keyed table of the analyst copy up to date by key (publish.py). Finding
the keys that changed by comparing every row of the warehouse with every row of the copy
reads both tables whole, which grows with the history; but the builds that change a keyed
table already know which keys they replace: an entity model's build the keys of its
``changed_keys`` (models.py: its SQL inserts only those), identity resolution the
identifiers and orders of the customers it re-resolved (identity.py). They log those keys
here, in the transaction that replaces the rows, and a build that replaces the whole table
logs that instead. Each publication reads the log and, in the transaction that records its
build (``state.publication_builds``), marks every row it holds with that build
(``published_in``) and forgets the rows the publication before it held already. So the log
always holds what changed since the publication before last: a copy of the last publication
lacks the rows not yet published, and the spare (publish.py: the file of the publication
before, updated in place instead of copying the last one) those and the rows the last one
published.

Each logging call numbers its rows (``change_no``, growing across publications: the largest
number forgotten is kept per table in ``state.key_changes_cleared``), so a reader other than
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
# The newest publication whose rows the log has forgotten: only a copy of it or of a later one
# finds in the log every change it lacks.
FORGOTTEN = "state.key_changes_forgotten"


def ensure_log(con: duckdb.DuckDBPyConnection) -> None:
    """Create the log when it does not exist yet, noting from which publication build on it
    is complete: the next one (the publications so far may lack changes nobody logged)."""
    if _log_is_complete(con):
        return
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
    # the publication build that first held the row; NULL: not published yet (and every row
    # of a log made before the column, which publications emptied)
    con.execute(f"alter table {LOG} add column if not exists published_in bigint")
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
    con.execute(
        f"""create table if not exists {FORGOTTEN} (
                publication_build bigint not null
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
    # made now: the publications so far emptied the log of everything they held (versions
    # that kept no rows for the spare)
    con.execute(
        f"insert into {FORGOTTEN} select ? where not exists (select 1 from {FORGOTTEN})", [last]
    )


def _log_is_complete(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether :func:`ensure_log` has nothing to do: its last table exists (so every table and
    column before it does) and both its rows were written. Two statements instead of its ten:
    every incremental build and keyed check asks (issue 15: a run's fixed cost). A table or
    column added to the log later goes before the last table, or is tested here."""
    if not table_exists(con, "state", FORGOTTEN.split(".")[1]):
        return False
    return bool(
        con.execute(
            f"select exists (select 1 from {START}) and exists (select 1 from {FORGOTTEN})"
        ).fetchall()[0][0]
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
    """What changed in each keyed table since publication ``publication_build``, which a
    copy of it lacks; None when the log is not complete for that copy (tables missing from
    the dict did not change)."""
    if not table_exists(con, "state", "key_changes_start"):
        return None
    ensure_log(con)
    start = con.execute(f"select min(publication_build) from {START}").fetchall()[0][0]
    if start is None or publication_build < start or publication_build < _oldest_base(con):
        return None
    rows = con.execute(
        f"select table_name, bool_or(key is null) from ({UNPUBLISHED}) group by 1",
        [publication_build],
    ).fetchall()
    return {table: Changes(bool(whole)) for table, whole in rows}


# The log's rows that a publication (build ``?``) lacks: those no publication held yet, and
# those a later one did.
UNPUBLISHED = f"select * from {LOG} where published_in is null or published_in > ?"


def _oldest_base(con: duckdb.DuckDBPyConnection) -> int:
    """The oldest publication the log still lists every change since."""
    return int(con.execute(f"select max(publication_build) from {FORGOTTEN}").fetchall()[0][0])


def clear(con: duckdb.DuckDBPyConnection, publication_build: int) -> None:
    """Mark every row not yet published as held by publication ``publication_build`` (the
    caller's transaction records that build), and forget the rows the publication before it
    held: both hold them. The rows of that publication stay, for its spare (publish.py)."""
    ensure_log(con)
    con.execute(
        f"update {LOG} set published_in = ? where published_in is null", [publication_build]
    )
    # the largest number forgotten per table, one row each: what a reader that last looked
    # before it can no longer find in the log
    con.execute(
        f"""insert into {CLEARED}
            select table_name, max(change_no) from {LOG}
            where published_in < ? and change_no is not null group by table_name""",
        [publication_build],
    )
    con.execute(
        f"""delete from {CLEARED} as older
            where change_no < (select max(change_no) from {CLEARED} as newer
                               where newer.table_name = older.table_name)"""
    )
    con.execute(f"delete from {LOG} where published_in < ?", [publication_build])
    con.execute(
        f"update {FORGOTTEN} set publication_build = greatest(publication_build, ?)",
        [publication_build - 1],
    )
