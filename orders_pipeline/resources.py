"""The warehouse resource every asset and check uses: settings plus a DuckDB connection
opened with the house session settings (``warehouse.open_duckdb``).

Within a Dagster run, the steps share one connection (:class:`RunConnection`): opening the
warehouse, preparing its session and closing it (a checkpoint) cost 40-50 ms of CPU, paid by
every step of every run, most of a tiny run's cost (issue 15). What separate connections
gave each step is kept: a step starts with a session as a new connection has it (its
variables reset, no temporary table of an earlier step), ends with the warehouse
checkpointed (the write-ahead log never carries one step's rows into the next), and a step
that fails closes the connection, so the next step or run opens a fresh one. The writer lock
is held from the run's first step to its end (``teardown_after_execution``), so no other
run or session gets the warehouse between two steps of a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from orders_pipeline.config import Settings
from orders_pipeline.privacy import key_fingerprint
from orders_pipeline.sources import ensure_source_tables
from orders_pipeline.warehouse import (
    connection_config,
    ensure_landing_tables,
    open_duckdb,
    prepare_session,
    restore_session,
    session_state,
    writer_lock,
)


def _key_reference(key: str) -> str | dg.EnvVar:
    """The PII key as the resource's config holds it: always a reference to an environment
    variable, never the key itself, which Dagster would store in its job snapshots (issue 13).
    A key that did not come from ``ORDERS_PII_KEY`` (settings built in code) is put in the
    process environment under a name made of its keyed fingerprint."""
    if not key:
        return ""
    if key == os.environ.get("ORDERS_PII_KEY"):
        return dg.EnvVar("ORDERS_PII_KEY")
    name = f"ORDERS_PII_KEY_{key_fingerprint(key)[:16].upper()}"
    os.environ[name] = key
    return dg.EnvVar(name)


class OrdersWarehouse(dg.ConfigurableResource):
    """Where the pipeline reads and writes, and the rules' tunable settings: one
    :class:`Settings`, carried whole as the ``ORDERS_*`` variables that give it back
    (``Settings.to_env``), so a setting added to ``Settings`` needs no change here. The PII
    key alone travels apart, as a reference to an environment variable (``_key_reference``)."""

    variables: dict[str, str]
    pii_key: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> OrdersWarehouse:
        """The resource for a :class:`Settings` object."""
        return cls(variables=settings.to_env(), pii_key=_key_reference(settings.pii_key))

    def settings(self) -> Settings:
        """The validated :class:`Settings` this resource stands for."""
        return Settings.from_env({**self.variables, "ORDERS_PII_KEY": self.pii_key})

    # inside a run: the connection its steps share (``connect``), opened by the first
    _run_connection: RunConnection | None = PrivateAttr(default=None)
    _in_run: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run begins: Dagster gives each run its own copy of the resource, set up once
        and torn down once (the in-process executor), so its steps may share a connection."""
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """The run ended, however: its connection is closed and the writer lock released."""
        self._close_run_connection()

    def _close_run_connection(self) -> None:
        held, self._run_connection = self._run_connection, None
        if held is not None:
            held.close()

    @contextmanager
    def connect(self, *, memory_beside: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the session settings and the landing tables ready:
        within a run, the run's one connection (:class:`RunConnection`), else a connection
        of its own, closed on exit. ``memory_beside``: the step builds large structures
        outside DuckDB (validation's Arrow and polars frames, identity's graph), so it starts
        on a connection whose DuckDB holds at most ``SHARED_MEMORY_BYTES``: the run's
        connection, when it holds more (the blocks earlier steps read), is closed and the
        warehouse opened again."""
        if not self._in_run:
            with open_connection(self.settings()) as con:
                yield con
            return
        held = self._run_connection
        if held is not None and memory_beside and not held.holds_at_most(SHARED_MEMORY_BYTES):
            self._close_run_connection()
            held = None
        if held is None:
            held = self._run_connection = RunConnection(self.settings())
        else:
            held.begin_step()
        try:
            yield held.con
        except BaseException:
            # a failed or interrupted step's session is not trusted with the next step:
            # closing it is what ending that step's own connection did
            self._close_run_connection()
            raise
        if not held.end_step():
            # its checkpoint failed (a full disk, a file size limit), which closing the
            # connection would have let pass: so does this, and the next step opens the
            # warehouse again, its write-ahead log kept
            self._close_run_connection()


@contextmanager
def open_connection(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection of its own, with the session settings and the landing tables
    ready, holding the writer lock until it is closed on exit."""
    held = RunConnection(settings)
    try:
        yield held.con
    finally:
        held.close()


# A connection the next step of a run reuses carries DuckDB's memory with it: the blocks of
# the tables the step read stay cached (up to ORDERS_DUCKDB_MEMORY_LIMIT). Beside a step that
# builds large structures outside DuckDB (validation's Arrow and polars frames, identity's
# graph) they would add to its peak, and the full run's peak at 10M line items is in
# validation (3.4 GiB; issue 15 allows 4). Such a step (``connect(memory_beside=True)``)
# finds DuckDB holding at most this, or the warehouse is opened again for it. The model steps
# keep the cache: the next one reads much of what the last read (the ledger, the orders, the
# identifiers), and a step that needs the room has DuckDB evict cached blocks within its
# limit. A day's model run at 10M opened the warehouse six times before, once now (identity
# asks for the bound only to resolve every identifier): 0.3-0.9 s of its 17-19
# (docs/performance.md, session 24).
SHARED_MEMORY_BYTES = 64 * 1024 * 1024


class RunConnection:
    """An open read-write connection holding the writer lock, shared by the steps of one run
    (``OrdersWarehouse.connect``): each step begins with :meth:`begin_step` (but the first)
    and ends with :meth:`end_step`; :meth:`close` ends it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.in_step = True
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        self._held = ExitStack()
        try:
            self._held.enter_context(writer_lock(settings.warehouse, settings.lock_timeout))
            # not DuckDBResource.get_connection: it retries a locked file silently for about
            # 105 s and then fails with DuckDB's raw text; open_duckdb waits up to
            # ORDERS_LOCK_TIMEOUT saying who holds the file, and the connection is closed
            # whatever happens (a connection left open by a failed step would keep the file
            # locked for the rest of the process)
            self.con = open_duckdb(
                settings.warehouse,
                connection_config(settings),
                timeout_seconds=settings.lock_timeout,
            )
            self._held.callback(self.con.close)
            prepare_session(self.con, settings)
            self._prepared = session_state(self.con)
            ensure_landing_tables(self.con)
            ensure_source_tables(self.con)
        except BaseException:
            self._held.close()
            raise

    def begin_step(self) -> None:
        """The session as a new connection has it: its variables as ``prepare_session`` sets
        them (the macros and settings stay as they were made)."""
        if self.in_step:
            # a step inside a step would share the first one's session, and end it
            raise RuntimeError("the warehouse is already open in this step: use its connection")
        self.in_step = True
        restore_session(self.con, self.settings, self._prepared)

    def end_step(self) -> bool:
        """What closing the step's own connection did: its temporary tables and views are
        dropped (their memory given back) and the write-ahead log is checkpointed into the
        file. False when the checkpoint failed: DuckDB then holds the database invalid, and
        the connection must be closed (which fails on nothing) rather than kept."""
        try:
            temporary = self.con.execute(
                "select 'table', table_name from duckdb_tables() where temporary "
                "union all "
                "select 'view', view_name from duckdb_views() where temporary and not internal"
            ).fetchall()
            for kind, temporary_name in temporary:
                self.con.execute(f'drop {kind} if exists temp.main."{temporary_name}"')
            self.con.execute("checkpoint")
        except duckdb.Error:
            return False
        self.in_step = False
        return True

    def holds_at_most(self, size: int) -> bool:
        """Whether DuckDB holds at most ``size`` bytes of memory (cached blocks, buffers)
        for this connection; False when it cannot say."""
        try:
            in_use = self.con.execute(
                "select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory()"
            ).fetchall()[0][0]
        except duckdb.Error:
            return False
        return in_use <= size

    def close(self) -> None:
        """Close the connection (DuckDB checkpoints it) and release the writer lock."""
        self._held.close()
