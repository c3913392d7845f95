"""A model's inputs are the tables its SQL reads, as DuckDB's parser sees the query: every
schema-qualified table of its FROM clauses, in CTEs, subqueries and set operations alike;
never a CTE's name or a table function. The dependency graph, the fingerprints and the
publication's views all follow from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlglot
from sqlglot import expressions as exp

from orders_pipeline.config import SQL_DIR
from orders_pipeline.models import (
    CHANGED_SUFFIX,
    PENDING_SUFFIX,
    UnreadableSql,
    discover_models,
    model_reads,
    table_references,
)


def test_a_query_reads_the_qualified_tables_of_every_clause_and_no_cte():
    sql = """
        with recent as (select * from core.orders where placed_at > now() - interval 1 day),
        rates as (select * from read_csv('rates.csv'))
        select recent.order_id
        from recent
        join staging.stg_items items using (order_id)
        where exists (select 1 from intermediate.int_flags f where f.order_id = recent.order_id)
          and recent.customer_id in (select customer_id from core.customers)
        union all
        select order_id from reporting.late_orders, rates
    """
    assert table_references(sql) == {
        ("core", "orders"),
        ("staging", "stg_items"),
        ("intermediate", "int_flags"),
        ("core", "customers"),
        ("reporting", "late_orders"),
    }


def test_every_model_reads_what_an_independent_parser_finds_in_it():
    """sqlglot (the Spark engine's parser, issue 17) as the second reader of every file of
    sql/: the same tables, model by model and companion query by companion query."""
    files = [p for p in sorted(SQL_DIR.glob("*/*.sql")) if not p.name.endswith(".spark.sql")]
    assert len(files) > 40
    for path in files:
        sql = path.read_text(encoding="utf-8")
        tree = sqlglot.parse_one(sql, read="duckdb")
        expected = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db and t.name}
        assert table_references(sql) == expected, path


def test_a_model_reads_its_companion_queries_inputs_too():
    models = {m.qualified_name: m for m in discover_models(SQL_DIR)}
    with_companions = [m for m in models.values() if m.changed_sql or m.pending_sql]
    assert with_companions
    for model in with_companions:
        for companion in (model.changed_sql, model.pending_sql):
            if companion is not None:
                own = {(model.schema, model.name)}
                read = {r for r in table_references(companion) - own if r[0] != "state"}
                assert read <= model.references, model.qualified_name
    ledger_view_reads = {("core", "order_ledger"), ("core", "order_customers")}
    assert model_reads("core.order_events") == ledger_view_reads
    assert model_reads("core.no_such_model") is None


def test_a_model_duckdb_cannot_parse_is_named_with_duckdbs_message(tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    broken = copy / "reporting" / "daily_revenue.sql"
    broken.write_text("select date, from from core.orders\n", encoding="utf-8")
    message = r"daily_revenue\.sql: not a query DuckDB can parse: .*syntax"
    with pytest.raises(UnreadableSql, match=message):
        discover_models(copy)


@pytest.mark.parametrize("suffix", [CHANGED_SUFFIX, PENDING_SUFFIX])
def test_an_unparsable_companion_query_names_its_model(tmp_path: Path, suffix: str):
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    companion = next(copy.glob(f"*/*{suffix}"))
    companion.write_text("delete from core.orders\n", encoding="utf-8")
    model = companion.name.removesuffix(suffix)
    with pytest.raises(UnreadableSql, match=rf"{model}.*not a query DuckDB can parse: .*SELECT"):
        discover_models(copy)
