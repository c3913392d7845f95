"""Publishing the analyst database after the models and their blocking checks succeeded."""

import time

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.partitions import WATERMARK_TAG, advance_watermark
from orders_pipeline.publish import publish_analytics
from orders_pipeline.resources import OrdersWarehouse

ANALYTICS_DATABASE = dg.AssetKey(["publish", "analytics_database"])


def analytics_database_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The asset that copies ``upstream`` tables' schemas to the analyst database."""

    @dg.asset(
        key=ANALYTICS_DATABASE,
        deps=upstream,
        group_name="publish",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description="A read-only copy of the core, reporting and audit tables for analysts, "
        "replaced atomically after every successful run (analysts never lock the warehouse "
        "and never see half a run).",
    )
    def analytics_database(
        context: dg.AssetExecutionContext, warehouse: OrdersWarehouse
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        settings = warehouse.settings()
        target = settings.analytics_path
        watermark = context.run.tags.get(WATERMARK_TAG)
        with warehouse.connect() as con:
            if watermark is not None:
                # the models now hold every event this run was planned for
                advance_watermark(con, int(watermark))
            report = publish_analytics(
                con, target, pii_key=settings.pii_key if settings.pii_mode == "hash" else None
            )
        progress.report(
            "publish/analytics_database",
            report.rows,
            time.perf_counter() - started,
            f"{report.tables} tables -> {report.path}",
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(report.path)),
                "tables": dg.MetadataValue.int(report.tables),
                "rows": dg.MetadataValue.int(report.rows),
                "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
            }
        )

    return analytics_database
