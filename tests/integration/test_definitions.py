"""The Dagster definitions load, and materialise on a temporary landing folder and warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.definitions import build_definitions, defs
from orders_pipeline.partitions import daily_partitions, range_tags
from tests.conftest import day, odp_event, write_ndjson

CONTRACT_COLUMNS = {
    "core.order_events": {
        "event_id", "order_id", "source", "action", "ts", "arrival_seq", "event_seq", "currency",
        "subtotal_delta", "total_delta", "running_subtotal", "running_total", "refund_kind",
        "customer_id",
    },
    "core.order_items": {
        "event_id", "order_id", "action", "ts", "product_id", "sku", "price", "quantity",
        "discount", "subtotal", "custom",
    },
    "core.orders": {
        "order_id", "customer_id", "source", "created_by", "status", "placed_at", "currency",
        "subtotal", "total", "tax", "shipping", "discount", "coupon_code", "tally_subtotal",
        "is_overridden", "subtotal_base", "total_base", "refund_state", "is_cancelled",
        "counts_for_lifecycle", "event_count", "first_name", "last_name", "name", "email",
        "phone", "bill_address", "ship_address",
    },
    "core.customers": {
        "customer_id", "emails", "phones", "other_identifiers", "first_name", "last_name",
        "name", "lifecycle_order_count", "lifecycle_stage", "ltv", "aov", "first_order_at",
        "last_order_at", "order_count_all",
    },
    "core.customer_identifiers": {"identifier_type", "identifier_value", "customer_id"},
    "reporting.daily_revenue": {
        "date", "gross", "returns", "refunds", "cancellations", "net", "orders_placed",
        "items_sold",
    },
    "reporting.lifecycle_summary": set(),
    "reporting.monthly_cohorts": set(),
    "reporting.product_sales": set(),
    "reporting.refund_summary": set(),
    "audit.loads": {
        "file", "source", "sha256", "records", "accepted", "quarantined", "duplicates",
        "loaded_at",
    },
    "audit.quarantine": {"source", "file", "record_no", "reasons", "raw", "loaded_at"},
}  # fmt: skip


def test_module_level_definitions_load_with_job_schedule_sensor_and_checks():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"raw/odp_events", "core/order_events", "reporting/daily_revenue"} <= keys
    for job in ("ingest_job", "models_job", "orders_job"):
        assert repository.get_job(job) is not None
    assert repository.has_schedule_def("daily_orders_refresh")
    assert repository.has_sensor_def("landing_folder_sensor")
    assert repository.has_sensor_def("models_after_ingest_sensor")
    assert len(list(repository.asset_graph.asset_check_keys)) >= 10


def test_sql_model_dependencies_come_from_the_sql():
    graph = defs.get_repository_def().asset_graph
    parents = {
        key.to_user_string() for key in graph.get(dg.AssetKey(["core", "orders"])).parent_keys
    }
    assert parents == {
        "core/order_events",
        "core/customer_identifiers",
        "intermediate/int_odp_order_updates",
        "intermediate/int_exchange_rates",
        # read by orders.changed.sql, the orders an incremental build recomputes (the model's
        # own table, which it also reads, is no dependency)
        "core/order_ledger",
        "core/order_customers",
        "staging/odp_order_update_records",
    }
    ledger = graph.get(dg.AssetKey(["core", "order_ledger"]))
    assert ledger.partitions_def is not None


def _all_partitions(settings: Settings) -> dict[str, str]:
    keys = daily_partitions(settings.partition_start).get_partition_keys()
    return range_tags(keys[0], keys[-1])


def test_materialises_every_asset_and_check_into_a_temp_warehouse(tmp_path: Path):
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "day1.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100, total=110),
            odp_event("return", "A1", day(2), subtotal=40),
        ],
    )
    warehouse = tmp_path / "wh.duckdb"
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    job = build_definitions(settings).resolve_job_def("orders_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags=_all_partitions(settings))
    assert result.success
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table, expected in CONTRACT_COLUMNS.items():
            schema, name = table.split(".")
            columns = {
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, name],
                ).fetchall()
            }
            assert columns, f"{table} is missing"
            assert expected <= columns, f"{table} lacks {expected - columns}"
        assert con.execute("select subtotal from core.orders").fetchall()[0][0] == 60
    finally:
        con.close()


def test_a_failing_blocking_check_stops_the_models_downstream(tmp_path: Path):
    """A blocking check (duplicate order rows) keeps wrong data from reaching the reports."""
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson", [odp_event("purchase", "A1", day(1), subtotal=10)]
    )
    warehouse = tmp_path / "wh.duckdb"
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    job = build_definitions(settings).resolve_job_def("orders_job")
    tags = _all_partitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance, tags=tags).success
        con = duckdb.connect(str(warehouse))
        con.execute(
            "insert into audit.loads select * replace (records + 1 as records) from audit.loads"
        )
        con.close()
        result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert not result.success
    failed = {
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and not e.event_specific_data.passed
    }
    assert "every_record_accounted_for" in failed
