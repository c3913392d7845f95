"""The key change log across publications (key_changes.py): a publication marks what it holds
and forgets only what the publication before it held too, so the log can say what a copy of
the last publication lacks and what the spare (the one before, publish.py) lacks; for an older
file, or one older than the log, it says it cannot."""

from __future__ import annotations

import duckdb

from orders_pipeline.key_changes import (
    Changes,
    changes_since_publication,
    clear,
    ensure_log,
    log_keys,
)

TABLE = "core.orders"


def _log(con: duckdb.DuckDBPyConnection, order_id: str) -> None:
    log_keys(con, TABLE, ("order_id",), f"select '{order_id}' as order_id")


def _warehouse_of_an_older_version() -> duckdb.DuckDBPyConnection:
    """Five publications made by a version whose log each publication emptied."""
    con = duckdb.connect()
    con.execute("create schema state")
    con.execute(
        """create table state.publication_builds as
           select range + 1 as build_no, now() as published_at, 'a.duckdb' as path
           from range(5)"""
    )
    con.execute(
        "create table state.key_changes (table_name varchar, key varchar[], change_no bigint)"
    )
    con.execute("create table state.key_changes_start as select 3::bigint as publication_build")
    return con


def test_each_publication_forgets_only_what_the_one_before_it_held_too():
    con = _warehouse_of_an_older_version()
    _log(con, "A")
    # the older version emptied the log at publication 5: what a copy of 4 lacks is lost
    assert changes_since_publication(con, 4) is None
    assert changes_since_publication(con, 5) == {TABLE: Changes(whole=False)}

    clear(con, 6)  # publication 6 holds A
    _log(con, "B")
    assert changes_since_publication(con, 5) == {TABLE: Changes(whole=False)}  # A and B
    assert changes_since_publication(con, 6) == {TABLE: Changes(whole=False)}  # B
    con.execute("delete from state.key_changes where key = ['B']")
    assert changes_since_publication(con, 6) == {}
    assert changes_since_publication(con, 5) == {TABLE: Changes(whole=False)}  # A still

    clear(con, 7)  # publication 7: A, which 6 holds too, is forgotten
    assert changes_since_publication(con, 5) is None
    assert changes_since_publication(con, 6) == {}
    assert changes_since_publication(con, 7) == {}
    assert con.execute("select key, published_in from state.key_changes").fetchall() == []


def test_a_log_set_up_only_in_part_is_completed_when_next_used():
    # ensure_log outside a build's transaction (a keyed check) stopped after its last
    # table was created, before its two rows were written: the next use writes them
    con = _warehouse_of_an_older_version()
    ensure_log(con)
    con.execute("delete from state.key_changes_start")
    con.execute("delete from state.key_changes_forgotten")
    _log(con, "A")
    assert con.execute("select * from state.key_changes_start").fetchall() == [(6,)]
    assert con.execute("select * from state.key_changes_forgotten").fetchall() == [(5,)]
    assert changes_since_publication(con, 6) == {TABLE: Changes(whole=False)}
