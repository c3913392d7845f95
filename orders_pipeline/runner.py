"""Running every asset of the definitions in this process, and summarising the warehouse
afterwards: what ``orders-pipeline run`` and the tests call.

A run with no new file, no changed setting and no changed model is answered here, from the
warehouse and the landing folder's metadata, without importing Dagster (issue 15: what that
costs is most of such a run); the jobs themselves run in ``jobs_in_process.py``."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TextIO

from orders_pipeline import progress
from orders_pipeline.config import Settings
from orders_pipeline.freshness import stale_tables
from orders_pipeline.interrupts import RunInterrupted
from orders_pipeline.landing.land import nothing_to_land
from orders_pipeline.sources import SOURCES
from orders_pipeline.warehouse import connect, table_exists

if TYPE_CHECKING:
    import dagster as dg

    from orders_pipeline.partitions import ModelRunPlan


@dataclass
class RunSummary:
    """The closing summary of a run (README, ``orders-pipeline run``)."""

    success: bool
    records: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files: int = 0
    orders: int = 0
    customers: int = 0
    anonymous_orders: int = 0
    net_revenue: Decimal = Decimal("0")
    base_currency: str = "USD"
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    plan: ModelRunPlan | None = None
    # landing entries this run did not read (a link, an unknown suffix): (file, reason)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    # no model needed rebuilding, so the model run was skipped (issue 15)
    up_to_date: bool = False


def run_pipeline(
    settings: Settings,
    instance: dg.DagsterInstance | Callable[[], dg.DagsterInstance] | None = None,
    quiet: bool = True,
    full_refresh: bool = False,
    engine: str = "duckdb",
) -> RunSummary:
    """Ingest new files, then re-derive the partitions they change and everything downstream
    (every partition with ``full_refresh``), in this process; then summarise. Raises
    ``RunInterrupted`` or ``WarehouseLocked`` when Ctrl-C or a held warehouse stopped it.
    ``engine="spark"``: the model layer runs on Spark instead (issue 17), into Parquet
    tables under ``settings.spark_output_dir``."""
    summary = RunSummary(success=False, base_currency=settings.base_currency)
    started_at = datetime.now(UTC)
    if engine == "duckdb" and not full_refresh and _nothing_to_do(settings):
        # issue 15: no new file, no changed setting or model: neither job would change a
        # table, so neither runs (Dagster is not even imported)
        summary.success = summary.up_to_date = True
        progress.LOGGER.info("%-36s %s", "landing", "no new file")
        progress.LOGGER.info("%-36s %s", "models", "up to date: nothing to re-derive")
        _fill_from_warehouse(summary, settings, started_at)
        return summary

    try:
        from orders_pipeline.jobs_in_process import run_jobs  # Dagster: 1.5-2 CPU s to import
    except KeyboardInterrupt:
        raise RunInterrupted("loading Dagster, before any step") from None
    if gc.get_freeze_count():
        # a process that froze what it had imported (the CLI: garbage_collection.py)
        # freezes Dagster's modules too, imported only now
        gc.freeze()
    run_jobs(summary, settings, instance, quiet=quiet, full_refresh=full_refresh, engine=engine)
    if settings.warehouse.exists():
        _fill_from_warehouse(summary, settings, started_at)
        if engine == "spark" and summary.success:
            from orders_pipeline.engines.spark.runner import spark_totals

            totals = spark_totals(settings.spark_output_dir)
            summary.orders, summary.anonymous_orders = totals.orders, totals.anonymous_orders
            summary.customers, summary.net_revenue = totals.customers, Decimal(totals.net_revenue)
    return summary


def _nothing_to_do(settings: Settings) -> bool:
    """Whether a run would land no file, validate nothing and rebuild no table: every file
    of the landing folder is loaded already and unchanged (``landing.nothing_to_land``),
    every landed file is validated, and every table and the analyst database are at the
    version a build now would give them (``freshness.stale_tables``)."""
    if not settings.warehouse.exists():
        return False
    with connect(settings) as con:
        if not table_exists(con, "audit", "loads") or not table_exists(con, "state", "file_hashes"):
            return False
        pending = con.execute("select count(*) from audit.loads where validated_at is null")
        if pending.fetchall()[0][0]:
            return False
        if not nothing_to_land(con, settings, SOURCES):
            return False
        return not stale_tables(con, settings)


def _fill_from_warehouse(summary: RunSummary, settings: Settings, started_at: datetime) -> None:
    with connect(settings, read_only=True) as con:
        if table_exists(con, "audit", "skipped_files"):
            summary.skipped_files = [
                (file, reason)
                for file, reason in con.execute(
                    "select file, reason from audit.skipped_files where seen_at >= ? order by 1",
                    [started_at],
                ).fetchall()
            ]
        if table_exists(con, "audit", "loads"):
            for source, files, records, accepted, quarantined, duplicates in con.execute(
                """select source, count(*), sum(records), coalesce(sum(accepted), 0),
                          coalesce(sum(quarantined), 0), coalesce(sum(duplicates), 0)
                   from audit.loads group by source order by source"""
            ).fetchall():
                summary.by_source[source] = {
                    "files": int(files),
                    "records": int(records),
                    "accepted": int(accepted),
                    "quarantined": int(quarantined),
                    "duplicates": int(duplicates),
                }
            for counts in summary.by_source.values():
                summary.files += counts["files"]
                summary.records += counts["records"]
                summary.accepted += counts["accepted"]
                summary.quarantined += counts["quarantined"]
                summary.duplicates += counts["duplicates"]
        if table_exists(con, "core", "orders"):
            row = con.execute(
                "select count(*), count(*) filter (where customer_id is null) from core.orders"
            ).fetchall()[0]
            summary.orders, summary.anonymous_orders = (int(v) for v in row)  # type: ignore[union-attr]
        if table_exists(con, "core", "customers"):
            customers = con.execute("select count(*) from core.customers").fetchall()
            summary.customers = int(customers[0][0])
        if table_exists(con, "reporting", "daily_revenue"):
            net = con.execute("select coalesce(sum(net), 0) from reporting.daily_revenue")
            summary.net_revenue = Decimal(net.fetchall()[0][0])


def configure_progress_output(stream: TextIO | None = None) -> None:
    """Print the per-asset progress lines on ``stream`` (stdout by default; the CLI gives the
    live progress's own, live_progress.output)."""
    stream = stream or sys.stdout
    logger = logging.getLogger("orders_pipeline.progress")
    for handler in logger.handlers:
        if getattr(handler, "_orders_progress", False):
            # the stdout of now: a second run in one process (tests) may have another one
            handler.stream = stream  # type: ignore[attr-defined]
    if not any(getattr(h, "_orders_progress", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        handler._orders_progress = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
