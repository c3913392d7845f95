"""Ometria Order / OrderExtended snapshots (docs/semantics.md §1.4, §2, §5, §6) through the real
pipeline: every field parsed, the seed document's own examples, snapshots turned into ledger
events step by step, identity, quarantine and duplicates."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import RECENT_PARTITION_START, Warehouse, write_ndjson

pytestmark = pytest.mark.heavy(seconds=50)  # scheduled first (tests/conftest.py)

# The Order example of Ometria's Order API document (seeds/ometria_order_api.txt), verbatim.
SEED_ORDER: dict[str, Any] = {
    "@type": "order",
    "billing_address": {
        "city": "London",
        "country_code": "GB",
        "postcode": "W1K 4TG",
        "state": "Greater London",
    },
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
            "variant_options": [
                {"id": "large", "label": "Large", "type": "size"},
                {"id": "color-45", "label": "Blue", "type": "color"},
            ],
        }
    ],
    "payment_method": "card",
    "properties": {"custom_key": "custom value"},
    "shipping": 2,
    "shipping_address": {
        "city": "London",
        "country_code": "GB",
        "postcode": "W1K 4TG",
        "state": "Greater London",
    },
    "shipping_method": "standard",
    "status": "complete",
    "store": "example.com/en",
    "subtotal": 83.33,
    "tax": 16.07,
    "timestamp": "2015-01-02T09:00:00+00",
    "web_id": "891743",
}

# The OrderExtended example of the same document, verbatim but for its id (the document
# reuses 123553).
SEED_ORDER_EXTENDED: dict[str, Any] = {
    "@type": "order",
    "billing_address": copy.deepcopy(SEED_ORDER["billing_address"]),
    "channel": "online",
    "coupon_code": "FJ45-TJ5Y-5YK3-T894",
    "customer": {"email": "john.smith@example.com", "firstname": "John", "lastname": "Smith"},
    "id": "123553-X",
    "ip_address": "127.0.0.1",
    "is_valid": True,
    "lineitems": [
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
            },
            "unit_price": 50,
            "variant_options": [
                {"id": "large", "label": "Large", "type": "size"},
                {"id": "color-45", "label": "Blue", "type": "color"},
            ],
        }
    ],
    "payment_method": "card",
    "properties": {"custom_key": "custom value"},
    "shipping_address": copy.deepcopy(SEED_ORDER["shipping_address"]),
    "shipping_method": "standard",
    "status": "complete",
    "store": "example.com/en",
    "timestamp": "2015-01-02T09:00:00+00",
    "totals": {
        "base": {"currency": "USD", "discount": -10, "grand_total": 149, "shipping": 10, "tax": 20},
        "local": {
            "currency": "USD",
            "discount": -10,
            "grand_total": 149,
            "shipping": 10,
            "tax": 20,
        },
    },
    "web_id": "891743",
}

# The OrderLineItem and OrderCustomer examples: every documented line and customer field.
SEED_LINE_ITEM: dict[str, Any] = {
    "discount": -10,
    "is_on_sale": True,
    "product_id": "SS14-059493",
    "properties": {"custom_key": "custom value"},
    "quantity": 2,
    "sku": "SS14-059493-S5",
    "subtotal": 100,
    "tax": 0,
    "total": 100,
    "unit_price": 50,
    "variant_options": [
        {"id": "large", "label": "Large", "type": "size"},
        {"id": "color-45", "label": "Blue", "type": "color"},
    ],
}
SEED_CUSTOMER = {
    "email": "john.smith@example.com",
    "firstname": "John",
    "id": "546548",
    "lastname": "Smith",
}


def ts(day: int, hour: int = 12) -> str:
    """An Ometria timestamp on 2026-06-{day}."""
    return f"2026-06-{day:02d}T{hour:02d}:00:00+00:00"


def line(product_id: str | None, quantity: int, unit_price: float, **fields: Any) -> dict:
    """An OrderLineItem: subtotal = quantity × unit price unless given."""
    item: dict[str, Any] = {"quantity": quantity, "unit_price": unit_price}
    if product_id is not None:
        item["product_id"] = product_id
    item.setdefault("subtotal", quantity * unit_price)
    item.update(fields)
    return item


def order(order_id: str, day: int, subtotal: float, **fields: Any) -> dict[str, Any]:
    """A minimal valid Ometria Order: GBP, grand total = subtotal + 10 shipping."""
    record: dict[str, Any] = {
        "@type": "order",
        "id": order_id,
        "timestamp": ts(day),
        "currency": "GBP",
        "subtotal": subtotal,
        "grand_total": subtotal + 10,
        "shipping": 10,
        "customer": {"email": f"{order_id.lower()}@example.com"},
    }
    record.update(fields)
    return record


# Examples whose order ids and file names are their own: one run over all of them serves
# every test that reads only its own orders, files and products (``wh``), instead of a run
# per test. The tests with settings of their own keep their own runs; those that need runs
# one after another share one sequence of runs (``runs``, below).
FILES: dict[str, list[Any]] = {}  # name under ometria_orders/ -> its NDJSON records
RAW_FILES: dict[str, bytes] = {}  # name under ometria_orders/ -> its bytes as sent


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("ometria")
    landing = folder / "landing"
    for name, records in FILES.items():
        write_ndjson(landing / "ometria_orders" / name, records)
    for name, data in RAW_FILES.items():
        (landing / "ometria_orders" / name).write_bytes(data)
    settings = Settings(
        landing_dir=landing,
        warehouse=folder / "warehouse.duckdb",
        partition_start=RECENT_PARTITION_START,
    )
    summary = run_pipeline(settings)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=settings.warehouse, summary=summary)


def orders_of_files(wh: Warehouse, *names: str) -> list[tuple[str, Decimal]]:
    """(order_id, subtotal) of the orders with an event from one of the files ``names``."""
    return wh.query(
        """select order_id, subtotal from core.orders where order_id in (
               select order_id from core.order_events where list_contains(?, file))
           order by order_id""",
        [[f"ometria_orders/{name}" for name in names]],
    )


@pytest.fixture
def ometria(landing: Path, run_landing: Callable[..., Warehouse]) -> Callable[..., Warehouse]:
    """Write Ometria records as one NDJSON file under ometria_orders/ and run the pipeline
    (the same warehouse on every call: a second call is an incremental run)."""

    def _run(records: list[Any], name: str = "orders.ndjson", **settings: Any) -> Warehouse:
        write_ndjson(landing / "ometria_orders" / name, records)
        return run_landing(landing, **{"partition_start": RECENT_PARTITION_START, **settings})

    return _run


def steps(wh: Warehouse, order_id: str) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(action, subtotal_delta, running_subtotal, running_total) of each ledger event."""
    return [
        (e["action"], e["subtotal_delta"], e["running_subtotal"], e["running_total"])
        for e in wh.ledger(order_id)
    ]


def items(wh: Warehouse, order_id: str, action: str | None = None) -> list[tuple]:
    """(action, product_id, sku, quantity, subtotal) of the order's items in ledger order."""
    return wh.query(
        """select i.action, i.product_id, i.sku, i.quantity, i.subtotal
        from core.order_items as i join core.order_events as e using (event_id)
        where i.order_id = ? and (? is null or i.action = ?)
        order by e.event_seq, i.item_no""",
        [order_id, action, action],
    )


# -- the seed's own examples --------------------------------------------------------------------


FILES["seed.ndjson"] = [SEED_ORDER]


def test_the_seed_order_loads_value_by_value(wh):
    [snapshot] = wh.dicts("select * from staging.ometria_order_snapshots where order_id = '123553'")
    assert snapshot["order_id"] == "123553"
    assert (snapshot["subtotal"], snapshot["grand_total"]) == (Decimal("83.33"), Decimal("96.4"))
    assert (snapshot["discount"], snapshot["shipping"], snapshot["tax"]) == (
        -5,
        2,
        Decimal("16.07"),
    )
    assert snapshot["currency"] == "GBP"
    assert str(snapshot["ts"]) == "2015-01-02 09:00:00+00:00"  # the hour-only offset `+00`
    assert snapshot["customer_email"] == "john.smith@example.com"
    assert json.loads(snapshot["custom"]) == {"properties": {"custom_key": "custom value"}}

    [event] = wh.ledger("123553")
    assert (event["action"], event["subtotal_delta"], event["total_delta"]) == (
        "purchase",
        Decimal("83.33"),
        Decimal("96.4"),
    )
    o = wh.order("123553")
    assert (o["subtotal"], o["total"], o["currency"], o["status"]) == (
        Decimal("83.33"),
        Decimal("96.4"),
        "GBP",
        "purchase",
    )
    assert (o["tax"], o["shipping"], o["discount"]) == (Decimal("16.07"), 2, -5)
    assert o["coupon_code"] == "FJ45-TJ5Y-5YK3-T894"
    assert o["email"] == "john.smith@example.com"
    assert (o["first_name"], o["last_name"], o["name"]) == ("John", "Smith", "John Smith")
    assert o["ship_address"] == o["bill_address"] == "London, Greater London, W1K 4TG, GB"
    assert o["customer_id"] is not None

    [item] = wh.dicts("select * from core.order_items where order_id = '123553'")
    assert (item["product_id"], item["sku"], item["quantity"], item["price"]) == (
        "SS14-059493",
        "SS14-059493-S5",
        2,
        50,
    )
    assert item["subtotal"] == 100  # the line's total: it sent no subtotal
    assert json.loads(item["attributes"]) == {
        "variant_options": SEED_ORDER["lineitems"][0]["variant_options"],
        "properties": {"custom_key": "custom value"},
    }


FILES["seed_extended.ndjson"] = [SEED_ORDER_EXTENDED]


def test_the_seed_order_extended_takes_totals_local_and_base(wh):
    [snapshot] = wh.dicts(
        "select * from staging.ometria_order_snapshots where order_id = '123553-X'"
    )
    assert snapshot["is_extended"] and snapshot["currency"] is None
    assert (snapshot["local_currency"], snapshot["local_grand_total"]) == ("USD", 149)
    assert (snapshot["base_currency"], snapshot["base_grand_total"]) == ("USD", 149)
    assert (snapshot["base_discount"], snapshot["base_shipping"], snapshot["base_tax"]) == (
        -10,
        10,
        20,
    )
    [line_row] = wh.dicts(
        "select * from staging.ometria_order_snapshot_items where event_id in "
        "(select event_id from staging.ometria_order_snapshots where order_id = '123553-X')"
    )
    assert (line_row["local_currency"], line_row["local_subtotal"], line_row["local_total"]) == (
        "USD",
        129,
        120,
    )
    assert (line_row["base_currency"], line_row["base_subtotal"], line_row["base_total"]) == (
        "GBP",
        99,
        95,
    )

    # no subtotal anywhere: the amount is totals.local.grand_total (§1.4)
    [event] = wh.dicts("select * from intermediate.int_order_events where order_id = '123553-X'")
    assert (event["currency"], event["subtotal"], event["total"]) == ("USD", 149, 149)
    # §6: totals.base is in the base currency (USD by default): used as sent
    assert (event["subtotal_base_sent"], event["total_base_sent"]) == (149, 149)
    o = wh.order("123553-X")
    assert (o["subtotal"], o["tax"], o["shipping"], o["discount"]) == (149, 20, 10, -10)
    # the line has no subtotal of its own: its totals.local subtotal
    assert items(wh, "123553-X") == [("purchase", "SS14-059493", "SS14-059493-S5", 2, 129)]


def test_base_totals_in_another_currency_are_not_used(ometria):
    wh = ometria([SEED_ORDER_EXTENDED], base_currency="EUR")
    [event] = wh.dicts("select * from intermediate.int_order_events where order_id = '123553-X'")
    assert (event["subtotal_base_sent"], event["total_base_sent"]) == (None, None)


def _every_field() -> dict[str, Any]:
    """The Order example with every documented field (its id other than the seed's)."""
    record = copy.deepcopy(SEED_ORDER)
    record["id"] = "123553-F"
    record["customer"] = SEED_CUSTOMER
    record["lineitems"] = [
        {**SEED_LINE_ITEM, "variant_id": "V-1", "quantity_refunded": 1, "refunded": 50}
    ]
    record["billing_address"] = {**record["billing_address"], "street": ["1 Oxford St", "Flat 2"]}
    record["loyalty_tier"] = "gold"  # undocumented: kept in custom
    return record


FILES["every_field.ndjson"] = [_every_field()]


def test_every_documented_field_is_parsed(wh):
    [s] = wh.dicts("select * from staging.ometria_order_snapshots where order_id = '123553-F'")
    assert {k: s[k] for k in ("web_id", "status", "ip_address", "channel", "store")} == {
        "web_id": "891743",
        "status": "complete",
        "ip_address": "127.0.0.1",
        "channel": "online",
        "store": "example.com/en",
    }
    assert (s["payment_method"], s["shipping_method"], s["coupon_code"]) == (
        "card",
        "standard",
        "FJ45-TJ5Y-5YK3-T894",
    )
    assert (s["customer_id"], s["customer_firstname"], s["customer_lastname"]) == (
        "546548",
        "John",
        "Smith",
    )
    assert s["is_valid"] is True
    assert json.loads(s["shipping_address"]) == SEED_ORDER["shipping_address"]
    assert json.loads(s["custom"]) == {
        "properties": {"custom_key": "custom value"},
        "loyalty_tier": "gold",
    }
    [i] = wh.dicts(
        "select * from staging.ometria_order_snapshot_items where event_id in "
        "(select event_id from staging.ometria_order_snapshots where order_id = '123553-F')"
    )
    assert {k: i[k] for k in ("product_id", "sku", "variant_id", "is_on_sale")} == {
        "product_id": "SS14-059493",
        "sku": "SS14-059493-S5",
        "variant_id": "V-1",
        "is_on_sale": True,
    }
    assert [i[k] for k in ("quantity", "quantity_refunded", "unit_price", "subtotal")] == [
        2,
        1,
        50,
        100,
    ]
    assert [i[k] for k in ("total", "refunded", "discount", "tax")] == [100, 50, -10, 0]
    assert json.loads(i["variant_options"]) == SEED_LINE_ITEM["variant_options"]
    assert json.loads(i["properties"]) == {"custom_key": "custom value"}

    o = wh.order("123553-F")
    assert o["bill_address"] == "1 Oxford St, Flat 2, London, Greater London, W1K 4TG, GB"
    identifiers = wh.query(
        "select identifier_type, identifier_value from intermediate.int_order_identifiers "
        "where order_id = '123553-F' order by 1"
    )
    assert identifiers == [("email", "john.smith@example.com"), ("ometria_customer_id", "546548")]


# -- snapshots into ledger events (§1.4) --------------------------------------------------------

LINES = {"PA": (2, 50), "PB": (1, 30)}


def refund_series() -> list[dict[str, Any]]:
    """One order's snapshots: purchase (PA×2 at 50, PB×1 at 30), a refund of one PA, a
    refund of PB, a full refund by is_valid false, and a re-validation."""
    bought = order("R1", 1, 130, lineitems=[line("PA", 2, 50), line("PB", 1, 30)])
    one_pa_back = order(
        "R1",
        3,
        80,
        lineitems=[
            line("PA", 1, 50, quantity_refunded=1, refunded=50),
            line("PB", 1, 30),
        ],
    )
    pb_back = order(
        "R1",
        5,
        50,
        lineitems=[
            line("PA", 1, 50, quantity_refunded=1, refunded=50),
            line("PB", 0, 30, quantity_refunded=1, refunded=30),
        ],
    )
    invalid = {**pb_back, "timestamp": ts(7), "is_valid": False, "status": "refunded"}
    revalidated = {**pb_back, "timestamp": ts(9), "is_valid": True, "status": "complete"}
    return [bought, one_pa_back, pb_back, invalid, revalidated]


# An order whose refunded snapshot is sent again in a later file (the re-sent snapshot test).
RESENT_FIRST = order("D1", 1, 100, lineitems=[line("PA", 2, 50)])
RESENT_REFUNDED = order(
    "D1", 2, 50, lineitems=[line("PA", 1, 50, quantity_refunded=1, refunded=50)]
)
# the same snapshot, keys in another order and other whitespace
RESENT_AGAIN = json.dumps(
    dict(reversed(list(RESENT_REFUNDED.items()))), indent=None, separators=(", ", ": ")
)

# The refund series and the re-sent snapshot each need runs one after another on one
# warehouse: they share one such sequence (``runs``), the files landed before each run.
SEQUENCE: list[dict[str, list[Any]]] = [
    {f"step{n + 1}.ndjson": [snapshot]} for n, snapshot in enumerate(refund_series())
]
SEQUENCE[0]["resend_a.ndjson"] = [RESENT_FIRST, RESENT_REFUNDED]
SEQUENCE[1]["resend_b.ndjson"] = [RESENT_AGAIN]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Warehouse]:
    """One warehouse run once per SEQUENCE entry, after that entry's files land: a copy of
    the warehouse after each run."""
    folder = tmp_path_factory.mktemp("ometria_runs")
    settings = Settings(
        landing_dir=folder / "landing",
        warehouse=folder / "warehouse.duckdb",
        partition_start=RECENT_PARTITION_START,
    )
    after: list[Warehouse] = []
    for n, files in enumerate(SEQUENCE, start=1):
        for name, records in files.items():
            write_ndjson(settings.landing_dir / "ometria_orders" / name, records)
        summary = run_pipeline(settings)
        assert summary.success, f"run {n} failed: {summary.failed_steps} {summary.errors}"
        copy_path = folder / f"after_run_{n}.duckdb"
        shutil.copy(settings.warehouse, copy_path)
        # the copy is the whole warehouse: no write-ahead log is left beside it
        assert not settings.warehouse.with_name("warehouse.duckdb.wal").exists()
        after.append(Warehouse(path=copy_path, summary=summary))
    return after


def test_a_refund_series_yields_the_documented_events_step_by_step(runs):
    expected_steps = [
        ("purchase", 130, 130, 140),
        ("refund", -50, 80, 90),
        ("refund", -30, 50, 60),
        ("refund", -50, 0, 0),
        ("purchase", 50, 50, 60),
    ]
    refund_states = ["none", "partial", "partial", "full", "partial"]
    for n, wh in enumerate(runs):  # after snapshot n + 1 (step{n + 1}.ndjson)
        assert steps(wh, "R1") == expected_steps[: n + 1], f"after snapshot {n + 1}"
        assert wh.order("R1")["refund_state"] == refund_states[n], f"after snapshot {n + 1}"
    ledger = wh.ledger("R1")
    assert [e["refund_kind"] for e in ledger] == [None, "partial", "partial", "full", None]
    assert [str(e["ts"])[:10] for e in ledger] == [
        "2026-06-01",
        "2026-06-03",
        "2026-06-05",
        "2026-06-07",
        "2026-06-09",
    ]
    assert items(wh, "R1") == [
        ("purchase", "PA", None, 2, 100),
        ("purchase", "PB", None, 1, 30),
        ("refund", "PA", None, 1, 50),  # the refunded unit, valued at `refunded`
        ("refund", "PB", None, 1, 30),
        ("refund", "PA", None, 1, 50),  # is_valid false: what remained goes
        ("purchase", "PA", None, 1, 50),  # re-validation buys the remainder again
    ]


FILES["first_with_refunds.ndjson"] = [
    order(
        "G1",
        2,
        70,
        lineitems=[
            line("PA", 1, 50, quantity_refunded=1, refunded=50),
            line(None, 1, 20, sku="S-2"),
        ],
    )
]


def test_a_first_snapshot_with_refunds_is_a_gross_purchase_then_a_refund(wh):
    assert steps(wh, "G1") == [("purchase", 120, 120, 130), ("refund", -50, 70, 80)]
    events = wh.dicts(
        "select record_part, ts from intermediate.int_order_events where order_id = 'G1' "
        "order by record_part"
    )
    assert [e["record_part"] for e in events] == [0, 1]
    assert events[0]["ts"] == events[1]["ts"]
    # line keyed by sku when it has no product_id
    assert items(wh, "G1") == [
        ("purchase", "PA", None, 2, 100),
        ("purchase", None, "S-2", 1, 20),
        ("refund", "PA", None, 1, 50),
    ]


FILES["cancel_and_return.ndjson"] = [
    order("C1", 1, 100, lineitems=[line("PA", 2, 50)]),
    order("C1", 2, 100, lineitems=[line("PA", 2, 50)], status="cancelled", is_valid=False),
    order("C2", 1, 100, lineitems=[line("PA", 2, 50)]),
    order("C2", 3, 100, lineitems=[line("PA", 2, 50)], status="Canceled", is_valid=False),
    order("T1", 1, 100, lineitems=[line("PA", 2, 50)]),
    order(
        "T1",
        4,
        50,
        status="returned",
        lineitems=[line("PA", 1, 50, quantity_refunded=1, refunded=50)],
    ),
]


def test_cancel_and_return_by_status(wh):
    assert steps(wh, "C1") == [("purchase", 100, 100, 110), ("cancel", -100, 0, 0)]
    assert steps(wh, "C2") == [("purchase", 100, 100, 110), ("cancel", -100, 0, 0)]
    assert steps(wh, "T1") == [("purchase", 100, 100, 110), ("return", -50, 50, 60)]
    assert wh.order("C1")["is_cancelled"] and not wh.order("C1")["counts_for_lifecycle"]
    assert wh.order("T1")["refund_state"] == "partial"
    assert items(wh, "C1", "cancel") == [("cancel", "PA", None, 2, 100)]
    assert items(wh, "T1", "return") == [("return", "PA", None, 1, 50)]


FILES["increase.ndjson"] = [
    order("I1", 1, 100, lineitems=[line("PA", 2, 50)]),
    order("I1", 2, 180, lineitems=[line("PA", 3, 50), line("PC", 1, 30)]),
    # same net, other fields changed: no event
    order("I1", 3, 180, lineitems=[line("PA", 3, 50), line("PC", 1, 30)], store="x"),
]


def test_an_increase_is_a_purchase_of_the_difference(wh):
    assert steps(wh, "I1") == [("purchase", 100, 100, 110), ("purchase", 80, 180, 190)]
    assert items(wh, "I1")[1:] == [("purchase", "PA", None, 1, 50), ("purchase", "PC", None, 1, 30)]


def _extended(day: int, local: float, base: float, **line_totals: Any) -> dict[str, Any]:
    """An OrderExtended snapshot of B1: local EUR and base USD totals."""
    return {
        "id": "B1",
        "timestamp": ts(day),
        "totals": {
            "local": {"currency": "EUR", "subtotal": local, "grand_total": local + 5},
            "base": {"currency": "USD", "subtotal": base, "grand_total": base + 6},
        },
        "customer": {"email": "b1@example.com"},
        "lineitems": [{"product_id": "PA", "quantity": 1, **line_totals}],
    }


FILES["base_amounts.ndjson"] = [
    _extended(1, 100, 110),
    _extended(
        2,
        60,
        66,
        quantity_refunded=1,
        totals={"local": {"refunded": 40}, "base": {"refunded": 44}},
    ),
]


def test_base_amounts_are_differenced_like_local_ones(wh):
    events = wh.query(
        "select action, currency, subtotal, total, subtotal_base_sent, total_base_sent "
        "from intermediate.int_order_events where order_id = 'B1' order by arrival_seq, record_part"
    )
    assert events == [
        ("purchase", "EUR", 100, 105, 110, 116),
        ("refund", "EUR", 40, 40, 44, 44),
    ]


# -- customers (§1.4, §5) -----------------------------------------------------------------------


FILES["customers.ndjson"] = [
    order("K1", 1, 10, customer={"id": "C-9"}),
    order("K2", 2, 10, customer={"id": "C-9", "email": "Kim@Example.com"}),
    order("K3", 3, 10, customer={"email": " kim@example.com "}),
    order("N1", 4, 10, customer={"firstname": "Ann", "lastname": "Onymous"}),
]


def test_customers_by_id_and_by_email_and_anonymous_by_name(wh):
    customers = {o: wh.order(o)["customer_id"] for o in ("K1", "K2", "K3", "N1")}
    assert customers["K1"] is not None
    assert customers["K1"] == customers["K2"] == customers["K3"]
    assert customers["N1"] is None  # §5: name only is an anonymous order
    anonymous = wh.order("N1")
    assert (anonymous["first_name"], anonymous["last_name"], anonymous["name"]) == (
        "Ann",
        "Onymous",
        "Ann Onymous",
    )
    [customer] = wh.dicts("select * from core.customers where customer_id = ?", [customers["K1"]])
    assert customer["emails"] == ["kim@example.com"]
    assert json.loads(customer["other_identifiers"]) == {"ometria_customer_id": ["C-9"]}


# -- quarantine and duplicates (§2) -------------------------------------------------------------

BAD_RECORDS: list[tuple[Any, list[str]]] = [
    ("{not json", ["invalid_json"]),
    ([order("Q2", 1, 10)], ["not_an_object"]),
    (order("Q3", 1, 10, **{"@type": "product"}), ["unsupported_type"]),
    (order("", 1, 10), ["missing_order_id"]),
    # a record lacking a field a full Order requires is a partial record (§1.4): for an order
    # never loaded it is also unknown_order
    (
        {k: v for k, v in order("Q5", 1, 10).items() if k != "timestamp"},
        ["missing_timestamp", "unknown_order"],
    ),
    (order("Q6", 1, 10, timestamp="2026-06-01T09:00:00"), ["invalid_timestamp"]),
    (order("Q7", 1, 10, currency="pounds"), ["invalid_currency"]),
    (
        {k: v for k, v in order("Q8", 1, 10).items() if k != "currency"},
        ["missing_currency", "unknown_order"],
    ),
    (order("Q9", 1, 10, discount=5), ["invalid_discount"]),
    (order("Q10", 1, 10, grand_total="20.00"), ["invalid_amount"]),
    (
        {k: v for k, v in order("Q11", 1, 10).items() if k != "grand_total"},
        ["missing_amount", "unknown_order"],
    ),
    (order("Q12", 1, 10.00001), ["invalid_amount"]),
    (order("Q13", 1, 10, is_valid="yes"), ["invalid_is_valid"]),
    (order("Q14", 1, 10, lineitems={"product_id": "P"}), ["invalid_lineitems"]),
    (order("Q15", 1, 10, lineitems=[{"quantity": 1, "unit_price": 10}]), ["missing_product"]),
    (order("Q16", 1, 10, lineitems=[line("P", -1, 10)]), ["invalid_quantity"]),
    (
        order("Q17", 1, 10, lineitems=[line("P", 1, 10, quantity_refunded=-1)]),
        ["invalid_quantity"],
    ),
    (order("Q18", 1, 10, lineitems=[line("P", 1, 10, refunded="5")]), ["invalid_amount"]),
    (order("Q19", 1, 10, customer="kim@example.com"), ["invalid_customer"]),
    (
        order("Q20", 1, 10, totals={"local": {"currency": "GBP"}}),
        ["missing_amount", "unknown_order"],
    ),
    (
        order("Q21", 1, 10, totals={"local": {"currency": "EUR", "grand_total": 10}}),
        ["conflicting_currency"],
    ),
    (order("Q22", 1, 10, lineitems=[line("P", 1, 10, variant_options={})]), ["invalid_item"]),
]


FILES["malformed.ndjson"] = [
    order("OK1", 1, 10),
    *(record if isinstance(record, str) else json.dumps(record) for record, _ in BAD_RECORDS),
    order("OK2", 1, 20),
]


def test_malformed_records_are_quarantined_with_their_reason_while_good_ones_load(wh):
    [load] = wh.dicts(
        "select records, accepted, quarantined, duplicates from audit.loads "
        "where file = 'ometria_orders/malformed.ndjson'"
    )
    assert load == {
        "records": len(BAD_RECORDS) + 2,
        "accepted": 2,
        "quarantined": len(BAD_RECORDS),
        "duplicates": 0,
    }
    rows = wh.dicts(
        "select record_no, reasons, raw from audit.quarantine "
        "where file = 'ometria_orders/malformed.ndjson' order by record_no"
    )
    found = {
        r["record_no"]: sorted({reason.split(":")[0] for reason in r["reasons"]}) for r in rows
    }
    assert found == {n + 2: codes for n, (_, codes) in enumerate(BAD_RECORDS)}
    for row in rows:
        assert all(": " in reason and " " in reason.split(": ", 1)[1] for reason in row["reasons"])
    assert rows[0]["raw"] == "{not json"
    assert [o for o, _ in orders_of_files(wh, "malformed.ndjson")] == ["OK1", "OK2"]


def test_an_identical_snapshot_sent_again_is_a_duplicate_and_changes_nothing(runs):
    # RESENT_FIRST and RESENT_REFUNDED in the first run, RESENT_AGAIN in the second
    before = steps(runs[0], "D1")
    wh = runs[1]
    [load] = wh.dicts(
        "select accepted, duplicates from audit.loads where file = 'ometria_orders/resend_b.ndjson'"
    )
    assert load == {"accepted": 0, "duplicates": 1}
    assert steps(wh, "D1") == before == [("purchase", 100, 100, 110), ("refund", -50, 50, 60)]


RAW_FILES["array.json"] = json.dumps([order("J1", 1, 10), order("J2", 1, 20)]).encode()
RAW_FILES["one.json"] = json.dumps(order("J3", 1, 30)).encode()
RAW_FILES["crlf.jsonl"] = b"\xef\xbb\xbf" + json.dumps(order("J4", 1, 40)).encode() + b"\r\n\r\n"
FILES["j5.ndjson"] = [order("J5", 1, 50)]


def test_a_json_array_file_and_a_bom_crlf_ndjson_file_land(wh):
    assert orders_of_files(wh, "array.json", "one.json", "crlf.jsonl", "j5.ndjson") == [
        (f"J{n}", n * 10) for n in range(1, 6)
    ]


PAYLOAD = "'); DROP TABLE core.orders; --"
FILES["sql_looking.ndjson"] = [
    order("X1" + PAYLOAD, 1, 10, coupon_code=PAYLOAD, lineitems=[line(PAYLOAD, 1, 10)])
]


def test_sql_looking_values_are_stored_verbatim(wh):
    payload = PAYLOAD
    o = wh.order("X1" + payload)
    assert o["coupon_code"] == payload
    assert items(wh, "X1" + payload) == [("purchase", payload, None, 1, 10)]


# -- products Ometria creates -------------------------------------------------------------------


FILES["new_products.ndjson"] = [
    order(
        "P1",
        1,
        30,
        lineitems=[
            line("NEW-1", 1, 10, sku="NEW-1-S", name="Blue mug", properties={"k": "v"}),
            line(None, 1, 20, sku="ONLY-SKU"),
        ],
    ),
    order("P2", 2, 10, lineitems=[line("NEW-1", 1, 10, sku="OTHER", name="Renamed")]),
]


def test_an_unknown_product_id_creates_a_product_an_unknown_sku_does_not(wh):
    products = wh.dicts(
        "select * from intermediate.int_ometria_products "
        "where product_id = 'NEW-1' or sku in ('NEW-1-S', 'ONLY-SKU', 'OTHER')"
    )
    assert len(products) == 1
    [p] = products
    assert (p["product_id"], p["sku"], p["name"]) == ("NEW-1", "NEW-1-S", "Blue mug")
    assert json.loads(p["attributes"]) == {"variant_options": None, "properties": {"k": "v"}}
    first = wh.value(
        "select min(arrival_seq) from staging.ometria_order_snapshots where order_id = 'P1'"
    )
    assert p["first_arrival_seq"] == first


# -- the sample ---------------------------------------------------------------------------------


def test_the_sample_is_deterministic_and_loads_as_documented(tmp_path, run_landing):
    from orders_pipeline.samples.ometria_orders import write_sample

    first = [p.read_bytes() for p in write_sample(tmp_path / "a")]
    again = [p.read_bytes() for p in write_sample(tmp_path / "b")]
    assert first == again

    landing = tmp_path / "landing"
    paths = write_sample(landing)
    assert all(p.parent == landing / "ometria_orders" for p in paths)
    wh = run_landing(landing)
    loads = wh.dicts(
        "select file, records, accepted, quarantined, duplicates from audit.loads order by file"
    )
    assert [(r["accepted"], r["quarantined"], r["duplicates"]) for r in loads] == [
        (2, 0, 0),  # the API examples
        (16, 0, 0),
        (1, 1, 1),  # a re-send, a re-validation, a record without grand_total
    ]
    assert [e[0] for e in steps(wh, "OM-1001")] == [
        "purchase",
        "refund",
        "refund",
        "refund",
        "purchase",
    ]
    assert wh.order("OM-1002")["is_cancelled"]
    assert wh.order("OM-1003")["status"] == "return"
    assert wh.order("OM-1009")["customer_id"] is None
    shared = wh.order("OM-1010")
    assert (shared["email"], shared["first_name"], shared["last_name"]) == (
        "shared.customer@example.com",
        "Alex",
        "Morgan",
    )
    assert all(str(ts)[:7] == "2026-06" for (ts,) in wh.query("select ts from core.order_events"))
    # landing the same folder again changes nothing
    before = wh.query("select * exclude (customer_id) from core.order_events order by event_id")
    wh = run_landing(landing)
    assert wh.query("select * exclude (customer_id) from core.order_events order by event_id") == (
        before
    )


def _hostile_lines() -> list[bytes]:
    good = json.dumps(order("H0", 1, 10)).encode()
    return [
        good,
        json.dumps(order("H1", 1, 10)).encode().replace(b"H1", b"H\xff1"),
        json.dumps(order("H2", 1, 10)).replace('"id": "H2"', '"id": "H2", "id": "H2b"').encode(),
        json.dumps(order("H3", 1, 10)).replace('"subtotal": 10', '"subtotal": 1e400').encode(),
        json.dumps(order("H4", 1, 10))
        .replace('"subtotal": 10', '"subtotal": 123456789012345678')
        .encode(),
        json.dumps(order("H5", 1, 10, properties=json.loads("[" * 80 + "]" * 80))).encode(),
        json.dumps(order("H6", 1, 20)).encode(),
    ]


RAW_FILES["hostile.ndjson"] = b"\n".join(_hostile_lines()) + b"\n"


def test_hostile_records_are_quarantined_and_the_rest_of_the_file_loads(wh):
    """What the hostile corpus checks for ODP events, for Ometria (test_corpus.py reads only
    the ODP folder): bytes that are not UTF-8, repeated keys, numbers that cannot be stored
    exactly, nesting too deep to canonicalise."""
    rows = wh.query(
        "select record_no, reasons from audit.quarantine "
        "where file = 'ometria_orders/hostile.ndjson' order by record_no"
    )
    codes = {n: sorted({r.split(":")[0] for r in reasons}) for n, reasons in rows}
    assert codes == {
        2: ["invalid_utf8"],
        3: ["duplicate_key"],
        4: ["invalid_amount"],
        5: ["invalid_amount"],
        6: ["too_deep"],
    }
    assert [o for o, _ in orders_of_files(wh, "hostile.ndjson")] == ["H0", "H6"]


FILES["fallback_and_void.ndjson"] = [
    {k: v for k, v in order("F1", 1, 40).items() if k != "subtotal"},
    order("F2", 2, 60, lineitems=[line("PA", 2, 30)], status="canceled", is_valid=False),
]


def test_amount_falls_back_to_grand_total_and_a_first_snapshot_may_already_be_void(wh):
    # §1.4: amount = subtotal, else grand_total (40 + 10 shipping)
    assert steps(wh, "F1") == [("purchase", 50, 50, 50)]
    # net 0 from the start: the gross purchase, then its cancellation in the same instant
    assert steps(wh, "F2") == [("purchase", 60, 60, 70), ("cancel", -60, 0, 0)]
    assert wh.order("F2")["is_cancelled"]
    assert items(wh, "F2") == [("purchase", "PA", None, 2, 60), ("cancel", "PA", None, 2, 60)]
