"""The local Dagster instance class: Dagster's own SQLite storage in ``$DAGSTER_HOME``, with
its events written in batches over connections that are kept open.

Why: a run over many days writes two events per day and partitioned asset (the
materialisation it plans, then the one it makes): about 4,500 events for the first run over
two years of daily partitions. Dagster's SQLite event log opens a new SQLAlchemy engine and
connection for every statement (``NullPool``), compiles each statement again (the compiled
cache lives on the engine) and commits each event twice, once in the run's shard and once
in the cross-run index. Measured at 1M line items on 2 idle cores: 51 of the 98 seconds
(profiled) of a first full run went to storing those events (``issue 15``).

:class:`LocalInstance` (named by ``deploy/local/dagster.yaml``) changes two things and
nothing else:

- :class:`LocalEventLogStorage` keeps one engine per shard (the index and the few runs
  written last) instead of one per statement;
- the instance writes the events Dagster marks as one batch (a range's planned and made
  materialisations) in one transaction per shard, with the same statements as one by one.

Tables, event ids and what the UI shows are Dagster's own: the storage subclasses
:class:`SqliteEventLogStorage` and overrides only how connections are made and how a batch
is written. A production instance (``deploy/postgres/dagster.yaml``) does not use it.

:func:`ephemeral_instance` is the same change to Dagster's ephemeral (in-memory) instance,
which ``run_pipeline`` uses when given none: every in-process run of the tests.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from typing import Any

import dagster as dg
import sqlalchemy
import yaml
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.types import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.event_log.base import EventLogCursor
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# Events Dagster hands over as one batch are flushed to storage every this many (a range of
# two years of daily partitions is about 730 per asset).
EVENT_BATCH_SIZE = 1_000

# Engines kept open: the index shard plus the run shards written last (a CLI run writes two
# runs; a long-lived UI or daemon process must not keep a file open per run it ever wrote).
ENGINES_KEPT = 8

# The write-ahead log of a shard is checkpointed into the shard once it holds 32 pages (4 KiB
# each), and cut back to 128 KiB afterwards.
SMALL_LOG_PRAGMAS = ("PRAGMA wal_autocheckpoint=32", "PRAGMA journal_size_limit=131072")

# Dagster's own busy timeout for its SQLite shards (dagster._core.storage.sqlite).
BUSY_TIMEOUT_SECONDS = 30


class _StoredInStretches:
    """``store_event_batch`` for an event log that writes a stretch of asset events at once
    (``_store_asset_events``): each stretch of asset events (planned, made, observed) of a
    batch in its own transactions, anything else one by one as ``store_event`` does, in
    order."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        for asset_run, stretch in groupby(events, key=_asset_run):
            if asset_run is None:
                for event in stretch:
                    self.store_event(event)  # type: ignore[attr-defined]
            else:
                self._store_asset_events(list(stretch))  # type: ignore[attr-defined]


class _SchemaRemembered:
    """Dagster's event log asks its database whether a table or an index column of a
    migration exists before many of its statements (``has_table``, ``has_asset_key_col``):
    about 390 questions in a run of three events, each an inspection of the schema (on
    SQLite, ``has_table`` opens a new engine for it). Migrations only add tables and
    columns, so a yes holds for the storage's life and is remembered; a no is asked again.
    """

    _present: frozenset[tuple[str, str]] = frozenset()

    def has_table(self, table_name: str) -> bool:
        if ("table", table_name) in self._present:
            return True
        return self._remembered("table", table_name, super().has_table(table_name))  # type: ignore[misc]

    def has_asset_key_col(self, column_name: str) -> bool:
        if ("column", column_name) in self._present:
            return True  # without opening a connection to ask
        return super().has_asset_key_col(column_name)  # type: ignore[misc]

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        if ("column", column_name) in self._present:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)  # type: ignore[misc]
        return self._remembered("column", column_name, found)

    def _remembered(self, kind: str, name: str, found: bool) -> bool:
        if found:
            self._present = self._present | {(kind, name)}
        return found


class LocalEventLogStorage(_SchemaRemembered, _StoredInStretches, SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, with pooled engines and batched writes."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> LocalEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, created (and the shard's tables with it) on first use; the
        least recently used beyond :data:`ENGINES_KEPT` is closed."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
            )
            sqlalchemy.event.listen(engine, "connect", _keep_the_log_small)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > ENGINES_KEPT:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _store_asset_events(self, events: Sequence[EventLogEntry]) -> None:
        """What :meth:`SqliteEventLogStorage.store_event` does for an asset event, for a run
        of them: the rows in the run's shard, their mirror in the index with the events'
        tags, and each asset's latest-event record.

        The latest-event record (``asset_keys``) is one row per asset whose columns each
        hold what the last event that sets them wrote; writing only the last event of each
        asset and kind, in order, leaves the row as writing every event would (Dagster's
        PostgreSQL storage writes only a batch's last event)."""
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            _index_asset_events(self, conn, events, rows)

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        # the run shards' files are deleted: no engine may keep one open
        self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


def _index_asset_events(
    storage: SqlEventLogStorage, conn: Connection, events: Sequence[EventLogEntry], rows: list
) -> None:
    """Write a stretch of asset events into the cross-run index in one statement, then their
    tags, then each asset's latest-event record for the last event of each asset and kind."""
    inserted = conn.execute(
        SqlEventLogStorageTable.insert().returning(
            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
        ),
        rows,
    )
    event_ids = [row[0] for row in inserted]
    if len(event_ids) != len(events) or any(event_id is None for event_id in event_ids):
        raise dg.DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
    storage._store_asset_event_tags(conn, events, event_ids)  # noqa: SLF001
    for event, event_id in _last_of_each_asset_and_kind(events, event_ids):
        storage._store_asset_event(conn, event, event_id)  # noqa: SLF001


def _keep_the_log_small(dbapi_connection: Any, _record: Any) -> None:
    """A connection that stays open keeps the shard's write-ahead log (Dagster's shards
    are in WAL mode): without these its file would grow to SQLite's default checkpoint
    threshold (4 MB) per shard, where Dagster's own connections, closed after each
    statement, leave none."""
    cursor = dbapi_connection.cursor()
    for pragma in SMALL_LOG_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _asset_run(event: EventLogEntry) -> str | None:
    """The run of an asset event (planned, made, observed, failed); None for any other."""
    if event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS:
        return event.run_id
    return None


def _last_of_each_asset_and_kind(
    events: Sequence[EventLogEntry], event_ids: Sequence[int]
) -> list[tuple[EventLogEntry, int]]:
    """The last event of each (asset, event type), with its id, in the batch's order."""
    last: dict[tuple[str, str], int] = {}
    for index, event in enumerate(events):
        dagster_event = event.get_dagster_event()
        asset = dagster_event.asset_key.to_string() if dagster_event.asset_key else ""
        last[(asset, dagster_event.event_type_value)] = index
    return [(events[index], event_ids[index]) for index in sorted(last.values())]


class LocalSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, schedules, event log in one home) with
    :class:`LocalEventLogStorage` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = LocalEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> LocalSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return _class_data(LocalEventLogStorage, _event_logs_directory(self.base_dir))


class _BatchingInstance(dg.DagsterInstance):
    """An instance that hands its event log the events Dagster marks as one batch, up to
    :data:`EVENT_BATCH_SIZE` at a time."""

    def _get_event_batch_size(self) -> int:
        return EVENT_BATCH_SIZE


class LocalInstance(_BatchingInstance):
    """The project's local instance: Dagster's defaults for a home, with
    :class:`LocalSqliteStorage` as the storage and batched event writes."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> dict[str, ConfigurableClassData | None]:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = _class_data(LocalSqliteStorage, base_dir)
        defaults["event_log_storage"] = _class_data(
            LocalEventLogStorage, _event_logs_directory(base_dir)
        )
        return defaults


def _class_data(klass: type, base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(
        klass.__module__,
        klass.__name__,
        yaml.dump({"base_dir": base_dir}, default_flow_style=False),
    )


class InMemoryEventLog(_SchemaRemembered, _StoredInStretches, InMemoryEventLogStorage):
    """Dagster's in-memory event log (the ephemeral instance's, every in-process run of the
    tests) changed as :class:`LocalEventLogStorage` is, for the same reasons (``issue 15``):

    - it uses the connection it holds for its life instead of a new SQLite connection and
      two ``PRAGMA`` statements for each statement (another thread gets a connection of its
      own, as Dagster's storage gives it: a SQLite connection belongs to its thread);
    - it writes a batch's asset events in one transaction, the asset's latest-event record
      once per asset and kind: a full refresh from 2024 stores ~6,700 events, which one by
      one cost three quarters of its run time."""

    def __init__(self) -> None:
        super().__init__()
        self._held_thread = threading.get_ident()
        with self._held_conn.begin():
            # what Dagster's connections set each time; WAL means nothing in memory
            self._held_conn.execute(sqlalchemy.text("PRAGMA foreign_keys=ON"))

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if threading.get_ident() != self._held_thread:
            with super()._connect() as conn:
                yield conn
            return
        with self._db_lock, self._held_conn.begin():
            yield self._held_conn

    def _store_asset_events(self, events: Sequence[EventLogEntry]) -> None:
        """What :meth:`store_event` does for each asset event of a run of them (the run's
        rows and the index are one database here), then what it tells its watchers."""
        rows = [self._event_to_row(event) for event in events]
        with self.index_transaction() as conn:
            _index_asset_events(self, conn, events, rows)
        for event in events:
            self._storage_id += 1
            for handler in list(self._handlers[event.run_id]):
                try:
                    handler(event, str(EventLogCursor.from_storage_id(self._storage_id)))
                except Exception:
                    logging.exception(
                        "Exception in callback for event watch on run %s.", event.run_id
                    )


def ephemeral_instance() -> dg.DagsterInstance:
    """What ``DagsterInstance.ephemeral()`` makes (in-memory runs and events, a temporary
    artifact folder), with :class:`InMemoryEventLog` as its event log and events written in
    batches."""
    return _BatchingInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=InMemoryEventLog(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
