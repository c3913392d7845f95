"""ODP historical CSV imports (SEMANTICS §1.2) through the real pipeline: every documented
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
from tests.conftest import Warehouse

COLUMNS = [
    "event_type", "action", "ts", "order_id", "product_id", "sku", "price", "quantity",
    "discount", "subtotal", "email", "phone", "customer_id", "vuid", "order_subtotal",
    "order_total", "order_tax", "order_shipping", "order_discount", "order_currency",
    "order_coupon_code", "order_bill_address", "order_ship_address", "order_first_name",
    "order_last_name", "order_name", "order_email", "order_phone", "order_gift_note",
    "item_color",
]  # fmt: skip
MAY_1 = "2026-05-01T10:00:00Z"


def line(order_id: str, action: str = "purchase", ts: str = MAY_1, **cells: str) -> dict:
    """One CSV row: an order line item, by default with an email identifier."""
    values = {"event_type": "order", "action": action, "ts": ts, "order_id": order_id}
    values.setdefault("email", f"{order_id.lower()}@example.com")
    return {**values, **cells}


def csv_text(rows: list[dict[str, Any]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run(landing: Path, warehouse: Path) -> Warehouse:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors
    return Warehouse(path=warehouse, summary=summary)


def write(folder: Path, name: str, rows: list[dict[str, Any]], **kw: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(csv_text(rows, **kw), encoding="utf-8")


EVERY_COLUMN = line(
    "FULL", ts="2026-05-02T12:30:00+02:00", product_id="P-1", sku="SKU-1", price="+12.5",
    quantity="2", discount="1.0", subtotal="24.00", email=" Full@Example.com ",
    phone="+44 20 7946 0000", customer_id="CUST-9", vuid="v-123", order_subtotal="24",
    order_total="30.5", order_tax="4.5", order_shipping="3.00", order_discount="1",
    order_currency="eur", order_coupon_code="SPRING", order_bill_address="1 Main St,,Town",
    order_ship_address="2 High St,,City", order_first_name="Alex", order_last_name="Morgan",
    order_name="Alex Morgan", order_email="alex@example.com", order_phone="0207 946 0001",
    order_gift_note="wrap it", item_color="red",
)  # fmt: skip

HISTORY = [
    EVERY_COLUMN,
    # two items, no order_subtotal: the event's subtotal is Σ item subtotals (one derived)
    line("MULTI", product_id="P1", price="10.00", quantity="2"),
    line("MULTI", product_id="P2", subtotal="5.50"),
    # order_subtotal given wins over the items
    line("GIVEN", product_id="P1", price="10", quantity="1", order_subtotal="30.00"),
    line("GIVEN", product_id="P2", price="15", quantity="1", order_subtotal="30.00"),
    # given on one row only: empty cells are no disagreement
    line("ONE", product_id="P1", price="10", order_subtotal="12"),
    line("ONE", product_id="P2", price="5"),
    # two actions of one order: two events; the refund is an order-level row
    line("ACTS", product_id="P1", price="40"),
    line("ACTS", action="refund", ts="2026-05-03T09:00:00Z", order_subtotal="15"),
    line("ACTS", action="Cancel ", ts="2026-05-04T09:00:00Z"),
    # epoch seconds
    line("EPOCH", ts="1777716000", product_id="P1", price="1"),
    # identity: CHAIN-A and CHAIN-B share a phone; CHAIN-B and CHAIN-C a customer_id
    line("CHAIN-A", email="chain@example.com", phone="+1 555 0100", product_id="P", price="1"),
    line("CHAIN-B", email="", phone="+1-555-0100", customer_id="K-7", product_id="P", price="1"),
    line("CHAIN-C", email="other@example.com", customer_id="K-7", product_id="P", price="1"),
]  # fmt: skip

BAD = [
    line("B-AMOUNT-1", product_id="P", price="1,234.50"),  # 1
    line("B-AMOUNT-2", product_id="P", price="1e3"),  # 2
    line("B-AMOUNT-3", product_id="P", price="$5"),  # 3
    line("B-AMOUNT-4", product_id="P", price="1.23456"),  # 4
    line("B-AMOUNT-5", product_id="P", price="123456789012345"),  # 5
    line("B-QTY", product_id="P", price="1", quantity="-1"),  # 6
    line("B-TS", ts="yesterday", product_id="P", price="1"),  # 7
    line("B-CUR", product_id="P", price="1", order_currency="EURO"),  # 8
    {**line("B-TYPE", product_id="P", price="1"), "event_type": "page"},  # 9
    line("", product_id="P", price="1"),  # 10
    line("B-ACTION", action="", product_id="P", price="1"),  # 11
    line("B-NOID", email="", product_id="P", price="1"),  # 12
    line("B-NOAMOUNT", product_id="P"),  # 13
    line("B-CONFLICT", product_id="P1", price="1", order_total="10"),  # 14
    line("B-CONFLICT", product_id="P2", price="1", order_total="11"),  # 15
    line("B-PART", product_id="P1", price="1"),  # 16
    line("B-PART", product_id="P2", price="oops"),  # 17
    line("B-CANCEL", action="cancel"),  # 18: a cancel may carry no amount: accepted
    line("B-SAME", product_id="P1", price="1", order_total="10"),  # 19: 10 and 10.00 agree
    line("B-SAME", product_id="P2", price="1", order_total="10.00"),  # 20
]
BAD_REASONS = {
    1: ["invalid_amount"], 2: ["invalid_amount"], 3: ["invalid_amount"], 4: ["invalid_amount"],
    5: ["invalid_amount"], 6: ["invalid_quantity"], 7: ["invalid_ts"], 8: ["invalid_currency"],
    9: ["unsupported_event_type"], 10: ["missing_order_id"], 11: ["missing_action"],
    12: ["missing_identifier"], 13: ["missing_amount"], 14: ["conflicting_order_values"],
    15: ["conflicting_order_values"], 16: ["incomplete_event"], 17: ["invalid_amount"],
}  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("odp_csv")
    write(root / "landing" / "odp_csv", "2026-05-history.csv", HISTORY)
    write(root / "landing" / "odp_csv", "2026-05-rejects.csv", BAD)
    return run(root / "landing", root / "warehouse.duckdb")


def events(wh: Warehouse, order_id: str) -> list[dict[str, Any]]:
    return wh.dicts(
        "select * from staging.stg_order_events where order_id = ? order by ts", [order_id]
    )


def test_every_column_is_parsed_value_by_value(history):
    [event] = events(history, "FULL")
    assert event["source"] == "odp_csv" and event["action"] == "purchase"
    assert event["ts"] == datetime(2026, 5, 2, 10, 30, tzinfo=UTC)
    assert not event["ts_inferred"]
    assert event["file"] == "odp_csv/2026-05-history.csv" and event["record_no"] == 1
    assert (event["subtotal"], event["total"], event["tax"], event["shipping"]) == (
        Decimal("24"), Decimal("30.5"), Decimal("4.5"), Decimal("3"),
    )  # fmt: skip
    assert event["discount"] == Decimal("1") and event["currency"] == "EUR"
    assert event["coupon_code"] == "SPRING"
    assert (event["bill_address"], event["ship_address"]) == ("1 Main St,,Town", "2 High St,,City")
    assert (event["first_name"], event["last_name"], event["name"]) == (
        "Alex", "Morgan", "Alex Morgan",
    )  # fmt: skip
    # order_email / order_phone win over the identifier columns as the order's contacts
    assert (event["email"], event["phone"]) == ("alex@example.com", "02079460001")
    assert json.loads(event["custom"]) == {"gift_note": "wrap it"}
    assert event["dropped_item_fields"] == 1  # item_color: ODP ignores item custom fields
    [item] = history.dicts("select * from staging.stg_order_items where order_id = 'FULL'")
    assert (item["product_id"], item["sku"]) == ("P-1", "SKU-1")
    assert (item["price"], item["quantity"], item["discount"], item["subtotal"]) == (
        Decimal("12.5"), Decimal("2"), Decimal("1"), Decimal("24"),
    )  # fmt: skip
    assert not item["subtotal_derived"]
    assert json.loads(item["custom"]) == {"gift_note": "wrap it"}
    identifiers = set(
        history.query(
            "select identifier_type, identifier_value from staging.stg_order_identifiers "
            "where order_id = 'FULL'"
        )
    )
    assert identifiers == {
        ("email", "full@example.com"), ("phone", "+442079460000"), ("customer_id", "CUST-9"),
        ("vuid", "v-123"), ("email", "alex@example.com"), ("phone", "02079460001"),
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


def test_order_subtotal_given_wins_over_the_items(history):
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


def test_epoch_seconds(history):
    [event] = events(history, "EPOCH")
    assert event["ts"] == datetime.fromtimestamp(1777716000, tz=UTC)


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
        "where file = 'odp_csv/2026-05-rejects.csv' order by record_no"
    )
    found = {n: sorted({r.split(":", 1)[0] for r in reasons}) for n, reasons in rows}
    assert found == BAD_REASONS
    [load] = history.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'odp_csv/2026-05-rejects.csv'"
    )
    assert load == (20, 3, 17, 0)
    conflict = dict(rows)[14]
    assert conflict == [
        "conflicting_order_values: rows of one order event (same order_id, action and ts in "
        "this file) send different order_total values; send the same value on each row or "
        "leave it empty"
    ]
    accepted = {o for (o,) in history.query("select order_id from core.orders")}
    assert {"B-CANCEL", "B-SAME"} <= accepted and "B-PART" not in accepted


def test_the_same_order_action_and_ts_in_two_files_are_two_events(tmp_path):
    folder = tmp_path / "landing" / "odp_csv"
    write(folder, "a.csv", [line("TWICE", product_id="P1", price="10")])
    write(folder, "b.csv", [line("TWICE", product_id="P2", price="7")])
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    ledger = wh.ledger("TWICE")
    assert [(e["file"], e["subtotal_delta"]) for e in ledger] == [
        ("odp_csv/a.csv", Decimal("10")),
        ("odp_csv/b.csv", Decimal("7")),
    ]
    assert wh.order("TWICE")["subtotal"] == Decimal("17")


def test_a_corrected_file_loads_the_held_back_event_once(tmp_path):
    """A bad row holds its whole event back; landing the corrected file loads the event
    whole, and the rows accepted the first time count as duplicates."""
    folder = tmp_path / "landing" / "odp_csv"
    good = line("KEEP", product_id="P", price="3")
    write(folder, "v1.csv", [good, line("FIX", product_id="P1", price="10"),
                             line("FIX", product_id="P2", price="x")])  # fmt: skip
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    assert wh.value("select count(*) from core.orders where order_id = 'FIX'") == 0
    write(folder, "v2.csv", [good, line("FIX", product_id="P1", price="10"),
                             line("FIX", product_id="P2", price="5")])  # fmt: skip
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    assert [(e["action"], e["subtotal_delta"]) for e in wh.ledger("FIX")] == [
        ("purchase", Decimal("15"))
    ]
    assert wh.query(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'odp_csv/v2.csv'"
    ) == [(3, 2, 0, 1)]
    assert wh.order("KEEP")["subtotal"] == Decimal("3")


def test_a_missing_ts_takes_the_ingestion_time(tmp_path):
    folder = tmp_path / "landing" / "odp_csv"
    write(folder, "nots.csv", [line("NOTS", ts="", product_id="P1", price="2"),
                               line("NOTS", ts="", product_id="P2", price="3")])  # fmt: skip
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    [event] = events(wh, "NOTS")
    assert event["ts_inferred"] and event["items_subtotal"] == Decimal("5")
