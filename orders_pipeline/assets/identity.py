"""The identity-resolution asset (docs/semantics.md §5)."""

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline import identity, progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.assets.steps import (
    BuildFailed,
    check_spec,
    checks_of,
    evaluate_checks,
    selected_checks,
)
from orders_pipeline.automation import skips_up_to_date
from orders_pipeline.checks import SqlCheck
from orders_pipeline.models import record_version, table_versions, version_of
from orders_pipeline.partitions import FULL_REFRESH_TAG
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.warehouse import SETTING_VARIABLES, table_exists, transaction

CUSTOMER_IDENTIFIERS = dg.AssetKey(["core", "customer_identifiers"])
ORDER_CUSTOMERS = dg.AssetKey(["core", "order_customers"])
IDENTITY_TABLES = ("core.customer_identifiers", "core.order_customers")
# what the identity tables are built from (identity.py reads them)
IDENTITY_INPUTS = ("core.identifier_fanout", "intermediate.int_order_identifiers")


def identity_version(con: duckdb.DuckDBPyConnection, versions: dict[str, str]) -> str | None:
    """The version the identity tables built now would have (``models.version_of``): their
    code, the session's settings and the versions of the tables they read."""
    settings = con.execute(
        "select list(name || '=' || value::varchar order by name) from duckdb_variables() "
        "where list_contains(?, name)",
        [list(SETTING_VARIABLES)],
    ).fetchall()[0][0]
    code = Path(identity.__file__).read_bytes()
    fingerprint = hashlib.sha256(code + "\0".join(settings or []).encode()).hexdigest()
    return version_of(fingerprint, IDENTITY_INPUTS, versions)


def identity_up_to_date(con: duckdb.DuckDBPyConnection, versions: dict[str, str]) -> bool:
    """Whether both identity tables exist and were built from what they would be now."""
    current = identity_version(con, versions)
    return (
        current is not None
        and all(versions.get(t) == current for t in IDENTITY_TABLES)
        and all(table_exists(con, *t.split(".")) for t in IDENTITY_TABLES)
    )


def identity_asset(checks: Sequence[SqlCheck] = ()) -> dg.AssetsDefinition:
    """The step that resolves customers, with the ``checks`` on its two tables."""
    own_checks = checks_of(checks, [CUSTOMER_IDENTIFIERS, ORDER_CUSTOMERS])

    @dg.multi_asset(
        name="resolved_customers",
        specs=[
            dg.AssetSpec(
                CUSTOMER_IDENTIFIERS,
                deps=[
                    dg.AssetKey(["core", "identifier_fanout"]),
                    dg.AssetKey(["intermediate", "int_order_identifiers"]),
                ],
                group_name="core",
                kinds={"duckdb", "scipy"},
                description="One row per (identifier type, normalised value) that links, with "
                "the customer it resolves to (connected components over shared orders).",
            ),
            dg.AssetSpec(
                ORDER_CUSTOMERS,
                deps=[CUSTOMER_IDENTIFIERS],
                group_name="core",
                kinds={"duckdb"},
                description="The customer of each order that has a linking identifier.",
            ),
        ],
        check_specs=[check_spec(c) for c in own_checks],
        pool=WAREHOUSE_POOL,
    )
    def resolved_customers(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
        started = time.perf_counter()
        skip = (
            skips_up_to_date(context.run.tags) and context.run.tags.get(FULL_REFRESH_TAG) != "true"
        )
        with warehouse.connect() as con:
            try:
                identifiers_meta, orders_meta, detail, rows = _resolve(con, skip)
            except Exception as error:
                raise BuildFailed("core/customer_identifiers") from error
            seconds = time.perf_counter() - started
            progress.report("core/customer_identifiers", rows, seconds, detail)
            yield dg.MaterializeResult(asset_key=CUSTOMER_IDENTIFIERS, metadata=identifiers_meta)
            yield dg.MaterializeResult(asset_key=ORDER_CUSTOMERS, metadata=orders_meta)
            for result, _ in evaluate_checks(con, selected_checks(context, own_checks)):
                yield result

    return resolved_customers


def _resolve(con: duckdb.DuckDBPyConnection, skip_up_to_date: bool) -> tuple[dict, dict, str, int]:
    """Resolve customers (unless they are up to date and ``skip_up_to_date``); the tables'
    metadata, what was done and the identifier count."""
    started = time.perf_counter()
    versions = table_versions(con)
    if skip_up_to_date and identity_up_to_date(con, versions):
        seconds = time.perf_counter() - started
        identifiers = table_metadata(con, "core.customer_identifiers", seconds)
        identifiers["build"] = dg.MetadataValue.text("up to date: not rebuilt")
        rows = identifiers["dagster/row_count"].value
        return (
            identifiers,
            table_metadata(con, "core.order_customers", seconds),
            "up to date: not rebuilt",
            int(rows),  # type: ignore[arg-type]
        )
    version = identity_version(con, versions)
    # identity.py writes both tables in a transaction of its own: the old versions go first
    # and the new ones after it, so a crash in between leaves none and the next run
    # resolves again (never a version without its tables)
    _record(con, None)
    report = identity.resolve_customers(con)
    _record(con, version)
    seconds = time.perf_counter() - started
    identifiers = table_metadata(con, "core.customer_identifiers", seconds)
    identifiers.update(
        {
            "customers": dg.MetadataValue.int(report.customers),
            "largest_customer_identifiers": dg.MetadataValue.int(report.largest_customer),
        }
    )
    detail = f"{report.customers:,} customers, largest has {report.largest_customer} identifiers"
    return (
        identifiers,
        table_metadata(con, "core.order_customers", seconds),
        detail,
        report.identifiers,
    )


def _record(con: duckdb.DuckDBPyConnection, version: str | None) -> None:
    with transaction(con):
        for table in IDENTITY_TABLES:
            record_version(con, table, version)
