"""Sample Optimizely offline-orders feed (docs/semantics.md §1.5) for ``<landing>/optimizely_xml/``.

Two files, both byte-identical on every call:
- ``offline_orders_2026-06-a.xml``: orders in USD and EUR in June 2026, written with the
  vendor's attribute names (``subTotal``, ``qty``) and date forms (``… GMT``, no seconds, a
  date alone, offsets) and one decimal comma (``88,00``), with and without ``<user>``, with
  and without ``subTotal`` (the ledger then sums qty × price), with
  order ``<attribute>``s and product ``<attribute key="pricerange">`` values, some matching
  the catalog (products ``P1001``–``P1010``: ``cheap`` 1001–1003, ``mid`` 1004–1007,
  ``premium`` 1008–1010) and some not (a wrong value, an attribute the catalog lacks, a
  product it does not have); one order by ``shared.customer@example.com``, who also appears
  in the other sources' samples;
- ``offline_orders_2026-06-b.xml``: a later delivery with one new order, one order re-sent
  unchanged (a duplicate, its attributes in another order) and one invalid order (quarantined).

``order_xml`` and ``feed_xml`` build the XML text and are reused by the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape as escape_text
from xml.sax.saxutils import quoteattr

FOLDER = "optimizely_xml"
SHARED_CUSTOMER = "shared.customer@example.com"
CATALOG_PRICE_RANGES = {
    **{f"P{n}": "cheap" for n in range(1001, 1004)},
    **{f"P{n}": "mid" for n in range(1004, 1008)},
    **{f"P{n}": "premium" for n in range(1008, 1011)},
}

Attributes = Sequence[tuple[str, str]]


def _xml_attributes(values: Mapping[str, str | None]) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in values.items() if v is not None)


def _attribute_elements(attributes: Attributes, indent: str) -> str:
    return "".join(
        f"{indent}<attribute key={quoteattr(key)}>{escape_text(value)}</attribute>\n"
        for key, value in attributes
    )


def product_xml(
    ref_code: str, quantity: str, price: str, attributes: Attributes = (), indent: str = "    "
) -> str:
    """One ``<product>`` element, with its ``<attribute>`` children."""
    # the vendor's attribute names (docs/semantics.md §1.5): qty, not quantity
    head = f"{indent}<product{_xml_attributes({'refCode': ref_code, 'qty': quantity})}"
    head += _xml_attributes({"price": price})
    if not attributes:
        return head + "/>\n"
    return head + ">\n" + _attribute_elements(attributes, indent + "  ") + f"{indent}</product>\n"


def order_xml(
    ref_code: str,
    order_date: str,
    currency: str,
    total: str,
    products: Iterable[tuple[str, str, str] | tuple[str, str, str, Attributes]],
    *,
    subtotal: str | None = None,
    shipping: str | None = None,
    email: str | None = None,
    attributes: Attributes = (),
) -> str:
    """One ``<order>`` element: ``products`` are (refCode, quantity, price[, attributes])."""
    values = {
        "refCode": ref_code,
        "orderDate": order_date,
        "currency": currency,
        "total": total,
        "subTotal": subtotal,
        "shipping": shipping,
    }
    body = f"    <user email={quoteattr(email)}/>\n" if email is not None else ""
    body += "".join(product_xml(*product) for product in products)
    body += _attribute_elements(attributes, "    ")
    return f"  <order{_xml_attributes(values)}>\n{body}  </order>\n"


def feed_xml(orders: Iterable[str]) -> str:
    """A whole feed document around ``orders`` (``order_xml`` texts)."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n' + "".join(orders) + "</orders>\n"


def _first_delivery() -> list[str]:
    return [
        order_xml(
            "OX-1001", "2026-06-02T09:15:00 GMT", "USD", "47.50",
            [("P1001", "2", "9.50", [("pricerange", "cheap")]),
             ("P1004", "1", "22.50", [("pricerange", "mid"), ("color", "blue")])],
            subtotal="41.50", shipping="6.00", email=SHARED_CUSTOMER,
            attributes=[("transaction", "debitcard"), ("store", "Berlin Mitte")],
        ),
        order_xml(
            "OX-1002", "2026-06-03T14:00:00+02:00", "EUR", "130.00",
            [("P1008", "1", "120.00", [("pricerange", "premium")])],
            subtotal="120.00", shipping="10.00", email="Anna.Berg@example.com",
            attributes=[("transaction", "creditcard")],
        ),
        # no <user>: an anonymous order; no subTotal: Σ qty × price = 36.00
        order_xml(
            "OX-1003", "2026-06-05T11:30:00Z", "USD", "40.00",
            [("P1002", "3", "7.00", [("pricerange", "premium")]),
             ("P1005", "1", "15.00", [("pricerange", "mid")])],
            shipping="4.00", attributes=[("transaction", "cash")],
        ),
        # a date alone is midnight UTC; a product the catalog does not have
        order_xml(
            "OX-1004", "2026-06-09", "EUR", "59.90",
            [("P1010", "1", "49.90", [("pricerange", "premium")]),
             ("P9999", "2", "5.00", [("pricerange", "cheap")])],
            email="li.wei@example.com",
        ),
        order_xml(
            "OX-1005", "2026-06-12T18:45:10-05:00", "USD", "27.00",
            [("P1003", "1", "12.00", [("pricerange", "cheap")]),
             ("P1006", "0.5", "30.00")],
            subtotal="27.00", email=SHARED_CUSTOMER, attributes=[("transaction", "giftcard")],
        ),
        order_xml(
            "OX-1006", "2026-06-20T08:00 GMT", "EUR", "88,00",
            [("P1007", "4", "22.00", [("pricerange", "cheap")])],
        ),
    ]  # fmt: skip


def _second_delivery() -> list[str]:
    resent = order_xml(
        "OX-1002", "2026-06-03T14:00:00+02:00", "EUR", "130.00",
        [("P1008", "1", "120.00", [("pricerange", "premium")])],
        subtotal="120.00", shipping="10.00", email="Anna.Berg@example.com",
        attributes=[("transaction", "creditcard")],
    ).replace(
        '<order refCode="OX-1002" orderDate="2026-06-03T14:00:00+02:00"',
        '<order orderDate="2026-06-03T14:00:00+02:00" refCode="OX-1002"',
    )  # fmt: skip
    return [
        order_xml(
            "OX-1007", "2026-06-25T16:20:00Z", "USD", "64.00",
            [("P1009", "2", "32.00", [("pricerange", "premium")])],
            subtotal="64.00", email="noah.k@example.com",
            attributes=[("transaction", "debitcard")],
        ),
        resent,
        # quarantined: a currency that is not an ISO 4217 code, and a price with 5 decimals
        order_xml(
            "OX-1008", "2026-06-26T10:00:00Z", "DOLLARS", "10.00",
            [("P1001", "1", "10.00001")], email="noah.k@example.com",
        ),
    ]  # fmt: skip


def write_sample(landing_dir: Path) -> list[Path]:
    """Write the sample feed under ``<landing_dir>/optimizely_xml/`` and return the files."""
    folder = landing_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, orders in (
        ("offline_orders_2026-06-a.xml", _first_delivery()),
        ("offline_orders_2026-06-b.xml", _second_delivery()),
    ):
        path = folder / name
        path.write_bytes(feed_xml(orders).encode("utf-8"))
        written.append(path)
    return written
