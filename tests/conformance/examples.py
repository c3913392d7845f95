"""The vendors' own published examples, as the conformance suite lands them (one landing
folder, one pipeline run: ``conftest.py``). Each example names the page it is copied from.

Edits to the vendors' text, all listed here: the pages show every e-mail address as
"[email protected]" (their address obfuscation), replaced by example addresses; examples
that reuse one order id on a page get distinct ids, so they stay separate orders.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

# ---------------------------------------------------------------- Optimizely XML (§1.5)

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

# Every orderDate form docs/semantics.md §1.5 reads, one order each; all are 14:25 UTC on
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


# ---------------------------------------------------------------- Ometria (§1.4)

# https://support.ometria.com/hc/en-gb/articles/360011618678-Order-API ("Order" object
# example; the seed copy is /work/shared/seeds/ometria_order_api.txt)
OMETRIA_ORDER = {
    "@type": "order",
    "billing_address": {"city": "London", "country_code": "GB", "postcode": "W1K 4TG",
                        "state": "Greater London"},
    "channel": "online",
    "coupon_code": "FJ45-TJ5Y-5YK3-T894",
    "currency": "GBP",
    "customer": {"email": "john.smith@example.com", "firstname": "John", "lastname": "Smith"},
    "discount": -5,
    "grand_total": 96.4,
    "id": "123553",
    "ip_address": "127.0.0.1",
    "is_valid": True,
    "lineitems": [{
        "product_id": "SS14-059493",
        "properties": {"custom_key": "custom value"},
        "quantity": 2,
        "sku": "SS14-059493-S5",
        "total": 100,
        "unit_price": 50,
        "variant_options": [{"id": "large", "label": "Large", "type": "size"},
                            {"id": "color-45", "label": "Blue", "type": "color"}],
    }],
    "payment_method": "card",
    "properties": {"custom_key": "custom value"},
    "shipping": 2,
    "shipping_address": {"city": "London", "country_code": "GB", "postcode": "W1K 4TG",
                         "state": "Greater London"},
    "shipping_method": "standard",
    "status": "complete",
    "store": "example.com/en",
    "subtotal": 83.33,
    "tax": 16.07,
    "timestamp": "2015-01-02T09:00:00+00",
    "web_id": "891743",
}  # fmt: skip

# The same page's "OrderExtended" example (it reuses id 123553: here 123554).
OMETRIA_ORDER_EXTENDED = {
    **{k: v for k, v in OMETRIA_ORDER.items()
       if k not in ("currency", "discount", "grand_total", "shipping", "subtotal", "tax")},
    "id": "123554",
    "lineitems": [{
        "product_id": "SS14-059493",
        "properties": {"custom_key": "custom value"},
        "quantity": 2,
        "sku": "SS14-059493-S5",
        "totals": {
            "base": {"currency": "GBP", "discount": -4, "subtotal": 99, "tax": 0, "total": 95,
                     "unit_price": 99},
            "local": {"currency": "USD", "discount": -9, "subtotal": 129, "tax": 0,
                      "total": 120, "unit_price": 129},
        },
        "unit_price": 50,
        "variant_options": [{"id": "large", "label": "Large", "type": "size"},
                            {"id": "color-45", "label": "Blue", "type": "color"}],
    }],
    "totals": {
        "base": {"currency": "USD", "discount": -10, "grand_total": 149, "shipping": 10,
                 "tax": 20},
        "local": {"currency": "USD", "discount": -10, "grand_total": 149, "shipping": 10,
                  "tax": 20},
    },
}  # fmt: skip

# https://support.ometria.com/hc/en-gb/articles/360011617238-Push-API ("Updating existing
# records": "you can send a partial record and only the supplied fields will be merged into
# the existing record … sets an existing order as 'cancelled' and removes its revenue")
OMETRIA_PUSH_CANCEL = {"@type": "order", "id": "123551", "status": "cancelled", "is_valid": False}
# The order that push updates: the Order API example above as order 123551.
OMETRIA_ORDER_123551 = {**OMETRIA_ORDER, "id": "123551"}
# A partial record with its own timestamp: Ometria's "Full Refund" (Order API page: is_valid
# false, status refunded; "update the order timestamp" to report it on its own date), sent
# as a Push API partial record for order 123552.
OMETRIA_ORDER_123552 = {**OMETRIA_ORDER, "id": "123552"}
OMETRIA_PUSH_REFUND = {"@type": "order", "id": "123552", "status": "refunded",
                       "is_valid": False, "timestamp": "2015-01-05T10:00:00+00"}  # fmt: skip
# The Push API's cancel example for an order not loaded yet (123560): quarantined; the full
# order arrives in a later file, and the same partial record, landed again after it, loads.
OMETRIA_PUSH_CANCEL_UNKNOWN = {**OMETRIA_PUSH_CANCEL, "id": "123560"}
OMETRIA_ORDER_123560 = {**OMETRIA_ORDER, "id": "123560"}
# Not Ometria's: a full order that is itself quarantined (a currency that is no ISO code)
# does not make its order known to the partial record after it.
OMETRIA_ORDER_123570_INVALID = {**OMETRIA_ORDER, "id": "123570", "currency": "POUNDS"}
OMETRIA_PUSH_CANCEL_123570 = {**OMETRIA_PUSH_CANCEL, "id": "123570"}

# ---------------------------------------------------------------- ODP order events (§1.1)

# https://docs.developers.optimizely.com/optimizely-data-platform/reference/orders: the
# partial refund example ("total and subtotal – The absolute amount specified is subtracted
# from the existing value"; seed copy /work/shared/seeds/odp_order_event_api.txt). The
# purchase it refunds uses the fields of
# https://docs.developers.optimizely.com/optimizely-data-platform/docs/usecase-orders
# (the purchase's numbers are ours: the page shows only the refund)
ODP_PURCHASE_ABC = {
    "type": "order", "action": "purchase",
    "identifiers": {"email": "abc.buyer@example.com"},
    "data": {"ts": "2026-06-01T10:00:00Z",
             "order": {"order_id": "ABC", "total": 110, "subtotal": 100, "tax": 8,
                       "shipping": 2, "currency": "USD",
                       "items": [{"product_id": "P1", "price": 50, "quantity": 2,
                                  "subtotal": 100}]}},
}  # fmt: skip
ODP_REFUND_ABC = {
    "identifiers": {"email": "abc.buyer@example.com"},
    "type": "order",
    "action": "refund",
    "data": {"ts": "2026-06-03T10:00:00Z",
             "order": {"order_id": "ABC", "total": 10, "subtotal": 10}},
}  # fmt: skip
# Same page, "Order cancellation": the order "no longer figures into determining the
# customer's lifecycle", unlike returns and refunds.
ODP_PURCHASE_CXL = {
    **ODP_PURCHASE_ABC,
    "data": {"ts": "2026-06-02T10:00:00Z",
             "order": {"order_id": "CXL", "subtotal": 40, "total": 40, "currency": "USD"}},
}  # fmt: skip
ODP_CANCEL_CXL = {**ODP_PURCHASE_ABC, "action": "cancel",
                  "data": {"ts": "2026-06-04T10:00:00Z", "order": {"order_id": "CXL"}}}  # fmt: skip

# ODP's SDKs add data.idempotence_id (a fresh UUID per event, kept on every retry:
# optimizely/python-sdk optimizely/odp/odp_event.py, optimizely/javascript-sdk
# odp_event_manager.ts). The retry below changed only its ts.
IDEMPOTENCE_ID = "5c7e6c1e-3f7a-4d55-9a0e-2b1f4c8d9e10"
ODP_SDK_PURCHASE = {
    "type": "order", "action": "purchase",
    "identifiers": {"email": "sdk.buyer@example.com"},
    "data": {"idempotence_id": IDEMPOTENCE_ID, "data_source_type": "sdk",
             "data_source": "python-sdk", "ts": 1780300800,
             "order": {"order_id": "SDK-1", "subtotal": 25, "total": 25, "currency": "USD"}},
}  # fmt: skip
ODP_SDK_RETRY = {**ODP_SDK_PURCHASE, "data": {**ODP_SDK_PURCHASE["data"], "ts": 1780300807}}


def _ndjson(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# Files are taken in lexicographic order of their path (docs/semantics.md §3).
LANDING = {
    "optimizely_xml/historical_online_orders.xml": HISTORICAL_ONLINE_ORDERS,
    "optimizely_xml/offline_orders_mandatory.xml": OFFLINE_ORDERS_MANDATORY,
    "optimizely_xml/offline_orders_all.xml": OFFLINE_ORDERS_ALL,
    "optimizely_xml/configured_commerce.xml": CONFIGURED_COMMERCE,
    "optimizely_xml/date_forms.xml": _date_forms(),
    "optimizely_xml/amount_forms.xml": AMOUNT_FORMS,
    "ometria_orders/1_push_before_its_order.json": json.dumps([OMETRIA_PUSH_CANCEL_UNKNOWN]),
    "ometria_orders/2_order_api_examples.json": json.dumps(
        [OMETRIA_ORDER, OMETRIA_ORDER_EXTENDED, OMETRIA_ORDER_123551, OMETRIA_ORDER_123552,
         OMETRIA_ORDER_123560, OMETRIA_ORDER_123570_INVALID], indent=2),  # fmt: skip
    "ometria_orders/3_push_updates.json": json.dumps(
        [OMETRIA_PUSH_CANCEL, OMETRIA_PUSH_REFUND, OMETRIA_PUSH_CANCEL_123570]),
    # the quarantined partial record, landed again (a new file: other bytes)
    "ometria_orders/4_push_landed_again.json": json.dumps(OMETRIA_PUSH_CANCEL_UNKNOWN, indent=1),
    "odp_events/1_orders_api_examples.ndjson": _ndjson(
        ODP_PURCHASE_ABC, ODP_REFUND_ABC, ODP_PURCHASE_CXL, ODP_CANCEL_CXL, ODP_SDK_PURCHASE),
    "odp_events/2_sdk_retry.ndjson": _ndjson(ODP_SDK_RETRY),
}  # fmt: skip
