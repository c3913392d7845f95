"""Sample ODP Orders-object updates (docs/semantics.md §1.3, §4.4) for ``<landing>/odp_orders/``.

Two files, byte-identical on every call, landed after the CSV history (``samples.odp_csv``):
- ``odp_orders_2026-06-a.json``: an array of updates: ``ODP-CSV-1001`` shipped to a new
  address; ``ODP-CSV-1002`` with a corrected total and status; ``OBJ-ONLY-1``, an order that
  has no events at all (it appears in the summary with ``created_by = 'object'``);
- ``odp_orders_2026-06-b.csv``: later updates as CSV: ``ODP-CSV-1002``'s total corrected
  again (the latest arrival wins), ``ODP-CSV-1003``'s billing address, and ``OBJ-ONLY-1``
  delivered. Empty cells carry nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = "odp_orders"
JSON_UPDATES: list[dict[str, Any]] = [
    {"order_id": "ODP-CSV-1001", "status": "shipped",
     "ship_address": "200 Harbor Way,,Boston,MA,02210,US"},
    {"order_id": "ODP-CSV-1002", "status": "shipped", "total": 66.1,
     "note": "price match applied"},
    {"order_id": "OBJ-ONLY-1", "status": "purchase", "subtotal": 48.0, "total": 52.5,
     "tax": 4.5, "currency": "USD", "email": "shared.customer@example.com",
     "first_name": "Alex", "last_name": "Morgan", "name": "Alex Morgan",
     "bill_address": "12 Rue Street,,Boston,MA,02110,US"},
]  # fmt: skip
CSV_UPDATES = (
    "order_id,status,total,bill_address,note\n"
    "ODP-CSV-1002,,65.10,,second price match\n"
    'ODP-CSV-1003,,,"8 Avenue Foch,,Paris,,75116,FR",\n'
    "OBJ-ONLY-1,delivered,,,\n"
)


def write_sample(landing_dir: Path) -> list[Path]:
    """Write the sample files under ``<landing_dir>/odp_orders/``; returns their paths."""
    folder = landing_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    updates = folder / "odp_orders_2026-06-a.json"
    updates.write_text(json.dumps(JSON_UPDATES, indent=2) + "\n", encoding="utf-8")
    later = folder / "odp_orders_2026-06-b.csv"
    later.write_text(CSV_UPDATES, encoding="utf-8")
    return [updates, later]
