"""ODP historical CSV imports (docs/semantics.md §1.2) through the real pipeline: every documented
column parsed value by value, rows grouped into order events, identity, and what gets
quarantined."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import RECENT_PARTITION_START, Warehouse

pytestmark = pytest.mark.heavy(seconds=40)  # scheduled first (tests/conftest.py)

COLUMNS = [
    "action", "ts", "order_id", "item_product_id", "item_sku", "item_price", "item_quantity",
    "item_discount", "item_subtotal", "email", "phone", "customer_id", "vuid",
    "shopify_customer_id", "subtotal", "total", "tax", "shipping", "discount", "currency",
    "coupon_code", "bill_address", "ship_address", "first_name", "last_name", "name",
    "gift_note", "item_color",
]  # fmt: skip
MAY_1 = "2026-05-01T10:00:00Z"


def line(order_id: str, action: str = "purchase", ts: str = MAY_1, **cells: str) -> dict:
    """One CSV row: an order line item, by default with an email identifier."""
    values = {"action": action, "ts": ts, "order_id": order_id}
    values.setdefault("email", f"{order_id.lower()}@example.com")
    return {**values, **cells}


def csv_text(rows: list[dict[str, Any]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run(landing: Path, warehouse: Path) -> Warehouse:
    summary = run_pipeline(
        Settings(landing_dir=landing, warehouse=warehouse, partition_start=RECENT_PARTITION_START)
    )
    assert summary.success, summary.errors
    return Warehouse(path=warehouse, summary=summary)


def write(folder: Path, name: str, rows: list[dict[str, Any]], **kw: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(csv_text(rows, **kw), encoding="utf-8")


EVERY_COLUMN = line(
    "FULL", ts="2026-05-02T12:30:00+02:00", item_product_id="P-1", item_sku="SKU-1",
    item_price="+12.5", item_quantity="2", item_discount="1.0", item_subtotal="24.00",
    email=" Full@Example.com ", phone="+44 20 7946 0000", customer_id="CUST-9", vuid="v-123",
    shopify_customer_id="SH-1", subtotal="24", total="30.5", tax="4.5", shipping="3.00",
    discount="1", currency="eur", coupon_code="SPRING", bill_address="1 Main St,,Town",
    ship_address="2 High St,,City", first_name="Alex", last_name="Morgan", name="Alex Morgan",
    gift_note="wrap it", item_color="red",
)  # fmt: skip

HISTORY = [
    EVERY_COLUMN,
    # two items, no order-level subtotal: the event's subtotal is Σ item subtotals (one
    # derived from item_price × item_quantity)
    line("MULTI", item_product_id="P1", item_price="10.00", item_quantity="2"),
    line("MULTI", item_product_id="P2", item_subtotal="5.50"),
    # the order-level subtotal, repeated on every row as exports do, counts once and wins
    # over the items
    line("GIVEN", item_product_id="P1", item_price="10", item_quantity="1", subtotal="30.00"),
    line("GIVEN", item_product_id="P2", item_price="15", item_quantity="1", subtotal="30.00"),
    # given on one row only: empty cells are no disagreement
    line("ONE", item_product_id="P1", item_price="10", subtotal="12"),
    line("ONE", item_product_id="P2", item_price="5"),
    # two actions of one order: two events; the refund is an order-level row
    line("ACTS", item_product_id="P1", item_price="40"),
    line("ACTS", action="refund", ts="2026-05-03T09:00:00Z", subtotal="15"),
    line("ACTS", action="Cancel ", ts="2026-05-04T09:00:00Z"),
    # a refund sent with negative amounts, as the vendor's example does: -10 means 10
    line("NEG", item_product_id="P1", item_price="40", subtotal="40", total="44"),
    line("NEG", action="refund", ts="2026-05-05T09:00:00Z", item_product_id="P1",
         item_price="10", item_quantity="1", item_subtotal="-10", subtotal="-10",
         total="-10"),
    # identity: CHAIN-A and CHAIN-B share a phone; CHAIN-B and CHAIN-C a customer_id
    line("CHAIN-A", email="chain@example.com", phone="+1 555 0100", item_price="1"),
    line("CHAIN-B", email="", phone="+1-555-0100", customer_id="K-7", item_price="1"),
    line("CHAIN-C", email="other@example.com", customer_id="K-7", item_price="1"),
]  # fmt: skip
# The second file of the history: an export cut in two, order SPLIT's purchase begun in the
# first file (HISTORY_PART_1) and ended here, its order-level amounts on every row.
HISTORY_PART_1 = [
    line("SPLIT", item_product_id="P1", item_price="10", subtotal="25", total="30", tax="5"),
]
HISTORY_PART_2 = [
    line("SPLIT", item_product_id="P2", item_price="15", subtotal="25", total="30", tax="5"),
]

BAD_COLUMNS = [*COLUMNS, "event_type"]
BAD = [
    line("B-AMOUNT-1", item_price="1,234.50"),  # 1
    line("B-AMOUNT-2", item_price="1e3"),  # 2
    line("B-AMOUNT-3", item_price="$5"),  # 3
    line("B-AMOUNT-4", item_price="1.23456"),  # 4
    line("B-AMOUNT-5", item_price="123456789012345"),  # 5
    line("B-QTY", item_price="1", item_quantity="-1"),  # 6
    line("B-TS", ts="yesterday", item_price="1"),  # 7
    line("B-CUR", item_price="1", currency="EURO"),  # 8
    line("B-TYPE", item_price="1", event_type="page"),  # 9: a zaius_events file's row
    line("", item_price="1"),  # 10
    line("B-ACTION", action="", item_price="1"),  # 11
    line("B-NOID", email="", item_price="1"),  # 12
    line("B-NOAMOUNT", item_product_id="P"),  # 13
    line("B-CONFLICT", item_product_id="P1", item_price="1", total="10"),  # 14
    line("B-CONFLICT", item_product_id="P2", item_price="1", total="11"),  # 15
    line("B-PART", item_product_id="P1", item_price="1"),  # 16
    line("B-PART", item_product_id="P2", item_price="oops"),  # 17
    line("B-CANCEL", action="cancel"),  # 18: a cancel may carry no amount: accepted
    line("B-SAME", item_product_id="P1", item_price="1", total="10"),  # 19: 10 and 10.00
    line("B-SAME", item_product_id="P2", item_price="1", total="10.00"),  # 20: agree
    line("B-TS-2", ts="13/01/2014 10:00", item_price="1"),  # 21: no 13th month
    line("B-TS-3", ts="2014-09-01T13:34:08+25:00", item_price="1"),  # 22
    line("B-TS-4", ts="01/09/2014", item_price="1"),  # 23: a US date needs its time
    line("B-ORDER", event_type="order", item_price="1"),  # 24: event_type order is fine
]
BAD_REASONS = {
    1: ["invalid_amount"], 2: ["invalid_amount"], 3: ["invalid_amount"], 4: ["invalid_amount"],
    5: ["invalid_amount"], 6: ["invalid_quantity"], 7: ["invalid_ts"], 8: ["invalid_currency"],
    9: ["unsupported_event_type"], 10: ["missing_order_id"], 11: ["missing_action"],
    12: ["missing_identifier"], 13: ["missing_amount"], 14: ["conflicting_order_values"],
    15: ["conflicting_order_values"], 16: ["incomplete_event"], 17: ["invalid_amount"],
    21: ["invalid_ts"], 22: ["invalid_ts"], 23: ["invalid_ts"],
}  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("odp_csv")
    folder = root / "landing" / "odp_csv"
    write(folder, "zaius_orders_2026-05.csv", HISTORY + HISTORY_PART_1)
    write(folder, "zaius_orders_2026-05_part2.csv", HISTORY_PART_2)
    write(folder, "zaius_orders_rejects.csv", BAD, columns=BAD_COLUMNS)
    return run(root / "landing", root / "warehouse.duckdb")


def events(wh: Warehouse, order_id: str) -> list[dict[str, Any]]:
    return wh.dicts(
        "select * from intermediate.int_order_events where order_id = ? order by ts", [order_id]
    )


def test_every_column_is_parsed_value_by_value(history):
    [event] = events(history, "FULL")
    assert event["source"] == "odp_csv" and event["action"] == "purchase"
    assert event["ts"] == datetime(2026, 5, 2, 10, 30, tzinfo=UTC)
    assert not event["ts_inferred"]
    assert event["file"] == "odp_csv/zaius_orders_2026-05.csv" and event["record_no"] == 1
    assert (event["subtotal"], event["total"], event["tax"], event["shipping"]) == (
        Decimal("24"), Decimal("30.5"), Decimal("4.5"), Decimal("3"),
    )  # fmt: skip
    assert event["discount"] == Decimal("1") and event["currency"] == "EUR"
    assert event["coupon_code"] == "SPRING"
    assert (event["bill_address"], event["ship_address"]) == ("1 Main St,,Town", "2 High St,,City")
    assert (event["first_name"], event["last_name"], event["name"]) == (
        "Alex", "Morgan", "Alex Morgan",
    )  # fmt: skip
    # the email and phone columns are the order's contacts, normalised as identifiers are
    assert (event["email"], event["phone"]) == ("full@example.com", "+442079460000")
    # an unprefixed column without a meaning of its own is a custom order field
    assert json.loads(event["custom"]) == {"gift_note": "wrap it"}
    assert event["dropped_item_fields"] == 1  # item_color: ODP ignores item custom fields
    [item] = history.dicts("select * from intermediate.int_order_items where order_id = 'FULL'")
    assert (item["product_id"], item["sku"]) == ("P-1", "SKU-1")
    assert (item["price"], item["quantity"], item["discount"], item["subtotal"]) == (
        Decimal("12.5"), Decimal("2"), Decimal("1"), Decimal("24"),
    )  # fmt: skip
    assert not item["subtotal_derived"]
    assert json.loads(item["custom"]) == {"gift_note": "wrap it"}
    identifiers = set(
        history.query(
            "select identifier_type, identifier_value from intermediate.int_order_identifiers "
            "where order_id = 'FULL'"
        )
    )
    assert identifiers == {
        ("email", "full@example.com"), ("phone", "+442079460000"), ("customer_id", "CUST-9"),
        ("vuid", "v-123"), ("shopify_customer_id", "SH-1"),
    }  # fmt: skip


def test_amounts_are_decimal_end_to_end(history):
    types = history.query(
        "select distinct typeof(order_subtotal), typeof(item_subtotal), typeof(price) "
        "from staging.odp_csv_records"
    )
    assert types == [("DECIMAL(18,4)",) * 3]
    ledger_types = history.query(
        "select distinct typeof(subtotal_delta) from core.order_events where source = 'odp_csv'"
    )
    assert ledger_types == [("DECIMAL(38,4)",)]


def test_two_items_are_one_event_with_the_sum_of_their_subtotals(history):
    [event] = events(history, "MULTI")
    assert event["subtotal"] is None and event["items_subtotal"] == Decimal("25.5")
    assert event["item_rows"] == 2 and event["items_quantity"] == Decimal("2")
    assert history.order("MULTI")["subtotal"] == Decimal("25.5")
    items = history.dicts(
        "select item_no, product_id, subtotal, subtotal_derived from core.order_items "
        "where order_id = 'MULTI' order by item_no"
    )
    assert items == [
        {"item_no": 1, "product_id": "P1", "subtotal": Decimal("20"), "subtotal_derived": True},
        {"item_no": 2, "product_id": "P2", "subtotal": Decimal("5.5"), "subtotal_derived": False},
    ]


def test_an_order_level_amount_repeated_on_every_row_counts_once(history):
    assert history.order("GIVEN")["subtotal"] == Decimal("30")
    assert history.order("ONE")["subtotal"] == Decimal("12")
    [event] = events(history, "ONE")
    assert event["item_rows"] == 2


def test_two_actions_of_one_order_are_two_events(history):
    ledger = history.ledger("ACTS")
    assert [(e["action"], e["subtotal_delta"], e["running_subtotal"]) for e in ledger] == [
        ("purchase", Decimal("40"), Decimal("40")),
        ("refund", Decimal("-15"), Decimal("25")),
        ("cancel", Decimal("-25"), Decimal("0")),  # a cancel with no amount cancels the rest
    ]
    order = history.order("ACTS")
    assert order["status"] == "cancel" and order["is_cancelled"]


def test_a_refund_with_negative_amounts_reduces_the_order_by_their_absolute_value(history):
    """docs/semantics.md §1.2, §3: amounts may be negative on returns and refunds; the purchase
    of 40 (total 44) less a refund sent as subtotal -10, total -10 leaves 30 (total 34)."""
    ledger = history.ledger("NEG")
    assert [(e["action"], e["subtotal_delta"], e["total_delta"]) for e in ledger] == [
        ("purchase", Decimal("40"), Decimal("44")),
        ("refund", Decimal("-10"), Decimal("-10")),
    ]
    assert ledger[1]["refund_kind"] == "partial"
    order = history.order("NEG")
    assert (order["subtotal"], order["total"], order["refund_state"]) == (
        Decimal("30"), Decimal("34"), "partial",
    )  # fmt: skip
    [item] = history.dicts(
        "select subtotal from core.order_items where order_id = 'NEG' and action = 'refund'"
    )
    assert item["subtotal"] == Decimal("-10")


def test_an_event_cut_across_two_files_landed_together_is_one_event(history):
    [event] = events(history, "SPLIT")
    # 10 + 15 items; the order-level subtotal 25 and total 30, sent on both rows, count once
    assert (event["subtotal"], event["total"], event["items_subtotal"]) == (
        Decimal("25"), Decimal("30"), Decimal("25"),
    )  # fmt: skip
    assert event["item_rows"] == 2 and event["file"] == "odp_csv/zaius_orders_2026-05.csv"
    assert history.order("SPLIT")["subtotal"] == Decimal("25")


def test_identifiers_on_rows_of_linked_orders_make_one_customer(history):
    customers = {
        history.order(order_id)["customer_id"] for order_id in ("CHAIN-A", "CHAIN-B", "CHAIN-C")
    }
    assert len(customers) == 1 and None not in customers
    [customer] = history.dicts(
        "select * from core.customers where customer_id = ?", [customers.pop()]
    )
    assert sorted(customer["emails"]) == ["chain@example.com", "other@example.com"]
    assert customer["phones"] == ["+15550100"]


def test_every_bad_row_is_quarantined_with_its_reason(history):
    rows = history.query(
        "select record_no, reasons from audit.quarantine "
        "where file = 'odp_csv/zaius_orders_rejects.csv' order by record_no"
    )
    found = {n: sorted({r.split(":", 1)[0] for r in reasons}) for n, reasons in rows}
    assert found == BAD_REASONS
    [load] = history.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'odp_csv/zaius_orders_rejects.csv'"
    )
    assert load == (24, 4, 20, 0)
    conflict = dict(rows)[14]
    assert conflict == [
        "conflicting_order_values: rows of one order event (same order_id, action and ts, in "
        "this file or an earlier one) send different total values; send the same value on "
        "each row or leave it empty"
    ]
    accepted = {o for (o,) in history.query("select order_id from core.orders")}
    assert {"B-CANCEL", "B-SAME", "B-ORDER"} <= accepted and "B-PART" not in accepted


def test_an_export_cut_in_two_files_landed_in_two_runs_counts_once(tmp_path):
    """docs/semantics.md §1.2: rows sharing (order_id, action, ts) are one event also across files;
    the later file's rows join the event and the ledger re-derives it. Order CUT is order
    WHOLE's rows, cut after its second row: they end with the same ledger and revenue. A row
    of the second part that disagrees with the first part's order-level values is refused."""
    folder = tmp_path / "landing" / "odp_csv"

    def rows(order_id: str, products: list[str]) -> list[dict[str, str]]:
        amounts = {"subtotal": "60", "total": "66", "tax": "4", "shipping": "2"}
        return [line(order_id, item_product_id=p, item_price="20", **amounts) for p in products]

    write(folder, "zaius_orders_a_whole.csv", rows("WHOLE", ["P1", "P2", "P3"]))
    write(folder, "zaius_orders_b_part1.csv", rows("CUT", ["P1", "P2"]) + rows("ODD", ["P1"]))
    first = run(tmp_path / "landing", tmp_path / "w.duckdb")
    assert first.order("CUT")["subtotal"] == Decimal("60")
    odd = [{**r, "total": "70"} for r in rows("ODD", ["P2"])]
    write(folder, "zaius_orders_c_part2.csv", rows("CUT", ["P3"]) + odd)
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")

    def ledger(order_id: str) -> list[tuple[Any, ...]]:
        return wh.query(
            "select action, subtotal_delta, total_delta, running_subtotal, event_seq, ts "
            "from core.order_events where order_id = ? order by event_seq",
            [order_id],
        )

    may_1 = datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert (
        ledger("CUT")
        == ledger("WHOLE")
        == [("purchase", Decimal("60"), Decimal("66"), Decimal("60"), 1, may_1)]
    )
    items = "select item_no, product_id, subtotal from core.order_items where order_id = ?"
    # every row's item, whichever file and row it arrived in
    assert (
        wh.query(items + " order by item_no", ["CUT"])
        == wh.query(items + " order by item_no", ["WHOLE"])
        == [(n, f"P{n}", Decimal("20")) for n in (1, 2, 3)]
    )
    orders = [wh.order(order_id) for order_id in ("CUT", "WHOLE")]
    assert [(o["subtotal"], o["total"], o["event_count"]) for o in orders] == [
        (Decimal("60"), Decimal("66"), 1)
    ] * 2
    # revenue: WHOLE 60 + CUT 60 + ODD's first part 60, never CUT's amounts twice
    assert wh.value("select sum(gross) from reporting.daily_revenue") == Decimal("180")
    [reasons] = wh.query(
        "select reasons from audit.quarantine where file = 'odp_csv/zaius_orders_c_part2.csv'"
    )[0]
    assert [r.split(":", 1)[0] for r in reasons] == ["conflicting_order_values"]


def test_a_corrected_file_loads_the_held_back_event_once(tmp_path):
    """A bad row holds its whole event back; landing the corrected file loads the event
    whole, and the rows accepted the first time count as duplicates."""
    folder = tmp_path / "landing" / "odp_csv"
    good = line("KEEP", item_product_id="P", item_price="3")
    write(folder, "v1.csv", [good, line("FIX", item_product_id="P1", item_price="10"),
                             line("FIX", item_product_id="P2", item_price="x")])  # fmt: skip
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    assert wh.value("select count(*) from core.orders where order_id = 'FIX'") == 0
    write(folder, "v2.csv", [good, line("FIX", item_product_id="P1", item_price="10"),
                             line("FIX", item_product_id="P2", item_price="5")])  # fmt: skip
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    assert [(e["action"], e["subtotal_delta"]) for e in wh.ledger("FIX")] == [
        ("purchase", Decimal("15"))
    ]
    assert wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'odp_csv/v2.csv'"
    ) == [(3, 2, 0, 1)]
    assert wh.order("KEEP")["subtotal"] == Decimal("3")
    # the ts-less rows of one file are one event at the file's ingestion time
    folder.joinpath("v3.csv").write_text(
        csv_text(
            [
                line("NOTS", ts="", item_product_id="P1", item_price="2"),
                line("NOTS", ts="", item_product_id="P2", item_price="3"),
            ]
        ),  # fmt: skip
        encoding="utf-8",
    )
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    [event] = events(wh, "NOTS")
    assert event["ts_inferred"] and event["items_subtotal"] == Decimal("5")
