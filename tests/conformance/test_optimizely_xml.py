"""Optimizely offline / historical orders XML as the vendor publishes it (SEMANTICS §1.5).

The feeds below are the vendor's own examples, copied from its pages (each names its URL);
the only edits: the pages show every e-mail address as "[email protected]" (their address
obfuscation), replaced here by example addresses, and two examples that share
refCode="orderRef" on one page get distinct refCodes so they stay two orders. The expected
numbers are worked out from the vendor's text, the arithmetic written beside them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.conformance.support import folders, land, run
from tests.conftest import Warehouse

# https://docs.developers.optimizely.com/recommendations/docs/historical-online-orders
HISTORICAL_ONLINE_ORDERS = """<orders>
  <order refCode="order1"
         currency="GBP"
         subTotal="84.2"
         shipping="3.5"
         total="87.7"
         orderDate="2017-04-23T14:25 GMT">
    <user email="customer1@example.com"/>
    <product refCode="rc1" qty="1" price="5.7"/>
    <product refCode="rc2" qty="5" price="15.7"/>
  </order>
  <order refCode="order2"
         currency="EUR"
         subTotal="158,5"
         shipping="30.5"
         total="189"
         orderDate="2017-04-23T14:32 GMT">
    <user email="customer2@example.com"/>
    <product refCode="rc3" qty="2" price="25.7"/>
    <product refCode="rc4" qty="3" price="35.7"/>
  </order>
</orders>
"""

# https://docs.developers.optimizely.com/recommendations/docs/offline-orders
# ("a sample XML file showing only mandatory elements and attributes")
OFFLINE_ORDERS_MANDATORY = """<orders>
  <order refCode="orderRef"
         orderDate="2017-04-23T14:25:00 GMT"
         currency="GBP"
         total="100.0">
    <user email="buyer@example.com"></user>
    <product refCode="ref1" qty="1" price="50.0"></product>
    <product refCode="ref2" qty="2" price="20.0"></product>
  </order>
</orders>
"""

# https://docs.developers.optimizely.com/recommendations/docs/offline-orders
# ("a sample XML file showing all the possible elements and attributes"; refCode orderRef
# renamed orderRef-all, see the module docstring)
OFFLINE_ORDERS_ALL = """<orders>
  <order refCode="orderRef-all" orderDate="2017-04-23T14:25:00 GMT" currency="GBP" shipping="10.0" subTotal="90.0" total="100.0">
    <user email="buyer.all@example.com"></user>
    <product refCode="ref1" qty="1" price="50.0">
      <attribute key="attr11">value11</attribute>
    </product>
    <product refCode="ref2" qty="2" price="20.0">
      <attribute key="attr21">value21</attribute>
    </product>
    <attribute key="attr1">value1</attribute>
    <attribute key="attr2">value2</attribute>
  </order>
</orders>
"""  # noqa: E501 - the vendor's line, as published

# https://docs.developers.optimizely.com/recommendations/docs/offline-and-historical-orders
# The page's sample is a sketch ("..other fields..", "//List of products", an unclosed
# <orders>); completed here with the mandatory fields of the xml-elements page
# (https://docs.developers.optimizely.com/recommendations/docs/xml-elements).
CONFIGURED_COMMERCE = """<orders>
  <order refCode="someRefCode" orderDate="2017-04-23T14:25:00 GMT" currency="GBP"
         total="100.0" customerId="SomeCustomerId">
    <user email="someone@example.com"/>
    <product refCode="ref1" qty="2" price="50.0"/>
  </order>
</orders>
"""

# Every orderDate form SEMANTICS §1.5 reads, one order each; all are 14:25 UTC on
# 2017-04-23 except the date alone (midnight UTC).
DATE_FORMS = {
    "D-gmt-seconds": ("2017-04-23T14:25:00 GMT", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-gmt-minutes": ("2017-04-23T14:25 GMT", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-utc-word": ("2017-04-23T14:25:00 UTC", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-z": ("2017-04-23T14:25:00Z", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-offset": ("2017-04-23T16:25:00+02:00", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-offset-compact": ("2017-04-23T16:25+0200", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-no-zone": ("2017-04-23T14:25:00", datetime(2017, 4, 23, 14, 25, tzinfo=UTC)),
    "D-date-only": ("2017-04-23", datetime(2017, 4, 23, tzinfo=UTC)),
}


def _order(ref: str, *, order_attrs: str, products: str) -> str:
    return (
        f'  <order refCode="{ref}" currency="EUR" {order_attrs}>\n'
        f'    <user email="{ref.lower()}@example.com"/>\n{products}  </order>\n'
    )


def _date_forms() -> str:
    orders = "".join(
        _order(ref, order_attrs=f'total="10" orderDate="{sent}"',
               products='    <product refCode="p" qty="1" price="10"/>\n')
        for ref, (sent, _) in DATE_FORMS.items()
    )  # fmt: skip
    return f"<orders>\n{orders}</orders>\n"


# Amount forms: a decimal comma is read exactly; forms that need a guess are refused.
AMOUNT_FORMS = "<orders>\n" + "".join(
    _order(ref, order_attrs=f'orderDate="2017-04-23" {attrs}', products=products)
    for ref, attrs, products in (
        # price 25,70 is 25.70: 2 × 25.70 = 51.40; total 56,4 = 56.4
        ("A-comma-price", 'total="56,4"', '    <product refCode="p" qty="2" price="25,70"/>\n'),
        # the names this project read before stay as aliases: quantity and subtotal
        ("A-aliases", 'total="30" subtotal="24"',
         '    <product refCode="p" quantity="3" price="8"/>\n'),
        ("A-thousands", 'total="1,234.50"', '    <product refCode="p" qty="1" price="1"/>\n'),
        ("A-european", 'total="1.234,50"', '    <product refCode="p" qty="1" price="1"/>\n'),
        ("A-exponent", 'total="1e3"', '    <product refCode="p" qty="1" price="1"/>\n'),
        ("A-two-commas", 'total="1,234,567"', '    <product refCode="p" qty="1" price="1"/>\n'),
        ("A-currency-sign", 'total="$5"', '    <product refCode="p" qty="1" price="5"/>\n'),
        ("A-qty-thousands", 'total="5"', '    <product refCode="p" qty="1,000.5" price="5"/>\n'),
        ("A-conflict", 'total="5" subTotal="5" subtotal="4"',
         '    <product refCode="p" qty="1" price="5"/>\n'),
    )
) + "</orders>\n"  # fmt: skip


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    landing, warehouse = folders(tmp_path_factory, "optimizely_xml")
    land(landing, {
        "optimizely_xml/historical_online_orders.xml": HISTORICAL_ONLINE_ORDERS,
        "optimizely_xml/offline_orders_mandatory.xml": OFFLINE_ORDERS_MANDATORY,
        "optimizely_xml/offline_orders_all.xml": OFFLINE_ORDERS_ALL,
        "optimizely_xml/configured_commerce.xml": CONFIGURED_COMMERCE,
        "optimizely_xml/date_forms.xml": _date_forms(),
        "optimizely_xml/amount_forms.xml": AMOUNT_FORMS,
    })  # fmt: skip
    return run(landing, warehouse)


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
