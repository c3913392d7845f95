"""The one wiring point: assets, checks, resources, the job, the schedule and the sensor."""

from __future__ import annotations

import dagster as dg

from orders_pipeline.assets.identity import resolved_customers
from orders_pipeline.assets.ingest import INGEST_ASSETS
from orders_pipeline.assets.publish import analytics_database_asset
from orders_pipeline.assets.sql_models import model_assets
from orders_pipeline.automation import (
    build_jobs,
    build_landing_sensor,
    build_models_sensor,
    build_schedule,
)
from orders_pipeline.checks import ASSET_CHECKS
from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.models import discover_models
from orders_pipeline.partitions import daily_partitions
from orders_pipeline.publish import PUBLISHED_SCHEMAS
from orders_pipeline.resources import OrdersWarehouse

PYTHON_ASSETS = [*INGEST_ASSETS, resolved_customers]


def python_tables() -> set[tuple[str, str]]:
    """The tables written by Python assets, as (schema, table)."""
    return {
        tuple(key.path)  # type: ignore[misc]
        for asset in PYTHON_ASSETS
        for key in asset.keys
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Definitions for the given settings (``ORDERS_*`` variables by default)."""
    settings = settings or Settings.from_env()
    partitions = daily_partitions(settings.partition_start)
    models = model_assets(discover_models(SQL_DIR), python_tables(), partitions)
    published = [
        key
        for asset in [*PYTHON_ASSETS, *models]
        for key in asset.keys
        if key.path[0] in PUBLISHED_SCHEMAS
    ]
    assets = [*PYTHON_ASSETS, *models, analytics_database_asset(published)]
    jobs = build_jobs(
        partitioned=[key for asset in models if asset.partitions_def for key in asset.keys],
        ingested=[key for asset in INGEST_ASSETS for key in asset.keys],
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=ASSET_CHECKS,
        jobs=jobs.all(),
        schedules=[build_schedule(jobs)],
        sensors=[
            build_landing_sensor(jobs, settings.landing_dir),
            build_models_sensor(jobs, settings, partitions),
        ],
        resources={"warehouse": OrdersWarehouse.from_settings(settings)},
    )


defs = build_definitions()
