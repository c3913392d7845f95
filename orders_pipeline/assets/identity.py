"""The identity-resolution asset (docs/semantics.md §5)."""

import time

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.identity import resolve_customers
from orders_pipeline.resources import OrdersWarehouse

CUSTOMER_IDENTIFIERS = dg.AssetKey(["core", "customer_identifiers"])
ORDER_CUSTOMERS = dg.AssetKey(["core", "order_customers"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            CUSTOMER_IDENTIFIERS,
            deps=[
                dg.AssetKey(["core", "identifier_fanout"]),
                dg.AssetKey(["intermediate", "int_order_identifiers"]),
            ],
            group_name="core",
            kinds={"duckdb", "scipy"},
            description="One row per (identifier type, normalised value) that links, with the "
            "customer it resolves to (connected components over shared orders).",
        ),
        dg.AssetSpec(
            ORDER_CUSTOMERS,
            deps=[CUSTOMER_IDENTIFIERS],
            group_name="core",
            kinds={"duckdb"},
            description="The customer of each order that has a linking identifier.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def resolved_customers(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
    started = time.perf_counter()
    with warehouse.connect() as con:
        report = resolve_customers(con)
        seconds = time.perf_counter() - started
        identifiers_meta = table_metadata(con, "core.customer_identifiers", seconds)
        orders_meta = table_metadata(con, "core.order_customers", seconds)
    identifiers_meta.update(
        {
            "customers": dg.MetadataValue.int(report.customers),
            "largest_customer_identifiers": dg.MetadataValue.int(report.largest_customer),
        }
    )
    progress.report(
        "core/customer_identifiers",
        report.identifiers,
        seconds,
        f"{report.customers:,} customers, largest has {report.largest_customer} identifiers",
    )
    yield dg.MaterializeResult(asset_key=CUSTOMER_IDENTIFIERS, metadata=identifiers_meta)
    yield dg.MaterializeResult(asset_key=ORDER_CUSTOMERS, metadata=orders_meta)
