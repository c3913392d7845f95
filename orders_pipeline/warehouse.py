"""The one way to open the warehouse and the one place that declares its landing-side tables.

Every connection is opened with the same session settings: UTC time zone (PITFALLS: a
TIMESTAMPTZ cast to DATE uses the session zone), a memory limit and a spill folder that is
not a tmpfs, and insertion order not preserved so big loads can stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.config import Settings

# ``state``: the pipeline's own bookkeeping (what incremental builds have done), not data.
SCHEMAS = ("raw", "staging", "core", "reporting", "audit", "state")

# Tables written by Python (landing and validation). SQL models create their own tables.
LANDING_DDL = """
create table if not exists audit.loads (
    file          varchar   not null,  -- path under the landing folder
    source        varchar   not null,  -- the landing sub-folder: odp_events, ...
    sha256        varchar   not null,
    size_bytes    bigint    not null,
    file_seq      bigint    not null,  -- SEMANTICS §3: order in which files were first ingested
    records       bigint    not null,
    accepted      bigint,
    quarantined   bigint,
    duplicates    bigint,
    loaded_at     timestamptz not null,
    validated_at  timestamptz
);
create table if not exists audit.quarantine (
    source      varchar   not null,
    file        varchar   not null,
    record_no   bigint    not null,
    reasons     varchar[] not null,
    raw         varchar,
    loaded_at   timestamptz not null,
    file_seq    bigint not null
);
create table if not exists audit.duplicates (
    source            varchar not null,
    file              varchar not null,
    record_no         bigint  not null,
    event_id          varchar not null,
    first_file        varchar not null,
    first_record_no   bigint  not null,
    same_file         boolean not null  -- re-sent within one file, or across files
);
create table if not exists state.file_stats (
    source      varchar not null,
    file        varchar not null,  -- path under the landing folder
    size_bytes  bigint  not null,
    mtime_ns    bigint  not null,
    sha256      varchar not null   -- of the bytes the file had at that size and mtime
);
create table if not exists state.model_builds (
    model          varchar not null,  -- schema.table of an incremental SQL model
    fingerprint    varchar not null,  -- its SQL and its upstream models' (models.py)
    built_through  bigint  not null,  -- its inputs' position: every record up to this
                                      -- arrival_seq that will ever exist is in (models.py)
    partition_build_no bigint not null  -- and every state.partition_builds row up to this
);
create table if not exists state.partition_builds (
    model      varchar not null,  -- schema.table of a partitioned SQL model
    build_no   bigint  not null,  -- increasing: the order of the builds
    first_day  date,              -- the days re-derived; NULL: open on that side, so
    last_day   date               -- both NULL is a full rebuild
);
create table if not exists audit.model_watermark (
    arrival_seq  bigint not null,      -- every staged event up to here is in the models
    updated_at   timestamptz not null
);
"""

# The raw table of a source: one row per record as received. Every source's raw table has
# these columns (a source may add its own after them).
RAW_COLUMNS = """
    file_seq     bigint  not null,
    file         varchar not null,
    record_no    bigint  not null,  -- 1-based position of the record in its file
    arrival_seq  bigint  not null,  -- SEMANTICS §3: file_seq * 1e9 + record_no
    raw          varchar,           -- the record's text exactly as received
    decode_error varchar,           -- set when the bytes were not valid UTF-8
    loaded_at    timestamptz not null"""


def raw_table_ddl(table: str, extra_columns: str = "") -> str:
    """``create table if not exists`` for a source's raw table (a trusted name)."""
    extra = f",\n{extra_columns}" if extra_columns.strip() else ""
    return f"create table if not exists {table} ({RAW_COLUMNS}{extra}\n);"


# arrival_seq = file_seq * ARRIVAL_STRIDE + record_no: files never interleave.
ARRIVAL_STRIDE = 1_000_000_000


def connection_config(settings: Settings) -> dict[str, Any]:
    """DuckDB ``config=`` options for every connection (also given to ``DuckDBResource``)."""
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.temp_dir),
        "preserve_insertion_order": False,
    }
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    return config


class WarehouseBusy(RuntimeError):
    """Another process kept the warehouse for longer than we are willing to wait."""


@contextmanager
def writer_lock(warehouse: Path, timeout_seconds: float = 3600.0) -> Iterator[None]:
    """Hold the warehouse's writer lock (a ``<file>.lock`` beside it) while writing.

    DuckDB allows one writing process; two runs that open the file at once fail with "Could
    not set lock on file" (PITFALLS). Every writer takes this lock first, so a second run
    (a CLI run during a scheduled one, two queued Dagster runs) waits its turn instead.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_seconds
    with open(warehouse.with_name(warehouse.name + ".lock"), "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"{warehouse} has been locked by another run for {timeout_seconds:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with the house session settings; closes it on exit. Either kind of
    connection holds the writer lock while open: DuckDB refuses a reader while another
    process writes, so the pipeline's own readers wait their turn like writers do."""
    with writer_lock(settings.warehouse):
        if read_only:
            con = duckdb.connect(str(settings.warehouse), read_only=True)
        else:
            con = duckdb.connect(str(settings.warehouse), config=connection_config(settings))
        try:
            prepare_session(con, settings)
            yield con
        finally:
            con.close()


# The session variables that carry settings (not run bookkeeping): a model built with other
# values must be rebuilt in full (models.run_incremental_model).
SETTING_VARIABLES = (
    "base_currency",
    "repeat_min_orders",
    "loyal_min_orders",
    "max_quarantine_rate",
    "quarantine_min_records",
    "identity_max_fanout",
    "identity_blocklist",
)


def prepare_session(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Session settings and the variables SQL models read with ``getvariable(...)``."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set variable base_currency = ?", [settings.base_currency])
    con.execute("set variable repeat_min_orders = ?", [settings.repeat_min_orders])
    con.execute("set variable loyal_min_orders = ?", [settings.loyal_min_orders])
    con.execute("set variable max_quarantine_rate = ?", [settings.max_quarantine_rate])
    con.execute("set variable quarantine_min_records = ?", [settings.quarantine_min_records])
    con.execute("set variable identity_max_fanout = ?", [settings.identity_max_fanout])
    blocklist = [value.strip().lower() for value in settings.identity_blocklist]
    con.execute("set variable identity_blocklist = ?::varchar[]", [blocklist])
    # incremental models read the records that arrived after this and up to
    # incremental_through (models.py); -1 and the largest bigint: every one
    con.execute("set variable incremental_after = -1::bigint")
    con.execute("set variable incremental_through = 9223372036854775807::bigint")
    # the days partitioned models re-derived since an entity model's last build (models.py)
    con.execute("set variable rederived = false")
    con.execute("set variable rederived_first_day = null::date")
    con.execute("set variable rederived_last_day = null::date")
    # the days a partitioned model re-derives (models.py); NULL: open on that side
    con.execute("set variable partition_first = null::date")
    con.execute("set variable partition_last = null::date")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed if it completes, rolled back otherwise."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        # a failed statement may have ended the transaction already: the rollback must not
        # hide the error that matters
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    con.execute("commit")


def ensure_landing_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas and the Python-written tables if they do not exist yet."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(LANDING_DDL)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the open database."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0]
    return bool(row and row[0])


def count_rows(con: duckdb.DuckDBPyConnection, qualified_name: str) -> int:
    """Row count of a table named by trusted code (never by input data)."""
    row = con.execute(f"select count(*) from {qualified_name}").fetchall()[0]  # noqa: S608
    return int(row[0]) if row else 0
