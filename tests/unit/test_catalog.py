"""``warehouse.table_exists``: whether a table or view is in the catalog, or only one kind
(a model asks for the kind it builds)."""

from __future__ import annotations

import duckdb

from orders_pipeline.warehouse import table_exists


def test_a_table_a_view_or_either_is_found_and_nothing_else():
    con = duckdb.connect()
    con.execute("create schema core")
    con.execute("create table core.orders as select 1 as order_id")
    con.execute("create view core.recent as select * from core.orders")
    assert table_exists(con, "core", "orders")
    assert table_exists(con, "core", "recent")
    assert table_exists(con, "core", "orders", "table")
    assert table_exists(con, "core", "recent", "view")
    assert not table_exists(con, "core", "orders", "view")
    assert not table_exists(con, "core", "recent", "table")
    assert not table_exists(con, "core", "missing")
    assert not table_exists(con, "main", "orders")
