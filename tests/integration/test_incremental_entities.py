"""Incremental entity models (issue 5): a run recomputes only the orders and customers that
new records touch, and the tables are those a single run over the same files gives, also
when identities merge or split between runs, when an Orders-object update arrives later and
when a setting changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.identity import identity_report
from orders_pipeline.models import discover_models
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=80)  # scheduled first (tests/conftest.py)

SCHEMAS = ("staging", "intermediate", "core", "reporting", "audit")


def _run(landing: Path, warehouse: Path, **settings: Any) -> Warehouse:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse, **settings))
    assert summary.success, summary.errors
    return Warehouse(path=warehouse, summary=summary)


def _in_runs(tmp_path: Path, runs: list[dict[str, list[Any]]], **settings: Any) -> Warehouse:
    """Land each run's files (name: records) and run, one run after another, then check the
    result against one run over all of them; returns the incremental warehouse."""
    landing = tmp_path / "landing"
    incremental = tmp_path / "incremental.duckdb"
    for files in runs:
        for name, records in files.items():
            write_ndjson(landing / name, records)
        wh = _run(landing, incremental, **settings)
    once = _run(landing, tmp_path / "once.duckdb", **settings)
    assert table_contents(incremental, SCHEMAS) == table_contents(once.path, SCHEMAS)
    return wh


def _customers(wh: Warehouse) -> list[dict[str, Any]]:
    return wh.dicts("select * from core.customers order by customer_id")


# Two stories with customers of their own, landed in the same two runs (one set of runs for
# both tests): Ann (ann@) and a second shopper (bob@, +1555…) merged by a later order; Amy's
# order A1 whose Orders-object update (and an order known only from updates) comes a run later.
MERGED_FIRST = [
    odp_event("purchase", "O1", day(1), identifiers={"email": "ann@example.com"},
              first_name="Ann", subtotal=10),
    odp_event("purchase", "O2", day(2),
              identifiers={"email": "bob@example.com", "phone": "+15550001"}, subtotal=20),
]  # fmt: skip
MERGED_LATER = [
    odp_event("purchase", "O3", day(3),
              identifiers={"email": "ann@example.com", "phone": "+15550001"}, subtotal=30),
]  # fmt: skip
UPDATED_FIRST = [
    odp_event("purchase", "A1", day(1), identifiers={"email": "amy@example.com"}, subtotal=100),
]
UPDATES_LATER = [
    {"order_id": "A1", "subtotal": 80},
    {"order_id": "OBJ-1", "total": 44, "email": "amy@example.com"},
]

# A third story for the reports (issue 15: product_sales and monthly_cohorts add up the keyed
# core.order_products_sold and core.customer_months): Dot (dot@) and Eli (eli@, a phone) are
# merged by a later order, Fay's first order F1 is cancelled a month later, Dot's May order
# D2 has a line returned in June, and her April order D1 sells another product in June.
DOT = {"email": "dot@example.com"}
ELI = {"email": "eli@example.com", "phone": "+15550009"}
FAY = {"email": "fay@example.com"}
COHORTS_FIRST = [
    odp_event("purchase", "D1", "2026-04-10T12:00:00Z", identifiers=DOT,
              items=[{"product_id": "P1", "price": 100, "quantity": 1}]),
    odp_event("purchase", "F1", "2026-04-20T12:00:00Z", identifiers=FAY,
              items=[{"product_id": "P3", "price": 40, "quantity": 1}]),
    odp_event("purchase", "D2", "2026-05-05T12:00:00Z", identifiers=DOT,
              items=[{"product_id": "P2", "price": 25, "quantity": 2}]),
    odp_event("purchase", "F2", "2026-05-08T12:00:00Z", identifiers=FAY,
              items=[{"product_id": "P3", "price": 10, "quantity": 1}]),
    odp_event("purchase", "E1", "2026-05-12T12:00:00Z", identifiers=ELI,
              items=[{"product_id": "P1", "price": 30, "quantity": 1}]),
]  # fmt: skip
COHORTS_LATER = [
    odp_event("purchase", "D3", "2026-06-03T12:00:00Z",
              identifiers={**DOT, "phone": "+15550009"},
              items=[{"product_id": "P2", "price": 25, "quantity": 1}]),
    odp_event("cancel", "F1", "2026-06-04T12:00:00Z", identifiers=FAY),
    odp_event("return", "D2", "2026-06-05T12:00:00Z", identifiers=DOT,
              items=[{"product_id": "P2", "price": 20, "quantity": 1}]),
    odp_event("purchase", "D1", "2026-06-06T12:00:00Z", identifiers=DOT,
              items=[{"product_id": "P4", "price": 5, "quantity": 1}]),
]  # fmt: skip


@pytest.fixture(scope="module")
def two_stories(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The three stories in two runs, checked against one run over the same files."""
    return _in_runs(
        tmp_path_factory.mktemp("two_stories"),
        [
            {"odp_events/1.ndjson": MERGED_FIRST + UPDATED_FIRST + COHORTS_FIRST},
            {
                "odp_events/2.ndjson": MERGED_LATER + COHORTS_LATER,
                "odp_orders/2.ndjson": UPDATES_LATER,
            },
        ],
    )


def test_two_customers_merged_by_a_later_order_become_one(two_stories: Warehouse):
    """§5: Ann (ann@) and a second shopper (bob@, +1555…) are two customers until an order
    carries ann@ and the phone: then one, and the other row is gone."""
    wh = two_stories
    customers = [
        c for c in _customers(wh) if set(c["emails"]) & {"ann@example.com", "bob@example.com"}
    ]
    # the other row is gone: Ann's customer is the only one
    [customer] = customers
    assert customer["emails"] == ["ann@example.com", "bob@example.com"]
    assert (customer["lifecycle_order_count"], customer["ltv"]) == (3, 60)
    assert customer["first_name"] == "Ann"
    assert {
        o["customer_id"]
        for o in wh.dicts("select * from core.orders where order_id in ('O1', 'O2', 'O3')")
    } == {customer["customer_id"]}


def test_reports_follow_a_merge_a_cancelled_first_order_and_a_return_in_a_later_month(
    two_stories: Warehouse,
):
    """§8 incrementally: the second run merges Eli into Dot's April cohort (his May cohort
    is gone), cancels Fay's first order (her cohort moves from April to May, and the cancel
    is her cohort's June revenue), returns a line of Dot's May order in June and sells a new
    product on her April order. The reports are those of one run over the same files
    (checked by the fixture), and read as the story says."""
    wh = two_stories
    cohorts = wh.query(
        "select cohort_month::varchar, activity_month::varchar, months_since_acquisition, "
        "cohort_customers, active_customers, net_revenue from reporting.monthly_cohorts "
        "where cohort_month < '2026-06-01' order by 1, 2"
    )
    assert cohorts == [
        ("2026-04-01", "2026-04-01", 0, 1, 1, 100),  # Dot and Eli: D1
        ("2026-04-01", "2026-05-01", 1, 1, 1, 80),  # D2 and E1
        ("2026-04-01", "2026-06-01", 2, 1, 1, 10),  # D3 25, the return -20, D1's P4 5
        ("2026-05-01", "2026-05-01", 0, 1, 1, 10),  # Fay: F2 (F1 in April is cancelled)
        ("2026-05-01", "2026-06-01", 1, 1, 0, -40),  # F1's cancel, no order placed
    ]
    products = wh.query(
        "select product_key, units_sold, revenue_sold, units_returned, revenue_returned, "
        "orders from reporting.product_sales"
    )
    assert products == [
        ("P1", 2, 130, 0, 0, 2),
        ("P2", 3, 75, 1, 20, 2),  # D2's line returned in June
        ("P3", 2, 50, 0, 0, 2),  # F1 sold it, then was cancelled without lines
        ("P4", 1, 5, 0, 0, 1),  # sold on an old order
    ]


def test_customer_months_recompute_the_customers_core_customers_recomputes():
    """A customer's months change only with what its metrics are built from, so
    customer_months borrows the companion query of core.customers (``-- changed_keys_of``):
    one query, no copy to keep in step."""
    models = {m.qualified_name: m for m in discover_models(SQL_DIR)}
    customers = (SQL_DIR / "core" / "customers.changed.sql").read_text(encoding="utf-8")

    assert not (SQL_DIR / "core" / "customer_months.changed.sql").exists()
    assert models["core.customer_months"].changed_sql == customers
    assert models["core.customers"].changed_sql == customers
    # what the borrowed query reads orders the model after those tables
    assert ("core", "order_ledger") in models["core.customer_months"].references


def test_a_customer_split_by_the_fanout_guard_is_recomputed(tmp_path: Path):
    """§5: with ORDERS_IDENTITY_MAX_FANOUT=1, a phone seen with a second email stops linking:
    the customer it held together splits, and the orders follow."""
    first = [
        odp_event("purchase", "O1", day(1),
                  identifiers={"email": "ann@example.com", "phone": "+15550001"}, subtotal=10),
    ]  # fmt: skip
    later = [
        odp_event("purchase", "O2", day(2),
                  identifiers={"email": "cat@example.com", "phone": "+15550001"}, subtotal=20),
    ]  # fmt: skip
    wh = _in_runs(
        tmp_path,
        [{"odp_events/1.ndjson": first}, {"odp_events/2.ndjson": later}],
        identity_max_fanout=1,
    )
    customers = _customers(wh)
    assert sorted((c["emails"], c["phones"], c["ltv"]) for c in customers) == [
        (["ann@example.com"], [], 10),
        (["cat@example.com"], [], 20),
    ]


def test_an_orders_object_update_in_a_later_run_reaches_the_order_and_its_customer(
    two_stories: Warehouse,
):
    """§4.4 and §7: an update of the subtotal arriving a run later overlays the order, and the
    customer's LTV follows; an order known only from updates stays out of the metrics."""
    wh = two_stories
    orders = {o["order_id"]: o for o in wh.dicts("select * from core.orders")}
    assert (orders["A1"]["subtotal"], orders["A1"]["tally_subtotal"]) == (80, 100)
    assert orders["OBJ-1"]["customer_id"] == orders["A1"]["customer_id"]
    [customer] = [c for c in _customers(wh) if "amy@example.com" in c["emails"]]
    assert customer["emails"] == ["amy@example.com"]
    assert (customer["ltv"], customer["order_count_all"]) == (80, 1)


def test_a_changed_setting_rebuilds_every_customer(tmp_path: Path):
    """ORDERS_LOYAL_MIN_ORDERS changes the stage of customers no new event touches: the next
    run rebuilds the table instead of recomputing the touched customers only."""
    landing = tmp_path / "landing"
    warehouse = tmp_path / "w.duckdb"
    write_ndjson(
        landing / "odp_events" / "1.ndjson",
        [
            odp_event("purchase", f"O{n}", day(n), identifiers={"email": "ann@example.com"},
                      subtotal=10)
            for n in range(1, 4)
        ],
    )  # fmt: skip
    wh = _run(landing, warehouse)
    assert [c["lifecycle_stage"] for c in _customers(wh)] == ["loyal"]
    write_ndjson(
        landing / "odp_events" / "2.ndjson",
        [odp_event("purchase", "B1", day(5), identifiers={"email": "bob@example.com"},
                   subtotal=5)],
    )  # fmt: skip
    wh = _run(landing, warehouse, loyal_min_orders=4)
    stages = {tuple(c["emails"]): c["lifecycle_stage"] for c in _customers(wh)}
    assert stages == {("ann@example.com",): "repeat", ("bob@example.com",): "one_purchase"}


def test_only_the_customers_new_identifiers_touch_are_resolved_again(tmp_path: Path):
    """§5 incrementally (issue 15): a run re-resolves only the components its identifiers
    touch, and the customers whose identifiers changed are exactly those logged for the
    customer models. Run 2: a new phone on two orders links two old customers (Ann and Cat:
    one customer, keyed by ann@, its smallest member), and Dan gains an email (same key);
    Bob and Eve are not touched. Run 3: one order merges three old customers (Bob, Eve, Dan).
    Every table equals one run over the same files."""
    names = ["ann", "bob", "cat", "dan", "eve"]
    first = [
        odp_event("purchase", f"{name.upper()}1", day(n + 1),
                  identifiers={"email": f"{name}@example.com"}, subtotal=10 * (n + 1))
        for n, name in enumerate(names)
    ]  # fmt: skip
    first[1]["identifiers"]["phone"] = "+15550001"  # Bob's phone
    second = [
        odp_event("purchase", "ANN2", day(10),
                  identifiers={"email": "ann@example.com", "phone": "+15550002"}, subtotal=5),
        odp_event("purchase", "CAT2", day(11),
                  identifiers={"email": "cat@example.com", "phone": "+15550002"}, subtotal=6),
        odp_event("purchase", "DAN2", day(12), identifiers={"email": "dan@example.com"},
                  email="dan_work@example.com", subtotal=7),
    ]  # fmt: skip
    third = [
        odp_event("purchase", "MIX1", day(13),
                  identifiers={"email": "eve@example.com", "phone": "+15550001"},
                  email="dan_work@example.com", subtotal=8),
    ]  # fmt: skip
    landing = tmp_path / "landing"
    warehouse = tmp_path / "incremental.duckdb"
    logged = []
    ids: dict[str, str] = {}
    for n, records in enumerate([first, second, third], start=1):
        write_ndjson(landing / "odp_events" / f"{n}.ndjson", records)
        wh = _run(landing, warehouse)
        if n == 1:
            ids = dict(
                wh.query(
                    "select split_part(identifier_value, '@', 1), customer_id "
                    "from core.customer_identifiers where identifier_type = 'email'"
                )
            )
        logged.append(
            {row[0] for row in wh.query("select customer_id from state.identity_changes")}
        )
        # the sizes the resolutions kept up to date are the tables' (identity.SIZES)
        with duckdb.connect(str(warehouse)) as con:
            kept = identity_report(con)
            [counted] = con.execute(
                """select sum(n), count(*), max(n) from (select count(*) as n
                   from core.customer_identifiers group by customer_id)"""
            ).fetchall()
        assert (kept.identifiers, kept.customers, kept.largest_customer) == counted
    assert logged[1] == {ids["ann"], ids["cat"], ids["dan"]}  # Bob and Eve untouched
    assert logged[2] == {ids["bob"], ids["eve"], ids["dan"]}
    by_emails = {tuple(c["emails"]): c for c in _customers(wh)}
    assert set(by_emails) == {
        ("ann@example.com", "cat@example.com"),
        ("bob@example.com", "dan@example.com", "dan_work@example.com", "eve@example.com"),
    }
    merged = by_emails[("ann@example.com", "cat@example.com")]
    assert (merged["customer_id"], merged["phones"], merged["ltv"]) == (
        ids["ann"],
        ["+15550002"],
        51,
    )
    three = by_emails[
        ("bob@example.com", "dan@example.com", "dan_work@example.com", "eve@example.com")
    ]
    assert (three["customer_id"], three["lifecycle_order_count"]) == (ids["bob"], 5)
    assert {o["order_id"]: o["customer_id"] for o in wh.dicts("select * from core.orders")} == {
        "ANN1": ids["ann"], "ANN2": ids["ann"], "CAT1": ids["ann"], "CAT2": ids["ann"],
        "BOB1": ids["bob"], "DAN1": ids["bob"], "DAN2": ids["bob"], "EVE1": ids["bob"],
        "MIX1": ids["bob"],
    }  # fmt: skip
    once = _run(landing, tmp_path / "once.duckdb")
    assert table_contents(warehouse, SCHEMAS) == table_contents(once.path, SCHEMAS)
