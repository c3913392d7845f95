"""Ometria orders as Ometria documents them (docs/semantics.md §1.4): the Order API's Order and
OrderExtended examples, and the Push API's partial record ("only the supplied fields will be
merged into the existing record"). Examples and their pages: ``examples.py``; expected
numbers worked out from the vendor's text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.conftest import Warehouse


def _ledger(wh: Warehouse, order_id: str) -> list[tuple]:
    return [
        (e["action"], e["subtotal_delta"], e["running_subtotal"], e["ts_inferred"])
        for e in wh.ledger(order_id)
    ]


def test_the_order_api_example_loads_with_its_numbers(wh: Warehouse) -> None:
    # §1.4: amount = subtotal 83.33 (not grand_total 96.4); nothing refunded, so the purchase
    # is the gross 83.33 + Σ lineitems.refunded (none) = 83.33; total = grand_total 96.4
    order = wh.order("123553")
    assert (order["subtotal"], order["total"]) == (Decimal("83.33"), Decimal("96.4"))
    assert (order["tax"], order["shipping"], order["discount"]) == (
        Decimal("16.07"), Decimal("2"), Decimal("-5"))  # fmt: skip
    # "timestamp": "2015-01-02T09:00:00+00" (an hour-only offset)
    assert order["placed_at"] == datetime(2015, 1, 2, 9, tzinfo=UTC)
    assert _ledger(wh, "123553") == [("purchase", Decimal("83.33"), Decimal("83.33"), False)]


def test_the_order_extended_example_uses_totals(wh: Warehouse) -> None:
    # no subtotal under totals.local: amount = totals.local.grand_total 149 (USD); the base
    # totals are in USD, the warehouse's base currency, so used as sent: 149
    order = wh.order("123554")
    assert (order["currency"], order["subtotal"], order["total"]) == (
        "USD", Decimal("149"), Decimal("149"))  # fmt: skip
    assert order["subtotal_base"] == Decimal("149")


def test_a_push_api_partial_record_cancels_a_known_order(wh: Warehouse) -> None:
    # {"@type": "order", "id": "123551", "status": "cancelled", "is_valid": false} merged into
    # the Order example as 123551: the merged state is invalid, its net 0; the previous net
    # 83.33 → 0 is a decrease of 83.33 with status cancelled: a cancel of 83.33
    assert _ledger(wh, "123551") == [
        ("purchase", Decimal("83.33"), Decimal("83.33"), False),
        # no timestamp sent: its time is its arrival, flagged inferred
        ("cancel", Decimal("-83.33"), Decimal("0"), True),
    ]
    order = wh.order("123551")
    assert (order["status"], order["subtotal"], order["is_cancelled"]) == (
        "cancel", Decimal("0"), True)  # fmt: skip
    assert order["counts_for_lifecycle"] is False
    # the merge kept the fields the partial record did not send (total 96.4 → 0 as well)
    assert order["total"] == Decimal("0")
    cancel = wh.ledger("123551")[1]
    loaded_at = wh.value(
        "select loaded_at from audit.loads where file = 'ometria_orders/3_push_updates.json'"
    )
    assert cancel["ts"] == loaded_at


def test_a_partial_record_with_its_own_timestamp_is_dated_by_it(wh: Warehouse) -> None:
    # status "refunded", is_valid false, timestamp 2015-01-05T10:00:00+00: a refund of the
    # whole 83.33 on January 5 (Ometria: update the timestamp to report the refund then)
    assert _ledger(wh, "123552") == [
        ("purchase", Decimal("83.33"), Decimal("83.33"), False),
        ("refund", Decimal("-83.33"), Decimal("0"), False),
    ]
    assert wh.ledger("123552")[1]["ts"] == datetime(2015, 1, 5, 10, tzinfo=UTC)
    order = wh.order("123552")
    assert (order["refund_state"], order["is_cancelled"], order["counts_for_lifecycle"]) == (
        "full", False, True)  # fmt: skip


def test_a_partial_record_for_an_unknown_order_waits_for_the_full_order(wh: Warehouse) -> None:
    # the cancel for 123560 landed before its order: quarantined as unknown_order
    reasons = wh.value(
        "select list_transform(reasons, lambda r: split_part(r, ':', 1)) from audit.quarantine "
        "where file = 'ometria_orders/1_push_before_its_order.json'"
    )
    assert "unknown_order" in reasons
    # landed again after the full order (file 4): it loads and cancels 83.33
    loads = wh.query(
        "select file, records, accepted, quarantined, duplicates from audit.loads "
        "where source = 'ometria_orders' order by file"
    )
    assert loads == [
        ("ometria_orders/1_push_before_its_order.json", 1, 0, 1, 0),
        # 123570 (currency "POUNDS") and the partial record for it are quarantined
        ("ometria_orders/2_order_api_examples.json", 6, 5, 1, 0),
        ("ometria_orders/3_push_updates.json", 3, 2, 1, 0),
        ("ometria_orders/4_push_landed_again.json", 1, 1, 0, 0),
    ]
    assert _ledger(wh, "123560") == [
        ("purchase", Decimal("83.33"), Decimal("83.33"), False),
        ("cancel", Decimal("-83.33"), Decimal("0"), True),
    ]


def test_a_quarantined_full_order_does_not_make_its_order_known(wh: Warehouse) -> None:
    reasons = wh.value(
        "select list_transform(reasons, lambda r: split_part(r, ':', 1)) from audit.quarantine "
        "where file = 'ometria_orders/3_push_updates.json'"
    )
    assert reasons == ["unknown_order"]
    assert wh.query("select * from core.orders where order_id = '123570'") == []
