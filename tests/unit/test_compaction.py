"""Compaction of the analyst database (orders_pipeline/compaction.py): a publication's
checkpoints vacuum only when it writes every seventh build; the rows are the same either
way."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orders_pipeline.compaction import COMPACT_EVERY, compacts, vacuuming_only_when_compacting
from orders_pipeline.config import Settings
from orders_pipeline.publish import publish_analytics
from orders_pipeline.warehouse import connect

EVENTS = 600_000  # five row groups


def _read(database: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _row_groups(database: Path) -> int:
    [(row_groups,)] = _read(
        database, "select count(distinct row_group_id) from pragma_storage_info('core.events')"
    )
    return row_groups


def _events(database: Path) -> list[tuple]:
    return _read(database, "select count(*), sum(event_no) from core.events")


def test_every_seventh_publication_build_compacts():
    assert COMPACT_EVERY == 7
    assert [n for n in range(0, 22) if compacts(n)] == [7, 14, 21]


def test_checkpoints_vacuum_only_within_a_compacting_build(tmp_path):
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    con.execute("create schema core")
    con.execute(f"create table core.events as select range as event_no from range({EVENTS})")
    con.execute("checkpoint")
    with vacuuming_only_when_compacting(con, 6) as vacuums:
        assert not vacuums
        con.execute("delete from core.events where event_no % 2 = 0")
        con.execute("checkpoint")
        assert con.execute("select current_setting('max_vacuum_tasks')").fetchall() == [(0,)]
    # DuckDB's default again after the block
    assert con.execute("select current_setting('max_vacuum_tasks')").fetchall() == [(100,)]
    con.close()
    assert _row_groups(tmp_path / "db.duckdb") == 5
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    with vacuuming_only_when_compacting(con, 7) as vacuums:
        assert vacuums
        con.execute("delete from core.events where event_no % 3 = 0")
        con.execute("checkpoint")
    con.close()
    assert _row_groups(tmp_path / "db.duckdb") < 5


def test_the_seventh_publication_compacts_the_analyst_database(tmp_path):
    """Half of a published table's rows deleted: the publications of builds 2 to 6 leave
    them in their row groups, the seventh merges them; the copy equals the warehouse."""
    settings = Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "wh.duckdb")
    analytics = settings.analytics_path
    with connect(settings) as con:
        con.execute("create schema if not exists core")
        con.execute(f"create table core.events as select range as event_no from range({EVENTS})")

        def publish() -> None:
            publish_analytics(con, analytics, compared={"core.events": ("event_no",)})
            assert (
                _events(analytics)
                == con.execute("select count(*), sum(event_no) from core.events").fetchall()
            )

        publish()  # build 1: a full publication
        con.execute("delete from core.events where event_no % 2 = 0")
        for _ in range(2, 7):
            publish()
            assert _row_groups(analytics) == 5
        con.execute("delete from core.events where event_no % 3 = 0")
        publish()  # build 7
    assert _row_groups(analytics) < 5
