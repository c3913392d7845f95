"""Data-quality asset checks. Each is a query that returns the offending rows; the check
passes when there are none, and shows a sample of them when it fails."""

from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg
import duckdb

from orders_pipeline.assets.metadata import PREVIEW_ROWS, PREVIEW_WITHHELD, values_may_be_shown
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.sources import SOURCES, Source
from orders_pipeline.warehouse import ARRIVAL_STRIDE


@dataclass(frozen=True)
class SqlCheck:
    """A check on ``asset``: ``sql`` selects offending rows."""

    name: str
    asset: tuple[str, ...]
    description: str
    sql: str
    blocking: bool = False
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    additional_deps: tuple[tuple[str, ...], ...] = ()


def record_reconciliation(source: Source) -> SqlCheck:
    """docs/semantics.md §2 for one source: every landed file is validated, and for each one
    records = accepted + quarantined + duplicates, with exactly ``records`` rows in the raw
    table."""
    return SqlCheck(
        name="every_record_accounted_for",
        asset=tuple(source.validation.staging_table.split(".")),
        description="docs/semantics.md §2: for every landed file, records = accepted + "
        "quarantined + duplicates, and the raw table holds exactly `records` rows of it.",
        sql=f"""
            select l.file, l.records, l.accepted, l.quarantined, l.duplicates, r.raw_rows
            from audit.loads as l
            left join (select file_seq, count(*) as raw_rows from {source.raw_table}
                       group by 1) as r using (file_seq)
            where l.source = '{source.name}' and (
                l.validated_at is null
                or l.records <> l.accepted + l.quarantined + l.duplicates
                or l.records <> coalesce(r.raw_rows, 0))
        """,  # noqa: S608 - registry names, not input data
        blocking=True,
    )


def quarantine_gate(source: Source) -> SqlCheck:
    """The quarantine-rate threshold (issue 4) for one source: over the files validated since
    the last successful model run, more than ORDERS_MAX_QUARANTINE_RATE of the records
    quarantined (once they hold at least ORDERS_QUARANTINE_MIN_RECORDS) fails the run before
    anything is modelled or published. The files stay landed; to accept them, re-run with a
    higher ORDERS_MAX_QUARANTINE_RATE (or fix and re-land the file)."""
    return SqlCheck(
        name="quarantine_rate_within_limit",
        asset=tuple(source.validation.staging_table.split(".")),
        description="Blocks the run when the share of quarantined records among this "
        "source's new files (validated since the last successful model run) exceeds "
        "ORDERS_MAX_QUARANTINE_RATE (default 5 %), once they hold at least "
        "ORDERS_QUARANTINE_MIN_RECORDS records (default 100). Raise the rate for one run to "
        "accept the batch.",
        sql=f"""
            with published as (
                select coalesce(max(arrival_seq), -1) as seen from audit.model_watermark
            ),
            new_files as (
                select * from audit.loads
                where source = '{source.name}' and validated_at is not null
                  and file_seq * {ARRIVAL_STRIDE} + records > (select seen from published)
            )
            select '{source.name}' as source, count(*) as files,
                   sum(records) as records, sum(quarantined) as quarantined,
                   round(sum(quarantined) / sum(records), 4) as rate,
                   getvariable('max_quarantine_rate') as max_rate,
                   list(file order by file_seq) filter (where quarantined > 0)
                       as files_with_quarantine
            from new_files
            having sum(records) >= getvariable('quarantine_min_records')
               and sum(quarantined) > getvariable('max_quarantine_rate') * sum(records)
        """,  # noqa: S608 - registry names and a constant, not input data
        blocking=True,
    )


def unique_key(name: str, table: str, key: tuple[str, ...]) -> SqlCheck:
    """One row per ``key`` in ``table`` (a core table; names from code)."""
    columns = ", ".join(key)
    return SqlCheck(
        name=name,
        asset=tuple(table.split(".")),
        description=f"One row per ({columns}) in {table}.",
        sql=f"select {columns}, count(*) as n from {table} group by all having count(*) > 1",
        blocking=True,
    )


# Unique keys of the core tables that no other check covers.
UNIQUE_KEYS = (
    unique_key("item_key_unique", "core.order_items", ("event_id", "item_no")),
    unique_key("product_id_unique", "core.products", ("product_id",)),
    unique_key(
        "identifier_unique", "core.customer_identifiers", ("identifier_type", "identifier_value")
    ),
    unique_key("order_customer_unique", "core.order_customers", ("order_id",)),
)


CHECKS: tuple[SqlCheck, ...] = (
    *(record_reconciliation(source) for source in SOURCES),
    *UNIQUE_KEYS,
    *(quarantine_gate(source) for source in SOURCES),
    SqlCheck(
        name="event_id_unique",
        asset=("core", "order_ledger"),
        description="One ledger row per event.",
        sql="""select event_id, count(*) as n from core.order_ledger group by 1
               having count(*) > 1""",
        blocking=True,
    ),
    SqlCheck(
        name="running_tally_is_cumulative",
        asset=("core", "order_ledger"),
        description="docs/semantics.md §3: each running subtotal/total is the sum of the "
        "order's deltas up to that event.",
        sql="""
            select order_id, event_seq, running_subtotal, cumulative_subtotal,
                   running_total, cumulative_total
            from (select *,
                    sum(subtotal_delta) over w as cumulative_subtotal,
                    sum(total_delta) over w as cumulative_total
                  from core.order_ledger
                  window w as (partition by order_id order by event_seq
                               rows unbounded preceding))
            where running_subtotal <> cumulative_subtotal or running_total <> cumulative_total
        """,
        blocking=True,
    ),
    SqlCheck(
        name="base_currency_is_usable",
        asset=("core", "order_ledger"),
        description="ORDERS_BASE_CURRENCY has no usable rates (issue 11): no event is in it "
        "and no exchange rate has been landed, so no amount converts into it and the "
        "base-currency reports are empty. Set ORDERS_BASE_CURRENCY to a currency of your "
        "orders, or land exchange rates to it (exchange_rates/). A warning, not a failure: "
        "an order with no usable rate keeps its local amounts (docs/semantics.md §6).",
        sql="""select getvariable('base_currency') as base_currency,
                      list(distinct currency order by currency) as event_currencies
               from core.order_ledger
               having count(*) > 0
                  and count(*) filter (where currency = getvariable('base_currency')) = 0
                  and count(*) filter (where subtotal_delta_base is not null) = 0
                  and not exists (select 1 from staging.stg_exchange_rates)""",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SqlCheck(
        name="ledger_starts_with_reduction",
        asset=("core", "order_ledger"),
        description="Orders whose first event is a return, refund or cancel (the purchase has "
        "not arrived, or never will): their tally is negative until it does.",
        sql="""select order_id, action, ts from core.order_ledger
               where event_seq = 1 and action_class in ('return', 'refund', 'cancel')""",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SqlCheck(
        name="events_in_order_currency",
        asset=("core", "order_ledger"),
        description="Issue 11, docs/semantics.md §6: events sent in another currency than their "
        "order's that no exchange rate converts (none on or before the order's placed_at "
        "date, for either currency). They stay in the ledger with is_unconverted, their "
        "amounts enter no tally or report; a rate file for that date converts them on the "
        "next run.",
        sql="""select l.order_id, l.event_id, l.action, l.sent_currency, l.currency,
                      l.placed_date, e.subtotal, e.total
               from core.order_ledger as l
               left join staging.stg_order_events as e using (event_id)
               where l.is_unconverted""",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SqlCheck(
        name="order_id_unique",
        asset=("core", "orders"),
        description="One summary row per order.",
        sql="select order_id, count(*) as n from core.orders group by 1 having count(*) > 1",
        blocking=True,
    ),
    SqlCheck(
        name="convertible_to_base_currency",
        asset=("core", "orders"),
        description="docs/semantics.md §6: orders with no usable exchange rate keep NULL base "
        "amounts.",
        sql="""select order_id, currency, placed_at from core.orders
               where subtotal_base is null""",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SqlCheck(
        name="items_have_a_known_product",
        asset=("core", "products"),
        description="Line items whose product is not in the catalog (by product_id, or by sku "
        "when the line has no product_id). They are kept and count in revenue; this lists "
        "them so the catalog can be completed. ODP purchases never create products; Ometria "
        "lines with an unknown product_id do.",
        sql="""select i.source, i.order_id, i.event_id, i.item_no, i.product_id, i.sku
               from core.order_items as i
               where not exists (select 1 from core.products as p
                                 where p.product_id = i.product_id)
                 and not exists (select 1 from core.products as p
                                 where i.product_id is null and p.sku = i.sku)""",
        severity=dg.AssetCheckSeverity.WARN,
        additional_deps=(("core", "order_items"),),
    ),
    SqlCheck(
        name="items_have_an_order",
        asset=("core", "orders"),
        description="Every line item belongs to an order. Checked on core.orders, which runs "
        "after the partitioned items in every backfill.",
        sql="""select i.event_id, i.order_id from core.order_items as i
               left join core.orders as o using (order_id)
               where o.order_id is null""",
        blocking=True,
        additional_deps=(("core", "order_items"),),
    ),
    SqlCheck(
        name="customer_id_unique",
        asset=("core", "customers"),
        description="One row per resolved customer.",
        sql="""select customer_id, count(*) as n from core.customers group by 1
               having count(*) > 1""",
        blocking=True,
    ),
    SqlCheck(
        name="ltv_has_orders",
        asset=("core", "customers"),
        description="No customer has an LTV without orders.",
        sql="""select customer_id, ltv, order_count_all from core.customers
               where ltv <> 0 and order_count_all = 0""",
        blocking=True,
    ),
    SqlCheck(
        name="identifiers_over_fanout",
        asset=("audit", "identity_overmerge"),
        description="docs/semantics.md §5: identifiers that link nothing because they appear "
        "with too many others (a shop phone, test@test.com) or are blocklisted.",
        sql="select * from audit.identity_overmerge order by fanout desc",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SqlCheck(
        name="net_revenue_matches_order_subtotals",
        asset=("core", "orders"),
        description="docs/semantics.md §8: Σ daily net = Σ tally subtotals of all orders (base "
        "currency), within the half-cent per day that rounding to cents allows. Checked on "
        "core.orders, which runs after the partitioned daily revenue in every backfill.",
        sql="""
            select revenue.net, orders.subtotal, revenue.days
            from (select sum(net) as net, count(*) as days from reporting.daily_revenue)
                as revenue,
                 (select coalesce(sum(tally_subtotal_base), 0) as subtotal from core.orders)
                as orders
            where abs(coalesce(revenue.net, 0) - orders.subtotal) > 0.005 * revenue.days
        """,
        blocking=True,
        additional_deps=(("reporting", "daily_revenue"),),
    ),
)


def _asset_check(spec: SqlCheck) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset)),
        name=spec.name,
        description=spec.description,
        blocking=spec.blocking,
        additional_deps=[dg.AssetKey(list(d)) for d in spec.additional_deps],
    )
    def _check(warehouse: OrdersWarehouse) -> dg.AssetCheckResult:
        return evaluate(warehouse, spec)

    return _check


def evaluate(warehouse: OrdersWarehouse, spec: SqlCheck) -> dg.AssetCheckResult:
    """Run one check's query and turn its rows into a result."""
    with warehouse.connect() as con:
        return evaluate_on(con, spec)


def evaluate_on(con: duckdb.DuckDBPyConnection, spec: SqlCheck) -> dg.AssetCheckResult:
    """``evaluate`` on an open connection: what the asset that builds ``spec.asset`` calls
    right after building it (assets/steps.py)."""
    key = dg.AssetKey(list(spec.asset))
    # counted in DuckDB and sampled: a check may find millions of rows (every line item of a
    # merchant without a catalog), which must not become Python objects
    try:
        offending = int(con.execute(f"select count(*) from ({spec.sql})").fetchall()[0][0])
    except duckdb.CatalogException as error:
        # a table the check reads is not built yet (an asset backfill builds the partitioned
        # tables in a later run than the unpartitioned ones): nothing to check yet
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=spec.name,
            passed=True,
            severity=spec.severity,
            metadata={"not_checked": dg.MetadataValue.text(str(error).splitlines()[0])},
        )
    shown = values_may_be_shown(con)
    relation = con.sql(f"select * from ({spec.sql}) limit {PREVIEW_ROWS}")
    columns = relation.columns
    rows = relation.fetchall() if offending and shown else []
    sample = [dict(zip(columns, map(_plain, row), strict=True)) for row in rows]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=spec.name,
        passed=offending == 0,
        severity=spec.severity,
        metadata={
            "offending_rows": dg.MetadataValue.int(offending),
            # hash mode: the offending rows are in the warehouse, not in Dagster's storage
            "sample": dg.MetadataValue.json(sample)
            if shown
            else dg.MetadataValue.text(PREVIEW_WITHHELD),
        },
    )


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


ASSET_CHECKS = [_asset_check(spec) for spec in CHECKS]


def standalone_checks(
    checks: Iterable[SqlCheck], inline: Iterable[dg.AssetCheckKey]
) -> list[dg.AssetChecksDefinition]:
    """The checks not evaluated by the step of their asset (``inline``), as steps of their
    own."""
    done = set(inline)
    return [
        _asset_check(spec)
        for spec in checks
        if dg.AssetCheckKey(dg.AssetKey(list(spec.asset)), spec.name) not in done
    ]
