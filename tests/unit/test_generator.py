"""The sample/benchmark generator writes deterministic ODP event files that exercise the spec."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline.generator import (
    SHOP_PHONE,
    GenerationStats,
    GeneratorConfig,
    generate,
    main,
)

MONEY_FIELDS = ("total", "subtotal", "tax", "shipping", "discount", "price")
AMOUNT_TEXT = re.compile(r'"(?:total|subtotal|tax|shipping|discount|price)"\s*:\s*(-?[0-9.eE+-]+)')


def read_records(folder: Path) -> list[tuple[str, str]]:
    """(file name, raw text) of every record, counted as docs/semantics.md §2 counts them."""
    records = []
    for path in sorted(folder.iterdir()):
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".ndjson", ".jsonl"):
            records += [(path.name, line) for line in text.splitlines() if line.strip()]
            continue
        value = json.loads(text)
        if isinstance(value, list):
            records += [(path.name, json.dumps(element)) for element in value]
        else:
            records.append((path.name, text))
    return records


def quarantine_reasons(raw: str) -> set[str]:
    """The docs/semantics.md §2 schema rules a record breaks (empty for a valid event)."""
    try:
        doc = json.loads(raw, parse_float=Decimal)
    except ValueError:
        return {"invalid_json"}
    reasons = set()
    if doc.get("type") != "order":
        reasons.add("unsupported_event_type")
    data = doc.get("data") or {}
    order = data.get("order") or {}
    order_id = order.get("order_id")
    if order_id is None:
        reasons.add("missing_order_id")
    elif not str(order_id).strip():
        reasons.add("empty_order_id")
    if "action" not in doc:
        reasons.add("missing_action")
    ts = data.get("ts", doc.get("ts"))
    if isinstance(ts, str):
        try:
            datetime.fromisoformat(ts)
        except ValueError:
            reasons.add("unparseable_ts")
    if "currency" in order and not re.fullmatch(r"[A-Z]{3}", order["currency"]):
        reasons.add("invalid_currency")
    contacts = [*(doc.get("identifiers") or {}).values(), order.get("email"), order.get("phone")]
    if not any(contacts):
        reasons.add("missing_identifier")
    for values in [order, *order.get("items", [])]:
        for name in MONEY_FIELDS:
            if name in values and not isinstance(values[name], (int, Decimal)):
                reasons.add("amount_as_string")
    if any(item.get("quantity", 0) < 0 for item in order.get("items", [])):
        reasons.add("negative_quantity")
    if doc.get("action") in ("purchase", "return", "refund") and not (
        {"subtotal", "total", "items"} & order.keys()
    ):
        reasons.add("missing_amount")
    return reasons


def event_ts(doc: dict) -> float:
    ts = doc["data"].get("ts", doc.get("ts"))
    if isinstance(ts, str):
        return datetime.fromisoformat(ts).timestamp()
    return float(ts)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationStats]:
    folder = tmp_path_factory.mktemp("odp_events")
    return folder, generate(folder, GeneratorConfig(line_items=20_000, seed=7))


@pytest.fixture(scope="module")
def valid_events(sample: tuple[Path, GenerationStats]) -> list[tuple[str, dict]]:
    """(file name, event) of each distinct valid event, where it first arrived."""
    folder, _ = sample
    seen, events = set(), []
    for name, raw in read_records(folder):
        if quarantine_reasons(raw):
            continue
        doc = json.loads(raw, parse_float=Decimal)
        canonical = json.dumps(json.loads(raw), sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            events.append((name, doc))
    return events


def test_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    config = GeneratorConfig(line_items=3_000, days=20, seed=3)
    first = generate(tmp_path / "a", config)
    again = generate(tmp_path / "b", config)
    other = generate(tmp_path / "c", GeneratorConfig(line_items=3_000, days=20, seed=4))

    assert first == again
    for name in first.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert other != first
    assert any(
        (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
        for name in first.files
    )


def test_records_are_events_plus_duplicates_plus_bad_records(sample) -> None:
    folder, stats = sample
    records = read_records(folder)
    reasons = [quarantine_reasons(raw) for _, raw in records]
    valid = [
        json.dumps(json.loads(raw), sort_keys=True)
        for (_, raw), r in zip(records, reasons, strict=True)
        if not r
    ]

    assert stats.records == len(records) == stats.events + stats.duplicates + stats.bad_records
    assert stats.bad_records == sum(1 for r in reasons if r)
    assert stats.events == len(set(valid))  # a duplicate has the canonical content of an event
    assert stats.duplicates == len(valid) - len(set(valid)) > 0


def test_every_kind_of_invalid_record_is_present(sample) -> None:
    folder, _ = sample
    found = set().union(*(quarantine_reasons(raw) for _, raw in read_records(folder)))
    assert found == {
        "invalid_json",
        "unsupported_event_type",
        "missing_order_id",
        "empty_order_id",
        "missing_action",
        "amount_as_string",
        "negative_quantity",
        "unparseable_ts",
        "invalid_currency",
        "missing_identifier",
        "missing_amount",
    }


def test_amounts_are_written_with_at_most_two_decimals(sample) -> None:
    folder, _ = sample
    amounts = [
        text
        for path in folder.iterdir()
        for text in AMOUNT_TEXT.findall(path.read_text(encoding="utf-8"))
    ]
    assert len(amounts) > 10_000
    assert all(re.fullmatch(r"-?\d+(\.\d{1,2})?", text) for text in amounts)


def test_purchase_amounts_add_up_in_cents(valid_events) -> None:
    for _, doc in valid_events:
        order = doc["data"]["order"]
        if doc["action"] != "purchase" or not {"total", "subtotal"} <= order.keys():
            continue
        items = sum(
            item.get("subtotal", item["price"] * item["quantity"] - item.get("discount", 0))
            for item in order["items"]
        )
        assert order["subtotal"] == items
        assert order["total"] == order["subtotal"] + order["tax"] + order["shipping"]


def test_line_items_and_orders_match_the_request(sample, valid_events) -> None:
    _, stats = sample
    assert stats.events == len(valid_events)
    purchases = [doc for _, doc in valid_events if doc["action"] == "purchase"]
    assert abs(stats.line_items - 20_000) <= 200
    assert stats.line_items == sum(len(doc["data"]["order"]["items"]) for doc in purchases)
    created = {doc["data"]["order"]["order_id"] for doc in purchases}
    created |= {
        d["data"]["order"]["order_id"] for _, d in valid_events if d["action"] == "preorder"
    }
    assert stats.orders == len(created)


def test_the_shop_phone_is_shared_by_many_customers(valid_events) -> None:
    orders, others = set(), set()
    for _, doc in valid_events:
        ids = doc.get("identifiers", {})
        order = doc["data"]["order"]
        values = [*ids.values(), order.get("email"), order.get("phone")]
        if SHOP_PHONE in {re.sub(r"[^\d+]", "", v) for v in values if v}:
            orders.add(order["order_id"])
            others |= {v.strip().lower() for v in values if v and "@" in v}
    assert len(orders) >= 40
    assert len(others) > 25  # above the default over-merge fan-out


def test_follow_ups_come_after_their_purchase_except_a_refund_sent_early(valid_events) -> None:
    files = sorted({name for name, _ in valid_events})
    purchases = {}
    for name, doc in valid_events:
        if doc["action"] == "purchase":
            purchases[doc["data"]["order"]["order_id"]] = (event_ts(doc), files.index(name))
    early_refunds = 0
    actions = defaultdict(int)
    for name, doc in valid_events:
        actions[doc["action"]] += 1
        bought = purchases.get(doc["data"]["order"]["order_id"])
        if doc["action"] in ("purchase", "preorder") or bought is None:
            continue
        if event_ts(doc) < bought[0]:
            assert doc["action"] == "refund" and files.index(name) < bought[1]
            early_refunds += 1
    assert early_refunds >= 1
    assert {"return", "refund", "cancel", "shipped", "preorder"} <= actions.keys()


def test_files_are_flat_and_cover_every_json_shape(sample) -> None:
    folder, stats = sample
    names = [path.name for path in folder.iterdir()]
    assert sorted(names) == stats.files
    assert all(path.is_file() for path in folder.iterdir())
    assert sum(name.endswith("_batch.json") for name in names) >= 3
    assert sum(name.endswith("_single.json") for name in names) == 1
    assert sum(name.endswith(".jsonl") for name in names) == 1
    assert "odp_events_2026-06-01.ndjson" in names
    ndjson = "".join((folder / n).read_text(encoding="utf-8") for n in names if ".nd" in n)
    assert "\n\n" in ndjson  # blank lines, which are not records


def test_cli_prints_the_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(tmp_path), "--line-items", "500", "--seed", "1", "--days", "5"]
    assert main([*argv, "--start-date", "2026-01-01"]) == 0
    out = capsys.readouterr().out
    assert "line_items: 500" in out
    assert (tmp_path / f"odp_events_{date(2026, 1, 1).isoformat()}.ndjson").exists()


def test_another_stream_draws_other_orders_from_the_same_customers(tmp_path: Path):
    """The bench's next day: the same seed's customers, other orders than the first stream's
    (with the same draws, its identifiers would merge nothing the first day did not)."""
    emails = {}
    texts = {}
    for stream in (0, 1):
        folder = tmp_path / f"stream{stream}"
        generate(folder, GeneratorConfig(seed=42, stream=stream, line_items=2000, days=1))
        texts[stream] = "".join(text for _, text in read_records(folder))
        emails[stream] = set(re.findall(r"[\w.]+@example\.com", texts[stream], re.IGNORECASE))
    default = tmp_path / "default"
    generate(default, GeneratorConfig(seed=42, line_items=2000, days=1))
    assert "".join(text for _, text in read_records(default)) == texts[0]
    assert texts[1] != texts[0]
    shared = emails[0] & emails[1]
    assert len(shared) > len(emails[1]) / 2  # mostly the same customers
