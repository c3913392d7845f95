"""The bundled sample landing folder (``data/landing``): every source the pipeline reads,
deterministic, so ``orders-pipeline run`` on a fresh clone shows them working together.

- ``odp_events/``: the seeded generator's ODP events (90 days, with returns, refunds,
  cancels, custom actions, late arrivals, duplicates and bad records), plus the ODP refund
  example of the upstream documentation;
- ``products/``: a catalog of the generator's products (CSV) and a JSON update of a few;
- ``exchange_rates/``: daily EUR and GBP rates to USD over the sample's months;
- every other source's own sample (``orders_pipeline.samples.<source>.write_sample``),
  each with an order by ``shared.customer@example.com``, who is one customer across sources.

``python -m orders_pipeline.samples.bundle data/landing`` (``make sample``) rewrites it.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from orders_pipeline.generator import GeneratorConfig, generate, product_catalog

SHARED_EMAIL = "shared.customer@example.com"
# Sources with a sample module of their own, in landing-folder order.
SOURCE_SAMPLES = ("odp_csv", "odp_orders", "ometria_orders", "optimizely_xml")
FIRST_RATE_DAY = date(2026, 4, 1)
LAST_RATE_DAY = date(2026, 9, 30)
# Price bands of the catalog's `pricerange` attribute (the XML sample's product attributes
# are checked against it: P1001-P1003 cheap, P1004-P1007 mid, P1008-P1010 premium).
PRICE_RANGES = {**dict.fromkeys(range(1001, 1004), "cheap"),
                **dict.fromkeys(range(1004, 1008), "mid"),
                **dict.fromkeys(range(1008, 1011), "premium")}  # fmt: skip
CATEGORIES = ("kitchen", "garden", "apparel", "toys", "books")


def write_bundled_sample(landing: Path) -> list[Path]:
    """Rewrite every sample source folder under ``landing``; returns the files written."""
    written: list[Path] = []
    for folder in ("odp_events", "products", "exchange_rates", *SOURCE_SAMPLES):
        shutil.rmtree(landing / folder, ignore_errors=True)
    generate(landing / "odp_events", GeneratorConfig(line_items=2500, seed=42, days=90))
    written += sorted((landing / "odp_events").iterdir())
    written.append(_odp_examples(landing / "odp_events"))
    written += _catalog(landing / "products")
    written.append(_exchange_rates(landing / "exchange_rates"))
    for source in SOURCE_SAMPLES:
        module = importlib.import_module(f"orders_pipeline.samples.{source}")
        written += module.write_sample(landing)
    return written


def _odp_examples(folder: Path) -> Path:
    """The refund example of ODP's documentation ("-30 and 30 mean the same"), and an order
    by the customer who also shops through the other sources."""
    identifiers = {"email": SHARED_EMAIL, "phone": "+44 20 7946 0018"}
    events = [
        {"type": "order", "action": "purchase", "identifiers": identifiers,
         "data": {"ts": "2026-06-03T10:15:00Z", "order": {
             "order_id": "ODP-SHARED-1", "subtotal": 100, "total": 110, "tax": 8,
             "shipping": 2, "currency": "USD", "first_name": "Alex", "last_name": "Morgan",
             "items": [{"product_id": "P1002", "price": 50, "quantity": 2, "subtotal": 100}]}}},
        {"type": "order", "action": "refund", "identifiers": identifiers,
         "data": {"ts": "2026-06-09T16:40:00Z", "order": {
             "order_id": "ODP-SHARED-1", "subtotal": -30, "total": -30}}},
    ]  # fmt: skip
    path = folder / "odp_documentation_examples.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def _catalog(folder: Path) -> list[Path]:
    """Every generator product as a CSV catalog, and a JSON update renaming three of them
    (the latest arrival wins) and adding one."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "catalog_2026-05-31.csv"
    with catalog.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["product_id", "sku", "name", "category", "pricerange"])
        for product_id, cents in product_catalog():
            number = int(product_id[1:])
            band = PRICE_RANGES.get(number) or (
                "cheap" if cents < 2000 else "mid" if cents < 6000 else "premium"
            )
            writer.writerow([product_id, f"SKU-{number}", f"Product {number}",
                             CATEGORIES[number % len(CATEGORIES)], band])  # fmt: skip
    update = folder / "catalog_update_2026-06-15.json"
    renamed = [
        {"product_id": "P1001", "sku": "SKU-1001", "name": "Enamel mug",
         "category": "kitchen", "pricerange": "cheap"},
        {"product_id": "P1002", "sku": "SKU-1002", "name": "Espresso cup",
         "category": "kitchen", "pricerange": "cheap"},
        {"product_id": "P1003", "sku": "SKU-1003", "name": "Tea towel",
         "category": "kitchen", "pricerange": "cheap", "colour": "blue"},
        {"product_id": "SS14-059493", "sku": "SS14-059493-S5", "name": "Linen shirt",
         "category": "apparel"},
    ]  # fmt: skip
    update.write_text(json.dumps(renamed, indent=2) + "\n", encoding="utf-8")
    return [catalog, update]


def _exchange_rates(folder: Path) -> Path:
    """Daily EUR and GBP rates to USD (a gentle, deterministic drift); weekends absent, so
    an order placed on a Sunday converts at Friday's rate (the latest on or before)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rates_2026.csv"
    bases = {"EUR": Decimal("1.0850"), "GBP": Decimal("1.2700")}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "currency", "rate_to_base"])
        day, n = FIRST_RATE_DAY, 0
        while day <= LAST_RATE_DAY:
            if day.weekday() < 5:
                for currency, base in bases.items():
                    drift = Decimal((n * 37) % 41 - 20) / Decimal(10_000)
                    writer.writerow([day.isoformat(), currency, f"{base + drift:.6f}"])
                n += 1
            day += timedelta(days=1)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path, help="the landing folder to (re)write")
    args = parser.parse_args(argv)
    files = write_bundled_sample(args.landing)
    print(f"wrote {len(files)} files under {args.landing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
