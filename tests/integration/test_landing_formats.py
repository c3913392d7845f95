"""Issue 11: bounded memory whatever the file or event size, gzip'd files, unknown suffixes
and files in another encoding. Each test lands (and validates) in process, without models."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.landing.land import LandingReport, land_new_files
from orders_pipeline.sources import SOURCES, ensure_source_tables, source_named
from orders_pipeline.validation.outcomes import validate_pending
from orders_pipeline.warehouse import connect, ensure_landing_tables
from tests.conftest import day, odp_event, write_ndjson

# Low enough that the old readers ran out of memory on these files.
LOW_MEMORY = "256MB"


def ingest(landing: Path, warehouse: Path, **settings: Any) -> dict[str, LandingReport]:
    """Land every source folder and validate the ODP events."""
    config = Settings(landing_dir=landing, warehouse=warehouse, **settings)
    with connect(config) as con:
        ensure_landing_tables(con)
        ensure_source_tables(con)
        reports = land_new_files(con, config, SOURCES)
        validate_pending(con, source_named("odp_events").validation)
    return reports


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect(Settings(warehouse=warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def item(n: int) -> dict[str, Any]:
    return {"product_id": f"P{n}", "price": 1, "quantity": 1}


def test_a_pretty_printed_array_of_3_mb_lands_in_a_low_memory_limit(tmp_path: Path):
    events = [
        odp_event("purchase", f"A{n}", day(1), subtotal=2, items=[item(1), item(2)])
        for n in range(7_000)
    ]
    path = tmp_path / "landing" / "odp_events" / "big.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(events, indent=2))
    assert path.stat().st_size > 3_000_000
    ingest(tmp_path / "landing", tmp_path / "w.duckdb", duckdb_memory_limit=LOW_MEMORY)
    [(records, accepted)] = query(
        tmp_path / "w.duckdb", "select records, accepted from audit.loads"
    )
    assert (records, accepted) == (7_000, 7_000)
    # each element keeps its text as sent, indentation included
    [(raw,)] = query(tmp_path / "w.duckdb", "select raw from raw.odp_events where record_no = 2")
    assert json.loads(raw) == events[1] and "\n" in raw


def test_an_event_with_10000_items_validates_in_a_low_memory_limit(tmp_path: Path):
    event = odp_event(
        "purchase", "BIG", day(1), subtotal=10_000, items=[item(n) for n in range(10_000)]
    )
    write_ndjson(tmp_path / "landing" / "odp_events" / "big.ndjson", [event])
    ingest(tmp_path / "landing", tmp_path / "w.duckdb", duckdb_memory_limit=LOW_MEMORY)
    assert query(tmp_path / "w.duckdb", "select accepted from audit.loads") == [(1,)]
    items = query(tmp_path / "w.duckdb", "select count(*) from staging.odp_event_record_items")
    assert items == [(10_000,)]


def staged(warehouse: Path) -> list[tuple[Any, ...]]:
    """The staged events and items, without the file name."""
    return query(
        warehouse,
        """select r.record_no, r.event_id, r.order_id, r.subtotal, count(i.item_no)
           from staging.odp_event_records as r
           left join staging.odp_event_record_items as i using (arrival_seq)
           group by all order by 1""",
    )


@pytest.mark.parametrize("name", ["events.ndjson", "events.json"])
def test_a_gzipped_file_lands_like_the_plain_file(tmp_path: Path, name: str):
    events = [
        odp_event("purchase", f"G{n}", day(1), subtotal=10, items=[item(n)]) for n in range(3)
    ]
    plain = tmp_path / "plain" / "odp_events" / name
    plain.parent.mkdir(parents=True)
    if name.endswith(".ndjson"):
        write_ndjson(plain, [*events, "not json"])
    else:
        plain.write_text(json.dumps(events, indent=1))
    packed = tmp_path / "packed" / "odp_events" / f"{name}.gz"
    packed.parent.mkdir(parents=True)
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    ingest(tmp_path / "plain", tmp_path / "plain.duckdb")
    ingest(tmp_path / "packed", tmp_path / "packed.duckdb")
    assert staged(tmp_path / "packed.duckdb") == staged(tmp_path / "plain.duckdb")
    assert len(staged(tmp_path / "packed.duckdb")) == 3
    raw = "select record_no, raw, decode_error from raw.odp_events order by 1"
    assert query(tmp_path / "packed.duckdb", raw) == query(tmp_path / "plain.duckdb", raw)
    # the sha256 recorded is that of the file as landed (compressed)
    [(file, sha256)] = query(tmp_path / "packed.duckdb", "select file, sha256 from audit.loads")
    assert (file, sha256) == (
        f"odp_events/{name}.gz",
        hashlib.sha256(packed.read_bytes()).hexdigest(),
    )


def test_a_file_with_an_unknown_suffix_is_listed_not_silently_ignored(tmp_path: Path):
    landing = tmp_path / "landing"
    write_ndjson(landing / "odp_events" / "good.ndjson", [odp_event("purchase", "U1", day(1))])
    (landing / "odp_events" / "orders.txt").write_text("{}\n")
    (landing / "odp_events" / "orders.ndjson.zip").write_bytes(b"PK")
    (landing / "odp_events" / "orders.ndjson.part").write_text("{}\n")  # being written: quiet
    reports = ingest(landing, tmp_path / "w.duckdb")
    assert [file for file, _ in reports["odp_events"].skipped] == [
        "odp_events/orders.ndjson.zip",
        "odp_events/orders.txt",
    ]
    assert all("unknown suffix" in reason for _, reason in reports["odp_events"].skipped)
    recorded = query(tmp_path / "w.duckdb", "select file from audit.skipped_files order by 1")
    assert recorded == [("odp_events/orders.ndjson.zip",), ("odp_events/orders.txt",)]


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("utf-16", "UTF-16LE"), ("utf-16-be", "UTF-16BE"), ("utf-32", "UTF-32LE")],
)
def test_a_utf16_or_utf32_file_is_quarantined_naming_the_encoding(
    tmp_path: Path, encoding: str, named: str
):
    text = json.dumps(odp_event("purchase", "W1", day(1), subtotal=10)) + "\n"
    path = tmp_path / "landing" / "odp_events" / "wide.ndjson"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode(encoding))
    ingest(tmp_path / "landing", tmp_path / "w.duckdb")
    assert query(tmp_path / "w.duckdb", "select records, quarantined from audit.loads") == [(1, 1)]
    [(reasons,)] = query(tmp_path / "w.duckdb", "select reasons from audit.quarantine")
    assert any(named in reason for reason in reasons), reasons
    assert query(tmp_path / "w.duckdb", "select count(*) from staging.odp_event_records") == [(0,)]


def validate_all(landing: Path, warehouse: Path) -> None:
    """Land and validate every source, in the low memory limit."""
    config = Settings(landing_dir=landing, warehouse=warehouse, duckdb_memory_limit=LOW_MEMORY)
    with connect(config) as con:
        ensure_landing_tables(con)
        ensure_source_tables(con)
        land_new_files(con, config, SOURCES)
        for source in SOURCES:
            validate_pending(con, source.validation)


def test_an_xml_order_with_10000_products_validates_in_a_low_memory_limit(tmp_path: Path):
    landing = tmp_path / "landing"
    products = "".join(f'<product refCode="P{n}" qty="1" price="1"/>' for n in range(10_000))
    xml = landing / "optimizely_xml" / "big.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text(
        '<orders><order refCode="X-BIG" orderDate="2026-06-01T09:00:00Z" currency="USD" '
        f'total="10000">{products}</order></orders>',
        encoding="utf-8",
    )
    validate_all(landing, tmp_path / "w.duckdb")
    loads = query(tmp_path / "w.duckdb", "select source, accepted from audit.loads")
    assert loads == [("optimizely_xml", 1)]
    items = query(
        tmp_path / "w.duckdb", "select count(*) from staging.optimizely_order_record_items"
    )
    assert items == [(10_000,)]


def test_an_ometria_order_with_10000_lines_validates_in_a_low_memory_limit(tmp_path: Path):
    landing = tmp_path / "landing"
    lines = [
        {"product_id": f"P{n}", "quantity": 1, "unit_price": 1, "subtotal": 1}
        for n in range(10_000)
    ]
    order = {
        "@type": "order", "id": "OM-BIG", "timestamp": "2026-06-01T09:00:00+00:00",
        "currency": "GBP", "grand_total": 10_000, "subtotal": 10_000,
        "customer": {"email": "big@example.com"}, "lineitems": lines,
    }  # fmt: skip
    path = landing / "ometria_orders" / "big.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(order), encoding="utf-8")
    validate_all(landing, tmp_path / "w.duckdb")
    loads = query(tmp_path / "w.duckdb", "select source, accepted from audit.loads")
    assert loads == [("ometria_orders", 1)]
    items = query(
        tmp_path / "w.duckdb", "select count(*) from staging.ometria_order_snapshot_items"
    )
    assert items == [(10_000,)]


def test_an_ndjson_file_read_in_many_blocks_keeps_each_line_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """docs/semantics.md §2: ``record_no`` is the line number, whichever block of the file a
    line was read in (issue 15: a block's lines are counted only when another follows);
    blank lines are not records, CRs and the BOM are not part of a record."""
    from orders_pipeline.landing import json_records

    monkeypatch.setattr(json_records, "BLOCK_BYTES", 200)
    events = [json.dumps(odp_event("purchase", f"A{n}", day(1))) for n in range(12)]
    lines = ["\ufeff" + events[0], "", *events[1:5], "  \t ", "   " + events[5], *events[6:]]
    path = tmp_path / "landing" / "odp_events" / "blocks.ndjson"
    path.parent.mkdir(parents=True)
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    ingest(tmp_path / "landing", tmp_path / "w.duckdb")
    landed = query(tmp_path / "w.duckdb", "select record_no, raw from raw.odp_events order by 1")
    expected = [
        (number, line.removeprefix("\ufeff"))
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    assert landed == expected
    assert len(landed) == 12
