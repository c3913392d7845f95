"""docs/semantics.md §4.4: ODP Orders-object updates overlay the order summary field by field, the
latest update (arrival order) winning, subtotal and total included; the event-derived tally
stays in ``tally_subtotal`` and ``is_overridden`` marks the order; an update for an order
with no event creates its summary row with ``created_by = 'object'`` and no revenue."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=15)  # scheduled first (tests/conftest.py)


def write_updates(landing: Path, name: str, updates: list[dict]) -> None:
    write_ndjson(landing / "odp_orders" / name, updates)


def ledger_events() -> list[dict]:
    contact = {"email": "ann@example.com"}
    return [
        odp_event("purchase", "A1", day(2), identifiers=contact, subtotal=100, total=110,
                  tax=8, shipping=2, first_name="Ann", bill_address="1 Old St,,Austin,TX,,US"),
        odp_event("refund", "A1", day(4), identifiers=contact, subtotal=30, total=30),
        odp_event("purchase", "B1", day(3), identifiers=contact, subtotal=50),
    ]  # fmt: skip


def test_the_latest_update_of_each_field_replaces_the_event_value(landing, run_landing):
    write_ndjson(landing / "odp_events" / "e.ndjson", ledger_events())
    write_updates(landing, "a.ndjson", [
        {"order_id": "A1", "status": "shipped", "total": 200},
        {"order_id": "A1", "total": 210, "bill_address": "1 New St,,Austin,TX,,US"},
    ])  # fmt: skip
    wh = run_landing(landing)
    a1 = wh.order("A1")
    assert a1["status"] == "shipped"
    assert a1["total"] == Decimal("210")  # the second update is later
    assert a1["bill_address"] == "1 New St,,Austin,TX,,US"
    # fields no update carried keep the event-derived values
    assert (a1["subtotal"], a1["tax"], a1["first_name"]) == (Decimal("70"), Decimal("8"), "Ann")
    assert a1["is_overridden"] is True
    assert a1["tally_subtotal"] == Decimal("70")
    assert wh.order("B1")["is_overridden"] is False


def test_an_overridden_subtotal_leaves_the_tally_and_the_revenue_alone(landing, run_landing):
    write_ndjson(landing / "odp_events" / "e.ndjson", ledger_events())
    write_updates(landing, "a.ndjson", [{"order_id": "A1", "subtotal": 95}])
    wh = run_landing(landing)
    a1 = wh.order("A1")
    assert (a1["subtotal"], a1["tally_subtotal"]) == (Decimal("95"), Decimal("70"))
    assert a1["subtotal_base"] == Decimal("95")  # the summary's subtotal, in base currency
    # §8: Σ daily net = Σ tally subtotals ("overrides aside")
    assert wh.value("select sum(net) from reporting.daily_revenue") == Decimal("120.00")
    # §7: LTV is on the order subtotal
    assert wh.value("select ltv from core.customers") == Decimal("145")
    # the refund state follows the ledger
    assert a1["refund_state"] == "partial"


def test_later_files_win_over_earlier_ones(landing, run_landing):
    write_ndjson(landing / "odp_events" / "e.ndjson", ledger_events())
    write_updates(landing, "1.ndjson", [{"order_id": "A1", "status": "packed"}])
    (landing / "odp_orders" / "2.csv").write_text("order_id,status\nA1,delivered\n", "utf-8")
    wh = run_landing(landing)
    assert wh.order("A1")["status"] == "delivered"


def test_an_update_for_an_unknown_order_creates_an_object_only_summary(landing, run_landing):
    write_ndjson(landing / "odp_events" / "e.ndjson", ledger_events())
    write_updates(landing, "a.ndjson", [
        {"order_id": "OBJ-1", "status": "purchase", "subtotal": 40, "currency": "USD",
         "email": " Ann@Example.com "},
    ])  # fmt: skip
    wh = run_landing(landing)
    order = wh.order("OBJ-1")
    assert (order["created_by"], order["source"], order["event_count"]) == (
        "object",
        "odp_orders",
        0,
    )
    assert order["subtotal"] == Decimal("40") and order["tally_subtotal"] is None
    assert order["is_overridden"] is True
    # it joins the customer its email belongs to, but has no revenue; not cancelled, it
    # counts_for_lifecycle (§4.3: = not is_cancelled), yet customers' metrics count only
    # orders with events (§4.4)
    assert order["customer_id"] == wh.order("A1")["customer_id"]
    assert (order["is_cancelled"], order["counts_for_lifecycle"]) == (False, True)
    assert wh.value("select count(*) from core.order_events where order_id = 'OBJ-1'") == 0
    customer = wh.dicts("select * from core.customers")[0]
    assert (customer["lifecycle_order_count"], customer["order_count_all"]) == (2, 2)
    assert customer["ltv"] == Decimal("120")
    assert wh.value("select sum(net) from reporting.daily_revenue") == Decimal("120.00")
