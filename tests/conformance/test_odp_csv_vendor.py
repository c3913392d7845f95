"""ODP / Zaius historical CSV, loaded exactly as the vendor documents it (docs/semantics.md §1.2).

The inputs are the vendor's own, byte for byte; the expected numbers are worked out by hand
from the vendor's text, written next to each assertion, never read off the pipeline.

Sources:
- Zaius developer docs, "CSV Upload" (ZaiusInc/dev-docs, bulk-imports/csv-upload.md),
  "Examples & Samples > Orders": the example file ``zaius_orders_example.csv``
  (``.gitbook/assets/zaius_orders_example.csv``), in both versions the repository has
  published (commits 345fec09... and d2169229...). Its text: the Order Summary fields
  (total, discount, subtotal, tax, shipping, coupon_code ...) are unprefixed, the line item
  fields are ``item_``-prefixed, "one row per line item"; timestamps are "ISO 8601 format or
  unix epoch".
- Zaius "Orders" (zaius-schema/orders.md; the ODP "Orders" page): "Zaius does not
  automatically calculate totals and subtotals at the order level ... you will send these
  values as you would like them represented"; returns and refunds "treat -30 and 30 as a
  subtotal identically. They both create new events that subtract from the original order
  total"; "LTV and Average Order Value ... are based on the order subtotal".
- Optimizely Data Platform, "Import data using CSV"
  (https://docs.developers.optimizely.com/optimizely-data-platform/docs/import-data-using-csv):
  the table of date/time formats with its examples, and "If time and time zone are not
  provided, the time is assumed to be 12 AM UTC".
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import RECENT_PARTITION_START, Warehouse

# zaius_orders_example.csv at ZaiusInc/dev-docs@d2169229ccc8e4301222f34670b4a0eb05816242
EXAMPLE_D2169229 = """\
email,action,order_id,total,discount,subtotal,tax,shipping,coupon_code,item_product_id,item_sku,item_price,item_quantity,item_discount,item_subtotal,ts
bob@example.com,purchase,15,13.75,5,13.5,1.35,19,ZAIUS20,ZAIUS T-Shirt,Z-1453,13.75,1,5,12.5,1508773855
bob@example.com,purchase,15,13.75,5,13.5,1.35,19,ZAIUS20,ZAIUS Baseball Cap,Z-1353,6.75,1,95,0.25,1508773855
bob@example.com,purchase,16,13.75,5,13.5,1.35,19,ZAIUS20,ZAIUS T-Shirt,Z-1453,13.75,1,5,12.5,1508773855
box@example.com,refund,2,-10,0,-10,0,1,coupon,123,Z-1345,18,1,0,-10,1508773855"""  # noqa: E501

# zaius_orders_example.csv at ZaiusInc/dev-docs@345fec096f02040687d039c36078dfef8578fe7d
EXAMPLE_345FEC09 = """\
email,action,order_id,total,discount,subtotal,tax,shipping,coupon_code,item_product_id,item_sku,item_price,item_quantity,item_discount,item_subtotal,ts
bob@example.com,purchase,15,27.00,5.00,25.00,1.00,1.00,ZAIUS20,1000000,Z-1453,5.00,5,5.00,20.00,1508773855
bob@example.com,purchase,15,27.00,5.00,25.00,1.00,1.00,ZAIUS20,2000000,Z-1353,5.00,1,,5.00,1508773855
box@example.com,refund,2,-10.00,,-10,,,,7000000,Z-1345,10.00,1,,-10,1508773855"""  # noqa: E501

# 1508773855 seconds after 1970-01-01 = 17461 days (1970-01-01 + 17461 d = 2017-10-23)
# + 57055 s (15 h 50 min 55 s)
EXAMPLE_TS = datetime(2017, 10, 23, 15, 50, 55, tzinfo=UTC)

# ODP "Import data using CSV", the date/time format table: each example value as the page
# prints it, and the UTC time it names (no zone given: UTC; no time: 12 AM).
DOCUMENTED_TS = {
    "1435708800": datetime(2015, 7, 1, tzinfo=UTC),  # 16617 days after 1970-01-01
    "2019-04-11T18:43:29+00:00": datetime(2019, 4, 11, 18, 43, 29, tzinfo=UTC),
    "2019-04-11T18:43:29Z": datetime(2019, 4, 11, 18, 43, 29, tzinfo=UTC),
    "2019-04-11": datetime(2019, 4, 11, tzinfo=UTC),
    "2014-09-01 13:34:08+00:00": datetime(2014, 9, 1, 13, 34, 8, tzinfo=UTC),
    "2014-09-01 13:34:08": datetime(2014, 9, 1, 13, 34, 8, tzinfo=UTC),
    "09/01/14 13:34": datetime(2014, 9, 1, 13, 34, tzinfo=UTC),
    "09/01/14 13:34:08": datetime(2014, 9, 1, 13, 34, 8, tzinfo=UTC),
    "09/01/2014 13:34:08": datetime(2014, 9, 1, 13, 34, 8, tzinfo=UTC),
    "09/01/2014 13:34": datetime(2014, 9, 1, 13, 34, tzinfo=UTC),
    # the Zaius "CSV Upload" page's examples: 12:30 at UTC-7 is 19:30 UTC
    "2015-07-01T00:00:00-00:00": datetime(2015, 7, 1, tzinfo=UTC),
    "2015-07-01T12:30:00-07:00": datetime(2015, 7, 1, 19, 30, tzinfo=UTC),
}


def _run(root: Path, files: dict[str, str]) -> Warehouse:
    folder = root / "landing" / "odp_csv"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    settings = Settings(
        landing_dir=root / "landing",
        warehouse=root / "w.duckdb",
        partition_start=RECENT_PARTITION_START,
    )
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return Warehouse(path=settings.warehouse, summary=summary)


def _dates_file() -> str:
    """One purchase per documented ts form, order id = its position in DOCUMENTED_TS."""
    rows = [f"ts-{n}@example.com,purchase,TS-{n},{ts},1" for n, ts in enumerate(DOCUMENTED_TS)]
    return "\n".join(["email,action,order_id,ts,subtotal", *rows])


@pytest.fixture(scope="module")
def example_d2169229(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return _run(
        tmp_path_factory.mktemp("zaius_d2169229"),
        {"zaius_orders_example.csv": EXAMPLE_D2169229, "zaius_orders_dates.csv": _dates_file()},
    )


@pytest.fixture(scope="module")
def example_345fec09(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return _run(
        tmp_path_factory.mktemp("zaius_345fec09"),
        {"zaius_orders_example.csv": EXAMPLE_345FEC09},
    )


def _events(wh: Warehouse, order_id: str) -> list[tuple]:
    return wh.query(
        "select action, ts, subtotal_delta, total_delta, running_subtotal, refund_kind "
        "from core.order_events where order_id = ? order by event_seq",
        [order_id],
    )


def test_every_row_of_the_example_loads(example_d2169229, example_345fec09):
    for wh, rows in ((example_d2169229, 4), (example_345fec09, 3)):
        [load] = wh.query(
            "select records, accepted, quarantined, duplicates from audit.loads "
            "where file = 'odp_csv/zaius_orders_example.csv'"
        )
        assert load == (rows, rows, 0, 0)


def test_example_d2169229_orders_as_the_vendor_sent_them(example_d2169229):
    wh = example_d2169229
    # order 15: two rows (two line items) of one purchase; the order-level subtotal 13.5 and
    # total 13.75 are repeated on both rows and count once (13.5, not 27). Zaius computes
    # nothing at order level, so 13.75 stands although 13.5 + 1.35 + 19 = 33.85.
    assert _events(wh, "15") == [("purchase", EXAMPLE_TS, Decimal("13.5"), Decimal("13.75"),
                                  Decimal("13.5"), None)]  # fmt: skip
    order = wh.order("15")
    assert (order["tax"], order["shipping"], order["discount"], order["coupon_code"]) == (
        Decimal("1.35"), Decimal("19"), Decimal("5"), "ZAIUS20",
    )  # fmt: skip
    # the line items as sent: item_subtotal 12.5 and 0.25 (sent, so not recomputed from
    # price × quantity − discount), 12.5 + 0.25 = 12.75
    items = wh.query(
        "select item_no, product_id, sku, price, quantity, discount, subtotal "
        "from core.order_items where order_id = '15' order by item_no"
    )
    assert items == [
        (1, "ZAIUS T-Shirt", "Z-1453", Decimal("13.75"), Decimal("1"), Decimal("5"),
         Decimal("12.5")),
        (2, "ZAIUS Baseball Cap", "Z-1353", Decimal("6.75"), Decimal("1"), Decimal("95"),
         Decimal("0.25")),
    ]  # fmt: skip
    # order 16: one row, the same summary
    assert _events(wh, "16") == [("purchase", EXAMPLE_TS, Decimal("13.5"), Decimal("13.75"),
                                  Decimal("13.5"), None)]  # fmt: skip
    # order 2: a refund sent with -10: "-30 and 30 [are treated] identically", it subtracts
    # 10; with no purchase before it the tally is 0 - 10 = -10 (never clamped), so full
    assert _events(wh, "2") == [("refund", EXAMPLE_TS, Decimal("-10"), Decimal("-10"),
                                 Decimal("-10"), "full")]  # fmt: skip


def test_example_d2169229_revenue_and_customers(example_d2169229):
    wh = example_d2169229
    # gross 13.5 + 13.5 = 27; refunds 10; net 27 - 10 = 17 (the dates file is in other
    # days); orders placed: 15, 16 and 2, whose first event (the refund) places it
    [day] = wh.dicts(
        "select gross, refunds, net, orders_placed from reporting.daily_revenue "
        "where date = '2017-10-23'"
    )
    assert (day["gross"], day["refunds"], day["net"], day["orders_placed"]) == (
        Decimal("27.00"), Decimal("10.00"), Decimal("17.00"), 3,
    )  # fmt: skip
    # bob: orders 15 and 16, LTV on the subtotal: 13.5 + 13.5 = 27, AOV 27 / 2 = 13.5, two
    # counted orders = repeat
    [bob] = wh.dicts(
        "select c.* from core.customers as c join core.customer_identifiers as i "
        "using (customer_id) where i.identifier_value = 'bob@example.com'"
    )
    assert (bob["ltv"], bob["aov"], bob["lifecycle_stage"]) == (
        Decimal("27"), Decimal("13.5"), "repeat",
    )  # fmt: skip


def test_example_345fec09_orders_as_the_vendor_sent_them(example_345fec09):
    wh = example_345fec09
    # order 15: subtotal 25.00 once (not 50), total 27.00 = 25 + tax 1 + shipping 1; its
    # items 5.00 × 5 − 5.00 = 20.00 and 5.00 × 1 = 5.00 add up to the subtotal: 20 + 5 = 25
    assert _events(wh, "15") == [("purchase", EXAMPLE_TS, Decimal("25"), Decimal("27"),
                                  Decimal("25"), None)]  # fmt: skip
    items = wh.query(
        "select product_id, price * quantity - coalesce(discount, 0), subtotal "
        "from core.order_items where order_id = '15' order by item_no"
    )
    assert items == [
        ("1000000", Decimal("20"), Decimal("20")),
        ("2000000", Decimal("5"), Decimal("5")),
    ]
    # order 2: refund of -10 (subtotal and total): 0 - 10
    assert _events(wh, "2") == [("refund", EXAMPLE_TS, Decimal("-10"), Decimal("-10"),
                                 Decimal("-10"), "full")]  # fmt: skip
    # net revenue: 25 - 10 = 15
    assert wh.value("select sum(net) from reporting.daily_revenue") == Decimal("15.00")


def test_every_documented_ts_form(example_d2169229):
    found = dict(
        example_d2169229.query(
            "select order_id, ts from core.order_events where order_id like 'TS-%'"
        )
    )
    assert found == {f"TS-{n}": ts for n, ts in enumerate(DOCUMENTED_TS.values())}
