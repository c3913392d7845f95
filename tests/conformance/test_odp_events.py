"""ODP order events as the ODP Events API documents them (docs/semantics.md §1.1, §2, §3) and as
ODP's SDKs send them (``data.idempotence_id``). Examples and their pages: ``examples.py``;
expected numbers worked out from the vendor's text."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import Warehouse


def test_a_refund_subtracts_the_absolute_amount(wh: Warehouse) -> None:
    # "total and subtotal – The absolute amount specified is subtracted from the existing
    # value": subtotal 100 − 10 = 90, total 110 − 10 = 100; still above 0: a partial refund
    order = wh.order("ABC")
    assert (order["subtotal"], order["total"]) == (Decimal("90"), Decimal("100"))
    assert (order["refund_state"], order["counts_for_lifecycle"]) == ("partial", True)


def test_a_cancelled_order_leaves_the_lifecycle_a_refunded_one_stays(wh: Warehouse) -> None:
    # "the order no longer figures into determining the customer's lifecycle. This is in
    # contrast to returns and refunds": CXL (purchase 40, cancel with no amount: − 40 = 0)
    # is not counted, ABC (refunded) is; both belong to abc.buyer@example.com
    cancelled = wh.order("CXL")
    assert (cancelled["subtotal"], cancelled["is_cancelled"]) == (Decimal("0"), True)
    assert cancelled["counts_for_lifecycle"] is False
    customer = wh.dicts(
        "select * from core.customers where customer_id = ?", [cancelled["customer_id"]]
    )[0]
    # counted orders: ABC only; LTV = 90 + 0 = 90
    assert (customer["lifecycle_order_count"], customer["ltv"]) == (1, Decimal("90"))


def test_an_sdk_retry_with_the_same_idempotence_id_is_a_duplicate(wh: Warehouse) -> None:
    # the retry differs only in ts (+7 s); same data.idempotence_id: one event, subtotal 25
    assert [e["subtotal_delta"] for e in wh.ledger("SDK-1")] == [Decimal("25")]
    assert wh.order("SDK-1")["subtotal"] == Decimal("25")
    duplicates = wh.query(
        "select file, record_no, first_file, first_record_no, same_file from audit.duplicates "
        "where source = 'odp_events'"
    )
    assert duplicates == [(
        "odp_events/2_sdk_retry.ndjson", 1, "odp_events/1_orders_api_examples.ndjson", 5, False,
    )]  # fmt: skip
    assert wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'odp_events/2_sdk_retry.ndjson'"
    ) == [(1, 0, 0, 1)]
