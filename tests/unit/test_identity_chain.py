"""Identity resolution on graph shapes that break naive algorithms (SEMANTICS §5, PITFALLS
"Identity resolution"): a long chain, a star, and a chain cut by the blocklist."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import day, odp_event, write_ndjson

CHAIN_LENGTH = 10_000  # identifiers; one order per neighbouring pair
# The chain is landed as several NDJSON files: landing splits a file's lines with a lateral
# `unnest(string_split(content, ...))` whose memory grows with lines × file size, and one
# 10,000-line (1.9 MB) file runs out of DuckDB's 4 GB there. Identity resolution, which this
# file tests, does not care how the orders were split into files.
EVENTS_PER_FILE = 1_000


def linking_order(order_id: str, ts: int, **identifiers: str) -> dict[str, Any]:
    return odp_event("purchase", order_id, ts, identifiers=identifiers, subtotal=10)


def chain(n: int, prefix: str = "e") -> list[dict[str, Any]]:
    """Order i carries emails e_i and e_{i+1}: n identifiers in a line, n − 1 orders."""
    return [
        odp_event(
            "purchase",
            f"C{i:05d}",
            day(1 + i % 28, i % 24),
            identifiers={"email": f"{prefix}{i}@example.com"},
            email=f"{prefix}{i + 1}@example.com",  # data.order.email is an identifier too
            subtotal=10,
        )
        for i in range(n - 1)
    ]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def progress() -> Iterator[_Records]:
    """The per-asset progress lines (asset, rows, seconds, detail) the run logs."""
    logger = logging.getLogger("orders_pipeline.progress")
    handler = _Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def asset_seconds(progress: _Records, asset: str) -> float:
    seconds = [r.args[2] for r in progress.records if r.args and r.args[0] == asset]  # type: ignore[index]
    assert len(seconds) == 1, f"expected one progress line for {asset}"
    return float(seconds[0])


def test_long_chain_resolves_to_one_customer_in_bounded_time(landing, run_landing, progress):
    events = chain(CHAIN_LENGTH)
    for start in range(0, len(events), EVENTS_PER_FILE):
        chunk = events[start : start + EVENTS_PER_FILE]
        write_ndjson(landing / "odp_events" / f"chain_{start:05d}.ndjson", chunk)
    started = time.perf_counter()
    wh = run_landing(landing, identity_max_fanout=25)
    elapsed = time.perf_counter() - started

    assert elapsed < 30, f"the whole run took {elapsed:.1f} s"
    assert asset_seconds(progress, "core/customer_identifiers") < 10
    assert wh.value("select count(*) from core.customer_identifiers") == CHAIN_LENGTH
    assert wh.value("select count(distinct customer_id) from core.customer_identifiers") == 1
    assert wh.value("select count(*) from core.customers") == 1
    assert wh.value("select max(fanout) from core.identifier_fanout") == 2
    assert wh.value("select count(*) from audit.identity_overmerge") == 0
    assert wh.value("select len(emails) from core.customers") == CHAIN_LENGTH
    assert wh.value(
        "select count(*) from core.orders where customer_id = (select customer_id from "
        "core.customers)"
    ) == len(events)


def test_star_of_one_shared_email_is_one_customer(run_events):
    wh = run_events(
        [
            linking_order(f"S{i}", day(1 + i), email="hub@example.com", phone=f"+1555000{i:04d}")
            for i in range(10)
        ],
        identity_max_fanout=25,
    )
    assert wh.value("select count(*) from core.customers") == 1
    assert wh.value("select count(distinct customer_id) from core.orders") == 1
    assert wh.value("select len(phones) from core.customers") == 10
    assert (
        wh.value(
            "select fanout from core.identifier_fanout where identifier_value = 'hub@example.com'"
        )
        == 10
    )
    assert wh.value("select lifecycle_order_count from core.customers") == 10


def test_blocklisted_middle_identifier_splits_a_chain_in_two(run_events):
    events = chain(10, prefix="b")  # b0 … b9, orders C00000 … C00008
    wh = run_events(events, identity_blocklist=("B5@example.com",))

    before = {wh.order(f"C{i:05d}")["customer_id"] for i in range(5)}  # b0 … b5
    after = {wh.order(f"C{i:05d}")["customer_id"] for i in range(5, 9)}  # b5 … b9
    assert len(before) == 1 and len(after) == 1 and None not in before | after
    assert before != after
    assert wh.value("select count(*) from core.customers") == 2
    assert wh.query("select identifier_value, reason from audit.identity_overmerge") == [
        ("b5@example.com", "blocklisted")
    ]
    assert (
        wh.value(
            "select count(*) from core.customer_identifiers "
            "where identifier_value = 'b5@example.com'"
        )
        == 0
    )
