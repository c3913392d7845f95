"""docs/semantics.md §3 rule by rule: the order ledger, its signed deltas and running tallies."""

from __future__ import annotations

import pytest

from tests.conftest import Warehouse, day, odp_event, run_examples, write_ndjson

pytestmark = pytest.mark.heavy(seconds=15)  # scheduled first (tests/conftest.py)

# The examples registered below use order ids of their own, so all of them land in one run
# (one file each) that their tests query; the tests of arrival order land their own files.
EXAMPLES: dict[str, list] = {}


def example(name: str, events: list) -> None:
    """Register the events of one test's example under ``name``."""
    EXAMPLES[name] = events


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return run_examples(tmp_path_factory.mktemp("ledger_rules"), EXAMPLES)


def subtotals(wh, order_id: str) -> list[tuple[str, int, int]]:
    """(action, subtotal_delta, running_subtotal) of each event of the order, in order."""
    return [(e["action"], e["subtotal_delta"], e["running_subtotal"]) for e in wh.ledger(order_id)]


def totals(wh, order_id: str) -> list[tuple[str, int, int]]:
    """(action, total_delta, running_total) of each event of the order, in order."""
    return [(e["action"], e["total_delta"], e["running_total"]) for e in wh.ledger(order_id)]


SPLIT_ITEMS = [{"product_id": "P1", "subtotal": 30}, {"product_id": "P2", "subtotal": 20}]
example(
    "purchase_delta",
    [
        odp_event("purchase", "S1", day(1), subtotal=100, items=SPLIT_ITEMS),
        odp_event("purchase", "S2", day(1), items=SPLIT_ITEMS),
    ],
)


def test_purchase_delta_is_the_subtotal_as_sent_else_the_sum_of_item_subtotals(wh):
    """§3: `purchase` → "+ subtotal (as sent; if absent, Σ item subtotals)"."""
    assert subtotals(wh, "S1") == [("purchase", 100, 100)]
    assert subtotals(wh, "S2") == [("purchase", 50, 50)]


PRICED_ITEMS = [
    {"product_id": "P1", "price": 10, "quantity": 3, "discount": 5},
    {"product_id": "P2", "price": 2.5, "quantity": 2},
    {"product_id": "P3", "price": 99, "quantity": 1, "subtotal": 90},
]
example("absent_item_subtotal", [odp_event("purchase", "I1", day(1), items=PRICED_ITEMS)])


def test_an_absent_item_subtotal_is_price_times_quantity_minus_discount(wh):
    """§3: "Item subtotal, when absent: price × quantity − discount"."""
    item_subtotals = wh.query(
        "select product_id, subtotal from core.order_items where order_id = 'I1' order by 1"
    )
    assert item_subtotals == [("P1", 25), ("P2", 5), ("P3", 90)]
    assert subtotals(wh, "I1") == [("purchase", 120, 120)]


example(
    "reduction_sign",
    [
        event
        for action in ("return", "refund", "cancel")
        for sign, amount in (("pos", 30), ("neg", -30))
        for event in (
            odp_event("purchase", f"{action}-{sign}", day(1), subtotal=100),
            odp_event(action, f"{action}-{sign}", day(2), subtotal=amount),
        )
    ],
)


def test_a_reduction_subtracts_the_absolute_subtotal_whatever_its_sign(wh):
    """§3: `return`, `refund`, `cancel` → "− abs(subtotal): −30 and 30 mean the same"."""
    for action in ("return", "refund", "cancel"):
        for sign in ("pos", "neg"):
            assert subtotals(wh, f"{action}-{sign}") == [
                ("purchase", 100, 100),
                (action, -30, 70),
            ], (action, sign)


example(
    "a_reduction_without_subtotal_uses_item_subtotals_else_the_total",
    [
        odp_event("purchase", "R1", day(1), subtotal=100),
        odp_event("return", "R1", day(2), total=99, items=[{"product_id": "P1", "subtotal": -20}]),
        odp_event("purchase", "R2", day(1), subtotal=100),
        odp_event("refund", "R2", day(2), total=33),
    ],
)


def test_a_reduction_without_subtotal_uses_item_subtotals_else_the_total(wh):
    """§3: a reduction with no subtotal is "− abs(Σ item subtotals), else − abs(total)"."""
    assert subtotals(wh, "R1") == [("purchase", 100, 100), ("return", -20, 80)]
    assert subtotals(wh, "R2") == [("purchase", 100, 100), ("refund", -33, 67)]


example(
    "a_cancel_without_any_amount_cancels_the_rest_of_the_order",
    [
        odp_event("purchase", "C1", day(1), subtotal=100, total=110),
        odp_event("refund", "C1", day(2), subtotal=30, total=30),
        odp_event("cancel", "C1", day(3)),
    ],
)


def test_a_cancel_without_any_amount_cancels_the_rest_of_the_order(wh):
    """§3: "`cancel` with no amount at all → − the running subtotal before it (cancels the
    rest)"; likewise "a cancel with no amount at all takes − the running total before it"."""
    assert subtotals(wh, "C1") == [
        ("purchase", 100, 100),
        ("refund", -30, 70),
        ("cancel", -70, 0),
    ]
    assert totals(wh, "C1") == [("purchase", 110, 110), ("refund", -30, 80), ("cancel", -80, 0)]


example(
    "every_cancel_without_any_amount_cancels_what_is_left_before_it",
    [
        odp_event("cancel", "C2", day(1)),
        odp_event("purchase", "C2", day(2), subtotal=50),
        odp_event("cancel", "C2", day(3)),
        odp_event("cancel", "C2", day(4)),
        odp_event("purchase", "C2", day(5), subtotal=20),
        odp_event("refund", "C2", day(6), subtotal=5),
        odp_event("cancel", "C2", day(7)),
    ],
)


def test_every_cancel_without_any_amount_cancels_what_is_left_before_it(wh):
    """§3: each cancel-the-rest takes − the running subtotal before it, whatever came before:
    nothing (first), another cancel-the-rest, or events after an earlier one."""
    assert subtotals(wh, "C2") == [
        ("cancel", 0, 0),
        ("purchase", 50, 50),
        ("cancel", -50, 0),
        ("cancel", 0, 0),
        ("purchase", 20, 20),
        ("refund", -5, 15),
        ("cancel", -15, 0),
    ]


example(
    "a_custom_action_on_an_existing_order_is_a_pass_through",
    [
        odp_event(
            "purchase",
            "X1",
            day(1),
            subtotal=100,
            total=110,
            tax=8,
            shipping=2,
            first_name="Ann",
        ),
        odp_event(
            "gift_wrap",
            "X1",
            day(2),
            subtotal=50,
            total=60,
            tax=99,
            shipping=99,
            first_name="Bob",
            last_name="Zed",
            name="Bob Zed",
            coupon_code="WRAP",
            bill_address="9 Custom Road",
        ),
    ],
)


def test_a_custom_action_on_an_existing_order_is_a_pass_through(wh):
    """§3: a custom action on an order that already has an earlier event has delta 0 and "changes
    no tally and no summary field (status, tax, shipping, names …)"."""
    assert subtotals(wh, "X1") == [("purchase", 100, 100), ("gift_wrap", 0, 100)]
    assert totals(wh, "X1") == [("purchase", 110, 110), ("gift_wrap", 0, 110)]
    order = wh.order("X1")
    assert (order["status"], order["subtotal"], order["total"]) == ("purchase", 100, 110)
    assert (order["tax"], order["shipping"]) == (8, 2)
    assert (order["first_name"], order["last_name"], order["name"]) == ("Ann", None, None)
    assert (order["coupon_code"], order["bill_address"]) == (None, None)


example(
    "a_custom_action_as_first_event_creates_the_order",
    [
        odp_event("subscription_start", "Y1", day(1), subtotal=40, tax=2, shipping=3),
        odp_event("purchase", "Y1", day(2), subtotal=10),
    ],
)


def test_a_custom_action_as_first_event_creates_the_order(wh):
    """§3: a custom action "otherwise … creates the order: + subtotal" (and its total delta is
    subtotal + tax + shipping when no total is sent)."""
    assert subtotals(wh, "Y1") == [("subscription_start", 40, 40), ("purchase", 10, 50)]
    assert totals(wh, "Y1")[0] == ("subscription_start", 45, 45)
    order = wh.order("Y1")
    assert (order["created_by"], order["subtotal"]) == ("subscription_start", 50)


example(
    "purchase_total_delta_without_total_is_subtotal_plus_tax_plus_shipping",
    [
        odp_event("purchase", "T1", day(1), subtotal=100, tax=8, shipping=2),
        odp_event("purchase", "T2", day(1), subtotal=100, tax=8),
        odp_event("purchase", "T3", day(1), subtotal=100, total=115, tax=8, shipping=2),
        odp_event("purchase", "T4", day(1), items=[{"product_id": "P", "subtotal": 50}]),
    ],
)


def test_purchase_total_delta_without_total_is_subtotal_plus_tax_plus_shipping(wh):
    """§3: "If `total` is absent on a purchase …, total delta = subtotal delta + tax +
    shipping"; a total that is sent is taken as sent."""
    assert totals(wh, "T1") == [("purchase", 110, 110)]
    assert totals(wh, "T2") == [("purchase", 108, 108)]
    assert totals(wh, "T3") == [("purchase", 115, 115)]
    assert totals(wh, "T4") == [("purchase", 50, 50)]


example(
    "reduction_total_delta_is_minus_abs_total_else_the_subtotal_delta",
    [
        odp_event("purchase", "U1", day(1), subtotal=100, total=110),
        odp_event("refund", "U1", day(2), subtotal=30, total=-33),
        odp_event("return", "U1", day(3), subtotal=-20),
        odp_event("cancel", "U1", day(4), subtotal=10, total=11),
    ],
)


def test_reduction_total_delta_is_minus_abs_total_else_the_subtotal_delta(wh):
    """§3: "On a return, refund or cancel, total delta = − abs(`total`), or the subtotal delta
    when `total` is absent"."""
    assert totals(wh, "U1") == [
        ("purchase", 110, 110),
        ("refund", -33, 77),
        ("return", -20, 57),
        ("cancel", -11, 46),
    ]


example(
    "running_tallies_may_go_negative",
    [
        odp_event("purchase", "N1", day(2), subtotal=80),
        odp_event("refund", "N1", day(1), subtotal=20),
        odp_event("purchase", "N2", day(1), subtotal=50),
        odp_event("refund", "N2", day(2), subtotal=80),
    ],
)


def test_running_tallies_may_go_negative(wh):
    """§3: running tallies "may go negative (refund before purchase, or refund above the
    purchase); nothing clamps them". The refund sent after the purchase but dated earlier comes
    first in the timeline."""
    assert subtotals(wh, "N1") == [("refund", -20, -20), ("purchase", 80, 60)]
    assert subtotals(wh, "N2") == [("purchase", 50, 50), ("refund", -80, -30)]
    assert wh.order("N2")["subtotal"] == -30


# two files of the same run, written b first: same_ts_a.ndjson still arrives first
example("same_ts_b", [odp_event("purchase", "Q2", day(5), subtotal=100)])
example(
    "same_ts_a",
    [
        odp_event("purchase", "Q1", day(5), subtotal=100),
        odp_event("refund", "Q1", day(5), subtotal=10),
        odp_event("cancel", "Q1", day(5)),
        odp_event("refund", "Q2", day(5), subtotal=30),
    ],
)


def test_events_with_the_same_ts_keep_their_arrival_order(wh):
    """§3: events are ordered by (`ts`, arrival sequence): files first seen in the same run in
    lexicographic order of their path, then the record's position in its file."""
    assert subtotals(wh, "Q1") == [("purchase", 100, 100), ("refund", -10, 90), ("cancel", -90, 0)]
    assert subtotals(wh, "Q2") == [("refund", -30, -30), ("purchase", 100, 70)]
    assert [(e["file"], e["record_no"]) for e in wh.ledger("Q2")] == [
        ("odp_events/same_ts_a.ndjson", 4),
        ("odp_events/same_ts_b.ndjson", 1),
    ]


def test_a_late_arriving_event_is_placed_by_its_ts(landing, run_landing):
    """§3: "Re-deriving from the full history places late-arriving events where they belong":
    an event of a later file with an earlier `ts` goes before the events it predates."""
    write_ndjson(
        landing / "odp_events" / "day5.ndjson",
        [
            odp_event("purchase", "L1", day(1), subtotal=100),
            odp_event("refund", "L1", day(5), subtotal=30),
        ],
    )
    run_landing(landing)
    write_ndjson(
        landing / "odp_events" / "day6.ndjson", [odp_event("refund", "L1", day(3), subtotal=70)]
    )
    wh = run_landing(landing)
    ledger = wh.ledger("L1")
    assert [(e["event_seq"], e["action"], e["subtotal_delta"]) for e in ledger] == [
        (1, "purchase", 100),
        (2, "refund", -70),
        (3, "refund", -30),
    ]
    assert [e["running_subtotal"] for e in ledger] == [100, 30, 0]
    assert [e["refund_kind"] for e in ledger] == [None, "partial", "full"]
    assert ledger[1]["arrival_seq"] > ledger[2]["arrival_seq"]


example(
    "refund_kind_is_partial_or_full_for_each_reduction",
    [
        odp_event("purchase", "K1", day(1), subtotal=100),
        odp_event("refund", "K1", day(2), subtotal=40),
        odp_event("return", "K1", day(3), subtotal=60),
        odp_event("purchase", "K2", day(1), subtotal=100),
        odp_event("gift_note", "K2", day(2)),
        odp_event("cancel", "K2", day(3), subtotal=10),
        odp_event("refund", "K2", day(4), subtotal=120),
    ],
)


def test_refund_kind_is_partial_or_full_for_each_reduction(wh):
    """§3: "Each return/refund/cancel event is `partial` when the running subtotal after it is
    > 0, else `full`": a second refund that empties the order is full."""
    assert [(e["action"], e["refund_kind"]) for e in wh.ledger("K1")] == [
        ("purchase", None),
        ("refund", "partial"),
        ("return", "full"),
    ]
    assert [(e["action"], e["refund_kind"]) for e in wh.ledger("K2")] == [
        ("purchase", None),
        ("gift_note", None),
        ("cancel", "partial"),
        ("refund", "full"),
    ]
