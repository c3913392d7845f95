"""Incremental identity resolution (docs/semantics.md §5, issue 15) on random graphs
(hypothesis): orders carrying identifiers arrive in batches, old orders gain identifiers, and
identifiers cross the fan-out limit; after every batch, re-resolving only what the batch
touches (``resolve_touched``) leaves the two identity tables equal to resolving everything
again (``resolve_all``). This is the closure argument of ``orders_pipeline/identity.py`` put to
the test, without a pipeline run around it: each example costs milliseconds."""

from __future__ import annotations

import os

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders_pipeline.identity import resolve_all, resolve_touched
from orders_pipeline.warehouse import transaction
from tests.conftest import soak_examples

# Identifiers and orders drawn from small pools, so that batches share them: merges, chains
# and identifiers that stop linking are common, not rare.
IDENTIFIERS = [("email", f"e{n}@example.com") for n in range(8)] + [
    ("phone", f"+1555000{n}") for n in range(4)
]
ORDERS = [f"O{n}" for n in range(10)]

# One row of an order's identifiers: (order, identifier)
ROW = st.tuples(st.sampled_from(ORDERS), st.sampled_from(IDENTIFIERS))
BATCHES = st.lists(st.lists(ROW, min_size=1, max_size=6), min_size=1, max_size=5)

# The fan-out rule of sql/core/identifier_fanout.sql (no blocklist): an identifier links
# while it appears on its orders with at most ``max_fanout`` distinct other identifiers.
_FANOUT = """
create or replace table core.identifier_fanout as
with rows as (
    select distinct order_id, identifier_type, identifier_value
    from intermediate.int_order_identifiers
),
co_occurrences as (
    select this.identifier_type, this.identifier_value,
           count(distinct other.identifier_type || chr(31) || other.identifier_value) as fanout
    from rows as this
    join rows as other
      on other.order_id = this.order_id
     and (other.identifier_type <> this.identifier_type
          or other.identifier_value <> this.identifier_value)
    group by all
),
order_counts as (
    select identifier_type, identifier_value, count(*) as order_count
    from rows group by all
)
select order_counts.identifier_type, order_counts.identifier_value, order_count,
       coalesce(fanout, 0) as fanout, false as is_blocklisted,
       coalesce(fanout, 0) <= ? as links
from order_counts
left join co_occurrences using (identifier_type, identifier_value)
"""


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("intermediate", "core", "state"):
        con.execute(f"create schema {schema}")
    con.execute(
        """create table intermediate.int_order_identifiers (
               event_id varchar, source varchar, order_id varchar, arrival_seq bigint,
               identifier_type varchar, identifier_value varchar)"""
    )
    return con


def _land(con: duckdb.DuckDBPyConnection, batch: list, first_seq: int, max_fanout: int) -> None:
    con.executemany(
        "insert into intermediate.int_order_identifiers values (?, 'odp', ?, ?, ?, ?)",
        [
            (f"ev{first_seq + n}", order, first_seq + n, kind, value)
            for n, (order, (kind, value)) in enumerate(batch)
        ],
    )
    con.execute(_FANOUT, [max_fanout])


def _identity_tables(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    return (
        con.execute(
            "select * from core.customer_identifiers order by identifier_type, identifier_value"
        ).fetchall(),
        con.execute("select * from core.order_customers order by order_id").fetchall(),
    )


# An example is a few hundred milliseconds of DuckDB, not pipeline runs: fifteen times the
# examples of the properties that run the pipeline (30 in the suite, the same ones on every
# run; ``make soak``: random ones, 15 × ORDERS_SOAK_EXAMPLES).
@settings(
    max_examples=15 * soak_examples(2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize="ORDERS_SOAK_EXAMPLES" not in os.environ,
)
@given(batches=BATCHES, max_fanout=st.integers(min_value=1, max_value=4))
def test_resolving_what_each_batch_touches_gives_the_tables_of_resolving_everything(
    batches: list, max_fanout: int
):
    incremental, fresh = _warehouse(), _warehouse()
    position = 0
    for number, batch in enumerate(batches):
        for con in (incremental, fresh):
            _land(con, batch, position + 1, max_fanout)
        with transaction(incremental):
            if number == 0:
                resolve_all(incremental)
            else:
                resolve_touched(incremental, position)
        with transaction(fresh):
            resolve_all(fresh)
        assert _identity_tables(incremental) == _identity_tables(fresh), (
            f"after batch {number + 1} of {batches} (max fan-out {max_fanout})"
        )
        position += len(batch)
