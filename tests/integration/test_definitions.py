"""The Dagster definitions load, and materialise on a temporary landing folder and warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orders_pipeline.checks import CHECKS, SqlCheck
from orders_pipeline.config import PROJECT_ROOT, Settings
from orders_pipeline.definitions import build_definitions, defs
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.partition_start import partition_start
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


def test_the_definitions_module_builds_defs_only_when_they_are_asked_for(tmp_path):
    """``orders_pipeline.definitions:defs`` (workspace.yaml, ``dg dev``) is built the first
    time it is read, not at import: a run of ``orders-pipeline`` imports the module and builds
    its own definitions from its settings. Dagster's own loaders find it both ways."""
    script = """
import dagster as dg
import orders_pipeline.definitions as module
assert "defs" not in vars(module), "built at import"
from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module
(target,) = loadable_targets_from_python_module("orders_pipeline.definitions", None)
assert target.attribute == "defs" and isinstance(target.target_definition, dg.Definitions)
from orders_pipeline.definitions import defs
assert defs is target.target_definition, "built twice"
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "ORDERS_WAREHOUSE": str(tmp_path / "w.duckdb")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


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


def test_a_backfill_of_a_range_from_a_job_page_is_one_run_over_the_range():
    """README "Backfill a range": Dagster splits a job's backfill by the job's backfill policy,
    which its partitioned assets set (its unpartitioned ones have none): single-run, so the
    range is one run with the range tags, the unpartitioned models of the job included (an
    asset backfill cannot do that: Dagster runs a child with another partitions definition
    after its parent, in a run of its own)."""
    repository = defs.get_repository_def()
    for job in ("models_job", "orders_job"):
        definition = repository.get_job(job)
        assert definition.partitions_def is not None, job
        assert definition.backfill_policy == dg.BackfillPolicy.single_run(), job


def test_sql_model_dependencies_come_from_the_sql():
    graph = defs.get_repository_def().asset_graph
    parents = {
        key.to_user_string() for key in graph.get(dg.AssetKey(["core", "orders"])).parent_keys
    }
    assert parents == {
        "core/customer_identifiers",
        "intermediate/int_odp_order_updates",
        "intermediate/int_exchange_rates",
        # the ledger joined to each order's customer (core.order_events' join, filtered on
        # both sides), also read by orders.changed.sql, the orders an incremental build
        # recomputes (the model's own table, which it also reads, is no dependency)
        "core/order_ledger",
        "core/order_customers",
        "staging/odp_order_update_records",
    }
    ledger = graph.get(dg.AssetKey(["core", "order_ledger"]))
    assert ledger.partitions_def is not None


# The jobs run on every daily partition from the start to today, and Dagster records a
# materialisation (and a planned one) per partition and partitioned asset: from the month of
# the data instead of the fallback start (2024), a few hundred days instead of a thousand
# and more, for nothing these tests assert (every event is on or after it).
DATA_START = date(2026, 6, 1)


def _all_partitions(settings: Settings) -> dict[str, str]:
    keys = daily_partitions(partition_start(settings)).get_partition_keys()
    return range_tags(keys[0], keys[-1])


@dataclass(frozen=True)
class Materialised:
    """One run of the whole job over a tiny landing folder (shared by the module's tests,
    which copy its warehouse before changing it)."""

    landing: Path
    warehouse: Path
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def materialised(tmp_path_factory: pytest.TempPathFactory) -> Materialised:
    folder = tmp_path_factory.mktemp("materialised")
    landing = folder / "landing"
    write_ndjson(
        landing / "odp_events" / "day1.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100, total=110),
            odp_event("return", "A1", day(2), subtotal=40),
        ],
    )
    warehouse = folder / "wh.duckdb"
    settings = Settings(landing_dir=landing, warehouse=warehouse, partition_start=DATA_START)
    job = build_definitions(settings).resolve_job_def("orders_job")
    with ephemeral_instance() as instance:
        result = job.execute_in_process(instance=instance, tags=_all_partitions(settings))
    return Materialised(landing, warehouse, result)


def _copy(materialised: Materialised, tmp_path: Path) -> Settings:
    """Settings for a copy of the materialised warehouse under ``tmp_path``."""
    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(materialised.warehouse, warehouse)
    return Settings(
        landing_dir=materialised.landing, warehouse=warehouse, partition_start=DATA_START
    )


def test_materialises_every_asset_and_check_into_a_temp_warehouse(materialised: Materialised):
    result = materialised.result
    assert result.success
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    con = duckdb.connect(str(materialised.warehouse), read_only=True)
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


def test_every_model_and_check_is_reported_as_its_own_asset_by_a_few_steps(
    materialised: Materialised,
):
    """Issue 15: the SQL models run as one step per layer (split only where Dagster needs
    it), each model still its own materialisation and each check its own evaluation."""
    events = materialised.result.all_events
    steps = {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    assert len(steps) <= 12, sorted(steps)
    assert {"land_new_files", "validated_sources", "staging__models", "core__partitioned"} <= steps
    materialised_keys = {
        e.asset_key.to_user_string()
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    graph = defs.get_repository_def().asset_graph
    assert materialised_keys == {k.to_user_string() for k in graph.get_all_asset_keys()}
    evaluated = {
        e.event_specific_data.check_name
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert evaluated == {key.name for key in graph.asset_check_keys}


def test_a_failing_blocking_check_stops_the_models_downstream(
    materialised: Materialised, tmp_path: Path
):
    """A blocking check (a file not reconciled) keeps wrong data from reaching the reports."""
    settings = _copy(materialised, tmp_path)
    con = duckdb.connect(str(settings.warehouse))
    con.execute(
        "insert into audit.loads select * replace (records + 1 as records) from audit.loads"
    )
    con.close()
    job = build_definitions(settings).resolve_job_def("orders_job")
    with ephemeral_instance() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags=_all_partitions(settings)
        )
    assert not result.success
    failed = {
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and not e.event_specific_data.passed
    }
    assert "every_record_accounted_for" in failed
    assert not _materialised(result) & {"core/orders", "reporting/daily_revenue"}


def test_a_failing_blocking_check_stops_the_models_after_it_in_its_own_step(
    materialised: Materialised, tmp_path: Path
):
    """core.customers reads core.orders and is built by the same step: when a blocking
    check on core.orders fails, the step does not build core.customers, the later steps do
    not run and the run fails."""
    settings = _copy(materialised, tmp_path)
    always_fails = SqlCheck(
        name="always_fails",
        asset=("core", "orders"),
        description="A check that finds one offending row.",
        sql="select 1 as offending",
        blocking=True,
    )
    job = build_definitions(settings, checks=[*CHECKS, always_fails]).resolve_job_def("models_job")
    with ephemeral_instance() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags=_all_partitions(settings)
        )
    assert not result.success
    built = _materialised(result)
    assert "core/orders" in built
    assert not built & {
        "core/customers",
        "reporting/lifecycle_summary",
        "publish/analytics_database",
    }


def _materialised(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
