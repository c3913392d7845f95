"""Optimizely offline / historical orders XML as the vendor publishes it (docs/semantics.md §1.5).

The feeds are the vendor's own examples (``examples.py``, each with its URL); the expected
numbers are worked out from the vendor's text, the arithmetic written beside them. One
warehouse for the whole conformance suite (``conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.conformance.examples import DATE_FORMS
from tests.conftest import Warehouse


def _amounts(wh: Warehouse, order_id: str) -> tuple[Decimal, Decimal, Decimal | None]:
    order = wh.order(order_id)
    return order["subtotal"], order["total"], order["shipping"]


def _reasons(wh: Warehouse, file: str) -> dict[str, list[str]]:
    """refCode → reason codes of the quarantined orders of one file."""
    rows = wh.query(
        """select regexp_extract(raw, 'refCode="([^"]*)"', 1),
                  list_sort(list_transform(reasons, lambda r: split_part(r, ':', 1)))
           from audit.quarantine where file = ?""",
        [f"optimizely_xml/{file}"],
    )
    return {ref: codes for ref, codes in rows}


def test_historical_online_orders_load_with_the_vendors_numbers(wh: Warehouse) -> None:
    # order1: subTotal 84.2 = 1 × 5.7 + 5 × 15.7 = 5.7 + 78.5; total 87.7 = 84.2 + 3.5
    assert _amounts(wh, "order1") == (Decimal("84.2"), Decimal("87.7"), Decimal("3.5"))
    # order2: subTotal "158,5" is 158.5 = 2 × 25.7 + 3 × 35.7 = 51.4 + 107.1;
    # total 189 = 158.5 + 30.5
    assert _amounts(wh, "order2") == (Decimal("158.5"), Decimal("189"), Decimal("30.5"))
    assert wh.order("order2")["currency"] == "EUR"
    # "2017-04-23T14:25 GMT" / "…14:32 GMT": no seconds, GMT
    assert wh.order("order1")["placed_at"] == datetime(2017, 4, 23, 14, 25, tzinfo=UTC)
    assert wh.order("order2")["placed_at"] == datetime(2017, 4, 23, 14, 32, tzinfo=UTC)
    items = wh.query(
        "select product_id, quantity, price, subtotal from core.order_items "
        "where order_id = 'order2' order by product_id"
    )
    # qty × price per line: 2 × 25.7 = 51.4, 3 × 35.7 = 107.1
    assert items == [
        ("rc3", Decimal("2"), Decimal("25.7"), Decimal("51.4")),
        ("rc4", Decimal("3"), Decimal("35.7"), Decimal("107.1")),
    ]
    loads = wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'optimizely_xml/historical_online_orders.xml'"
    )
    assert loads == [(2, 2, 0, 0)]


def test_offline_orders_mandatory_and_all_attributes(wh: Warehouse) -> None:
    # mandatory only: no subTotal, so subtotal = Σ qty × price = 1 × 50.0 + 2 × 20.0 = 90;
    # total 100.0 as sent; no shipping
    assert _amounts(wh, "orderRef") == (Decimal("90"), Decimal("100"), None)
    assert wh.order("orderRef")["placed_at"] == datetime(2017, 4, 23, 14, 25, tzinfo=UTC)
    # all attributes: subTotal 90.0, shipping 10.0, total 100.0 = 90.0 + 10.0
    assert _amounts(wh, "orderRef-all") == (Decimal("90"), Decimal("100"), Decimal("10"))
    custom = wh.value(
        "select custom::varchar from core.order_items where order_id = 'orderRef-all' "
        "and product_id = 'ref1'"
    )
    assert '"attr1":"value1"' in custom.replace(" ", "")


def test_customer_id_is_an_identifier(wh: Warehouse) -> None:
    # "Optimizely Configured Commerce uses customerId for offline and historical orders"
    order = wh.order("someRefCode")
    assert order["customer_id"] is not None
    identifiers = wh.query(
        "select identifier_type, identifier_value from core.customer_identifiers "
        "where customer_id = ? order by 1",
        [order["customer_id"]],
    )
    assert identifiers == [("customer_id", "SomeCustomerId"), ("email", "someone@example.com")]
    # 2 × 50.0 = 100
    assert order["subtotal"] == Decimal("100")


@pytest.mark.parametrize("ref", list(DATE_FORMS))
def test_every_documented_order_date_form(wh: Warehouse, ref: str) -> None:
    assert wh.order(ref)["placed_at"] == DATE_FORMS[ref][1]


def test_a_decimal_comma_is_read_exactly_and_aliases_still_load(wh: Warehouse) -> None:
    # 2 × 25,70 = 51.40; total 56,4 = 56.4
    assert _amounts(wh, "A-comma-price")[:2] == (Decimal("51.4"), Decimal("56.4"))
    # quantity="3" and subtotal="24" (aliases): subtotal as sent 24, total 30
    assert _amounts(wh, "A-aliases")[:2] == (Decimal("24"), Decimal("30"))
    assert wh.value(
        "select quantity from core.order_items where order_id = 'A-aliases'"
    ) == Decimal("3")


def test_ambiguous_amounts_are_quarantined_with_a_reason_that_says_so(wh: Warehouse) -> None:
    reasons = _reasons(wh, "amount_forms.xml")
    assert reasons == {
        "A-thousands": ["ambiguous_number"],
        "A-european": ["ambiguous_number"],
        "A-exponent": ["ambiguous_number"],
        "A-two-commas": ["ambiguous_number"],
        "A-qty-thousands": ["ambiguous_number"],
        "A-currency-sign": ["invalid_amount"],
        "A-conflict": ["conflicting_values"],
    }
    message = wh.value("select reasons[1] from audit.quarantine where raw like '%A-thousands%'")
    assert "ambiguous" in message and "thousands separators" in message
    assert (
        wh.value(
            "select count(*) from core.orders where order_id in "
            "('A-thousands', 'A-european', 'A-exponent', 'A-two-commas', 'A-currency-sign')"
        )
        == 0
    )
