"""The one way to open the warehouse and the one place that declares its landing-side tables.

Every connection is opened with the same session settings: UTC time zone (docs/pitfalls.md: a
TIMESTAMPTZ cast to DATE uses the session zone), a memory limit and a spill folder that is
not a tmpfs, and insertion order not preserved so big loads can stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.config import SQL_DIR, Settings

# ``state``: the pipeline's own bookkeeping (what incremental builds have done), not data.
SCHEMAS = ("raw", "staging", "intermediate", "core", "reporting", "audit", "state")

# Tables written by Python (landing and validation). SQL models create their own tables.
LANDING_DDL = """
create table if not exists audit.loads (
    file          varchar   not null,  -- path under the landing folder
    source        varchar   not null,  -- the landing sub-folder: odp_events, ...
    sha256        varchar   not null,
    size_bytes    bigint    not null,
    file_seq      bigint    not null,  -- docs/semantics.md §3: order of first ingestion
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
create table if not exists audit.skipped_files (
    source         varchar not null,  -- the source folder
    file           varchar not null,  -- path under the landing folder (the name only)
    reason         varchar not null,  -- a symbolic link, an unknown suffix, ...
    first_seen_at  timestamptz not null,
    seen_at        timestamptz not null  -- the last scan that skipped it
);
-- the size+mtime cache it replaces could skip changed content (issue 11)
drop table if exists state.file_stats;
create table if not exists state.file_hashes (
    source          varchar not null,
    file            varchar not null,  -- path under the landing folder
    device          ubigint not null,
    inode           ubigint not null,
    size_bytes      bigint  not null,
    mtime_ns        bigint  not null,
    ctime_ns        bigint  not null,
    sha256          varchar not null,  -- of the bytes the file had at that signature
    recorded_at_ns  bigint  not null   -- taken before the file was read (landing/files.py)
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
create table if not exists state.identity_changes (
    built_through  bigint  not null,  -- the position of the identity build (identity.py)
    customer_id    varchar not null   -- a customer whose identifiers it changed: merged,
                                      -- split, new or gone (old and new ids both)
);
create table if not exists state.table_versions (
    table_name  varchar not null,  -- schema.table of a model (or identity table), or
                                   -- publish.analytics_database
    version     varchar not null   -- what it was built from (models.py: table_version)
);
create table if not exists audit.model_watermark (
    arrival_seq  bigint not null,      -- every staged event up to here is in the models
    updated_at   timestamptz not null
);
"""

# How a raw table stores the text landing keeps (the record as received, and the document a
# CSV row or an XML order is parsed into): ZSTD rather than DuckDB's default for strings (FSST
# with a dictionary), because it is written once, read once by validation and kept. Measured
# on 461,001 ODP records (269 MB, docs/performance.md, session 18): landing 4.0-4.4 -> 2.9-3.2
# CPU s and the table a third smaller (the warehouse after validation 185 -> 118 MiB);
# validation reads it at the same cost.
KEPT_TEXT_STORAGE = "using compression zstd"

# The raw table of a source: one row per record as received. Every source's raw table has
# these columns (a source may add its own after them).
RAW_COLUMNS = f"""
    file_seq     bigint  not null,
    file         varchar not null,
    record_no    bigint  not null,  -- 1-based position of the record in its file
    arrival_seq  bigint  not null,  -- docs/semantics.md §3: file_seq * 1e9 + record_no
    raw          varchar {KEPT_TEXT_STORAGE},  -- the record's text exactly as received
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


class WarehouseLocked(RuntimeError):
    """Another process held the warehouse for longer than ``ORDERS_LOCK_TIMEOUT``; the
    message is the one line the CLI prints."""


# Where the waiting message goes: the CLI prints these lines (progress.py).
_PROGRESS = logging.getLogger("orders_pipeline.progress")
# How often a waiting run tries the lock again.
_RETRY_SECONDS = 0.2
# DuckDB: 'IO Error: Could not set lock on file "<path>": Conflicting lock is held in
# <executable> (PID 1234) ...'
_DUCKDB_LOCK = re.compile(r"Could not set lock on file")
_DUCKDB_HOLDER = re.compile(r"held in (?P<exe>\S+) \(PID (?P<pid>\d+)\)")


def describe_process(pid: int | None, fallback: str = "") -> str:
    """``PID 1234 (duckdb)``: the process id and its command name, read from /proc when it
    can be (``fallback`` otherwise); ``another process`` without a pid."""
    if pid is None:
        return "another process"
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        name = fallback
    return f"PID {pid} ({name})" if name else f"PID {pid}"


def _wait_or_fail(
    warehouse: Path, holder: str, started: float, timeout_seconds: float, announced: bool
) -> bool:
    """One turn of waiting for a held warehouse: say so the first time, fail once the limit
    has passed, else sleep. Returns whether the waiting message has been shown."""
    if time.monotonic() - started >= timeout_seconds:
        raise WarehouseLocked(
            f"the warehouse {warehouse} is still held by {holder} after {timeout_seconds:.0f} s "
            "(ORDERS_LOCK_TIMEOUT): end that process or session (analysts open the analyst "
            "database, not the warehouse) or raise ORDERS_LOCK_TIMEOUT, then run again; the "
            "warehouse is consistent and the next run carries on from there"
        )
    if not announced:
        _PROGRESS.warning(
            "waiting for the warehouse %s: it is held by %s; retrying for up to %.0f s "
            "(ORDERS_LOCK_TIMEOUT)",
            warehouse,
            holder,
            timeout_seconds,
        )
    time.sleep(_RETRY_SECONDS)
    return True


@contextmanager
def writer_lock(warehouse: Path, timeout_seconds: float = 300.0) -> Iterator[None]:
    """Hold the warehouse's writer lock (a ``<file>.lock`` beside it) while writing.

    DuckDB allows one writing process; two runs that open the file at once fail with "Could
    not set lock on file" (docs/pitfalls.md). Every writer takes this lock first, so a second run
    (a CLI run during a scheduled one, two queued Dagster runs) waits its turn instead, for
    up to ``timeout_seconds`` (ORDERS_LOCK_TIMEOUT), saying which process it waits for: the
    holder writes its pid into the lock file.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    announced = False
    lock_file = warehouse.with_name(warehouse.name + ".lock")
    with open(lock_file, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _pid_in(lock_file)
                holder = f"another orders-pipeline run, {describe_process(pid)}"
                announced = _wait_or_fail(warehouse, holder, started, timeout_seconds, announced)
        try:
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_in(lock_file: Path) -> int | None:
    try:
        text = lock_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def open_duckdb(
    warehouse: Path,
    config: dict[str, Any] | None = None,
    *,
    read_only: bool = False,
    timeout_seconds: float = 300.0,
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` that waits while another process (an analyst's ``duckdb`` session
    on the warehouse, a notebook) holds the file: one message naming the file and the
    holder's pid and command, then a retry every 0.2 s for up to ``timeout_seconds``
    (ORDERS_LOCK_TIMEOUT; 0 fails at once), then :class:`WarehouseLocked` in one line."""
    started = time.monotonic()
    announced = False
    while True:
        try:
            if read_only:
                return duckdb.connect(str(warehouse), read_only=True)
            return duckdb.connect(str(warehouse), config=config or {})
        except duckdb.IOException as error:
            if not _DUCKDB_LOCK.search(str(error)):
                raise
            found = _DUCKDB_HOLDER.search(str(error))
            holder = (
                describe_process(int(found["pid"]), Path(found["exe"]).name)
                if found
                else "another process"
            )
            announced = _wait_or_fail(warehouse, holder, started, timeout_seconds, announced)


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with the house session settings; closes it on exit. Either kind of
    connection holds the writer lock while open: DuckDB refuses a reader while another
    process writes, so the pipeline's own readers wait their turn like writers do."""
    with writer_lock(settings.warehouse, settings.lock_timeout):
        con = open_duckdb(
            settings.warehouse,
            None if read_only else connection_config(settings),
            read_only=read_only,
            timeout_seconds=settings.lock_timeout,
        )
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


# docs/semantics.md §5: the one normalisation of identifiers and contacts, as session macros.
MACROS_FILE = SQL_DIR / "macros.sql"


def prepare_session(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Session settings, the shared macros (``sql/macros.sql``) and the variables SQL models
    read with ``getvariable(...)``."""
    con.execute("set TimeZone = 'UTC'")
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))
    # DuckDB draws a progress bar on stdout even when it is a pipe (issue 16): it would land
    # in the middle of a caller's output, such as JSON read by a parent process
    con.execute("set enable_progress_bar = false")
    for variable, (value_sql, params) in session_variables(settings).items():
        con.execute(f"set variable {variable} = {value_sql}", params)


def session_variables(settings: Settings) -> dict[str, tuple[str, list[object]]]:
    """The variables of a prepared session: name -> (the value's SQL, its parameters)."""
    return {
        "base_currency": ("?", [settings.base_currency]),
        "repeat_min_orders": ("?", [settings.repeat_min_orders]),
        "loyal_min_orders": ("?", [settings.loyal_min_orders]),
        "max_quarantine_rate": ("?", [settings.max_quarantine_rate]),
        "quarantine_min_records": ("?", [settings.quarantine_min_records]),
        "identity_max_fanout": ("?", [settings.identity_max_fanout]),
        # hash mode: no data values in Dagster's metadata either (assets/metadata.py, checks.py)
        "pii_mode": ("?", [settings.pii_mode]),
        # normalised in SQL as the identifiers are (core/identifier_fanout.sql, sql/macros.sql)
        "identity_blocklist": ("?::varchar[]", [list(settings.identity_blocklist)]),
        # incremental models read the records that arrived after this and up to
        # incremental_through (models.py); -1 and the largest bigint: every one
        "incremental_after": ("-1::bigint", []),
        "incremental_through": ("9223372036854775807::bigint", []),
        # the days partitioned models re-derived since an entity model's last build (models.py)
        "rederived": ("false", []),
        "rederived_first_day": ("null::date", []),
        "rederived_last_day": ("null::date", []),
        # the days a partitioned model re-derives (models.py); NULL: open on that side
        "partition_first": ("null::date", []),
        "partition_last": ("null::date", []),
    }


# Every variable of a session, with its type: equal between two sessions when their
# ``getvariable`` reads give the same values.
_VARIABLES_NOW = "select name, value, type from duckdb_variables()"


def session_state(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str | None, str]]:
    """The session's variables as (name, value as text, type): what :func:`restore_session`
    brings a session back to."""
    return set(con.execute(_VARIABLES_NOW).fetchall())


def restore_session(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    prepared: set[tuple[str, str | None, str]],
) -> None:
    """Give a prepared session (``prepared``: its :func:`session_state` then) its variables
    back: one a caller set since is removed, one it changed is set again. A connection that
    the next step of a run reuses starts as a new one would (resources.py); only the
    variables that differ are touched (each statement costs a quarter of a millisecond)."""
    changed = session_state(con) ^ prepared
    wanted = session_variables(settings)
    for variable in sorted({name for name, _, _ in changed}):
        if variable in wanted:
            value_sql, params = wanted[variable]
            con.execute(f"set variable {variable} = {value_sql}", params)
        else:
            con.execute(f'reset variable "{variable}"')


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


_CATALOG_OF = {"table": ("duckdb_tables()", "table_name"), "view": ("duckdb_views()", "view_name")}


def table_exists(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, kind: str | None = None
) -> bool:
    """Whether the table or view ``schema.table`` exists in the open database (or one
    attached to it), as ``information_schema.tables`` lists them; ``kind``: only a
    ``"table"`` or only a ``"view"`` (a model knows which it builds, and a missing one then
    costs one statement, not two). Asked of DuckDB's own catalog functions, a table first:
    half the cost of the view, which every model build and check asks several times."""
    kinds = ("table", "view") if kind is None else (kind,)
    for catalog_function, name_column in (_CATALOG_OF[k] for k in kinds):
        found = con.execute(
            f"select count(*) from {catalog_function} where schema_name = ? "  # noqa: S608
            f"and {name_column} = ?",
            [schema, table],
        ).fetchall()[0][0]
        if found:
            return True
    return False


def count_rows(con: duckdb.DuckDBPyConnection, qualified_name: str) -> int:
    """Row count of a table named by trusted code (never by input data)."""
    row = con.execute(f"select count(*) from {qualified_name}").fetchall()[0]  # noqa: S608
    return int(row[0]) if row else 0
