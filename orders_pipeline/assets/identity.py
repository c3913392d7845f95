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
    metadata_on_materialization,
    selected_checks,
)
from orders_pipeline.automation import skips_up_to_date
from orders_pipeline.checks import SqlCheck
from orders_pipeline.identity import (
    IDENTITY_INPUTS,
    IDENTITY_TABLES,
    identity_up_to_date,
    identity_version,
)
from orders_pipeline.models import (
    Build,
    catalog_fingerprint,
    last_build,
    latest_partition_build,
    readers_of,
    record_build,
    record_version,
    references_position,
    session_settings,
    table_versions,
)
from orders_pipeline.partitions import FULL_REFRESH_TAG
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.warehouse import table_exists, transaction

CUSTOMER_IDENTIFIERS = dg.AssetKey(["core", "customer_identifiers"])
ORDER_CUSTOMERS = dg.AssetKey(["core", "order_customers"])
# the customers each incremental resolution regrouped, for the models that read it
# (customer_contacts.changed.sql and the like: ``models.readers_of``)
CHANGE_LOG = "state.identity_changes"


def identity_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """What an incremental resolution must share with the last one (else it resolves
    everything, ``models.run_incremental_model``'s rule): identity.py's code, the session's
    settings and the definitions of the models it reads."""
    parts = [
        Path(identity.__file__).read_text(encoding="utf-8"),
        *session_settings(con),
        *(catalog_fingerprint(table) for table in IDENTITY_INPUTS),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


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
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        skip = skips_up_to_date(context.run.tags) and not full_refresh
        with warehouse.connect() as con:
            built = last_build(con, IDENTITY_TABLES[0])
            fingerprint = identity_fingerprint(con)
            whole = _resolves_everything(con, full_refresh, built, fingerprint)
        # the graph of every identifier is built beside DuckDB (scipy, polars): a resolution
        # of them all starts without the cache of the steps before; one of the components a
        # day's identifiers touch is small, and keeps it
        with warehouse.connect(memory_beside=whole) as con:
            try:
                identifiers_meta, orders_meta, detail, rows = _resolve(
                    con, skip, built, fingerprint, whole
                )
            except Exception as error:
                raise BuildFailed("core/customer_identifiers") from error
            seconds = time.perf_counter() - started
            progress.report("core/customer_identifiers", rows, seconds, detail)
            for key, metadata in (
                (CUSTOMER_IDENTIFIERS, identifiers_meta),
                (ORDER_CUSTOMERS, orders_meta),
            ):
                yield metadata_on_materialization(
                    context, dg.MaterializeResult(asset_key=key, metadata=metadata)
                )
            for result, _ in evaluate_checks(con, selected_checks(context, own_checks)):
                yield result

    return resolved_customers


def _resolves_everything(
    con: duckdb.DuckDBPyConnection, full_refresh: bool, built: Build | None, fingerprint: str
) -> bool:
    """Whether a resolution now resolves every identifier rather than the components new
    identifiers touch: with ``full_refresh``, the first time (``built``: the last resolution's
    record, None before any), or after a change of definition or setting (``fingerprint``:
    ``identity_fingerprint`` now)."""
    return (
        full_refresh
        or built is None
        or built.fingerprint != fingerprint
        or not all(table_exists(con, *t.split(".")) for t in IDENTITY_TABLES)
    )


def _resolve(
    con: duckdb.DuckDBPyConnection,
    skip_up_to_date: bool,
    built: Build | None,
    fingerprint: str,
    everything: bool,
) -> tuple[dict, dict, str, int]:
    """Resolve customers (unless they are up to date and ``skip_up_to_date``): only the
    components that new identifiers touch, or all of them when ``everything``
    (:func:`_resolves_everything` of ``built``, the last resolution's record, and
    ``fingerprint``, ``identity_fingerprint`` now: what the step read before choosing its
    connection; the run holds the warehouse, so nothing writes in between); the tables'
    metadata, what was done and the identifier count."""
    started = time.perf_counter()
    versions = table_versions(con)
    if skip_up_to_date and identity_up_to_date(con, versions):
        # as models.build_model: only the position moves on (nothing it reads changed)
        with transaction(con):
            through = _input_position(con)
            if built is not None and built.built_through != through:
                for table in IDENTITY_TABLES:
                    record_build(con, table, built.fingerprint, through, built.partition_build_no)
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
    readers = readers_of(CHANGE_LOG)
    # one transaction: the tables, the change log, the position and the version together
    with transaction(con):
        through = _input_position(con)
        if not everything:
            assert built is not None
            # logged at this resolution's position, which the readers' next build reaches
            log_at = through if through > built.built_through else None
            resolved, regrouped = identity.resolve_touched(con, built.built_through, log_at)
            if regrouped and log_at is None:
                # no position to log them at (a readers' build at this position would not
                # see them): the readers rebuild from every record
                _forget_builds(con, readers)
        else:
            resolved, regrouped = identity.resolve_all(con), None
            con.execute(f"delete from {CHANGE_LOG}")
            _forget_builds(con, readers)
        # what every reader has consumed is no longer needed
        con.execute(
            f"""delete from {CHANGE_LOG} where built_through <= (
                    select min(built_through) from state.model_builds
                    where list_contains(?, model))""",
            [readers],
        )
        seen = latest_partition_build(con)
        for table in IDENTITY_TABLES:
            record_build(con, table, fingerprint, through, seen)
        for table in IDENTITY_TABLES:
            record_version(con, table, version)
    report = identity.identity_report(con, resolved)
    seconds = time.perf_counter() - started
    identifiers = table_metadata(con, "core.customer_identifiers", seconds)
    identifiers.update(
        {
            "customers": dg.MetadataValue.int(report.customers),
            "largest_customer_identifiers": dg.MetadataValue.int(report.largest_customer),
            "identifiers_resolved": dg.MetadataValue.int(resolved),
        }
    )
    if regrouped is None:
        done = "every identifier resolved"
    else:
        identifiers["customers_regrouped"] = dg.MetadataValue.int(regrouped)
        done = f"{resolved:,} identifiers re-resolved, {regrouped:,} customers regrouped"
    identifiers["build"] = dg.MetadataValue.text(done)
    detail = (
        f"{done}; {report.customers:,} customers, largest has {report.largest_customer} identifiers"
    )
    return (
        identifiers,
        table_metadata(con, "core.order_customers", seconds),
        detail,
        report.identifiers,
    )


def _input_position(con: duckdb.DuckDBPyConnection) -> int:
    """How far through the arrivals the identity tables' inputs are complete."""
    refs = [tuple(table.split(".")) for table in IDENTITY_INPUTS]
    return references_position(con, refs, IDENTITY_TABLES[0])  # type: ignore[arg-type]


def _forget_builds(con: duckdb.DuckDBPyConnection, models: list[str]) -> None:
    """Make ``models``' next build a full one (they read the change log, which cannot say
    what a full resolution changed)."""
    con.execute("delete from state.model_builds where list_contains(?, model)", [models])
