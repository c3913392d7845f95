"""The warehouse resource every asset and check uses: settings plus a DuckDB connection
opened with the house session settings (``warehouse.open_duckdb``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.privacy import key_fingerprint
from orders_pipeline.sources import ensure_source_tables
from orders_pipeline.warehouse import (
    connection_config,
    ensure_landing_tables,
    open_duckdb,
    prepare_session,
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
    """Where the pipeline reads and writes, and the rules' tunable settings."""

    landing_dir: str
    warehouse: str
    analytics_db: str = ""
    base_currency: str = "USD"
    identity_max_fanout: int = 25
    identity_blocklist: list[str] = []
    repeat_min_orders: int = 2
    loyal_min_orders: int = 3
    max_quarantine_rate: float = 0.05
    quarantine_min_records: int = 100
    pii_mode: str = "plain"
    pii_key: str = ""
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 0
    duckdb_temp_dir: str = ""
    lock_timeout: int = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> OrdersWarehouse:
        """The resource for a :class:`Settings` object."""
        return cls(
            landing_dir=str(settings.landing_dir),
            warehouse=str(settings.warehouse),
            analytics_db=str(settings.analytics_db or ""),
            base_currency=settings.base_currency,
            identity_max_fanout=settings.identity_max_fanout,
            identity_blocklist=list(settings.identity_blocklist),
            repeat_min_orders=settings.repeat_min_orders,
            loyal_min_orders=settings.loyal_min_orders,
            max_quarantine_rate=settings.max_quarantine_rate,
            quarantine_min_records=settings.quarantine_min_records,
            pii_mode=settings.pii_mode,
            pii_key=_key_reference(settings.pii_key),
            duckdb_memory_limit=settings.duckdb_memory_limit,
            duckdb_threads=settings.duckdb_threads,
            duckdb_temp_dir=str(settings.duckdb_temp_dir or ""),
            lock_timeout=settings.lock_timeout,
        )

    def settings(self) -> Settings:
        """The validated :class:`Settings` this resource stands for."""
        settings = Settings(
            landing_dir=Path(self.landing_dir),
            warehouse=Path(self.warehouse),
            analytics_db=Path(self.analytics_db) if self.analytics_db else None,
            base_currency=self.base_currency.strip().upper(),
            identity_max_fanout=self.identity_max_fanout,
            identity_blocklist=tuple(self.identity_blocklist),
            repeat_min_orders=self.repeat_min_orders,
            loyal_min_orders=self.loyal_min_orders,
            max_quarantine_rate=self.max_quarantine_rate,
            quarantine_min_records=self.quarantine_min_records,
            pii_mode=self.pii_mode,
            pii_key=self.pii_key,
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_threads=self.duckdb_threads,
            duckdb_temp_dir=Path(self.duckdb_temp_dir) if self.duckdb_temp_dir else None,
            lock_timeout=self.lock_timeout,
        )
        settings.validate()
        return settings

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the session settings and the landing tables ready."""
        settings = self.settings()
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        with writer_lock(settings.warehouse, settings.lock_timeout):
            # not DuckDBResource.get_connection: it retries a locked file silently for about
            # 105 s and then fails with DuckDB's raw text; open_duckdb waits up to
            # ORDERS_LOCK_TIMEOUT saying who holds the file, and the connection is closed
            # whatever happens (a connection left open by a failed step would keep the file
            # locked for the rest of the process)
            con = open_duckdb(
                settings.warehouse,
                connection_config(settings),
                timeout_seconds=settings.lock_timeout,
            )
            try:
                prepare_session(con, settings)
                ensure_landing_tables(con)
                ensure_source_tables(con)
                yield con
            finally:
                con.close()
