"""A first worked example through the whole pipeline."""

from tests.conftest import day, odp_event


def test_partial_refund_keeps_order_open(run_events):
    wh = run_events(
        [
            odp_event("purchase", "A1", day(1), subtotal=100, total=110, tax=8, shipping=2),
            odp_event("refund", "A1", day(3), subtotal=30, total=30),
        ]
    )
    ledger = wh.ledger("A1")
    assert [e["subtotal_delta"] for e in ledger] == [100, -30]
    assert [e["running_subtotal"] for e in ledger] == [100, 70]
    assert [e["refund_kind"] for e in ledger] == [None, "partial"]
    assert wh.order("A1")["refund_state"] == "partial"
