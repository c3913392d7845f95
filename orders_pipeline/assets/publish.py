"""Publishing the analyst database after the models and their blocking checks succeeded."""

import time
from collections.abc import Mapping

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.assets.steps import metadata_on_materialization
from orders_pipeline.config import SQL_DIR
from orders_pipeline.models import discover_models, record_version
from orders_pipeline.partitions import FULL_REFRESH_TAG, WATERMARK_TAG, advance_watermark
from orders_pipeline.publish import (
    PUBLICATION,
    partition_columns,
    publication_version,
    publish_analytics,
    unique_keys,
)
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.warehouse import transaction

ANALYTICS_DATABASE = dg.AssetKey(["publish", "analytics_database"])
# Keys of the identity tables, which identity.py (not a SQL model) writes: published by key
# like the entity models (core.order_customers has one customer per order: its check
# order_customer_unique)
IDENTITY_KEYS = {
    "core.customer_identifiers": ("identifier_type", "identifier_value"),
    "core.order_customers": ("order_id",),
}
# The audit tables validation appends to, one row per record, which no build logs: published
# by comparing their rows with the copy's (publish.py) instead of copied whole every run.
# audit.duplicates has no file_seq; a file re-sent under its name repeats these keys, which
# the comparison allows (it counts repeated rows).
RECORD_AUDIT_KEYS = {
    "audit.quarantine": ("file_seq", "record_no"),
    "audit.duplicates": ("source", "file", "record_no"),
}


def analytics_database_asset(
    upstream: list[dg.AssetKey], partitioned: Mapping[str, str] | None = None
) -> dg.AssetsDefinition:
    """The asset that copies ``upstream`` tables' schemas to the analyst database.

    ``partitioned`` (``publish.partition_columns``; by default that of the ``sql/`` models)
    names the tables whose re-derived days alone are rewritten in the previous publication.
    """
    models = discover_models(SQL_DIR)
    partitioned = dict(partition_columns(models) if partitioned is None else partitioned)
    # updated by key in the previous publication instead of copied whole (publish.py)
    keyed = {**unique_keys(models), **IDENTITY_KEYS}

    @dg.asset(
        key=ANALYTICS_DATABASE,
        deps=upstream,
        group_name="publish",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description="A read-only copy of the core, reporting and audit tables for analysts, "
        "replaced atomically after every successful run (analysts never lock the warehouse "
        "and never see half a run). Incremental: the previous copy with the days re-derived "
        "since and the other tables replaced; a full refresh writes it afresh.",
    )
    def analytics_database(
        context: dg.AssetExecutionContext, warehouse: OrdersWarehouse
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        settings = warehouse.settings()
        target = settings.analytics_path
        watermark = context.run.tags.get(WATERMARK_TAG)
        with warehouse.connect() as con:
            version = publication_version(con, settings)
            if watermark is not None:
                # the models now hold every event this run was planned for
                advance_watermark(con, int(watermark))
            report = publish_analytics(
                con,
                target,
                pii_key=settings.pii_key if settings.pii_mode == "hash" else None,
                partitioned=partitioned,
                fresh=context.run.tags.get(FULL_REFRESH_TAG) == "true",
                keyed=keyed,
                compared=RECORD_AUDIT_KEYS,
            )
            # after the file is in place: a crash before leaves the old version, which no
            # longer matches, so the next run publishes again
            with transaction(con):
                record_version(con, PUBLICATION, version)
        if report.full_reason:
            context.log.info(f"full publication: {report.full_reason}")
        progress.report(
            "publish/analytics_database",
            report.rows,
            time.perf_counter() - started,
            report.summary,
        )
        result = dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(report.path)),
                "tables": dg.MetadataValue.int(report.tables),
                "copied_whole": dg.MetadataValue.int(report.whole),
                "updated_by_day_range": dg.MetadataValue.int(report.by_range),
                "updated_by_key": dg.MetadataValue.int(report.by_key),
                # of those, found by comparing every row (the key change log could not say)
                "keys_compared": dg.MetadataValue.int(report.compared),
                "unchanged": dg.MetadataValue.int(report.unchanged),
                "views": dg.MetadataValue.int(report.views),
                "rows_written": dg.MetadataValue.int(report.rows),
                "full_publication_reason": dg.MetadataValue.text(report.full_reason or ""),
                # "spare", "copy" or "" (a full publication)
                "updated_in": dg.MetadataValue.text(report.base or ""),
                "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
            }
        )
        return metadata_on_materialization(context, result)

    return analytics_database
