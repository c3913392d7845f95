"""ODP Orders-object updates (docs/semantics.md §1.3, §4.4) through the real pipeline: JSON, NDJSON
and CSV updates folded into one row per order, latest arrival per field; malformed updates
quarantined; duplicates counted; no ledger events."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=20)  # scheduled first (tests/conftest.py)


def run(landing: Path, warehouse: Path) -> Warehouse:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors
    return Warehouse(path=warehouse, summary=summary)


# Files first seen in one run arrive in lexicographic order of their path (§3): 1-, 2-, 3-.
FIRST = [  # 1-first.json: an array
    {"order_id": "A1", "status": "Processing", "subtotal": 100, "total": 110.5,
     "bill_address": "1 Main St,,Town", "email": " Alex@Example.com ", "gift": "yes"},
    {"order_id": "OBJ-ONLY-1", "total": 44, "phone": "+1 (555) 010-0000", "first_name": "Obi"},
]  # fmt: skip
SECOND = [  # 2-second.ndjson
    # null and absent never clear: only total and ship_address are carried
    {"order_id": "A1", "status": None, "total": 120, "ship_address": "2 High St,,City",
     "gift": None, "channel": "web"},
    {"order_id": "A1", "total": 120, "channel": "web", "ship_address": "2 High St,,City",
     "gift": None, "status": None},  # the same update again, keys reordered: a duplicate
]  # fmt: skip
THIRD = (  # 3-third.csv: empty cells are not carried
    "order_id,status,total,tax,currency,coupon_code,gift\n"
    "A1,shipped,,2.50,usd,,no\n"
    "OBJ-ONLY-1,,45.00,,,WELCOME,\n"
)


@pytest.fixture(scope="module")
def updates(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("odp_orders")
    folder = root / "landing" / "odp_orders"
    folder.mkdir(parents=True)
    (folder / "1-first.json").write_text(json.dumps(FIRST), encoding="utf-8")
    write_ndjson(folder / "2-second.ndjson", SECOND)
    (folder / "3-third.csv").write_text(THIRD, encoding="utf-8")
    return run(root / "landing", root / "warehouse.duckdb")


def overlay(wh: Warehouse, order_id: str) -> dict[str, Any]:
    rows = wh.dicts(
        "select * from intermediate.int_odp_order_updates where order_id = ?", [order_id]
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_each_field_takes_the_latest_update_that_carried_it(updates):
    a1 = overlay(updates, "A1")
    assert a1["status"] == "shipped"  # CSV, last
    assert a1["subtotal"] == Decimal("100")  # only the first update carried it
    assert a1["total"] == Decimal("120")  # the NDJSON; the CSV's empty cell is not carried
    assert a1["tax"] == Decimal("2.5") and a1["currency"] == "USD"
    assert a1["bill_address"] == "1 Main St,,Town" and a1["ship_address"] == "2 High St,,City"
    assert a1["email"] == "alex@example.com"
    # custom keys: latest per key; a JSON null is not carried
    assert json.loads(a1["custom"]) == {"gift": "no", "channel": "web"}
    assert a1["overridden_fields"] == sorted(
        ["bill_address", "currency", "email", "ship_address", "status", "subtotal", "tax",
         "total"]
    )  # fmt: skip
    assert a1["update_count"] == 3
    assert a1["first_arrival_seq"] < a1["last_arrival_seq"]


def test_types_are_decimal(updates):
    types = updates.query(
        "select distinct typeof(subtotal), typeof(total) from intermediate.int_odp_order_updates"
    )
    assert types == [("DECIMAL(18,4)", "DECIMAL(18,4)")]


def test_an_update_for_an_order_without_events_is_listed(updates):
    obj = overlay(updates, "OBJ-ONLY-1")
    assert obj["total"] == Decimal("45") and obj["coupon_code"] == "WELCOME"
    assert obj["phone"] == "+15550100000" and obj["first_name"] == "Obi"
    assert obj["overridden_fields"] == ["coupon_code", "first_name", "phone", "total"]
    assert obj["update_count"] == 2


def test_updates_create_no_ledger_events(updates):
    assert updates.value("select count(*) from core.order_events") == 0


def test_exact_duplicates_are_counted(updates):
    loads = dict(
        (f, (r, a, q, d))
        for f, r, a, q, d in updates.query(
            "select file, records, accepted, quarantined, duplicates from audit.loads"
        )
    )
    assert loads == {
        "odp_orders/1-first.json": (2, 2, 0, 0),
        "odp_orders/2-second.ndjson": (2, 1, 0, 1),
        "odp_orders/3-third.csv": (2, 2, 0, 0),
    }


def test_landing_the_same_files_again_changes_nothing(updates, tmp_path):
    def landed() -> dict[str, Any]:
        tables = table_contents(updates.path, ("raw", "staging", "intermediate", "audit"))
        tables.pop("audit.model_watermark")  # the models' bookkeeping, not what was landed
        return tables

    before = landed()
    again = run_pipeline(
        Settings(landing_dir=updates.path.parent / "landing", warehouse=updates.path)
    )
    assert again.success
    assert landed() == before


MALFORMED = [
    '{"order_id": "M1", "total": "12.50"}',  # 1 quoted number
    '{"order_id": "M2", "total": 1e400}',  # 2
    '{"order_id": "M3", "total": 12.345678}',  # 3 more than 4 decimals
    '{"order_id": "", "status": "x"}',  # 4
    '{"status": "x"}',  # 5
    '{"order_id": "M6"}',  # 6 nothing carried
    '{"order_id": "M7", "status": null, "total": null}',  # 7 nothing carried either
    '{"order_id": "M8", "currency": "EURO"}',  # 8
    '{"order_id": "M9", "first_name": {"a": 1}}',  # 9
    '{"order_id": "M10", "status": "a", "status": "b"}',  # 10
    "[1, 2",  # 11
    '"just a string"',  # 12
    '{"order_id": true, "status": "x"}',  # 13
]
MALFORMED_REASONS = {
    1: ["invalid_amount"], 2: ["invalid_amount"], 3: ["invalid_amount"],
    4: ["missing_order_id"], 5: ["missing_order_id"], 6: ["empty_update"], 7: ["empty_update"],
    8: ["invalid_currency"], 9: ["invalid_text"], 10: ["duplicate_key"], 11: ["invalid_json"],
    12: ["not_an_object"], 13: ["missing_order_id"],
}  # fmt: skip
MALFORMED_CSV = (
    "order_id,total,discount\n"
    'C1,"1,234.50",\n'  # 1 thousands separator
    "C2,12.5,-1\n"  # 2 fine: a negative discount is a number
    ",5,\n"  # 3
    "C4,5\n"  # 4 ragged
    "C5,$5,\n"  # 5
)
MALFORMED_CSV_REASONS = {
    1: ["invalid_amount"], 3: ["missing_order_id"], 4: ["ragged_row"], 5: ["invalid_amount"],
}  # fmt: skip


def test_malformed_updates_are_quarantined_with_their_reasons(tmp_path):
    folder = tmp_path / "landing" / "odp_orders"
    write_ndjson(folder / "bad.ndjson", MALFORMED)
    (folder / "bad.csv").write_text(MALFORMED_CSV, encoding="utf-8")
    wh = run(tmp_path / "landing", tmp_path / "w.duckdb")
    for name, expected in (("bad.ndjson", MALFORMED_REASONS), ("bad.csv", MALFORMED_CSV_REASONS)):
        rows = wh.query(
            "select record_no, reasons from audit.quarantine where file = ? order by 1",
            [f"odp_orders/{name}"],
        )
        assert {n: sorted({r.split(":", 1)[0] for r in rs}) for n, rs in rows} == expected
    assert overlay(wh, "C2")["discount"] == Decimal("-1")
    assert wh.value("select count(*) from intermediate.int_odp_order_updates") == 1


def test_the_samples_land_whole_and_overlay_the_csv_history(tmp_path):
    from orders_pipeline.samples import odp_csv, odp_orders

    landing = tmp_path / "landing"
    written = odp_csv.write_sample(landing) + odp_orders.write_sample(landing)
    assert [p.read_bytes() for p in written] == [
        p.read_bytes()
        for p in odp_csv.write_sample(tmp_path / "again")
        + odp_orders.write_sample(tmp_path / "again")
    ]
    wh = run(landing, tmp_path / "w.duckdb")
    assert wh.value("select count(*) from audit.quarantine") == 0
    assert wh.value("select sum(records) = sum(accepted) from audit.loads")
    obj = overlay(wh, "OBJ-ONLY-1")
    assert (obj["status"], obj["total"]) == ("delivered", Decimal("52.5"))
    assert overlay(wh, "ODP-CSV-1002")["total"] == Decimal("65.1")  # the CSV came later
    assert wh.value("select count(*) from core.order_events where order_id = 'OBJ-ONLY-1'") == 0
