"""Where the daily partitions start (``partitions.py`` has the partitions themselves).

The first partition (:func:`partition_start`): ``ORDERS_PARTITION_START`` when set;
otherwise on the first day of the month of the earliest event staged in this warehouse, so
the UI's partitions and backfill dialog open on the data, not on years of empty days. Dagster
needs the start when it loads the definitions, in every process (the CLI, the UI's code
server, each run, the daemon), and must get the same one in all of them, even while a run
holds the warehouse (DuckDB lets no reader in beside a writer): so the start is recorded in a
one-line file beside the warehouse, ``<warehouse>.partition_start``, which the CLI and the
model sensor write after an ingestion (:func:`follow_data_start`), never read from DuckDB at
load time. The recorded start only ever moves *earlier* (older events landed later): keys
only appear, every materialisation Dagster recorded keeps its partition, and the partitioned
tables are rebuilt once (their fingerprint holds the start). A month boundary, not the day,
so history landed out of order within a month changes nothing. Before any event is staged
the partitions start at ``FALLBACK_PARTITION_START``.

Nothing here imports Dagster: a run with no new file asks whether the partition start moved
(``freshness.py``) without loading it.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.warehouse import table_exists

# The first partition while no event is staged and ORDERS_PARTITION_START is unset: fixed, so
# every process loading the definitions agrees on it (see the module docstring).
FALLBACK_PARTITION_START = date(2024, 1, 1)


def data_start_file(warehouse: Path) -> Path:
    """The file recording where the partitions of ``warehouse``'s data start."""
    return warehouse.with_name(f"{warehouse.name}.partition_start")


def recorded_start(warehouse: Path) -> date | None:
    """The start recorded for ``warehouse`` (``None``: none yet, or unreadable)."""
    try:
        return date.fromisoformat(data_start_file(warehouse).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def partition_start(settings: Settings) -> date:
    """The first daily partition: ``ORDERS_PARTITION_START``, else the recorded start of
    the warehouse's data, else ``FALLBACK_PARTITION_START``."""
    if settings.partition_start is not None:
        return settings.partition_start
    return recorded_start(settings.warehouse) or FALLBACK_PARTITION_START


def first_event_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The UTC date of the earliest staged event, ``None`` when none is staged (``con``: a
    session ``warehouse.prepare_session`` made, which has the ``utc_day`` macro).

    ``utc_day(min(ts))``, the same day as ``min(utc_day(ts))`` (the day is monotonic in the
    time), is answered from the column statistics instead of a day of every event's time
    (issue 15)."""
    if not table_exists(con, "intermediate", "int_order_events"):
        return None
    [(first,)] = con.execute(
        "select utc_day(min(ts)) from intermediate.int_order_events"
    ).fetchall()
    return first


def follow_data_start(con: duckdb.DuckDBPyConnection, settings: Settings) -> date | None:
    """Record the month of the earliest staged event as the partition start when no start is
    recorded yet or the recorded one is later; the new start, or ``None`` when nothing
    changed (``ORDERS_PARTITION_START`` set, no event staged, or the start already at or
    before the data). Definitions loaded from now on use it."""
    if settings.partition_start is not None:
        return None
    first = first_event_day(con)
    if first is None:
        return None
    start = first.replace(day=1)
    recorded = recorded_start(settings.warehouse)
    if recorded is not None and recorded <= start:
        return None
    target = data_start_file(settings.warehouse)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.write_text(f"{start.isoformat()}\n", encoding="utf-8")
    os.replace(staging, target)  # a process loading the definitions sees the old or the new
    return start


def partition_salt(start: date) -> str:
    """Part of a partitioned model's fingerprint: a changed first partition (``start``, the
    first key of the daily partitions) re-derives the partitioned tables whole (issue 11)."""
    return f"partition_start={start.isoformat()}"
