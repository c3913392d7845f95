"""docs/semantics.md §5 (identity resolution) and §7 (customer metrics) rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import day, odp_event, write_ndjson


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


def test_email_is_trimmed_and_lower_cased_and_phone_reduced_to_plus_and_digits(run_events):
    """§5: "email trimmed and lower-cased; phone reduced to `+` and digits (E.164 style; a
    number without `+` keeps its digits); other ids trimmed"."""
    wh = run_events(
        [
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
    )
    identifiers = wh.query(
        "select identifier_type, identifier_value from core.customer_identifiers order by 1, 2"
    )
    assert identifiers == [
        ("customer_id", "C-77"),
        ("email", "ann.lee@example.com"),
        ("phone", "+442079460000"),
        ("phone", "02079460001"),
    ]
    assert customer_of(wh, "N1") == customer_of(wh, "N2")
    assert wh.value("select count(*) from core.customers") == 1


def test_two_identifiers_on_one_event_belong_to_one_customer(run_events):
    """§5: "Two identifiers belong to the same customer when they appear on the same event"."""
    wh = run_events(
        [
            order("E1", day(1), email="ann@example.com", phone="+15550001"),
            order("E2", day(2), phone="+15550001"),
            order("E3", day(3), email="bob@example.com"),
        ]
    )
    assert customer_of(wh, "E1") == customer_of(wh, "E2") != customer_of(wh, "E3")
    ann = customer(wh, customer_of(wh, "E1"))
    assert (ann["emails"], ann["phones"]) == (["ann@example.com"], ["+15550001"])


def test_identifiers_on_different_events_of_one_order_belong_to_one_customer(run_events):
    """§5: identifiers link when they appear "on events of the same order"."""
    wh = run_events(
        [
            order("O1", day(1), email="ann@example.com"),
            order("O1", day(2), phone="+15550001", action="refund", subtotal=10),
            order("O2", day(3), phone="+15550001"),
        ]
    )
    assert customer_of(wh, "O1") == customer_of(wh, "O2")
    ann = customer(wh, customer_of(wh, "O1"))
    assert (ann["emails"], ann["phones"]) == (["ann@example.com"], ["+15550001"])
    assert wh.value("select count(*) from core.customers") == 1


def test_customers_are_connected_components_across_orders(run_events):
    """§5: "Customers are the connected components of that graph (transitively: A–B on one
    order and B–C on another make one customer A–B–C)"."""
    wh = run_events(
        [
            order("T1", day(1), email="a@example.com", phone="+1000"),
            order("T2", day(2), phone="+1000", email="c@example.com"),
            order("T3", day(3), email="c@example.com"),
            order("T4", day(4), email="d@example.com"),
        ]
    )
    assert customer_of(wh, "T1") == customer_of(wh, "T2") == customer_of(wh, "T3")
    abc = customer(wh, customer_of(wh, "T1"))
    assert (abc["emails"], abc["phones"]) == (["a@example.com", "c@example.com"], ["+1000"])
    assert customer_of(wh, "T4") != customer_of(wh, "T1")
    assert wh.value("select count(*) from core.customers") == 2


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


def test_profile_names_take_the_first_value_in_time_and_are_never_overwritten(run_events):
    """§5: "Profile fields (`first_name`, `last_name`, `name`) take the first non-empty value in
    time order and are never overwritten by later values" — also when the later value arrives
    first in the file."""
    wh = run_events(
        [
            order("P2", day(5), email="ann@example.com", first_name="Annie", last_name="Lee-Smith"),
            order("P1", day(2), email="ann@example.com", first_name="Ann", last_name=""),
            order(
                "P1",
                day(3),
                email="ann@example.com",
                action="refund",
                subtotal=10,
                last_name="Lee",
                name="Ann Lee",
            ),
            order("P3", day(1), email="ann@example.com", name=""),
        ]
    )
    ann = customer_by_email(wh, "ann@example.com")
    assert (ann["first_name"], ann["last_name"], ann["name"]) == ("Ann", "Lee", "Ann Lee")


def test_all_emails_and_phones_of_a_customer_are_kept(run_events):
    """§5: "All emails and phones are kept"."""
    wh = run_events(
        [
            order("L1", day(1), email="ann@example.com", phone="+1001"),
            order("L1", day(2), email="ann@work.example", action="note"),
            order("L2", day(3), email="ann@work.example", phone="+1002"),
            order("L3", day(4), phone="+1002", email="ANN@example.com"),
        ]
    )
    ann = customer_by_email(wh, "ann@example.com")
    assert ann["emails"] == ["ann@example.com", "ann@work.example"]
    assert ann["phones"] == ["+1001", "+1002"]


# -- §7 customer metrics -------------------------------------------------------------------------


def test_lifecycle_order_count_counts_returned_and_refunded_orders_but_not_cancelled_ones(
    run_events,
):
    """§7: "`lifecycle_order_count` = the customer's orders with `counts_for_lifecycle`"."""
    ann = "ann@example.com"
    wh = run_events(
        [
            order("M1", day(1), email=ann),
            order("M2", day(2), email=ann),
            order("M2", day(3), email=ann, action="return", subtotal=100),
            order("M3", day(4), email=ann),
            order("M3", day(5), email=ann, action="refund", subtotal=100),
            order("M4", day(6), email=ann),
            order("M4", day(7), email=ann, action="cancel", subtotal=None),
            order("M5", day(8), email=ann),
            order("M5", day(9), email=ann, action="cancel", subtotal=40),
        ]
    )
    metrics = customer_by_email(wh, ann)
    assert metrics["lifecycle_order_count"] == 4
    assert metrics["order_count_all"] == 5


def test_ltv_is_the_sum_of_order_subtotals_including_cancelled_orders(run_events):
    """§7: "`ltv` = Σ of the customer's order `subtotal_base` (all orders, cancelled included: a
    full cancel nets to ≤ 0). LTV and AOV are based on the subtotal, never the total"."""
    ann = "ann@example.com"
    wh = run_events(
        [
            order("V1", day(1), email=ann, subtotal=100, total=130, tax=20, shipping=10),
            order("V2", day(2), email=ann, subtotal=50),
            order("V2", day(3), email=ann, action="cancel", subtotal=20),
            order("V3", day(4), email=ann, subtotal=80),
            order("V3", day(5), email=ann, action="cancel", subtotal=None),
            order("V4", day(6), email=ann, subtotal=10),
            order("V4", day(7), email=ann, action="cancel", subtotal=25),
        ]
    )
    metrics = customer_by_email(wh, ann)
    assert metrics["ltv"] == 100 + 30 + 0 - 15
    assert metrics["lifecycle_order_count"] == 2


def test_aov_is_ltv_over_counted_orders_exactly_and_null_without_counted_orders(run_events):
    """§7: "`aov` = `ltv` / `lifecycle_order_count`, NULL when the count is 0" — in DECIMAL:
    100 over 3 orders is 33.3333."""
    wh = run_events(
        [
            order("Q1", day(1), email="ann@example.com", subtotal=40),
            order("Q2", day(2), email="ann@example.com", subtotal=30),
            order("Q3", day(3), email="ann@example.com", subtotal=30),
            order("Q4", day(1), email="bob@example.com", subtotal=50),
            order("Q4", day(2), email="bob@example.com", action="cancel", subtotal=None),
        ]
    )
    ann = customer_by_email(wh, "ann@example.com")
    assert ann["aov"] == Decimal("33.3333")
    assert wh.value("select typeof(aov) from core.customers limit 1").startswith("DECIMAL(")
    bob = customer_by_email(wh, "bob@example.com")
    assert (bob["lifecycle_order_count"], bob["ltv"], bob["aov"]) == (0, 0, None)


def test_lifecycle_stage_follows_the_count_of_counted_orders(run_events):
    """§7: "`no_purchase` (0 counted orders), `one_purchase` (1), `repeat` (2), `loyal` (3 or
    more)"."""
    events = [
        order("Z0", day(1), email="zero@example.com"),
        order("Z0", day(2), email="zero@example.com", action="cancel", subtotal=None),
    ]
    for count, who in ((1, "one"), (2, "two"), (3, "three"), (4, "four")):
        events += [order(f"{who}{n}", day(n + 1), email=f"{who}@example.com") for n in range(count)]
    wh = run_events(events)
    stages = dict(wh.query("select emails[1], lifecycle_stage from core.customers"))
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


def test_first_and_last_order_at_are_over_counted_orders(run_events):
    """§7: "`first_order_at`, `last_order_at` = `placed_at` of the first and last counted
    order"."""
    ann = "ann@example.com"
    wh = run_events(
        [
            order("W1", day(1), email=ann),
            order("W1", day(2), email=ann, action="cancel", subtotal=None),
            order("W2", day(3, 8), email=ann),
            order("W3", day(5, 20), email=ann),
            order("W3", day(6), email=ann, action="return", subtotal=100),
            order("W4", day(9), email=ann),
            order("W4", day(9, 13), email=ann, action="cancel", subtotal=None),
        ]
    )
    metrics = customer_by_email(wh, ann)
    assert metrics["first_order_at"] == datetime(2026, 6, 3, 8, tzinfo=UTC)
    assert metrics["last_order_at"] == datetime(2026, 6, 5, 20, tzinfo=UTC)
