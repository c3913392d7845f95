"""docs/semantics.md §8 rule by rule: the reporting tables, in the base currency, by UTC date of the
event `ts`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import day, odp_event

pytestmark = pytest.mark.heavy(seconds=30)  # scheduled first (tests/conftest.py)


def by_email(email: str) -> dict[str, Any]:
    return {"identifiers": {"email": email}}


def test_daily_revenue_buckets_events_by_their_utc_date(run_events):
    """§8: "by UTC date of the event `ts`": 23:30 and 00:30 UTC fall on different dates even
    when sent with a +02:00 offset (both are 2 June local time)."""
    wh = run_events(
        [
            odp_event("purchase", "U1", "2026-06-02T01:30:00+02:00", subtotal=100),
            odp_event("purchase", "U2", "2026-06-02T02:30:00+02:00", subtotal=40),
            odp_event("refund", "U1", "2026-06-02T01:45:00+02:00", subtotal=10),
        ]
    )
    assert wh.query(
        "select date, gross, refunds, net, orders_placed from reporting.daily_revenue"
    ) == [
        (date(2026, 6, 1), 100, 10, 90, 1),
        (date(2026, 6, 2), 40, 0, 40, 1),
    ]


def test_daily_revenue_reports_gross_reductions_net_orders_and_items(run_events):
    """§8: "gross (Σ purchase and order-creating deltas), returns, refunds, cancellations (each
    as a positive amount), net = gross − the three; orders placed; items sold"."""
    items = [
        {"product_id": "P1", "quantity": 2, "subtotal": 60},
        {"product_id": "P2", "quantity": 1, "subtotal": 40},
    ]
    wh = run_events(
        [
            odp_event("purchase", "D1", day(1), subtotal=100, items=items),
            odp_event("purchase", "D2", day(1), subtotal=50),
            odp_event(
                "preorder",
                "D3",
                day(1),
                subtotal=25,
                items=[{"product_id": "P3", "quantity": 4, "subtotal": 25}],
            ),
            odp_event("return", "D1", day(2), subtotal=10),
            odp_event("refund", "D1", day(2), subtotal=-20),
            odp_event("cancel", "D2", day(2)),
            odp_event("note", "D3", day(2)),
            odp_event(
                "purchase",
                "D1",
                day(3),
                subtotal=5,
                items=[{"product_id": "P1", "quantity": 1, "subtotal": 5}],
            ),
        ]
    )
    rows = wh.dicts("select * from reporting.daily_revenue order by date")
    assert [
        (r["date"].day, r["gross"], r["returns"], r["refunds"], r["cancellations"], r["net"])
        for r in rows
    ] == [(1, 175, 0, 0, 0, 175), (2, 0, 10, 20, 50, -80), (3, 5, 0, 0, 0, 5)]
    assert [(r["orders_placed"], r["items_sold"]) for r in rows] == [(3, 7), (0, 0), (0, 1)]


def test_net_revenue_over_all_days_equals_the_sum_of_order_tally_subtotals(run_events):
    """§8: "Σ net over all days = Σ tally subtotals of all orders" (negative tallies, cancels,
    custom creators and cents included)."""
    wh = run_events(
        [
            odp_event("purchase", "S1", day(1), subtotal=100.01),
            odp_event("refund", "S1", day(2), subtotal=30.05),
            odp_event("refund", "S2", day(1, 23), subtotal=20),
            odp_event("purchase", "S2", day(4), subtotal=80),
            odp_event("purchase", "S3", day(2), subtotal=50, total=60),
            odp_event("cancel", "S3", day(3)),
            odp_event("subscription", "S4", day(3), subtotal=12.5),
            odp_event("purchase", "S5", day(3), subtotal=10),
            odp_event("return", "S5", day(5), subtotal=15),
        ]
    )
    net = wh.value("select sum(net) from reporting.daily_revenue")
    tallies = wh.value("select sum(tally_subtotal) from core.orders")
    assert net == tallies == Decimal("69.96") + 60 + 0 + Decimal("12.5") - 5


def test_lifecycle_summary_lists_every_stage(run_events):
    """§8 / §7: the lifecycle stage summary lists `no_purchase`, `one_purchase`, `repeat`,
    `loyal`, also when a stage has no customer."""
    wh = run_events(
        [
            odp_event("purchase", "L1", day(1), subtotal=100, **by_email("ann@example.com")),
            odp_event("purchase", "L2", day(1), subtotal=30, **by_email("bob@example.com")),
            odp_event("purchase", "L3", day(2), subtotal=20, **by_email("bob@example.com")),
        ]
    )
    assert wh.query(
        "select lifecycle_stage, customers, lifecycle_orders, ltv from reporting.lifecycle_summary "
        "order by stage_order"
    ) == [
        ("no_purchase", 0, 0, 0),
        ("one_purchase", 1, 1, 100),
        ("repeat", 1, 2, 50),
        ("loyal", 0, 0, 0),
    ]


def test_monthly_cohorts_group_customers_by_the_month_of_their_first_counted_order(run_events):
    """§8: "monthly acquisition cohorts (customers by month of first counted order, their net
    revenue and active customers in each later month)": a cancelled June order does not put a
    customer in the June cohort."""
    june, july = "2026-06-10T12:00:00Z", "2026-07-15T12:00:00Z"
    ann, bob = by_email("ann@example.com"), by_email("bob@example.com")
    wh = run_events(
        [
            odp_event("purchase", "J1", june, subtotal=100, **ann),
            odp_event("purchase", "J2", july, subtotal=50, **ann),
            odp_event("purchase", "J3", "2026-06-20T12:00:00Z", subtotal=40, **bob),
            odp_event("cancel", "J3", "2026-06-21T12:00:00Z", **bob),
            odp_event("purchase", "J4", july, subtotal=70, **bob),
            odp_event("refund", "J4", "2026-07-20T12:00:00Z", subtotal=20, **bob),
        ]
    )
    assert wh.query(
        "select cohort_month, activity_month, months_since_acquisition, cohort_customers, "
        "active_customers, net_revenue from reporting.monthly_cohorts order by 1, 2"
    ) == [
        (date(2026, 6, 1), date(2026, 6, 1), 0, 1, 1, 100),
        (date(2026, 6, 1), date(2026, 7, 1), 1, 1, 1, 50),
        (date(2026, 7, 1), date(2026, 7, 1), 0, 1, 1, 50),
    ]


def test_product_sales_report_units_and_revenue_sold_and_returned(run_events):
    """§8: "product sales (units and revenue sold and returned)"."""
    wh = run_events(
        [
            odp_event(
                "purchase",
                "P1",
                day(1),
                items=[
                    {"product_id": "SKU-A", "quantity": 2, "price": 50},
                    {"product_id": "SKU-B", "quantity": 1, "subtotal": 20},
                ],
            ),
            odp_event(
                "purchase",
                "P2",
                day(2),
                items=[
                    {"product_id": "SKU-A", "quantity": 1, "subtotal": 45},
                ],
            ),
            odp_event(
                "return",
                "P1",
                day(3),
                items=[
                    {"product_id": "SKU-A", "quantity": 1, "subtotal": -50},
                ],
            ),
        ]
    )
    assert wh.query(
        "select product_id, units_sold, revenue_sold, units_returned, revenue_returned, orders "
        "from reporting.product_sales order by product_id"
    ) == [("SKU-A", 3, 145, 1, 50, 2), ("SKU-B", 1, 20, 0, 0, 1)]


def test_refund_summary_counts_orders_by_refund_state_and_the_refund_rate(run_events):
    """§8: "refund summary (orders by refund_state, refund rate)" — the rate is the share of
    orders with any return, refund or cancel."""
    wh = run_events(
        [
            odp_event("purchase", "R1", day(1), subtotal=100),
            odp_event("purchase", "R2", day(1), subtotal=100),
            odp_event("purchase", "R3", day(1), subtotal=100),
            odp_event("refund", "R3", day(2), subtotal=40),
            odp_event("purchase", "R4", day(1), subtotal=100),
            odp_event("cancel", "R4", day(2)),
            odp_event("purchase", "R5", day(1), subtotal=100),
            odp_event("return", "R5", day(2), subtotal=100),
        ]
    )
    assert wh.query(
        "select refund_state, orders, cancelled_orders, refund_rate from reporting.refund_summary "
        "order by state_order"
    ) == [
        ("none", 2, 0, Decimal("0.6")),
        ("partial", 1, 0, Decimal("0.6")),
        ("full", 2, 1, Decimal("0.6")),
    ]
