"""The Optimizely offline-orders XML feed (docs/semantics.md §1.5): each <order> is one purchase
event.

Feeds are built from the element list of the feed's documentation: <orders>, <order refCode
orderDate currency total subtotal shipping>, <user email>, <product refCode quantity price>
with <attribute key> children, and order-level <attribute key>.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from orders_pipeline.samples import optimizely_xml as sample
from orders_pipeline.samples.optimizely_xml import feed_xml, order_xml
from tests.conftest import Warehouse, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=20)  # scheduled first (tests/conftest.py)

FULL_ORDER = order_xml(
    "ORD-1", "2026-06-01T10:30:00+02:00", "EUR", "61.50",
    [("P1001", "2", "12.25", [("pricerange", "cheap"), ("size", " XL ")]),
     ("P1005", "1.5", "20.00")],
    subtotal="54.50", shipping="7.00", email="  Ada@Example.com ",
    attributes=[("transaction", "debitcard"), ("store", "Köln & Süd")],
)  # fmt: skip


def write_feed(landing: Path, name: str, orders: list[str]) -> Path:
    path = landing / "optimizely_xml" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feed_xml(orders), encoding="utf-8")
    return path


def good_order(ref: str, day: int = 1, **kwargs) -> str:
    return order_xml(ref, f"2026-06-{day:02d}T12:00:00Z", "USD", "10.00",
                     [("P1001", "1", "10.00")], **kwargs)  # fmt: skip


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> Warehouse:
    """One run over the feeds of every test that reads its own orders (ids, emails and file
    names of its own), instead of one run per test."""
    folder = tmp_path_factory.mktemp("optimizely")
    landing = folder / "landing"
    write_feed(landing, "full.xml", [FULL_ORDER])
    write_feed(landing, "nosub.xml", [order_xml(
        "NOSUB", "2026-06-03T09:00:00Z", "USD", "33.10",
        [("P1", "3", "4.20"), ("P2", "0.25", "50.00")], shipping="5.00")])  # fmt: skip
    write_feed(landing, "anon.xml", [good_order("ANON")])
    write_feed(landing, "attr.xml", [order_xml(
        "ATTR", "2026-06-04T09:00:00Z", "USD", "5",
        [("P1001", "1", "5", [("PriceRange", "Cheap "), ("tag", "a"), ("tag", "<b>"),
                              ("empty", "")])],
        attributes=[("note", "x"), ("note", "y"), ("gift", "yes")])])  # fmt: skip
    invalid = [order for order, _ in INVALID_ORDERS]
    write_feed(landing, "invalid.xml", [good_order("GOOD1"), *invalid, good_order("GOOD2")])
    write_feed(landing, "missing.xml", [BARE, TWO_USERS])
    write_feed(landing, "dates.xml", [
        order_xml(f"D{n}", order_date, " usd", "1", [("P1", "1", "1")])
        for n, (order_date, _) in enumerate(DATE_FORMS)
    ])  # fmt: skip
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [odp_event("purchase", "WEB1", 1_780_272_000, identifiers={"email": "Same@Example.com"},
                   subtotal=5, currency="USD")],
    )  # fmt: skip
    write_feed(landing, "shop.xml", [good_order("SHOP1", email="same@example.com ")])
    settings = Settings(landing_dir=landing, warehouse=folder / "warehouse.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=settings.warehouse, summary=summary)


def test_every_element_and_attribute_is_read(wh):
    [raw] = wh.dicts(
        "select record_no, raw, doc, parse_error from raw.optimizely_xml "
        "where file = 'optimizely_xml/full.xml'"
    )
    assert raw["record_no"] == 1 and raw["parse_error"] is None
    assert raw["raw"] == FULL_ORDER.strip()  # the element's text exactly as received
    assert json.loads(raw["doc"]) == {
        "element": "order",
        "order": {"refCode": "ORD-1", "orderDate": "2026-06-01T10:30:00+02:00",
                  "currency": "EUR", "total": "61.50", "subTotal": "54.50", "shipping": "7.00"},
        "users": [{"email": "  Ada@Example.com "}],
        "products": [
            {"product": {"refCode": "P1001", "qty": "2", "price": "12.25"},
             "attributes": [{"key": "pricerange", "value": "cheap"},
                            {"key": "size", "value": " XL "}]},
            {"product": {"refCode": "P1005", "qty": "1.5", "price": "20.00"},
             "attributes": []},
        ],
        "attributes": [{"key": "transaction", "value": "debitcard"},
                       {"key": "store", "value": "Köln & Süd"}],
        "unknown_elements": [],
    }  # fmt: skip

    [event] = wh.dicts(
        "select * from intermediate.int_order_events "
        "where source = 'optimizely_xml' and order_id = 'ORD-1'"
    )
    assert {k: event[k] for k in (
        "order_id", "action", "ts", "ts_inferred", "currency", "subtotal", "total", "shipping",
        "tax", "discount", "email", "items_subtotal", "items_quantity", "item_rows",
        "record_part", "file", "record_no", "subtotal_base_sent", "total_base_sent")} == {
        "order_id": "ORD-1", "action": "purchase",
        "ts": datetime(2026, 6, 1, 8, 30, tzinfo=UTC), "ts_inferred": False,
        "currency": "EUR", "subtotal": Decimal("54.50"), "total": Decimal("61.50"),
        "shipping": Decimal("7.00"), "tax": None, "discount": None,
        "email": "ada@example.com",
        "items_subtotal": Decimal("54.50"),  # 2 × 12.25 + 1.5 × 20.00
        "items_quantity": Decimal("3.5"), "item_rows": 2, "record_part": 0,
        "file": "optimizely_xml/full.xml", "record_no": 1,
        "subtotal_base_sent": None, "total_base_sent": None,
    }  # fmt: skip
    assert json.loads(event["custom"]) == {"transaction": "debitcard", "store": "Köln & Süd"}

    items = wh.dicts(
        "select item_no, product_id, sku, price, quantity, discount, subtotal, "
        "subtotal_derived, attributes, custom from intermediate.int_order_items "
        "where order_id = 'ORD-1' order by item_no"
    )
    assert [
        (i["product_id"], i["price"], i["quantity"], i["subtotal"], json.loads(i["attributes"]))
        for i in items
    ] == [
        ("P1001", Decimal("12.25"), Decimal("2"), Decimal("24.50"),
         {"pricerange": "cheap", "size": " XL "}),
        ("P1005", Decimal("20.00"), Decimal("1.5"), Decimal("30.00"), {}),
    ]  # fmt: skip
    assert all(json.loads(i["custom"])["store"] == "Köln & Süd" for i in items)

    [ledger] = wh.ledger("ORD-1")
    assert (ledger["subtotal_delta"], ledger["total_delta"]) == (Decimal("54.50"), Decimal("61.50"))
    identifiers = wh.query(
        "select identifier_type, identifier_value from intermediate.int_order_identifiers "
        "where order_id = 'ORD-1'"
    )
    assert identifiers == [("email", "ada@example.com")]
    assert ledger["customer_id"] is not None


def test_subtotal_absent_is_the_sum_of_quantity_times_price(wh):
    [event] = wh.ledger("NOSUB")
    assert event["subtotal_delta"] == Decimal("25.10")  # 3 × 4.20 + 0.25 × 50.00
    assert event["total_delta"] == Decimal("33.10")  # total as sent
    assert wh.order("NOSUB")["subtotal"] == Decimal("25.10")


def test_an_order_without_user_is_anonymous(wh):
    assert (
        wh.value("select count(*) from intermediate.int_order_identifiers where order_id = 'ANON'")
        == 0
    )
    assert wh.order("ANON")["customer_id"] is None
    assert wh.ledger("ANON")[0]["customer_id"] is None


def test_attributes_are_kept_as_sent(wh):
    """Keys and values as sent (case, spaces, markup characters); a key sent twice keeps both
    values, in order. Catalog matching is the core models' business, not staging's."""
    [item] = wh.dicts(
        "select attributes, custom from intermediate.int_order_items where order_id = 'ATTR'"
    )
    assert json.loads(item["attributes"]) == {
        "PriceRange": "Cheap ",
        "tag": ["a", "<b>"],
        "empty": "",
    }
    assert json.loads(item["custom"]) == {"note": ["x", "y"], "gift": "yes"}
    counts = wh.query(
        "select r.attribute_count, i.attribute_count from staging.optimizely_order_records r "
        "join staging.optimizely_order_record_items i using (event_id) "
        "where r.order_id = 'ATTR'"
    )
    assert counts == [(3, 4)]


INVALID_ORDERS = [
    (order_xml("", "2026-06-01", "USD", "1", [("P1", "1", "1")]), "missing_order_id"),
    (order_xml(" ", "2026-06-01", "USD", "1", [("P1", "1", "1")]), "missing_order_id"),
    (order_xml("B", "01/06/2026", "USD", "1", [("P1", "1", "1")]), "invalid_ts"),
    (order_xml("B", "2026-02-30", "USD", "1", [("P1", "1", "1")]), "invalid_ts"),
    (order_xml("B", "2026-06-01T10:00:00+25:00", "USD", "1", [("P1", "1", "1")]), "invalid_ts"),
    (order_xml("B", "2026-06-01", "US", "1", [("P1", "1", "1")]), "invalid_currency"),
    (order_xml("B", "2026-06-01", "", "1", [("P1", "1", "1")]), "invalid_currency"),
    (order_xml("B", "2026-06-01", "USD", "1e3", [("P1", "1", "1")]), "ambiguous_number"),
    (order_xml("B", "2026-06-01", "USD", "1,234.50", [("P1", "1", "1")]), "ambiguous_number"),
    (order_xml("B", "2026-06-01", "USD", "1.00001", [("P1", "1", "1")]), "invalid_amount"),
    (order_xml("B", "2026-06-01", "USD", "123456789012345", [("P1", "1", "1")]), "invalid_amount"),
    (
        order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "1")], subtotal="abc"),
        "invalid_amount",
    ),
    (
        order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "1")], shipping="NaN"),
        "invalid_amount",
    ),
    (order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "x")]), "invalid_amount"),
    (order_xml("B", "2026-06-01", "USD", "1", [("P1", "-1", "1")]), "invalid_quantity"),
    (order_xml("B", "2026-06-01", "USD", "1", [("P1", "", "1")]), "invalid_quantity"),
    (order_xml("B", "2026-06-01", "USD", "1", [("", "1", "1")]), "invalid_product"),
    (order_xml("B", "2026-06-01", "USD", "1", []), "missing_items"),
    (order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "1")], email=" "), "invalid_user"),
    (
        order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "1")], attributes=[("", "v")]),
        "invalid_attribute",
    ),
    (
        order_xml("B", "2026-06-01", "USD", "1", [("P1", "1", "1", [("", "v")])]),
        "invalid_attribute",
    ),
]


def test_invalid_orders_are_quarantined_and_the_others_load(wh):
    """Each invalid order is quarantined with its one reason and its text as received; the
    valid orders around them load."""
    rows = wh.dicts(
        "select record_no, reasons, raw from audit.quarantine "
        "where file = 'optimizely_xml/invalid.xml' order by record_no"
    )
    assert [
        (row["record_no"], {reason.split(":", 1)[0] for reason in row["reasons"]}, row["raw"])
        for row in rows
    ] == [(n, {code}, order.strip()) for n, (order, code) in enumerate(INVALID_ORDERS, start=2)]
    # the invalid orders' ids: "", " " and "B" (no other feed of the run uses them)
    assert wh.query(
        "select order_id from core.orders where order_id in ('GOOD1', 'GOOD2', 'B', '', ' ') "
        "order by 1"
    ) == [("GOOD1",), ("GOOD2",)]
    [load] = wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'optimizely_xml/invalid.xml'"
    )
    assert load == (len(INVALID_ORDERS) + 2, 2, len(INVALID_ORDERS), 0)


BARE = '<order refCode="M"><product refCode="P1"/></order>'
TWO_USERS = (
    '<order refCode="U" orderDate="2026-06-01" currency="USD" total="1">'
    '<user email="a@example.com"/><user email="b@example.com"/>'
    '<product refCode="P1" quantity="1" price="1"/></order>'
)


def test_missing_required_attributes_are_quarantined(wh):
    rows = wh.query(
        "select record_no, reasons from audit.quarantine "
        "where file = 'optimizely_xml/missing.xml' order by record_no"
    )
    codes = [sorted({r.split(":", 1)[0] for r in reasons}) for _, reasons in rows]
    assert codes == [
        ["invalid_currency", "invalid_quantity", "invalid_ts", "missing_amount"],
        ["invalid_user"],
    ]  # fmt: skip


DATE_FORMS = [
    ("2026-06-01T10:30:00Z", datetime(2026, 6, 1, 10, 30, tzinfo=UTC)),
    ("2026-06-01T10:30:00+02:00", datetime(2026, 6, 1, 8, 30, tzinfo=UTC)),
    ("2026-06-01T10:30:00-0530", datetime(2026, 6, 1, 16, 0, tzinfo=UTC)),
    ("2026-06-01T10:30:00.250Z", datetime(2026, 6, 1, 10, 30, 0, 250000, tzinfo=UTC)),
    # decisions (validation/optimizely_xml.py): no offset is UTC, a date alone is midnight
    ("2026-06-01T10:30:00", datetime(2026, 6, 1, 10, 30, tzinfo=UTC)),
    ("2026-06-01 10:30", datetime(2026, 6, 1, 10, 30, tzinfo=UTC)),
    ("2026-06-01", datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),
]


def test_order_date_forms(wh):
    events = wh.query(
        "select order_id, ts, currency from core.order_events "
        "where file = 'optimizely_xml/dates.xml' order by order_id"
    )
    # currency codes are trimmed and upper-cased
    assert events == [(f"D{n}", utc, "USD") for n, (_, utc) in enumerate(DATE_FORMS)]


def test_counts_reconcile_per_file_and_the_same_file_twice_changes_nothing(
    landing, run_landing, tmp_path
):
    first = write_feed(landing, "a.xml", [good_order("R1"), good_order("R2", email="r@x.io")])
    resent = good_order("R2", email="r@x.io").replace(
        'refCode="R2" orderDate="2026-06-01T12:00:00Z"',
        'orderDate="2026-06-01T12:00:00Z"   refCode="R2"',
    )
    assert resent != good_order("R2", email="r@x.io")
    write_feed(landing, "b.xml", [resent, order_xml("R3", "x", "USD", "1", [("P", "1", "1")]),
                                  good_order("R4")])  # fmt: skip
    wh = run_landing(landing)
    loads = wh.query(
        "select file, records, accepted, quarantined, duplicates from audit.loads order by file"
    )
    assert loads == [
        ("optimizely_xml/a.xml", 2, 2, 0, 0),
        # the re-sent R2 differs in attribute order and spacing only: a duplicate (§2)
        ("optimizely_xml/b.xml", 3, 1, 1, 1),
    ]
    before = table_contents(wh.path)
    copy = landing / "optimizely_xml" / "copy of a.xml"
    copy.write_bytes(first.read_bytes())
    again = run_landing(landing)
    assert table_contents(again.path) == before


def test_a_customer_is_shared_with_other_sources_through_the_email(wh):
    web, shop = wh.order("WEB1"), wh.order("SHOP1")
    assert web["customer_id"] is not None and web["customer_id"] == shop["customer_id"]


def test_the_sample_feed_lands(tmp_path, run_landing):
    landing = tmp_path / "sample"
    files = sample.write_sample(landing)
    assert [p.read_bytes() for p in files] == [
        p.read_bytes() for p in sample.write_sample(tmp_path / "again")
    ]
    wh = run_landing(landing)
    loads = wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads order by file"
    )
    assert loads == [(6, 6, 0, 0), (3, 1, 1, 1)]
    assert wh.value("select count(*) from core.orders where source = 'optimizely_xml'") == 7
    assert wh.order("OX-1003")["customer_id"] is None
    assert wh.order("OX-1003")["subtotal"] == Decimal("36.00")  # 3 × 7.00 + 15.00
    shared = wh.query(
        "select distinct customer_id from core.orders where order_id in ('OX-1001', 'OX-1005')"
    )
    assert len(shared) == 1 and shared[0][0] is not None
    assert (
        wh.value(
            "select count(*) from intermediate.int_order_items where source = 'optimizely_xml' "
            "and attributes ->> '$.pricerange' is not null"
        )
        == 10
    )
