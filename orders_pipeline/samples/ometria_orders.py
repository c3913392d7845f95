"""Sample Ometria order snapshots (docs/semantics.md §1.4, §6) for ``<landing>/ometria_orders/``.

Three files, byte-identical on every call:
- ``ometria_api_examples.json``: the Order and OrderExtended examples of Ometria's Order API
  document (order ``123553``, and the OrderExtended as ``123554`` since the document reuses
  the id), dated June 2026 instead of 2015 but keeping the document's hour-only ``+00``
  offset;
- ``ometria_orders_2026-06-a.ndjson``: GBP and EUR orders (Order and OrderExtended, some
  with ``totals.base`` in USD); the snapshot series of ``OM-1001`` (purchase, a refund by
  quantity, a second refund, a full refund by ``is_valid: false``); ``OM-1002`` cancelled;
  ``OM-1003`` partly returned; ``OM-1004`` grown by a later snapshot; a name-only anonymous
  order; an order by ``shared.customer@example.com`` (Alex Morgan), who also appears in the
  other sources' samples; lines keyed by catalog product ids (``P1001``...), by product ids
  Ometria creates (``OM-P...``) and by sku only;
- ``ometria_orders_2026-06-b.ndjson``: a later delivery: one snapshot re-sent unchanged
  (a duplicate), a re-validation of ``OM-1001``, and a record without ``grand_total``
  for an order never loaded (a partial record of an unknown order, quarantined:
  ``missing_amount``, ``unknown_order``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = "ometria_orders"
SHARED_CUSTOMER = {
    "email": "shared.customer@example.com",
    "firstname": "Alex",
    "lastname": "Morgan",
}
ADDRESS = {"city": "London", "country_code": "GB", "postcode": "W1K 4TG", "state": "Greater London"}
VARIANTS = [
    {"id": "large", "label": "Large", "type": "size"},
    {"id": "color-45", "label": "Blue", "type": "color"},
]


def _timestamp(day: int, hour: int = 10) -> str:
    return f"2026-06-{day:02d}T{hour:02d}:00:00+00:00"


def api_examples() -> list[dict[str, Any]]:
    """The Order and OrderExtended examples of the Order API document (June 2026)."""
    order = {
        "@type": "order",
        "billing_address": dict(ADDRESS),
        "channel": "online",
        "coupon_code": "FJ45-TJ5Y-5YK3-T894",
        "currency": "GBP",
        "customer": {"email": "john.smith@example.com", "firstname": "John", "lastname": "Smith"},
        "discount": -5,
        "grand_total": 96.4,
        "id": "123553",
        "ip_address": "127.0.0.1",
        "is_valid": True,
        "lineitems": [
            {
                "product_id": "SS14-059493",
                "properties": {"custom_key": "custom value"},
                "quantity": 2,
                "sku": "SS14-059493-S5",
                "total": 100,
                "unit_price": 50,
                "variant_options": VARIANTS,
            }
        ],
        "payment_method": "card",
        "properties": {"custom_key": "custom value"},
        "shipping": 2,
        "shipping_address": dict(ADDRESS),
        "shipping_method": "standard",
        "status": "complete",
        "store": "example.com/en",
        "subtotal": 83.33,
        "tax": 16.07,
        "timestamp": "2026-06-02T09:00:00+00",
        "web_id": "891743",
    }
    totals = {"currency": "USD", "discount": -10, "grand_total": 149, "shipping": 10, "tax": 20}
    extended = {
        key: value
        for key, value in order.items()
        if key not in ("currency", "discount", "grand_total", "shipping", "subtotal", "tax")
    }
    extended.update(
        id="123554",
        lineitems=[
            {
                "product_id": "SS14-059493",
                "properties": {"custom_key": "custom value"},
                "quantity": 2,
                "sku": "SS14-059493-S5",
                "totals": {
                    "base": {
                        "currency": "GBP",
                        "discount": -4,
                        "subtotal": 99,
                        "tax": 0,
                        "total": 95,
                        "unit_price": 99,
                    },
                    "local": {
                        "currency": "USD",
                        "discount": -9,
                        "subtotal": 129,
                        "tax": 0,
                        "total": 120,
                        "unit_price": 129,
                    },
                },  # fmt: skip
                "unit_price": 50,
                "variant_options": VARIANTS,
            }
        ],
        totals={"base": dict(totals), "local": dict(totals)},
    )
    return [order, extended]


def _line(product: str | None, quantity: int, price: float, **fields: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"quantity": quantity, "unit_price": price}
    if product is not None:
        line["product_id"] = product
    line["subtotal"] = round(quantity * price, 2)
    line.update(fields)
    return line


def _order(
    order_id: str,
    day: int,
    lines: list[dict[str, Any]],
    *,
    currency: str = "GBP",
    shipping: float = 4.5,
    customer: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An Ometria Order: subtotal = Σ line subtotals, grand total = subtotal + shipping."""
    subtotal = round(sum(line["subtotal"] for line in lines), 2)
    record: dict[str, Any] = {
        "@type": "order",
        "id": order_id,
        "timestamp": _timestamp(day),
        "currency": currency,
        "subtotal": subtotal,
        "shipping": shipping,
        "grand_total": round(subtotal + shipping, 2),
        "status": "complete",
        "is_valid": True,
        "customer": customer or {"email": f"{order_id.lower()}@example.com"},
        "channel": "online",
        "store": "example.com/uk",
        "shipping_address": dict(ADDRESS),
        "billing_address": dict(ADDRESS),
        "lineitems": lines,
    }
    record.update(fields)
    return record


def _extended(
    order_id: str,
    day: int,
    lines: list[dict[str, Any]],
    *,
    currency: str,
    rate_to_usd: float | None,
    customer: dict[str, Any],
) -> dict[str, Any]:
    """An OrderExtended in ``currency``; with ``totals.base`` in USD when a rate is given."""
    subtotal = round(sum(line["subtotal"] for line in lines), 2)
    local = {"currency": currency, "subtotal": subtotal, "shipping": 5,
             "grand_total": round(subtotal + 5, 2)}  # fmt: skip
    totals: dict[str, Any] = {"local": local}
    if rate_to_usd is not None:
        totals["base"] = {
            "currency": "USD",
            "subtotal": round(subtotal * rate_to_usd, 2),
            "shipping": round(5 * rate_to_usd, 2),
            "grand_total": round((subtotal + 5) * rate_to_usd, 2),
        }
    return {
        "@type": "order",
        "id": order_id,
        "timestamp": _timestamp(day),
        "status": "complete",
        "customer": customer,
        "totals": totals,
        "lineitems": lines,
    }


def first_delivery() -> list[dict[str, Any]]:
    """``ometria_orders_2026-06-a.ndjson``: orders and snapshot series of June 2026."""
    bought = _order("OM-1001", 3, [_line("P1001", 2, 12.5), _line("P1004", 1, 40)],
                    customer={"id": "OMC-1", "email": "olivia.price@example.com",
                              "firstname": "Olivia", "lastname": "Price"})  # fmt: skip
    one_back = _order("OM-1001", 6, [_line("P1001", 1, 12.5, quantity_refunded=1, refunded=12.5),
                                     _line("P1004", 1, 40)],
                      customer=bought["customer"])  # fmt: skip
    both_back = _order("OM-1001", 9, [_line("P1001", 1, 12.5, quantity_refunded=1, refunded=12.5),
                                      _line("P1004", 0, 40, quantity_refunded=1, refunded=40)],
                       customer=bought["customer"])  # fmt: skip
    all_back = {**both_back, "timestamp": _timestamp(12), "is_valid": False, "status": "refunded"}
    cancelled_lines = [_line("P1008", 1, 120, variant_options=VARIANTS)]
    cancel_first = _order("OM-1002", 4, cancelled_lines, currency="EUR")
    cancelled = {**cancel_first, "timestamp": _timestamp(5), "status": "cancelled",
                 "is_valid": False}  # fmt: skip
    returned_before = _order("OM-1003", 7, [_line("OM-P-TEE", 3, 15, sku="OM-P-TEE-M")])
    returned = _order("OM-1003", 15, [_line("OM-P-TEE", 2, 15, sku="OM-P-TEE-M",
                                            quantity_refunded=1, refunded=15)],
                      status="returned")  # fmt: skip
    grown_before = _order("OM-1004", 8, [_line("P1002", 1, 9.99)], currency="EUR")
    grown = _order("OM-1004", 10, [_line("P1002", 2, 9.99), _line(None, 1, 5, sku="GIFTWRAP")],
                   currency="EUR")  # fmt: skip
    return [
        bought,
        cancel_first,
        _order("OM-1005", 4, [_line("P1005", 2, 22)], discount=-4, coupon_code="SUMMER26"),
        one_back,
        cancelled,
        returned_before,
        _extended("OM-1006", 11, [_line("P1009", 1, 89)], currency="EUR", rate_to_usd=1.08,
                  customer={"id": "OMC-6", "email": "lukas.weber@example.com"}),
        grown_before,
        both_back,
        grown,
        _extended("OM-1007", 13, [_line("OM-P-MUG", 2, 8, name="Ceramic mug")], currency="GBP",
                  rate_to_usd=1.27, customer={"email": "priya.shah@example.com"}),
        _extended("OM-1008", 14, [_line("P1003", 1, 15)], currency="GBP", rate_to_usd=None,
                  customer={"id": "OMC-8"}),
        # in-store, customer not identified: name only, an anonymous order (§5)
        _order("OM-1009", 16, [_line("P1006", 1, 30)], channel="instore",
               customer={"firstname": "Sam", "lastname": "Walker"}),
        all_back,
        _order("OM-1010", 18, [_line("P1007", 1, 55), _line("P1010", 1, 140)],
               customer=dict(SHARED_CUSTOMER), currency="EUR"),
        returned,
    ]  # fmt: skip


def second_delivery() -> list[dict[str, Any] | str]:
    """``ometria_orders_2026-06-b.ndjson``: a re-send, a re-validation, a bad record."""
    first = first_delivery()
    resent = json.dumps(dict(sorted(first[2].items())))  # OM-1005 again, keys reordered
    all_back = first[13]
    revalidated = {**all_back, "timestamp": _timestamp(20), "is_valid": True,
                   "status": "complete"}  # fmt: skip
    no_amount = _order("OM-1011", 21, [_line("P1001", 1, 12.5)])
    del no_amount["grand_total"]
    return [resent, revalidated, no_amount]


def _write_ndjson(path: Path, records: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_sample(landing_dir: Path) -> list[Path]:
    """Write the sample files under ``<landing_dir>/ometria_orders/``; returns their paths."""
    folder = landing_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    examples = folder / "ometria_api_examples.json"
    examples.write_text(json.dumps(api_examples(), indent=2) + "\n", encoding="utf-8")
    return [
        examples,
        _write_ndjson(folder / "ometria_orders_2026-06-a.ndjson", list(first_delivery())),
        _write_ndjson(folder / "ometria_orders_2026-06-b.ndjson", second_delivery()),
    ]
