"""Identifier values that identify nobody must not link customers (docs/semantics.md §5: "Null/empty
identifiers must never link"; docs/pitfalls.md: over-merge is a privacy incident)."""

from __future__ import annotations

from tests.conftest import day, odp_event


def test_an_invisible_identifier_links_nobody(run_events):
    wh = run_events(
        [
            odp_event("purchase", "IJ1", day(1), subtotal=10,
                      identifiers={"email": "\u200b", "customer_id": "C1"}),
            odp_event("purchase", "IJ2", day(1), subtotal=10,
                      identifiers={"email": "\u200b", "customer_id": "C2"}),
        ]
    )  # fmt: skip
    assert wh.value("select count(distinct customer_id) from core.orders") == 2


def test_a_boolean_identifier_is_refused(run_events):
    """`true` would link every customer who sends it: the record is quarantined."""
    wh = run_events(
        [
            odp_event("purchase", "IB1", day(1), subtotal=10,
                      identifiers={"vip": True, "customer_id": "C1"}),
            odp_event("purchase", "IB2", day(1), subtotal=10, identifiers={"customer_id": "C2"}),
        ]
    )  # fmt: skip
    [reasons] = [r[0] for r in wh.query("select reasons from audit.quarantine")]
    assert [r.split(":", 1)[0] for r in reasons] == ["invalid_identifiers"]
    assert wh.value("select count(*) from core.orders") == 1
