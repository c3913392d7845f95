"""docs/semantics.md §5 (identity resolution) and §7 (customer metrics) rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Warehouse, day, odp_event, run_examples, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)


def order(
    order_id: str,
    ts: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    subtotal: float | None = 100,
    action: str = "purchase",
    **fields: Any,
) -> dict[str, Any]:
    """An event of ``order_id`` identified only by the given email and/or phone."""
    identifiers = {k: v for k, v in (("email", email), ("phone", phone)) if v is not None}
    if subtotal is not None:
        fields["subtotal"] = subtotal
    return odp_event(action, order_id, ts, identifiers=identifiers, **fields)


def customer_of(wh, order_id: str) -> str | None:
    return wh.order(order_id)["customer_id"]


def customer(wh, customer_id: str) -> dict[str, Any]:
    rows = wh.dicts("select * from core.customers where customer_id = ?", [customer_id])
    assert len(rows) == 1, rows
    return rows[0]


def customer_by_email(wh, email: str) -> dict[str, Any]:
    rows = wh.dicts("select * from core.customers where list_contains(emails, ?)", [email])
    assert len(rows) == 1, rows
    return rows[0]


# -- §5 identity resolution ----------------------------------------------------------------------


def customers_of(wh, *order_ids: str) -> set[str | None]:
    """The customers of ``order_ids``: a test that shares its run with others counts its own
    customers only."""
    return {customer_of(wh, order_id) for order_id in order_ids}


# Examples whose order ids, emails and phones are their own (each test's letter): one run
# over all of them serves every test that reads only its own (tests/conftest.py,
# run_examples), instead of a run per test. The tests with settings of their own, two
# warehouses, or whole-warehouse figures (revenue) keep their own runs.
EXAMPLES: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> Warehouse:
    return run_examples(tmp_path_factory.mktemp("customers"), EXAMPLES)


EXAMPLES["normalised"] = [
    odp_event(
        "purchase",
        "N1",
        day(1),
        subtotal=10,
        identifiers={
            "email": "  Ann.Lee@Example.COM ",
            "phone": "+44 (20) 7946-0000",
            "customer_id": "  C-77 ",
        },
    ),
    order("N2", day(2), email="ann.lee@example.com", phone="020 7946 0001"),
]


def test_email_is_trimmed_and_lower_cased_and_phone_reduced_to_plus_and_digits(wh):
    """§5: "email trimmed and lower-cased; phone reduced to `+` and digits (E.164 style; a
    number without `+` keeps its digits); other ids trimmed"."""
    identifiers = wh.query(
        "select identifier_type, identifier_value from core.customer_identifiers "
        "where customer_id = ? order by 1, 2",
        [customer_of(wh, "N1")],
    )
    assert identifiers == [
        ("customer_id", "C-77"),
        ("email", "ann.lee@example.com"),
        ("phone", "+442079460000"),
        ("phone", "02079460001"),
    ]
    assert customer_of(wh, "N1") == customer_of(wh, "N2")
    assert len(customers_of(wh, "N1", "N2")) == 1


EXAMPLES["same event"] = [
    order("E1", day(1), email="e.ann@example.com", phone="+15550101"),
    order("E2", day(2), phone="+15550101"),
    order("E3", day(3), email="e.bob@example.com"),
]


def test_two_identifiers_on_one_event_belong_to_one_customer(wh):
    """§5: "Two identifiers belong to the same customer when they appear on the same event"."""
    assert customer_of(wh, "E1") == customer_of(wh, "E2") != customer_of(wh, "E3")
    ann = customer(wh, customer_of(wh, "E1"))
    assert (ann["emails"], ann["phones"]) == (["e.ann@example.com"], ["+15550101"])


EXAMPLES["same order"] = [
    order("O1", day(1), email="o.ann@example.com"),
    order("O1", day(2), phone="+15550201", action="refund", subtotal=10),
    order("O2", day(3), phone="+15550201"),
]


def test_identifiers_on_different_events_of_one_order_belong_to_one_customer(wh):
    """§5: identifiers link when they appear "on events of the same order"."""
    assert customer_of(wh, "O1") == customer_of(wh, "O2")
    ann = customer(wh, customer_of(wh, "O1"))
    assert (ann["emails"], ann["phones"]) == (["o.ann@example.com"], ["+15550201"])


EXAMPLES["components"] = [
    order("T1", day(1), email="t.a@example.com", phone="+1300"),
    order("T2", day(2), phone="+1300", email="t.c@example.com"),
    order("T3", day(3), email="t.c@example.com"),
    order("T4", day(4), email="t.d@example.com"),
]


def test_customers_are_connected_components_across_orders(wh):
    """§5: "Customers are the connected components of that graph (transitively: A–B on one
    order and B–C on another make one customer A–B–C)"."""
    assert customer_of(wh, "T1") == customer_of(wh, "T2") == customer_of(wh, "T3")
    abc = customer(wh, customer_of(wh, "T1"))
    assert (abc["emails"], abc["phones"]) == (["t.a@example.com", "t.c@example.com"], ["+1300"])
    assert customer_of(wh, "T4") != customer_of(wh, "T1")
    assert len(customers_of(wh, "T1", "T2", "T3", "T4")) == 2


def test_customer_id_is_stable_across_runs_and_arrival_order(tmp_path: Path, run_landing):
    """§5: "`customer_id` is a stable key derived from the component (the same data gives the
    same key on every run)", whatever order the records arrive in."""
    events = [
        order("K1", day(1), email="ann@example.com", phone="+1000"),
        order("K2", day(2), phone="+1000", email="ann.work@example.com"),
        order("K3", day(3), email="bob@example.com"),
        order("K4", day(4), phone="+2000"),
    ]
    first_landing, second_landing = tmp_path / "first", tmp_path / "second"
    write_ndjson(first_landing / "odp_events" / "all.ndjson", events)
    write_ndjson(second_landing / "odp_events" / "z.ndjson", events[:2])
    write_ndjson(second_landing / "odp_events" / "a.ndjson", list(reversed(events[2:])))
    first = run_landing(first_landing, warehouse=tmp_path / "first.duckdb")
    second = run_landing(second_landing, warehouse=tmp_path / "second.duckdb")
    sql = "select order_id, customer_id from core.orders order by 1"
    assert first.query(sql) == second.query(sql)
    assert len({customer_id for _, customer_id in first.query(sql)}) == 3
    identifiers = "select * from core.customer_identifiers order by 1, 2"
    assert first.query(identifiers) == second.query(identifiers)


def test_an_identifier_seen_with_too_many_others_links_nothing(run_events):
    """§5 over-merge guard: "an identifier value that appears together with more than
    `ORDERS_IDENTITY_MAX_FANOUT` … distinct other identifier values (a shop's phone …) links
    nothing: it is kept on its orders, listed in an audit table with its fan-out, and reported
    by an asset check". With the limit at 5, a shop phone on 8 customers' orders links none of
    them; a phone seen with exactly 5 others still links."""
    shop = "+1 555 000 0000"
    events = [order(f"S{n}", day(1), email=f"s{n}@example.com", phone=shop) for n in range(8)]
    events += [order(f"H{n}", day(2), email=f"h{n}@example.com", phone="+1777") for n in range(5)]
    wh = run_events(events, identity_max_fanout=5)
    shop_customers = {customer_of(wh, f"S{n}") for n in range(8)}
    assert len(shop_customers) == 8
    assert None not in shop_customers
    assert all(customer(wh, c)["phones"] == [] for c in shop_customers)
    assert wh.order("S3")["phone"] == "+15550000000"  # kept on its order, normalised
    assert len({customer_of(wh, f"H{n}") for n in range(5)}) == 1
    overmerged = wh.dicts("select * from audit.identity_overmerge")
    assert [
        (r["identifier_type"], r["identifier_value"], r["fanout"], r["order_count"])
        for r in overmerged
    ] == [("phone", "+15550000000", 8, 8)]
    assert "audit/identity_overmerge:identifiers_over_fanout" in wh.summary.warned_checks


def test_a_blocklisted_value_never_links(run_events):
    """§5: "Values in a configurable blocklist never link" (matched after normalisation)."""
    wh = run_events(
        [
            order("B1", day(1), email="test@test.com", phone="+1001"),
            order("B2", day(2), email=" TEST@test.com", phone="+1002"),
        ],
        identity_blocklist=("test@test.com",),
    )
    assert customer_of(wh, "B1") != customer_of(wh, "B2")
    assert customer(wh, customer_of(wh, "B1"))["emails"] == []
    [blocked] = wh.dicts("select * from audit.identity_overmerge")
    assert (blocked["identifier_value"], blocked["reason"]) == ("test@test.com", "blocklisted")


def test_an_order_with_no_linking_identifier_is_anonymous_and_still_counts_in_revenue(
    run_events,
):
    """§5: "An order left with no linking identifier is anonymous … `customer_id` is NULL; they
    count in revenue reports, not in any customer's metrics"."""
    wh = run_events(
        [
            order("A1", day(1), email="test@test.com", subtotal=70),
            order("A2", day(1), email="ann@example.com", subtotal=30),
        ],
        identity_blocklist=("test@test.com",),
    )
    assert customer_of(wh, "A1") is None
    assert wh.ledger("A1")[0]["customer_id"] is None
    assert wh.query("select gross, net, orders_placed from reporting.daily_revenue") == [
        (100, 100, 2)
    ]
    assert wh.query("select emails, ltv, order_count_all from core.customers") == [
        (["ann@example.com"], 30, 1)
    ]
    assert wh.summary.anonymous_orders == 1


EXAMPLES["profile"] = [
    order("P2", day(5), email="p.ann@example.com", first_name="Annie", last_name="Lee-Smith"),
    order("P1", day(2), email="p.ann@example.com", first_name="Ann", last_name=""),
    order(
        "P1",
        day(3),
        email="p.ann@example.com",
        action="refund",
        subtotal=10,
        last_name="Lee",
        name="Ann Lee",
    ),
    order("P3", day(1), email="p.ann@example.com", name=""),
]


def test_profile_names_take_the_first_value_in_time_and_are_never_overwritten(wh):
    """§5: "Profile fields (`first_name`, `last_name`, `name`) take the first non-empty value in
    time order and are never overwritten by later values" — also when the later value arrives
    first in the file."""
    ann = customer_by_email(wh, "p.ann@example.com")
    assert (ann["first_name"], ann["last_name"], ann["name"]) == ("Ann", "Lee", "Ann Lee")


EXAMPLES["all kept"] = [
    order("L1", day(1), email="l.ann@example.com", phone="+1401"),
    order("L1", day(2), email="l.ann@work.example", action="note"),
    order("L2", day(3), email="l.ann@work.example", phone="+1402"),
    order("L3", day(4), phone="+1402", email="L.ANN@example.com"),
]


def test_all_emails_and_phones_of_a_customer_are_kept(wh):
    """§5: "All emails and phones are kept"."""
    ann = customer_by_email(wh, "l.ann@example.com")
    assert ann["emails"] == ["l.ann@example.com", "l.ann@work.example"]
    assert ann["phones"] == ["+1401", "+1402"]


# -- §7 customer metrics -------------------------------------------------------------------------


EXAMPLES["lifecycle count"] = [
    order("M1", day(1), email="m.ann@example.com"),
    order("M2", day(2), email="m.ann@example.com"),
    order("M2", day(3), email="m.ann@example.com", action="return", subtotal=100),
    order("M3", day(4), email="m.ann@example.com"),
    order("M3", day(5), email="m.ann@example.com", action="refund", subtotal=100),
    order("M4", day(6), email="m.ann@example.com"),
    order("M4", day(7), email="m.ann@example.com", action="cancel", subtotal=None),
    order("M5", day(8), email="m.ann@example.com"),
    order("M5", day(9), email="m.ann@example.com", action="cancel", subtotal=40),
]


def test_lifecycle_order_count_counts_returned_and_refunded_orders_but_not_cancelled_ones(wh):
    """§7: "`lifecycle_order_count` = the customer's orders with `counts_for_lifecycle`"."""
    metrics = customer_by_email(wh, "m.ann@example.com")
    assert metrics["lifecycle_order_count"] == 4
    assert metrics["order_count_all"] == 5


EXAMPLES["ltv"] = [
    order("V1", day(1), email="v.ann@example.com", subtotal=100, total=130, tax=20, shipping=10),
    order("V2", day(2), email="v.ann@example.com", subtotal=50),
    order("V2", day(3), email="v.ann@example.com", action="cancel", subtotal=20),
    order("V3", day(4), email="v.ann@example.com", subtotal=80),
    order("V3", day(5), email="v.ann@example.com", action="cancel", subtotal=None),
    order("V4", day(6), email="v.ann@example.com", subtotal=10),
    order("V4", day(7), email="v.ann@example.com", action="cancel", subtotal=25),
]


def test_ltv_is_the_sum_of_order_subtotals_including_cancelled_orders(wh):
    """§7: "`ltv` = Σ of the customer's order `subtotal_base` (all orders, cancelled included: a
    full cancel nets to ≤ 0). LTV and AOV are based on the subtotal, never the total"."""
    metrics = customer_by_email(wh, "v.ann@example.com")
    assert metrics["ltv"] == 100 + 30 + 0 - 15
    assert metrics["lifecycle_order_count"] == 2


EXAMPLES["aov"] = [
    order("Q1", day(1), email="q.ann@example.com", subtotal=40),
    order("Q2", day(2), email="q.ann@example.com", subtotal=30),
    order("Q3", day(3), email="q.ann@example.com", subtotal=30),
    order("Q4", day(1), email="q.bob@example.com", subtotal=50),
    order("Q4", day(2), email="q.bob@example.com", action="cancel", subtotal=None),
]


def test_aov_is_ltv_over_counted_orders_exactly_and_null_without_counted_orders(wh):
    """§7: "`aov` = `ltv` / `lifecycle_order_count`, NULL when the count is 0" — in DECIMAL:
    100 over 3 orders is 33.3333."""
    ann = customer_by_email(wh, "q.ann@example.com")
    assert ann["aov"] == Decimal("33.3333")
    assert wh.value("select typeof(aov) from core.customers limit 1").startswith("DECIMAL(")
    bob = customer_by_email(wh, "q.bob@example.com")
    assert (bob["lifecycle_order_count"], bob["ltv"], bob["aov"]) == (0, 0, None)


EXAMPLES["stages"] = [
    order("Z0", day(1), email="zero@example.com"),
    order("Z0", day(2), email="zero@example.com", action="cancel", subtotal=None),
]
for count, who in ((1, "one"), (2, "two"), (3, "three"), (4, "four")):
    EXAMPLES["stages"] += [
        order(f"{who}{n}", day(n + 1), email=f"{who}@example.com") for n in range(count)
    ]
STAGE_EMAILS = ["zero@example.com", "one@example.com", "two@example.com", "three@example.com",
                "four@example.com"]  # fmt: skip


def test_lifecycle_stage_follows_the_count_of_counted_orders(wh):
    """§7: "`no_purchase` (0 counted orders), `one_purchase` (1), `repeat` (2), `loyal` (3 or
    more)"."""
    stages = dict(
        wh.query(
            "select emails[1], lifecycle_stage from core.customers where list_has_any(emails, ?)",
            [STAGE_EMAILS],
        )
    )
    assert stages == {
        "zero@example.com": "no_purchase",
        "one@example.com": "one_purchase",
        "two@example.com": "repeat",
        "three@example.com": "loyal",
        "four@example.com": "loyal",
    }


def test_lifecycle_stage_thresholds_are_configurable(run_events):
    """§7: "The thresholds are configurable (ODP lets a merchant make "loyal" mean 10+)"."""
    events = []
    for count, who in ((2, "two"), (3, "three"), (10, "ten")):
        events += [order(f"{who}{n}", day(n + 1), email=f"{who}@example.com") for n in range(count)]
    wh = run_events(events, repeat_min_orders=3, loyal_min_orders=10)
    stages = dict(wh.query("select emails[1], lifecycle_stage from core.customers"))
    assert stages == {
        "two@example.com": "one_purchase",
        "three@example.com": "repeat",
        "ten@example.com": "loyal",
    }


EXAMPLES["first and last"] = [
    order("W1", day(1), email="w.ann@example.com"),
    order("W1", day(2), email="w.ann@example.com", action="cancel", subtotal=None),
    order("W2", day(3, 8), email="w.ann@example.com"),
    order("W3", day(5, 20), email="w.ann@example.com"),
    order("W3", day(6), email="w.ann@example.com", action="return", subtotal=100),
    order("W4", day(9), email="w.ann@example.com"),
    order("W4", day(9, 13), email="w.ann@example.com", action="cancel", subtotal=None),
]


def test_first_and_last_order_at_are_over_counted_orders(wh):
    """§7: "`first_order_at`, `last_order_at` = `placed_at` of the first and last counted
    order"."""
    metrics = customer_by_email(wh, "w.ann@example.com")
    assert metrics["first_order_at"] == datetime(2026, 6, 3, 8, tzinfo=UTC)
    assert metrics["last_order_at"] == datetime(2026, 6, 5, 20, tzinfo=UTC)
