"""Issue 16 item 6: the reports an analyst asks for first, on one worked example (docs/semantics.md
§7, §8), in the base currency:

| customer | orders (placed)                                   | counted | LTV | stage        |
| -------- | ------------------------------------------------- | ------- | --- | ------------ |
| ann      | A1 100 (Jun), A2 50 (Jul)                         | 2       | 150 | repeat       |
| bob      | B1 40 (Jun, cancelled Jun), B2 70 (Jul, 20 back)  | 1       | 50  | one_purchase |
| cid      | C1 60 (Jun, all returned in Aug)                  | 1       | 0   | one_purchase |
| dan      | D1, D2, D3 30 each (Jul)                          | 3       | 90  | loyal        |

Cohorts (month of the first counted order): June = ann, cid; July = bob, dan.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, odp_event, write_ndjson


def _by(name: str) -> dict[str, object]:
    return {"identifiers": {"email": f"{name}@example.com"}}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root: Path = tmp_path_factory.mktemp("analyst_reports")
    ann, bob, cid, dan = _by("ann"), _by("bob"), _by("cid"), _by("dan")
    write_ndjson(
        root / "landing" / "odp_events" / "events.ndjson",
        [
            odp_event("purchase", "A1", "2026-06-10T12:00:00Z", subtotal=100, **ann),
            odp_event("purchase", "A2", "2026-07-15T12:00:00Z", subtotal=50, **ann),
            odp_event("purchase", "B1", "2026-06-20T12:00:00Z", subtotal=40, **bob),
            odp_event("cancel", "B1", "2026-06-21T12:00:00Z", **bob),
            odp_event("purchase", "B2", "2026-07-02T12:00:00Z", subtotal=70, **bob),
            odp_event("refund", "B2", "2026-07-20T12:00:00Z", subtotal=20, **bob),
            odp_event("purchase", "C1", "2026-06-05T12:00:00Z", subtotal=60, **cid),
            odp_event("return", "C1", "2026-08-03T12:00:00Z", subtotal=60, **cid),
            *(
                odp_event("purchase", f"D{n}", f"2026-07-0{n}T09:00:00Z", subtotal=30, **dan)
                for n in (1, 2, 3)
            ),
        ],
    )
    target = root / "warehouse.duckdb"
    summary = run_pipeline(Settings(landing_dir=root / "landing", warehouse=target))
    assert summary.success, summary.errors
    return Warehouse(path=target, summary=summary)


def test_aov_by_cohort_month_is_ltv_over_counted_orders_of_each_cohort(warehouse):
    """§7: AOV = LTV / counted orders (subtotal based); a cohort is the month of a customer's
    first counted order (bob's cancelled June order does not make him June's); June: 150 over
    3 orders, July: 140 over 4."""
    assert warehouse.query("select * from reporting.aov_by_cohort_month") == [
        (date(2026, 6, 1), 2, 3, Decimal("150.00"), Decimal("50.00"), 1, Decimal("0.5000")),
        (date(2026, 7, 1), 2, 4, Decimal("140.00"), Decimal("35.00"), 1, Decimal("0.5000")),
    ]


def test_repeat_purchase_rate_is_the_share_of_buying_customers_who_bought_again(warehouse):
    """Of the 4 customers with a counted order, ann (repeat) and dan (loyal) bought again."""
    assert warehouse.query("select * from reporting.repeat_purchase_rate") == [
        (4, 2, 1, Decimal("0.5000"))
    ]


def test_refund_rate_by_month_is_per_month_of_placement_with_the_months_amounts(warehouse):
    """June: of 3 orders placed, B1 (cancelled) and C1 (returned in August) are refunded:
    2/3; July: B2 of 5. Amounts are those dated in the month (daily_revenue): C1's return
    is August's, a month with no order placed and so no rate."""
    assert warehouse.query("select * from reporting.refund_rate_by_month") == [
        (date(2026, 6, 1), 3, 2, 2, Decimal("0.6667"), Decimal("200.00"), Decimal("40.00")),
        (date(2026, 7, 1), 5, 1, 0, Decimal("0.2000"), Decimal("210.00"), Decimal("20.00")),
        (date(2026, 8, 1), 0, 0, 0, None, Decimal("0.00"), Decimal("60.00")),
    ]


def test_refund_summary_rate_is_the_overall_share_repeated_on_every_row(warehouse):
    """``refund_summary.refund_rate`` is by design the share over all orders (3 of 8 here),
    the same on every row beside the per-state ``share_of_orders``; per month it is
    ``refund_rate_by_month``."""
    assert warehouse.query(
        "select refund_state, orders, share_of_orders, refund_rate from reporting.refund_summary"
        " order by state_order"
    ) == [
        ("none", 5, Decimal("0.6250"), Decimal("0.3750")),
        ("partial", 1, Decimal("0.1250"), Decimal("0.3750")),
        ("full", 2, Decimal("0.2500"), Decimal("0.3750")),
    ]
