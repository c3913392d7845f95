"""Invariants that hold for any stream of order events (hypothesis): the reports add up to the
orders, running tallies are cumulative sums, arrival order of events with distinct times does
not matter, and re-running changes nothing."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import odp_event, soak_examples, write_ndjson

pytestmark = pytest.mark.heavy(seconds=90)  # scheduled first (tests/conftest.py)

# Tables whose content must not depend on arrival order (columns that record arrival are
# left out).
ORDER_INDEPENDENT = {
    "core.order_events": "* exclude (arrival_seq, file, record_no)",
    "core.order_items": "*",
    "core.orders": "*",
    "core.customers": "*",
    "core.customer_identifiers": "*",
    "reporting.daily_revenue": "*",
    "reporting.lifecycle_summary": "*",
    "reporting.monthly_cohorts": "*",
    "reporting.product_sales": "*",
    "reporting.refund_summary": "*",
}

cents = st.integers(min_value=1, max_value=50_000)


@st.composite
def order_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Orders of 1–4 events each (purchase, returns, refunds, cancels with or without amount,
    custom actions), every event at a distinct second, amounts in cents, a few customers who
    share identifiers. Up to 16 orders: an example costs pipeline runs of seconds whatever
    its size, so each one carries many orders rather than the suite running many examples."""
    n_orders = draw(st.integers(min_value=1, max_value=16))
    emails = [f"c{i}@example.com" for i in range(draw(st.integers(1, 6)))]
    used_ts = draw(
        st.lists(
            st.integers(min_value=1_780_000_000, max_value=1_790_000_000),
            min_size=n_orders * 4,
            max_size=n_orders * 4,
            unique=True,
        )
    )
    events: list[dict[str, Any]] = []
    for n in range(n_orders):
        order_id = f"O{n}"
        identifiers = {"email": draw(st.sampled_from(emails))}
        if draw(st.booleans()):
            identifiers["phone"] = f"+1555000{draw(st.integers(0, 3))}"
        times = sorted(used_ts[n * 4 : n * 4 + 4])
        subtotal = draw(cents)
        events.append(
            odp_event(
                draw(st.sampled_from(["purchase", "purchase", "purchase", "preorder"])),
                order_id,
                times[0],
                identifiers=identifiers,
                subtotal=subtotal / 100,
                tax=draw(cents) / 100,
                items=[
                    {
                        "product_id": f"P{draw(st.integers(0, 5))}",
                        "price": subtotal / 100,
                        "quantity": 1,
                    }
                ],
            )
        )
        for ts in times[1 : 1 + draw(st.integers(0, 3))]:
            action = draw(st.sampled_from(["return", "refund", "cancel", "note"]))
            fields: dict[str, Any] = {}
            if action != "note" and draw(st.integers(0, 4)) > 0:
                amount = draw(cents) / 100
                fields["subtotal"] = amount if draw(st.booleans()) else -amount
            elif action in ("return", "refund"):
                fields["total"] = draw(cents) / 100
            events.append(odp_event(action, order_id, ts, identifiers=identifiers, **fields))
    return events


def assume_rich(events: list[dict[str, Any]]) -> None:
    """Hypothesis tries the simplest stream first (one order, one purchase): rejected before
    any run, so that each of the few examples the suite pays for has orders with purchases
    and at least two kinds of follow-up."""
    assume(len({event["action"] for event in events}) >= 3)


def _run(folder: Path, events: list[dict[str, Any]], shuffle_seed: int | None = None) -> Path:
    if shuffle_seed is not None:
        events = list(events)
        random.Random(shuffle_seed).shuffle(events)
    landing = folder / "landing"
    write_ndjson(landing / "odp_events" / "events.ndjson", events)
    warehouse = folder / "warehouse.duckdb"
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors
    return warehouse


def _snapshot(warehouse: Path, tables: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            table: sorted(
                con.execute(f"select {columns} from {table}").fetchall(),  # noqa: S608
                key=repr,
            )
            for table, columns in tables.items()
        }
    finally:
        con.close()


def _all_tables(warehouse: Path) -> dict[str, str]:
    """Every table, without the columns that record when a run happened."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """select table_schema || '.' || table_name,
                      list(column_name) filter (where column_name in ('loaded_at',
                                                                      'validated_at',
                                                                      'updated_at'))
               from information_schema.columns group by 1"""
        ).fetchall()
    finally:
        con.close()
    # the state schema records how the tables were built (how many builds, of which days)
    return {
        table: f"* exclude ({', '.join(clock)})" if clock else "*"
        for table, clock in rows
        if not table.startswith("state.")
    }


# CI runs two examples of each property (every example is three runs of the pipeline; each
# carries up to 16 orders, none is the trivial one); `make soak` many (ORDERS_SOAK_EXAMPLES).
PROPERTY_SETTINGS = settings(
    max_examples=soak_examples(2),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_reports_add_up(warehouse: Path) -> None:
    """§8: Σ daily net = Σ tally subtotals; §3: running tally = cumulative sum of deltas."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        net, subtotals = con.execute(
            """select (select sum(net) from reporting.daily_revenue),
                      (select sum(tally_subtotal_base) from core.orders)"""
        ).fetchall()[0]
        mismatched = con.execute(
            """select count(*) from (
                 select running_subtotal, running_total,
                        sum(subtotal_delta) over w as s, sum(total_delta) over w as t
                 from core.order_events
                 window w as (partition by order_id order by event_seq
                              rows unbounded preceding))
               where running_subtotal <> s or running_total <> t"""
        ).fetchall()[0][0]
    finally:
        con.close()
    assert net == subtotals
    assert mismatched == 0


# Each example is three pipeline runs of seconds each, so the three invariants of one stream
# share them instead of running their own.
@PROPERTY_SETTINGS
@given(events=order_streams(), seed=st.integers(0, 1000))
def test_reports_add_up_arrival_order_changes_nothing_and_reruns_change_nothing(
    tmp_path_factory, events, seed
):
    """§8 and §3: the reports add up to the orders and tallies are cumulative sums; §3:
    events are placed by ts, so shuffling the file changes nothing derived; idempotence: a
    second run over the same landing folder leaves every table as it was."""
    assume_rich(events)
    folder = tmp_path_factory.mktemp("ordered")
    in_order = _run(folder, events)
    assert_reports_add_up(in_order)

    shuffled = _run(tmp_path_factory.mktemp("shuffled"), events, shuffle_seed=seed)
    assert _snapshot(in_order, ORDER_INDEPENDENT) == _snapshot(shuffled, ORDER_INDEPENDENT)

    tables = _all_tables(in_order)
    before = _snapshot(in_order, tables)
    summary = run_pipeline(Settings(landing_dir=folder / "landing", warehouse=in_order))
    assert summary.success
    assert _snapshot(in_order, tables) == before


@settings(
    # one example in CI (three or four runs), a new one each CI run; `make soak`: many
    max_examples=soak_examples(1),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=order_streams(), seed=st.integers(0, 1000), batches=st.integers(2, 3))
def test_landing_in_batches_gives_the_tables_of_one_run(tmp_path_factory, events, seed, batches):
    """Issue 5: the events split into files that arrive over several runs (each run
    incremental: staging adds only new records, the ledger re-derives only the days they
    change, orders and customers recompute only those they touch, identities merge as
    shared emails and phones turn up) leave every table as one run over the same files."""
    assume_rich(events)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    cuts = sorted(random.Random(seed + 1).sample(range(1, len(shuffled) + 1), batches - 1))
    files = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]

    folder = tmp_path_factory.mktemp("batches")
    landing = folder / "landing"
    incremental = folder / "incremental.duckdb"
    for n, records in enumerate(files):
        write_ndjson(landing / "odp_events" / f"{n}_events.ndjson", records or ["{}"])
        summary = run_pipeline(Settings(landing_dir=landing, warehouse=incremental))
        assert summary.success, summary.errors
    once = folder / "once.duckdb"
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=once))
    assert summary.success, summary.errors
    tables = _all_tables(once)
    assert _snapshot(incremental, tables) == _snapshot(once, tables)
