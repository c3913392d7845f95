"""docs/semantics.md §4.1–4.3 rule by rule: the order summary, one row per order, from its
ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.warehouse import prepare_session
from tests.conftest import Warehouse, day, odp_event, run_examples

# Every example below uses order ids of its own, so all of them land in one run (one file
# each) that the tests then query: one pipeline run for the module.
EXAMPLES: dict[str, list] = {}


def example(name: str, events: list) -> None:
    """Register the events of one test's example under ``name``."""
    EXAMPLES[name] = events


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return run_examples(tmp_path_factory.mktemp("order_summary"), EXAMPLES)


example(
    "status_is_the_action_of_the_last_event_skipping_pass_throughs",
    [
        odp_event("purchase", "S1", day(1), subtotal=100),
        odp_event("refund", "S1", day(2), subtotal=10),
        odp_event("review_requested", "S1", day(3)),
        odp_event("purchase", "S2", day(1), subtotal=100),
        odp_event("cancel", "S2", day(3)),
        odp_event("refund", "S2", day(2), subtotal=10),
        odp_event("preorder", "S3", day(1), subtotal=100),
        odp_event("note", "S3", day(2)),
    ],
)


def test_status_is_the_action_of_the_last_event_skipping_pass_throughs(wh):
    """§4.1: "`status` = the action of the last event in the timeline, skipping custom-action
    events on an order that already existed"."""
    assert wh.order("S1")["status"] == "refund"
    assert wh.order("S2")["status"] == "cancel"
    assert wh.order("S3")["status"] == "preorder"


example(
    "created_by_is_the_action_of_the_first_event",
    [
        odp_event("purchase", "C1", day(1), subtotal=100),
        odp_event("refund", "C1", day(2), subtotal=10),
        odp_event("purchase", "C2", day(2), subtotal=100),
        odp_event("refund", "C2", day(1), subtotal=10),
        odp_event("preorder", "C3", day(1), subtotal=100),
        odp_event("purchase", "C3", day(2), subtotal=20),
    ],
)


def test_created_by_is_the_action_of_the_first_event(wh):
    """§4.1: "`created_by` = the action of the first event" (first by `ts`)."""
    assert wh.order("C1")["created_by"] == "purchase"
    assert wh.order("C2")["created_by"] == "refund"
    assert wh.order("C3")["created_by"] == "preorder"


example(
    "subtotal_and_total_are_the_final_running_tally",
    [
        odp_event("purchase", "F1", day(1), subtotal=100, total=110),
        odp_event("purchase", "F1", day(2), subtotal=50, tax=4, shipping=1),
        odp_event("refund", "F1", day(3), subtotal=30, total=33),
    ],
)


def test_subtotal_and_total_are_the_final_running_tally(wh):
    """§4.2: "`subtotal`, `total` = the final running tally"."""
    order = wh.order("F1")
    assert (order["subtotal"], order["total"]) == (120, 132)
    assert order["tally_subtotal"] == 120


example(
    "tax_and_shipping_are_the_last_value_sent",
    [
        odp_event("purchase", "T1", day(1), subtotal=100, tax=8, shipping=5),
        odp_event("refund", "T1", day(2), subtotal=50, tax=2),
        odp_event("purchase", "T2", day(1), subtotal=100),
        odp_event("purchase", "T2", day(2), subtotal=10, shipping=3),
    ],
)


def test_tax_and_shipping_are_the_last_value_sent(wh):
    """§4.2: "`tax`, `shipping` = the last value sent by any event (refund events overwrite
    them with "the positive remainder")": a refund carrying tax 2 overwrites 8."""
    order = wh.order("T1")
    assert (order["tax"], order["shipping"]) == (2, 5)
    order = wh.order("T2")
    assert (order["tax"], order["shipping"]) == (None, 3)


example(
    "discount_coupon_addresses_and_names_come_from_the_first_event_carrying_them",
    [
        odp_event(
            "refund",
            "D1",
            day(3),
            subtotal=10,
            discount=1,
            coupon_code="LATE",
            bill_address="3 Late Road",
            ship_address="3 Late Road",
            first_name="Cy",
            last_name="Late",
            name="Cy Late",
        ),
        odp_event("purchase", "D1", day(1), subtotal=100, discount=5, first_name="Ann"),
        odp_event(
            "purchase",
            "D1",
            day(2),
            subtotal=20,
            discount=9,
            coupon_code="SPRING",
            bill_address="1 Bill Street",
            ship_address="2 Ship Street",
            first_name="Bea",
            last_name="Lee",
            name="Ann Lee",
        ),
    ],
)


def test_discount_coupon_addresses_and_names_come_from_the_first_event_carrying_them(wh):
    """§4.2: "`discount`, `coupon_code`, addresses, names = from the first event that carries
    them" (first in time, whatever the order the events arrive in)."""
    order = wh.order("D1")
    assert order["discount"] == 5
    assert order["coupon_code"] == "SPRING"
    assert (order["bill_address"], order["ship_address"]) == ("1 Bill Street", "2 Ship Street")
    assert (order["first_name"], order["last_name"], order["name"]) == ("Ann", "Lee", "Ann Lee")


example(
    "refund_state_is_none_partial_or_full",
    [
        odp_event("purchase", "R0", day(1), subtotal=100),
        odp_event("note", "R0", day(2)),
        odp_event("purchase", "R1", day(1), subtotal=100),
        odp_event("return", "R1", day(2), subtotal=40),
        odp_event("purchase", "R2", day(1), subtotal=100),
        odp_event("refund", "R2", day(2), subtotal=40),
        odp_event("refund", "R2", day(3), subtotal=60),
        odp_event("purchase", "R3", day(1), subtotal=100),
        odp_event("cancel", "R3", day(2)),
        odp_event("purchase", "R4", day(1), subtotal=100),
        odp_event("refund", "R4", day(2), subtotal=150),
    ],
)


def test_refund_state_is_none_partial_or_full(wh):
    """§4.3: "`refund_state`: `none` if the order has no return/refund/cancel event; else
    `partial` if the final running subtotal > 0, else `full`"."""
    states = dict(
        wh.query("select order_id, refund_state from core.orders where order_id like 'R_'")
    )
    assert states == {"R0": "none", "R1": "partial", "R2": "full", "R3": "full", "R4": "full"}


example(
    "an_order_is_cancelled_only_with_a_cancel_and_a_final_subtotal_of_at_most_zero",
    [
        odp_event("purchase", "X1", day(1), subtotal=100),
        odp_event("cancel", "X1", day(2)),
        odp_event("purchase", "X2", day(1), subtotal=100),
        odp_event("cancel", "X2", day(2), subtotal=30),
        odp_event("purchase", "X3", day(1), subtotal=100),
        odp_event("refund", "X3", day(2), subtotal=100),
        odp_event("purchase", "X4", day(1), subtotal=100),
        odp_event("cancel", "X4", day(2), subtotal=30),
        odp_event("refund", "X4", day(3), subtotal=70),
        odp_event("purchase", "X5", day(1), subtotal=100),
        odp_event("cancel", "X5", day(2), subtotal=120),
    ],
)


def test_an_order_is_cancelled_only_with_a_cancel_and_a_final_subtotal_of_at_most_zero(wh):
    """§4.3: "`is_cancelled` = it has a cancel event and the final running subtotal ≤ 0"."""
    cancelled = dict(
        wh.query("select order_id, is_cancelled from core.orders where order_id like 'X_'")
    )
    assert cancelled == {"X1": True, "X2": False, "X3": False, "X4": True, "X5": True}


example(
    "a_partial_cancel_leaves_the_order_counted",
    [
        odp_event("purchase", "P1", day(1), subtotal=100),
        odp_event("cancel", "P1", day(2), subtotal=30),
        odp_event("purchase", "P2", day(1), subtotal=100),
        odp_event("cancel", "P2", day(2)),
    ],
)


def test_a_partial_cancel_leaves_the_order_counted(wh):
    """§4.3: "`counts_for_lifecycle` = not `is_cancelled`: … a partial cancel too"."""
    partial, full = wh.order("P1"), wh.order("P2")
    assert (partial["refund_state"], partial["is_cancelled"]) == ("partial", False)
    assert partial["counts_for_lifecycle"] is True
    assert (full["is_cancelled"], full["counts_for_lifecycle"]) == (True, False)


example(
    "a_full_return_or_refund_leaves_the_order_counted",
    [
        odp_event("purchase", "G1", day(1), subtotal=100),
        odp_event("return", "G1", day(2), subtotal=100),
        odp_event("purchase", "G2", day(1), subtotal=100),
        odp_event("refund", "G2", day(2), subtotal=100),
    ],
)


def test_a_full_return_or_refund_leaves_the_order_counted(wh):
    """§4.3: "returns and refunds, even full ones, leave the order counted"."""
    for order_id in ("G1", "G2"):
        order = wh.order(order_id)
        assert order["refund_state"] == "full"
        assert order["is_cancelled"] is False
        assert order["counts_for_lifecycle"] is True


example(
    "placed_at_is_the_ts_of_the_first_event",
    [
        odp_event("purchase", "A1", day(3, 9), subtotal=100),
        odp_event("purchase", "A1", day(2, 18), subtotal=10),
        odp_event("purchase", "A2", day(4), subtotal=100),
        odp_event("refund", "A2", day(1, 6), subtotal=10),
    ],
)


def test_placed_at_is_the_ts_of_the_first_event(wh):
    """CONTRACT `placed_at` (ts of the first event): the earliest event, even one that arrives
    later in the file or is not a purchase."""
    assert wh.order("A1")["placed_at"] == datetime(2026, 6, 2, 18, tzinfo=UTC)
    assert wh.order("A2")["placed_at"] == datetime(2026, 6, 1, 6, tzinfo=UTC)


E1_PURCHASE = odp_event("purchase", "E1", day(1), subtotal=100)
example(
    "event_count_counts_every_event_of_the_order",
    [
        E1_PURCHASE,
        E1_PURCHASE,  # a duplicate
        odp_event("note", "E1", day(2)),
        odp_event("refund", "E1", day(3), subtotal=10),
        odp_event("purchase", "E2", day(1), subtotal=5),
    ],
)


def test_event_count_counts_every_event_of_the_order(wh):
    """CONTRACT `event_count`: the number of ledger events of the order (pass-throughs too);
    duplicates are not events (§2)."""
    assert wh.order("E1")["event_count"] == 3
    assert wh.order("E2")["event_count"] == 1


example(
    "money_columns_are_exact_decimals",
    [
        odp_event("purchase", "M1", day(1), subtotal=0.1, tax=0.07, shipping=0.03, discount=0.01),
        odp_event("purchase", "M1", day(2), subtotal=0.2),
    ],
)


def test_money_columns_are_exact_decimals(wh):
    """§6: "Money is DECIMAL end to end (never floating point)": 0.1 + 0.2 is exactly 0.3."""
    money = (
        "subtotal",
        "total",
        "tax",
        "shipping",
        "discount",
        "tally_subtotal",
        "subtotal_base",
        "total_base",
    )
    types = wh.dicts(
        "select " + ", ".join(f"typeof({c}) as {c}" for c in money) + " from core.orders"
    )[0]
    assert types == dict.fromkeys(money, "DECIMAL(38,4)")
    order = wh.order("M1")
    assert order["subtotal"] == Decimal("0.3")
    assert order["total"] == Decimal("0.4")
    ledger_types = wh.query(
        "select distinct typeof(subtotal_delta), typeof(total_delta), typeof(running_subtotal), "
        "typeof(running_total) from core.order_events"
    )
    assert ledger_types == [("DECIMAL(38,4)",) * 4]


example(
    "an_order_of_one_event_is_summarised_as_the_aggregation_would",
    [
        # one event each, of every kind a first event can be: every summary field sent
        odp_event("purchase", "ONE1", day(1), subtotal=40, total=52.5, tax=8, shipping=4.5,
                  discount=2, coupon_code="SPRING", first_name="Ann", last_name="Lee",
                  name="Ann Lee", email="ann@example.com", phone="+15550001",
                  bill_address="1 Main St", ship_address="2 Side St"),
        odp_event("preorder", "ONE2", day(2), subtotal=15, currency="EUR"),
        odp_event("cancel", "ONE3", day(3), subtotal=10),
        odp_event("refund", "ONE4", day(4), subtotal=5),
        odp_event("purchase", "ONE5", day(5), currency="XYZ", subtotal=9),
        odp_event("purchase", "ONE6", day(6),
                  items=[{"product_id": "P1", "price": 3, "quantity": 2}]),
    ],
)  # fmt: skip


def test_an_order_of_one_event_is_summarised_as_the_aggregation_would(wh):
    """core/orders summarises an order of one event straight from its row (most orders; the
    aggregation over the ledger is its costliest step at scale). That shortcut must be the
    aggregation over one row: building every order through the aggregation gives the same
    table, field for field, for this module's orders of one event and of many."""
    sql = (SQL_DIR / "core" / "orders.sql").read_text(encoding="utf-8")
    shortcut = "where event_seq = 2"
    assert sql.count(shortcut) == 1
    every_order_aggregated = sql.replace(shortcut, "where event_seq >= 1")
    con = duckdb.connect(str(wh.path), read_only=True)
    try:
        prepare_session(con, Settings.from_env())
        con.execute("create temp table changed_keys (order_id varchar)")
        con.execute(f"create temp table aggregated as {every_order_aggregated}")
        single = con.execute(
            "select count(*) from core.orders where event_count = 1 and order_id like 'ONE%'"
        ).fetchone()
        differing = con.execute(
            "select count(*) from ((select * from core.orders except all select * from aggregated)"
            " union all (select * from aggregated except all select * from core.orders))"
        ).fetchone()
    finally:
        con.close()
    assert single == (6,)
    assert differing == (0,)
