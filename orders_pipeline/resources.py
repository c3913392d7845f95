"""The warehouse resource every asset and check uses: settings plus a DuckDB connection
opened with the house session settings (``warehouse.open_duckdb``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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
