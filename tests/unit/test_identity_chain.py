"""Identity resolution on graph shapes that break naive algorithms (docs/semantics.md §5,
docs/pitfalls.md "Identity resolution"): a long chain, a star, and a chain cut by the blocklist."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from orders_pipeline.identity import resolve_customers
from tests.conftest import day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)

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


class CountingConnection:
    """A DuckDB connection that records the statements run through it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any) -> duckdb.DuckDBPyConnection:
        self.statements.append(sql)
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def statements_to_resolve_chain(n: int) -> tuple[int, int]:
    """(statements run, customers found) when resolving a chain of ``n`` linking emails,
    e_i and e_{i+1} on order i, in a warehouse that holds only resolution's two inputs."""
    con = duckdb.connect()
    try:
        con.execute("create schema core; create schema intermediate")
        con.execute(
            """create table core.identifier_fanout as
               select 'email' as identifier_type, 'e' || i || '@example.com' as identifier_value,
                      true as links, 2 as fanout, 2 as order_count
               from range(?) as t(i)""",
            [n],
        )
        con.execute(
            """create table intermediate.int_order_identifiers as
               select 'C' || i as order_id, 'email' as identifier_type,
                      'e' || (i + side) || '@example.com' as identifier_value
               from range(? - 1) as t(i), range(2) as s(side)""",
            [n],
        )
        counting = CountingConnection(con)
        report = resolve_customers(counting)  # type: ignore[arg-type]
        return len(counting.statements), report.customers
    finally:
        con.close()


def test_a_chain_costs_as_many_passes_as_two_links():
    """docs/pitfalls.md "Identity resolution": label propagation or a recursive CTE needs a pass per
    link of a chain; components are found in one pass, so resolving 10,000 links runs the
    same statements as resolving 2 (a bound on the work that does not depend on the clock)."""
    assert statements_to_resolve_chain(CHAIN_LENGTH) == (statements_to_resolve_chain(3)[0], 1)


def test_long_chain_resolves_to_one_customer(landing, run_landing):
    events = chain(CHAIN_LENGTH)
    for start in range(0, len(events), EVENTS_PER_FILE):
        chunk = events[start : start + EVENTS_PER_FILE]
        write_ndjson(landing / "odp_events" / f"chain_{start:05d}.ndjson", chunk)
    wh = run_landing(landing, identity_max_fanout=25)

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


def test_a_customer_key_is_its_smallest_member_whatever_the_node_numbering(run_events):
    """§5 "stable keys": the key is the md5 of the component's smallest ``type:value``, not of
    anything the resolution numbers internally (issue 15: nodes are numbered in scan order,
    unsorted). Members arrive largest first; both orders land in one customer."""
    wh = run_events(
        [
            linking_order("Z1", day(1), email="zed@example.com", phone="+15550009999"),
            linking_order("Z2", day(2), phone="+15550009999", email="amy@example.com"),
        ]
    )
    smallest = "email:amy@example.com"
    expected = wh.value(f"select 'cus_' || substr(md5('{smallest}'), 1, 16)")
    assert wh.value("select distinct customer_id from core.customer_identifiers") == expected
    assert wh.value("select list(distinct customer_id) from core.order_customers") == [expected]
