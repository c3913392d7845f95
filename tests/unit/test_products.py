"""The product catalog (issue 3): ``products/`` CSV or JSON → ``core.products``; order items
link to it; items whose product the catalog lacks are kept and counted by an asset check (ODP
purchases create no product, an Ometria line with an unknown product_id does, an unknown sku
does not); Optimizely XML product attributes are kept only when the catalog confirms them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=25)  # scheduled first (tests/conftest.py)

CATALOG_CSV = """product_id,sku,name,pricerange,colour
P1,S1,Mug,cheap,blue
P2,S2,"Cup, large",mid,
"""
UNKNOWN_PRODUCTS = "core/products:items_have_a_known_product"


def write(landing: Path, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_csv_catalog_loads_every_column_as_text(landing, run_landing):
    write(landing, "products/catalog.csv", CATALOG_CSV)
    wh = run_landing(landing)
    products = wh.dicts("select * from core.products order by product_id")
    rows = [(p["product_id"], p["sku"], p["name"], json.loads(p["attributes"])) for p in products]
    assert rows == [
        ("P1", "S1", "Mug", {"pricerange": "cheap", "colour": "blue"}),
        ("P2", "S2", "Cup, large", {"pricerange": "mid", "colour": ""}),
    ]  # fmt: skip
    assert {p["created_by"] for p in products} == {"catalog"}


def test_a_later_record_of_a_product_replaces_the_earlier_one(landing, run_landing):
    write(landing, "products/a_catalog.csv", CATALOG_CSV)
    write(
        landing,
        "products/b_update.json",
        json.dumps({"product_id": "P1", "name": "Big mug", "weight_g": 350}),
    )
    wh = run_landing(landing)
    p1 = wh.dicts("select * from core.products where product_id = 'P1'")[0]
    assert (p1["name"], p1["sku"], json.loads(p1["attributes"])) == (
        "Big mug",
        None,
        {"weight_g": "350"},
    )


def test_bad_catalog_records_are_quarantined(landing, run_landing):
    records = [
        {"product_id": "P1", "name": "ok"},
        {"sku": "S9"},  # no product_id
        {"product_id": "P3", "tags": ["a", "b"]},  # an attribute must be a scalar
        {"product_id": "", "name": "x"},
        "[1, 2]",
    ]
    write_ndjson(landing / "products" / "c.ndjson", records)
    wh = run_landing(landing)
    codes = wh.query("select record_no, reasons from audit.quarantine order by record_no")
    assert [(n, [r.split(":")[0] for r in reasons]) for n, reasons in codes] == [
        (2, ["missing_product_id"]),
        (3, ["invalid_attribute"]),
        (4, ["missing_product_id"]),
        (5, ["not_an_object"]),
    ]
    assert wh.value("select count(*) from core.products") == 1


def test_items_whose_product_is_not_in_the_catalog_are_kept_and_counted(landing, run_landing):
    write(landing, "products/catalog.csv", CATALOG_CSV)
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [
            odp_event("purchase", "A1", 1_780_300_000, items=[
                {"product_id": "P1", "price": 5, "quantity": 1},
                {"product_id": "P404", "price": 7, "quantity": 1}]),
        ],
    )  # fmt: skip
    wh = run_landing(landing)
    assert wh.value("select count(*) from core.order_items where order_id = 'A1'") == 2
    assert UNKNOWN_PRODUCTS in wh.summary.warned_checks
    # ODP purchases never create products
    assert wh.value("select count(*) from core.products where product_id = 'P404'") == 0


def test_ometria_lines_create_products_by_product_id_but_not_by_sku(landing, run_landing):
    write(landing, "products/catalog.csv", CATALOG_CSV)
    snapshot = {
        "@type": "order", "id": "OM-1", "timestamp": "2026-06-03T09:00:00+00:00",
        "currency": "USD", "grand_total": 30, "subtotal": 30,
        "customer": {"email": "om@example.com"},
        "lineitems": [
            {"product_id": "NEW-1", "sku": "NEW-1-S", "quantity": 1, "unit_price": 10,
             "subtotal": 10, "variant_options": [{"id": "l", "label": "Large", "type": "size"}]},
            {"sku": "S2", "quantity": 1, "unit_price": 10, "subtotal": 10},  # catalog sku
            {"sku": "GHOST", "quantity": 1, "unit_price": 10, "subtotal": 10},
        ],
    }  # fmt: skip
    write(landing, "ometria_orders/o.json", json.dumps(snapshot))
    wh = run_landing(landing)
    created = wh.dicts("select * from core.products where created_by = 'ometria_orders'")
    assert [(p["product_id"], p["sku"]) for p in created] == [("NEW-1", "NEW-1-S")]
    unknown = wh.query(
        """select i.sku from core.order_items as i
           where not exists (select 1 from core.products as p where p.product_id = i.product_id)
             and not exists (select 1 from core.products as p
                             where i.product_id is null and p.sku = i.sku)"""
    )
    assert unknown == [("GHOST",)]


XML_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<orders>
  <order refCode="X1" orderDate="2026-06-03T10:00:00Z" currency="USD" total="60">
    <user email="x@example.com"/>
    <product refCode="P1" quantity="1" price="10">
      <attribute key="pricerange">cheap</attribute>
      <attribute key="colour">red</attribute>
      <attribute key="size">L</attribute>
    </product>
    <product refCode="P404" quantity="1" price="50">
      <attribute key="pricerange">mid</attribute>
    </product>
  </order>
</orders>
"""


def test_xml_product_attributes_are_kept_only_when_the_catalog_confirms_them(landing, run_landing):
    write(landing, "products/catalog.csv", CATALOG_CSV)
    write(landing, "optimizely_xml/feed.xml", XML_FEED)
    wh = run_landing(landing)
    kept = wh.query(
        "select product_id, attribute_key, attribute_value from core.order_item_attributes"
    )
    assert kept == [("P1", "pricerange", "cheap")]
    dropped = wh.query(
        """select product_id, attribute_key, dropped_because from audit.dropped_item_attributes
           order by product_id, attribute_key"""
    )
    assert dropped == [
        ("P1", "colour", "value_differs"),
        ("P1", "size", "attribute_not_in_catalog"),
        ("P404", "pricerange", "unknown_product"),
    ]
