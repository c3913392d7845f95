"""The one wiring point: assets, checks, resources, the job, the schedule and the sensor."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from orders_pipeline.assets.identity import identity_asset
from orders_pipeline.assets.ingest import ingest_assets
from orders_pipeline.assets.publish import analytics_database_asset
from orders_pipeline.assets.sql_models import model_assets
from orders_pipeline.automation import (
    build_jobs,
    build_landing_sensor,
    build_models_sensor,
    build_schedule,
)
from orders_pipeline.checks import CHECKS, SqlCheck, standalone_checks
from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.garbage_collection import tune_if_running_dagster_runs
from orders_pipeline.models import discover_models
from orders_pipeline.partition_start import partition_start
from orders_pipeline.partitions import daily_partitions
from orders_pipeline.publish import PUBLISHED_SCHEMAS
from orders_pipeline.resources import OrdersWarehouse


def build_definitions(
    settings: Settings | None = None, checks: Sequence[SqlCheck] | None = None
) -> dg.Definitions:
    """Definitions for the given settings (``ORDERS_*`` variables by default); ``checks``
    (``checks.CHECKS`` by default) run in the step of the asset they check."""
    settings = settings or Settings.from_env()
    checks = CHECKS if checks is None else tuple(checks)
    partitions = daily_partitions(partition_start(settings))
    ingest = ingest_assets(checks)
    python = [*ingest, identity_asset(checks)]
    models = model_assets(discover_models(SQL_DIR), python, partitions, checks)
    published = [
        key
        for asset in [*python, *models]
        for key in asset.keys
        if key.path[0] in PUBLISHED_SCHEMAS
    ]
    assets = [*python, *models, analytics_database_asset(published)]
    # a check on a table no step builds (none today) runs as a step of its own
    inline = {key for asset in assets for key in asset.check_keys}
    jobs = build_jobs(
        partitioned=[key for asset in models if asset.partitions_def for key in asset.keys],
        ingested=[key for asset in ingest for key in asset.keys],
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=standalone_checks(checks, inline),
        jobs=jobs.all(),
        schedules=[build_schedule(jobs)],
        sensors=[
            build_landing_sensor(jobs, settings.landing_dir),
            build_models_sensor(jobs, settings, partitions),
        ],
        resources={"warehouse": OrdersWarehouse.from_settings(settings)},
        # every step writes the one DuckDB file, so steps never run in parallel: a process per
        # step (Dagster's default for runs launched from the UI) would only add its start-up
        executor=dg.in_process_executor,
    )


def __getattr__(name: str) -> dg.Definitions:
    """``defs``: the definitions for the ``ORDERS_*`` settings, which ``workspace.yaml`` and
    ``dg dev`` load, built the first time they are asked for rather than at import. A run
    of ``orders-pipeline`` builds its own from its settings, and the build at import cost
    every such process a quarter of a second of CPU for definitions it never used. A
    process that Dagster started to execute a run tunes its garbage collector once they are
    built (``garbage_collection.tune_if_running_dagster_runs``); any other keeps its own."""
    if name == "defs":
        built = globals()["defs"] = build_definitions()
        tune_if_running_dagster_runs()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster's module discovery (``dg dev``) looks for a Definitions among ``dir(module)``
    return sorted({*globals(), "defs"})
