"""Sample ODP historical CSV import (docs/semantics.md §1.2) for ``<landing>/odp_csv/``, in the
vendor's documented ``zaius_orders`` layout: order-level fields unprefixed, line-item fields
prefixed ``item_``, identifier columns, no ``event_type``.

An export cut into two files, byte-identical on every call (``zaius_orders_2026-05_part1.csv``
and ``_part2.csv``; the cut falls inside order ``ODP-CSV-1002``'s purchase, whose last line
item is in the second file: it is still one event). Line items of orders placed over
May–June 2026 (catalog products ``P1001``–``P1010``): multi-item orders, some with the
order-level ``subtotal`` given and some summed from their items (one item's subtotal derived
from item_price × item_quantity − item_discount), a return, a partial refund and a cancel as
later events of their orders, an order in EUR, identifiers by email, phone and customer_id,
``ts`` in several of the documented forms, and two orders by ``shared.customer@example.com``
(Alex Morgan), who also appears in the other sources' samples. Orders
``ODP-CSV-1001``–``1003`` are overridden by the Orders-object sample (``samples.odp_orders``).
"""

from __future__ import annotations

import csv
from pathlib import Path

FOLDER = "odp_csv"
COLUMNS = [
    "email", "phone", "customer_id", "action", "order_id", "ts", "total", "subtotal", "tax",
    "shipping", "currency", "coupon_code", "bill_address", "ship_address", "first_name",
    "last_name", "item_product_id", "item_price", "item_quantity", "item_discount",
    "item_subtotal",
]  # fmt: skip
SHARED = {
    "email": "shared.customer@example.com",
    "first_name": "Alex",
    "last_name": "Morgan",
}
# Rows of the first file; the rest are in the second (a cut inside ODP-CSV-1002's purchase).
FIRST_FILE_ROWS = 5


def _ts(month: int, day: int, hour: int = 10) -> str:
    """A UTC time, written in one of the forms ODP's CSV import documents (a zone-less
    value is UTC): ``YYYY-MM-DD HH:MM:SS`` mostly, ``MM/DD/YYYY HH:MM`` in June."""
    if month == 6:
        return f"{month:02d}/{day:02d}/2026 {hour:02d}:00"
    return f"2026-{month:02d}-{day:02d} {hour:02d}:00:00"


def _item(product: int, price: str, quantity: int = 1, **more: str) -> dict[str, str]:
    """A line item; ``more`` names item fields without their ``item_`` prefix."""
    extra = {f"item_{key}": value for key, value in more.items()}
    return {"item_product_id": f"P{product}", "item_price": price,
            "item_quantity": str(quantity), **extra}  # fmt: skip


def _order(
    order_id: str,
    action: str,
    ts: str,
    items: list[dict[str, str]],
    **order: str,
) -> list[dict[str, str]]:
    """The rows of one order event: one per item (or one order-level row without items),
    order-level values repeated on each row, as spreadsheet exports do."""
    event = {"action": action, "ts": ts, "order_id": order_id}
    return [{**event, **order, **item} for item in (items or [{}])]


def rows() -> list[dict[str, str]]:
    """Every row of the sample, in file order."""
    usd = {"currency": "USD"}
    out: list[dict[str, str]] = []
    # Alex Morgan, two items, subtotal summed from the items; one item returned later
    out += _order("ODP-CSV-1001", "purchase", _ts(5, 3), [
        _item(1001, "25.00", 1, subtotal="25.00"), _item(1004, "40.00", 2, subtotal="80.00"),
    ], **SHARED, **usd, tax="8.40", shipping="5.00",
       bill_address="12 Rue Street,,Boston,MA,02110,US")  # fmt: skip
    out += _order("ODP-CSV-1001", "return", _ts(5, 10), [_item(1001, "25.00", 1)],
                  **SHARED, **usd, subtotal="25.00")  # fmt: skip
    # three items, the order-level subtotal given (after a coupon), one derived item
    out += _order("ODP-CSV-1002", "purchase", _ts(5, 5, 14), [
        _item(1002, "15.00", 2, subtotal="30.00"), _item(1005, "20.00", 1, subtotal="20.00"),
        _item(1008, "12.50", 2, discount="5.00"),
    ], email="jordan.lee@example.com", phone="+1 617 555 0101", **usd, subtotal="60.00",
       total="68.10", tax="4.80", shipping="3.30",
       coupon_code="SPRING10")  # fmt: skip
    # an order in EUR
    out += _order("ODP-CSV-1003", "purchase", _ts(5, 8, 9), [
        _item(1003, "18.00", 1, subtotal="18.00"), _item(1006, "22.00", 1, subtotal="22.00"),
    ], email="marie.dupont@example.com", currency="EUR",
       ship_address="3 Rue de Rivoli,,Paris,,75001,FR")  # fmt: skip
    # a partial refund of an amount (an order-level row: no item)
    out += _order("ODP-CSV-1004", "purchase", _ts(5, 12), [
        _item(1007, "55.00", 1, subtotal="55.00"), _item(1009, "9.00", 3, subtotal="27.00"),
    ], customer_id="CUST-2001", email="sam.taylor@example.com", **usd)  # fmt: skip
    out += _order("ODP-CSV-1004", "refund", _ts(5, 20), [], customer_id="CUST-2001", **usd,
                  subtotal="10.00")  # fmt: skip
    # cancelled the next day, no amount: cancels the rest
    out += _order("ODP-CSV-1005", "purchase", _ts(5, 15, 16), [
        _item(1010, "30.00", 1, subtotal="30.00"),
    ], phone="+44 20 7946 0102", **usd)  # fmt: skip
    out += _order("ODP-CSV-1005", "cancel", _ts(5, 16, 8), [], phone="+44 20 7946 0102")
    # Alex Morgan again, in June
    out += _order("ODP-CSV-1006", "purchase", _ts(6, 2), [
        _item(1004, "40.00", 1, subtotal="40.00"), _item(1002, "15.00", 1, subtotal="15.00"),
    ], **SHARED, **usd, subtotal="55.00")  # fmt: skip
    # single- and two-item orders of other customers through June
    simple = [
        ("ODP-CSV-1007", 6, 4, "robin.hall@example.com", [(1001, "25.00", 2)]),
        ("ODP-CSV-1008", 6, 9, "casey.wong@example.com", [(1003, "18.00", 1), (1010, "30.00", 1)]),
        ("ODP-CSV-1009", 6, 14, "robin.hall@example.com", [(1009, "9.00", 4)]),
        ("ODP-CSV-1010", 6, 18, "drew.patel@example.com", [(1006, "22.00", 1), (1007, "55.00", 1)]),
        ("ODP-CSV-1011", 6, 23, "casey.wong@example.com", [(1005, "20.00", 2)]),
        ("ODP-CSV-1012", 6, 27, "kim.nguyen@example.com", [(1008, "12.50", 1), (1002, "15.00", 2)]),
    ]  # fmt: skip
    for order_id, month, day, email, lines in simple:
        items = [_item(p, price, q) for p, price, q in lines]  # subtotals derived
        out += _order(order_id, "purchase", _ts(month, day, 11), items, email=email, **usd)
    return out


def write_sample(landing_dir: Path) -> list[Path]:
    """Write the sample export, cut in two files, under ``<landing_dir>/odp_csv/``; returns
    their paths."""
    folder = landing_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    every_row = rows()
    parts = (every_row[:FIRST_FILE_ROWS], every_row[FIRST_FILE_ROWS:])
    paths = []
    for number, part in enumerate(parts, start=1):
        path = folder / f"zaius_orders_2026-05_part{number}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    return paths
