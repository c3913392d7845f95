"""One settings object end to end (issue 14): the Dagster resource carries the whole
``Settings``, and an asset gets back exactly the settings the definitions were built with —
``partition_start`` included, which used to fall silently to its default."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from pathlib import Path

import dagster as dg

from orders_pipeline.config import Settings
from orders_pipeline.resources import OrdersWarehouse


def _every_setting_changed(tmp_path: Path) -> Settings:
    return Settings(
        landing_dir=tmp_path / "in",
        warehouse=tmp_path / "wh" / "w.duckdb",
        analytics_db=tmp_path / "out" / "a.duckdb",
        base_currency="EUR",
        identity_max_fanout=7,
        identity_blocklist=("test@test.com", "+15550100"),
        repeat_min_orders=4,
        loyal_min_orders=9,
        max_quarantine_rate=0.25,
        quarantine_min_records=3,
        pii_mode="hash",
        pii_key="a-key-of-sixteen-chars-or-more",
        partition_start=date(2026, 6, 5),
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
        duckdb_temp_dir=tmp_path / "spill",
        lock_timeout=5,
        spark_master="spark://spark-master:7077",
        spark_remote="sc://spark-connect:15002",
        spark_output=tmp_path / "spark",
    )


def test_every_setting_round_trips_through_the_dagster_resource(tmp_path: Path):
    settings = _every_setting_changed(tmp_path)
    changed = {f.name for f in fields(Settings) if getattr(settings, f.name) != f.default}
    assert changed == {f.name for f in fields(Settings)}  # the test covers every field

    @dg.asset
    def seen(warehouse: OrdersWarehouse) -> Settings:
        return warehouse.settings()

    result = dg.materialize(
        [seen], resources={"warehouse": OrdersWarehouse.from_settings(settings)}
    )
    assert result.output_for_node("seen") == settings


def test_the_resource_config_holds_no_key(tmp_path: Path):
    settings = _every_setting_changed(tmp_path)
    resource = OrdersWarehouse.from_settings(settings)
    assert settings.pii_key not in repr(resource.variables)
    assert "ORDERS_PII_KEY" not in resource.variables
