"""Landing and validation assets (SEMANTICS §1, §2)."""

import time

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.landing.odp_events import land_odp_events
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.validation.odp_events import VALIDATION as ODP_VALIDATION
from orders_pipeline.validation.outcomes import validate_pending

RAW_ODP_EVENTS = dg.AssetKey(["raw", "odp_events"])
ODP_EVENT_RECORDS = dg.AssetKey(["staging", "odp_event_records"])
ODP_EVENT_RECORD_ITEMS = dg.AssetKey(["staging", "odp_event_record_items"])


@dg.asset(
    key=RAW_ODP_EVENTS,
    group_name="raw",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "json"},
    description="ODP order-event payloads landed as received: one row per record with its "
    "raw text, file, record number and arrival sequence. Each file is loaded once (sha256).",
)
def raw_odp_events(
    context: dg.AssetExecutionContext, warehouse: OrdersWarehouse
) -> dg.MaterializeResult:
    started = time.perf_counter()
    settings = warehouse.settings()
    with warehouse.connect() as con:
        report = land_odp_events(con, settings)
        seconds = time.perf_counter() - started
        metadata = table_metadata(con, "raw.odp_events", seconds)
    for path, error in report.unreadable:
        context.log.warning(f"could not read {path}: {error}; it will be retried next run")
    metadata.update(
        {
            "files_loaded": dg.MetadataValue.int(len(report.files_loaded)),
            "records_landed": dg.MetadataValue.int(report.records_landed),
            "files_unchanged": dg.MetadataValue.int(report.files_unchanged),
            "files_unreadable": dg.MetadataValue.int(len(report.unreadable)),
            "unreadable": dg.MetadataValue.json(
                [{"file": p, "error": e} for p, e in report.unreadable]
            ),
        }
    )
    progress.report(
        "raw/odp_events",
        report.records_landed,
        seconds,
        f"{len(report.files_loaded)} new file(s), {report.files_unchanged} unchanged"
        + (f", {len(report.unreadable)} unreadable" if report.unreadable else ""),
    )
    return dg.MaterializeResult(metadata=metadata)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ODP_EVENT_RECORDS,
            deps=[RAW_ODP_EVENTS],
            group_name="staging",
            kinds={"duckdb", "pandera"},
            description="Accepted ODP order events, typed (DECIMAL money, UTC ts); "
            "quarantined records go to audit.quarantine, exact duplicates to audit.duplicates.",
        ),
        dg.AssetSpec(
            ODP_EVENT_RECORD_ITEMS,
            deps=[RAW_ODP_EVENTS],
            group_name="staging",
            kinds={"duckdb", "pandera"},
            description="Line items of the accepted ODP order events, typed.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def validated_odp_events(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
    started = time.perf_counter()
    with warehouse.connect() as con:
        report = validate_pending(con, ODP_VALIDATION)
        seconds = time.perf_counter() - started
        records_meta = table_metadata(con, "staging.odp_event_records", seconds)
        items_meta = table_metadata(con, "staging.odp_event_record_items", seconds)
    records_meta.update(
        {
            "batch_files": dg.MetadataValue.int(len(report.files)),
            "batch_records": dg.MetadataValue.int(report.records),
            "batch_accepted": dg.MetadataValue.int(report.accepted),
            "batch_quarantined": dg.MetadataValue.int(report.quarantined),
            "batch_duplicates": dg.MetadataValue.int(report.duplicates),
            "batch_quarantine_reasons": dg.MetadataValue.md(
                "\n".join(f"- `{code}`: {n}" for code, n in report.reasons.items()) or "none"
            ),
        }
    )
    progress.report(
        "staging/odp_event_records",
        report.accepted,
        seconds,
        f"{report.records:,} records: {report.accepted:,} accepted, "
        f"{report.quarantined:,} quarantined, {report.duplicates:,} duplicates",
    )
    yield dg.MaterializeResult(asset_key=ODP_EVENT_RECORDS, metadata=records_meta)
    yield dg.MaterializeResult(asset_key=ODP_EVENT_RECORD_ITEMS, metadata=items_meta)
