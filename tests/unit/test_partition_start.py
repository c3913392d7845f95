"""Issue 16 item 5: the daily partitions start where the data starts (the month of the first
staged event), recorded beside the warehouse so every process loading the definitions agrees;
the start moves earlier when older events land, never later; ``ORDERS_PARTITION_START`` wins."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.partition_start import (
    FALLBACK_PARTITION_START,
    data_start_file,
    follow_data_start,
    partition_start,
)
from orders_pipeline.warehouse import MACROS_FILE


def _staged(*days: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # the UTC session and macros of every warehouse connection (warehouse.prepare_session)
    con.execute("set TimeZone = 'UTC'")
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_order_events (ts timestamptz)")
    for day in days:
        con.execute("insert into intermediate.int_order_events values (?::timestamptz)", [day])
    return con


def test_an_empty_warehouse_starts_at_the_fixed_fallback(tmp_path: Path):
    settings = Settings(warehouse=tmp_path / "wh.duckdb")
    assert follow_data_start(_staged(), settings) is None  # no event staged
    assert partition_start(settings) == FALLBACK_PARTITION_START
    assert not data_start_file(settings.warehouse).exists()


def test_the_start_follows_the_first_event_and_moves_only_earlier(tmp_path: Path):
    settings = Settings(warehouse=tmp_path / "wh.duckdb")
    assert follow_data_start(_staged("2026-06-17 09:00:00+00"), settings) == date(2026, 6, 1)
    assert partition_start(settings) == date(2026, 6, 1)
    assert data_start_file(settings.warehouse).read_text() == "2026-06-01\n"
    # later events, or older ones within the month: the partitions stay as they are
    assert follow_data_start(_staged("2026-06-02 00:00:00+00", "2026-09-01"), settings) is None
    # history from March lands: the partitions now start in March
    assert follow_data_start(_staged("2026-03-31 23:59:59+00"), settings) == date(2026, 3, 1)
    assert partition_start(settings) == date(2026, 3, 1)


def test_orders_partition_start_wins_and_nothing_is_recorded(tmp_path: Path):
    settings = Settings(warehouse=tmp_path / "wh.duckdb", partition_start=date(2026, 6, 5))
    assert follow_data_start(_staged("2026-01-10 12:00:00+00"), settings) is None
    assert partition_start(settings) == date(2026, 6, 5)
    assert not data_start_file(settings.warehouse).exists()


def test_a_partition_start_long_before_the_first_event_gets_a_hint(tmp_path: Path):
    from orders_pipeline.cli import partition_start_hint

    warehouse = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_order_events (ts timestamptz)")
    # the first event late on 17 June in UTC: its day, not the day of another zone
    con.execute("insert into intermediate.int_order_events values "
                "('2026-09-01 00:00:00+00'), ('2026-06-17 23:30:00+00')")  # fmt: skip
    con.close()
    hint = partition_start_hint(Settings(warehouse=warehouse, partition_start=date(2026, 1, 1)))
    assert hint is not None and "(2026-06-17)" in hint and "on 2026-06-01" in hint
    # within a month of the data, unset, or nothing staged: no hint
    near = Settings(warehouse=warehouse, partition_start=date(2026, 6, 1))
    assert partition_start_hint(near) is None
    assert partition_start_hint(Settings(warehouse=warehouse)) is None
    assert partition_start_hint(Settings(warehouse=tmp_path / "none.duckdb",
                                         partition_start=date(2026, 1, 1))) is None  # fmt: skip
