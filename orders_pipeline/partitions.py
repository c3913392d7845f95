"""Daily partitions of the event-level tables (UTC event date), and which of them a run must
re-derive.

The first partition also holds every earlier event, and the last (today's) every later one,
so no event ever falls outside a partition and a run over the whole range is a full rebuild.
Partitioned assets use single-run backfills: re-deriving a range is one DuckDB statement over
the range, far cheaper than one run per day that each re-read the order timelines they need
(and Dagster records one materialization per partition either way).

A run after new files re-derives only the days the new events can change: for every order
that received an event, the days from its earliest new event to its last event; and, when
new exchange rates arrived, every day from the earliest new rate's date on (§6: a rate
converts the orders placed on or after its date). Events before that in the order's timeline
keep their tallies; other orders are untouched.

Which days those are is decided by each partitioned model itself, from its own bookkeeping,
never from a plan made before the run (issue 11): the transaction that re-derives a model's
days also records in ``state.model_builds`` how far through the arrivals its inputs were
complete and which partition builds of the models it reads it has seen. The next build
re-derives the days its Dagster partition range targets *plus* every day it still owes:
those ``sql/core/order_ledger.pending.sql`` lists for the records that arrived since its
recorded position, and those re-derived since by the partitioned models it reads
(``models.run_model_partitions``). A build that fails or is interrupted commits nothing, so
its debt stays for the next one; an ingestion on its own, a model run on its own or a
backfill from the UI all settle it the same way. A changed SQL, setting or partition start
rebuilds the table whole.

Where the partitions start: ``partition_start.py``.

``plan_model_run`` below only previews that range from the ledger's recorded position, to
tell Dagster which partitions a run materialises and to print it; the models do not depend
on it. Its ``watermark`` (the highest arrival a published run covered, ``audit.model_watermark``)
serves the quarantine-rate gate: the files validated since the last successful model run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orders_pipeline.models import days_arrived_since
from orders_pipeline.warehouse import ARRIVAL_STRIDE, table_exists, transaction

WATERMARK_TAG = "orders_pipeline/arrival_watermark"
# A run with this tag set to "true" rebuilds incremental models from every record.
FULL_REFRESH_TAG = "orders_pipeline/full_refresh"

# What is staged, how far the ledger's last build read, and the watermark. Which days the
# records arrived since change is the ledger's own rule (sql/core/order_ledger.pending.sql,
# models.days_arrived_since): the plan previews what its build will re-derive.
_STAGED = """
with watermark as (
    -- the ledger's own position: what its last committed build consumed (models.py)
    select coalesce(max(built_through), -1) as seen from state.model_builds
    where model = 'core.order_ledger'
),
validated_files as (
    -- the last record of every validated file, quarantined or not: once a model run has
    -- published, its files are no longer "new" to the quarantine-rate gate either
    select file_seq * {stride} + records as arrival_seq
    from audit.loads
    where validated_at is not null
),
staged_events as (
    -- one read of the staged events (int_order_events is a view: DuckDB reads its columns
    -- rather than a table's statistics), for the day of the extreme times, not the extreme
    -- of every row's day (the same day: the function is monotonic)
    select utc_day(min(ts)) as first_day, utc_day(max(ts)) as last_day,
           max(arrival_seq) as last_arrival
    from intermediate.int_order_events
)
select
    (select first_day from staged_events) as first_staged_day,
    (select last_day from staged_events) as last_staged_day,
    (select seen from watermark) as seen,
    greatest((select last_arrival from staged_events),
             (select max(arrival_seq) from intermediate.int_exchange_rates),
             (select max(arrival_seq) from validated_files)) as watermark
"""


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start`` to today."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Run tags that target the partitions from ``first_key`` to ``last_key`` in one run."""
    return {ASSET_PARTITION_RANGE_START_TAG: first_key, ASSET_PARTITION_RANGE_END_TAG: last_key}


def range_bounds(
    partitions: dg.DailyPartitionsDefinition, key_range: dg.PartitionKeyRange
) -> tuple[date | None, date | None]:
    """The dates a run re-derives: ``None`` where the range reaches the first or the last
    partition, since those also hold the events before and after them."""
    keys = partitions.get_partition_keys()
    first = None if key_range.start == keys[0] else date.fromisoformat(key_range.start)
    last = None if key_range.end == keys[-1] else date.fromisoformat(key_range.end)
    return first, last


@dataclass(frozen=True)
class ModelRunPlan:
    """The partition range a model run targets, and the watermark it may advance to."""

    first_key: str
    last_key: str
    watermark: int | None
    reason: str

    @property
    def tags(self) -> dict[str, str]:
        tags = range_tags(self.first_key, self.last_key)
        if self.watermark is not None:
            tags[WATERMARK_TAG] = str(self.watermark)
        return tags


def plan_model_run(
    con: duckdb.DuckDBPyConnection,
    partitions: dg.DailyPartitionsDefinition,
    full_refresh: bool = False,
) -> ModelRunPlan:
    """Which partitions the next model run re-derives (see the module docstring)."""
    keys = partitions.get_partition_keys()
    if not (
        table_exists(con, "intermediate", "int_order_events")
        and table_exists(con, "intermediate", "int_exchange_rates")
    ):
        return ModelRunPlan(keys[0], keys[-1], None, "nothing staged yet: every partition")
    first_staged, last_staged, seen, watermark = con.execute(
        _STAGED.format(stride=ARRIVAL_STRIDE)
    ).fetchall()[0]
    if full_refresh:
        return ModelRunPlan(keys[0], keys[-1], watermark, "full refresh: every partition")
    if first_staged is None:
        return ModelRunPlan(keys[-1], keys[-1], watermark, "nothing staged yet: the latest day")
    ledger_built = con.execute(
        "select count(*) from state.model_builds where model = 'core.order_ledger'"
    ).fetchall()[0][0]
    if not table_exists(con, "core", "order_ledger") or not ledger_built:
        # rows exist only on days that have staged events
        return ModelRunPlan(
            _clamp(first_staged, keys), _clamp(last_staged, keys), watermark,
            "first model run: every day with events",
        )  # fmt: skip
    if not _revisable(con):
        # staged by a version before events could be revised: the ledger's SQL changed since,
        # so its next build re-derives it whole
        return ModelRunPlan(
            keys[0], keys[-1], watermark, "staging of an earlier version: every partition"
        )
    owed = days_arrived_since(con, "core.order_ledger", seen)
    if owed is None:
        return ModelRunPlan(keys[-1], keys[-1], watermark, "no new events: the latest day only")
    first, last = owed
    first_key = keys[0] if first is None else _clamp(first, keys)
    if last is None:
        # §6: a new rate changes the base amounts of every order placed on or after its date,
        # and those orders' events all lie on or after it
        return ModelRunPlan(
            first_key, keys[-1], watermark, "days from the earliest new exchange rate"
        )
    last_key = _clamp(last, keys) if first is None else _clamp(max(first, last), keys)
    return ModelRunPlan(first_key, last_key, watermark, "days the new events change")


def _revisable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the staged events carry ``revised_seq`` (a warehouse staged before events could
    be revised has none until its next model run rebuilds the staging)."""
    row = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'intermediate' "
        "and table_name = 'int_order_events' and column_name = 'revised_seq'"
    ).fetchall()[0]
    return bool(row[0])


def advance_watermark(con: duckdb.DuckDBPyConnection, watermark: int) -> None:
    """Record that every staged event up to ``watermark`` is in the published models (a
    re-run with nothing new leaves the row as it was)."""
    current = con.execute("select max(arrival_seq) from audit.model_watermark").fetchall()
    if current[0][0] == watermark:
        return
    with transaction(con):
        con.execute("delete from audit.model_watermark")
        con.execute("insert into audit.model_watermark values (?, now())", [watermark])


def _clamp(day: date, keys: list[str]) -> str:
    key = day.isoformat()
    return min(max(key, keys[0]), keys[-1])
