"""Every asset check passes on a good warehouse and fails on one crafted to break its rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.checks import CHECKS, evaluate
from orders_pipeline.config import Settings
from orders_pipeline.key_changes import clear, log_keys
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.runner import run_pipeline
from orders_pipeline.sources import SOURCES
from tests.conftest import day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=35)  # scheduled first (tests/conftest.py)

# One way to break each check's rule, applied to a copy of a good warehouse.
BREAKAGES = {
    "every_record_accounted_for": "update audit.loads set accepted = accepted + 1",
    # the files become new again (no model run has published them), and all quarantined
    "quarantine_rate_within_limit": """delete from audit.model_watermark;
        update audit.loads set quarantined = records, accepted = 0""",
    "event_id_unique": "insert into core.order_ledger select * from core.order_ledger limit 1",
    # no event in the base currency, and no exchange rate to convert any into it
    "base_currency_is_usable": """delete from intermediate.int_exchange_rates;
        update core.order_ledger set currency = 'XYZ', subtotal_delta_base = null""",
    "running_tally_is_cumulative": """update core.order_ledger
        set running_subtotal = running_subtotal + 1 where event_seq = 2""",
    "ledger_starts_with_reduction": """update core.order_ledger
        set action_class = 'refund' where event_seq = 1""",
    "events_in_order_currency": "update core.order_ledger set is_unconverted = true",
    "order_id_unique": "insert into core.orders select * from core.orders limit 1",
    "convertible_to_base_currency": "update core.orders set subtotal_base = null",
    "items_have_an_order": """delete from core.orders
        where order_id in (select order_id from core.order_items)""",
    "customer_id_unique": "insert into core.customers select * from core.customers limit 1",
    "ltv_has_orders": "update core.customers set order_count_all = 0",
    "identifiers_over_fanout": """insert into audit.identity_overmerge
        values ('phone', '+15550000', 99, 99, 'fanout_over_limit', 25)""",
    "net_revenue_matches_order_subtotals": "update reporting.daily_revenue set net = net + 1",
    "items_have_a_known_product": "delete from core.products",
    "item_key_unique": "insert into core.order_items select * from core.order_items limit 1",
    "product_id_unique": "insert into core.products select * from core.products limit 1",
    "identifier_unique": """insert into core.customer_identifiers
        select * from core.customer_identifiers limit 1""",
    "order_customer_unique": """insert into core.order_customers
        select * from core.order_customers limit 1""",
    "order_product_unique": """insert into core.order_products_sold
        select * from core.order_products_sold limit 1""",
    "customer_month_unique": """insert into core.customer_months
        select * from core.customer_months limit 1""",
}

# One small good file per source, so that every per-source check has something to judge.
SOURCE_FILES = {
    "odp_events": (
        "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100, items=[
                {"product_id": "P1", "price": 50, "quantity": 2}]),
            odp_event("refund", "A1", day(2), subtotal=30),
            odp_event("purchase", "B1", day(2), subtotal=20),
        ],
    ),
    "products": ("catalog.ndjson", [{"product_id": "P1", "sku": "S1", "name": "Mug"}]),
    "exchange_rates": ("rates.csv", "date,currency,rate_to_base\n2026-05-01,EUR,1.1\n"),
    "odp_csv": (
        "import.csv",
        "action,ts,order_id,item_product_id,item_price,item_quantity,email\n"
        "purchase,2026-06-03T10:00:00Z,C1,P1,10,2,c1@example.com\n",
    ),
    "odp_orders": ("updates.ndjson", [{"order_id": "B1", "status": "shipped"}]),
    "ometria_orders": (
        "orders.json",
        [{"@type": "order", "id": "M1", "timestamp": "2026-06-04T09:00:00+00:00",
          "currency": "EUR", "grand_total": 12, "subtotal": 10,
          "customer": {"email": "m1@example.com"},
          "lineitems": [{"product_id": "P1", "quantity": 1, "unit_price": 10,
                         "subtotal": 10}]}],
    ),
    "optimizely_xml": (
        "feed.xml",
        '<orders><order refCode="X1" orderDate="2026-06-05T10:00:00Z" currency="USD" '
        'total="10"><user email="x1@example.com"/><product refCode="P1" quantity="1" '
        'price="10"/></order></orders>\n',
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def good_warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checks")
    for source, (name, records) in SOURCE_FILES.items():
        if isinstance(records, str):
            (folder / "landing" / source).mkdir(parents=True)
            (folder / "landing" / source / name).write_text(records, encoding="utf-8")
        elif name.endswith(".json"):
            write_ndjson(folder / "landing" / source / name, [json.dumps(records)])
        else:
            write_ndjson(folder / "landing" / source / name, records)
    warehouse = folder / "wh.duckdb"
    summary = run_pipeline(Settings(landing_dir=folder / "landing", warehouse=warehouse))
    assert summary.success
    return warehouse


def _resource(warehouse: Path, landing: Path) -> OrdersWarehouse:
    # every batch is big enough for the quarantine-rate gate to judge it
    settings = Settings(landing_dir=landing, warehouse=warehouse, quarantine_min_records=1)
    return OrdersWarehouse.from_settings(settings)


def test_every_check_has_a_breakage():
    assert {check.name for check in CHECKS} == set(BREAKAGES)


def test_every_source_has_a_good_file():
    assert {source.name for source in SOURCES} == set(SOURCE_FILES)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: f"{c.name}-{'.'.join(c.asset)}")
def test_check_passes_on_good_and_fails_on_broken_warehouse(check, good_warehouse, tmp_path):
    good = evaluate(_resource(good_warehouse, tmp_path), check)
    assert good.passed, good.metadata
    broken = tmp_path / "broken.duckdb"
    shutil.copy(good_warehouse, broken)
    con = duckdb.connect(str(broken))
    con.execute(BREAKAGES[check.name])
    # broken outside the pipeline: a check that passed reads every row again only when it
    # is told nothing (an incremental_on check reads the days re-derived since it passed:
    # test_an_incremental_check_reads_what_was_rederived_since_it_passed, or the keys
    # logged since: test_a_check_by_key_reads_the_keys_the_builds_logged_since_it_passed)
    con.execute("drop table if exists state.check_passes")
    con.execute("drop table if exists state.check_key_passes")
    con.close()
    result = evaluate(_resource(broken, tmp_path), check)
    assert not result.passed
    assert result.metadata["offending_rows"].value > 0
    # plain PII mode (the default): up to five of the offending rows, for the UI
    assert 0 < len(result.metadata["sample"].value) <= 5


def test_an_incremental_check_reads_what_was_rederived_since_it_passed(good_warehouse, tmp_path):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(good_warehouse, copy)
    check = next(c for c in CHECKS if c.name == "item_key_unique")
    assert check.incremental_on == "event_date"
    resource = _resource(copy, tmp_path)
    assert evaluate(resource, check).passed

    def execute(sql: str, parameters: list | None = None) -> list[tuple]:
        with duckdb.connect(str(copy)) as con:
            return con.execute(sql, parameters or []).fetchall()

    first = execute("select min(event_date)::varchar from core.order_items")[0][0]
    # a second row of an item, filed 30 days later
    execute(
        """insert into core.order_items
           select * replace (event_date + 30 as event_date) from core.order_items
           where event_date = ? limit 1""",
        [first],
    )
    # no build re-derived a day since the pass: nothing is read
    assert evaluate(resource, check).passed
    # a build re-derived the later day (models.py logs it): the duplicate is found
    execute(
        """insert into state.partition_builds
           select 'core.order_items', max(build_no) + 1, ?::date + 30, ?::date + 30
           from state.partition_builds""",
        [first, first],
    )
    failed = evaluate(resource, check)
    assert not failed.passed and failed.metadata["offending_rows"].value == 1
    # after a failure every row is read: still failing with no build since
    assert not evaluate(resource, check).passed


def test_a_check_by_key_reads_the_keys_the_builds_logged_since_it_passed(good_warehouse, tmp_path):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(good_warehouse, copy)
    check = next(c for c in CHECKS if c.name == "identifier_unique")
    assert check.incremental_on == "key_changes"
    resource = _resource(copy, tmp_path)
    assert evaluate(resource, check).passed

    def duplicate_an_identifier(con: duckdb.DuckDBPyConnection) -> str:
        row = con.execute("select * from core.customer_identifiers limit 1").fetchall()[0]
        con.execute("insert into core.customer_identifiers values (?, ?, ?, ?, ?)", list(row))
        return row[1]

    with duckdb.connect(str(copy)) as con:
        # a second row of an identifier, written by hand (no build logged its key)
        value = duplicate_an_identifier(con)
    # nothing logged since the pass: nothing is read (the documented trade-off)
    assert evaluate(resource, check).passed
    with duckdb.connect(str(copy)) as con:
        # a build replaced that identifier's rows since (identity.py logs its keys)
        log_keys(
            con,
            "core.customer_identifiers",
            ("identifier_type", "identifier_value"),
            f"select * from core.customer_identifiers where identifier_value = '{value}'",
        )
    failed = evaluate(resource, check)
    assert not failed.passed and failed.metadata["offending_rows"].value == 1
    # after a failure every row is read: still failing with nothing logged since
    assert not evaluate(resource, check).passed


def test_a_check_by_key_reads_every_row_when_a_publication_cleared_keys_it_did_not_read(
    good_warehouse, tmp_path
):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(good_warehouse, copy)
    check = next(c for c in CHECKS if c.name == "order_id_unique")
    resource = _resource(copy, tmp_path)
    assert evaluate(resource, check).passed
    with duckdb.connect(str(copy)) as con:
        con.execute("insert into core.orders select * from core.orders limit 1")
        # a build logged another order, then publications forgot it (the second one after
        # it: key_changes.py) before this check read it: it cannot tell what changed, so it
        # reads every row
        log_keys(con, "core.orders", ("order_id",), "select 'some other order' as order_id")
        clear(con, 1)
        clear(con, 2)
    failed = evaluate(resource, check)
    assert not failed.passed and failed.metadata["offending_rows"].value == 1


def test_a_check_by_key_and_day_reads_the_orders_replaced_and_the_items_rederived_since(
    good_warehouse, tmp_path
):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(good_warehouse, copy)
    check = next(c for c in CHECKS if c.name == "items_have_an_order")
    assert check.incremental_days_of == "core.order_items"
    resource = _resource(copy, tmp_path)
    assert evaluate(resource, check).passed

    def execute(sql: str, parameters: list | None = None) -> list[tuple]:
        with duckdb.connect(str(copy)) as con:
            return con.execute(sql, parameters or []).fetchall()

    # an item of an unknown order, filed 30 days after the first, written by hand
    first = execute("select min(event_date)::varchar from core.order_items")[0][0]
    execute(
        """insert into core.order_items
           select * replace ('no such order' as order_id, event_date + 30 as event_date)
           from core.order_items where event_date = ? limit 1""",
        [first],
    )
    assert evaluate(resource, check).passed  # nothing re-derived or logged since
    # a build re-derived that day (models.py logs it): the item is found
    execute(
        """insert into state.partition_builds
           select 'core.order_items', max(build_no) + 1, ?::date + 30, ?::date + 30
           from state.partition_builds""",
        [first, first],
    )
    failed = evaluate(resource, check)
    assert not failed.passed and failed.metadata["offending_rows"].value == 1
    execute("delete from core.order_items where order_id = 'no such order'")
    assert evaluate(resource, check).passed
    # an order's row gone, by a build that logged its key: its items are found
    order_id = execute("select order_id from core.order_items limit 1")[0][0]
    execute("delete from core.orders where order_id = ?", [order_id])
    assert evaluate(resource, check).passed  # gone by hand: not read (the trade-off)
    with duckdb.connect(str(copy)) as con:
        log_keys(con, "core.orders", ("order_id",), f"select '{order_id}' as order_id")
    failed = evaluate(resource, check)
    assert not failed.passed and failed.metadata["offending_rows"].value > 0


def test_a_check_whose_table_is_not_built_yet_reports_so_instead_of_failing_the_run(
    good_warehouse, tmp_path
):
    """An asset backfill builds unpartitioned tables in a run before the partitioned ones:
    a check reading a partitioned table must not break that first run."""
    [check] = [c for c in CHECKS if c.name == "items_have_a_known_product"]
    early = tmp_path / "early.duckdb"
    shutil.copy(good_warehouse, early)
    con = duckdb.connect(str(early))
    con.execute("drop table core.order_items")
    con.close()
    result = evaluate(_resource(early, tmp_path), check)
    assert result.passed
    assert "order_items" in result.metadata["not_checked"].value
