"""Running every asset of the definitions in this process, and summarising the warehouse
afterwards: what ``orders-pipeline run`` and the tests call."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import dagster as dg

from orders_pipeline.automation import INGEST_JOB, MODELS_JOB
from orders_pipeline.config import Settings
from orders_pipeline.faults import explain_error
from orders_pipeline.partitions import (
    FULL_REFRESH_TAG,
    ModelRunPlan,
    daily_partitions,
    plan_model_run,
)
from orders_pipeline.warehouse import (
    WarehouseLocked,
    connect,
    ensure_landing_tables,
    table_exists,
)

# Dagster logs every step event; the CLI shows our progress lines and its own error summary.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# What a Dagster error says when the run was stopped by SIGINT (or SIGTERM, which Dagster
# maps to it) rather than failed, and when a step gave up waiting for the warehouse.
_INTERRUPT_ERRORS = {"KeyboardInterrupt", "DagsterExecutionInterruptedError"}
_LOCKED_ERROR = "WarehouseLocked"


class RunInterrupted(Exception):
    """The run was stopped by Ctrl-C (SIGINT) or SIGTERM; ``str()`` is the one line to
    print. ``what`` names the step or phase that was running."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"interrupted while {what}; the warehouse is consistent (each step commits as "
            "one transaction, the interrupted one was rolled back); the next run carries on "
            "from there: it lands the files not landed yet and re-derives what they change"
        )


@dataclass
class RunSummary:
    """The closing summary of a run (CONTRACT.md, ``orders-pipeline run``)."""

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
    # set by _collect: the step a SIGINT stopped, the one line of a step that gave up waiting
    # for the warehouse (run_pipeline turns them into RunInterrupted / WarehouseLocked)
    interrupted_step: str | None = None
    locked: str | None = None


def run_pipeline(
    settings: Settings,
    instance: dg.DagsterInstance | None = None,
    quiet: bool = True,
    full_refresh: bool = False,
) -> RunSummary:
    """Ingest new files, then re-derive the partitions they change and everything downstream
    (every partition with ``full_refresh``), in this process; then summarise.

    Raises :class:`RunInterrupted` when Ctrl-C (or SIGTERM) stops it and
    :class:`WarehouseLocked` when another process held the warehouse past
    ``ORDERS_LOCK_TIMEOUT``: neither is a failed run to summarise."""
    from orders_pipeline.definitions import build_definitions

    phase = "starting"  # what a Ctrl-C outside a Dagster step interrupts
    try:
        defs = build_definitions(settings)
        partitions = daily_partitions(settings.partition_start)
        summary = RunSummary(success=False, base_currency=settings.base_currency)
        owned = instance is None
        instance = instance or dg.DagsterInstance.ephemeral()
        try:
            phase = "ingesting"
            _run_jobs(defs, instance, summary, settings, partitions, quiet, full_refresh)
        finally:
            if owned:
                instance.dispose()
        phase = "summarising the run"
        if settings.warehouse.exists():
            _fill_from_warehouse(summary, settings)
    except KeyboardInterrupt:
        raise RunInterrupted(phase) from None
    return summary


def _run_jobs(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    summary: RunSummary,
    settings: Settings,
    partitions: dg.PartitionsDefinition,
    quiet: bool,
    full_refresh: bool,
) -> None:
    """The ingest job, then (when it succeeded) the plan and the models job."""
    run_config = QUIET_RUN_CONFIG if quiet else None
    ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags={FULL_REFRESH_TAG: "true"} if full_refresh else None,
    )
    _collect(summary, ingest)
    _raise_if_stopped(summary, "ingesting")
    if not ingest.success:
        return
    try:
        with connect(settings) as con:
            ensure_landing_tables(con)
            summary.plan = plan_model_run(con, partitions, full_refresh=full_refresh)
    except KeyboardInterrupt:
        raise RunInterrupted("planning the model run") from None
    try:
        models = defs.resolve_job_def(MODELS_JOB).execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags={**summary.plan.tags, **({FULL_REFRESH_TAG: "true"} if full_refresh else {})},
        )
    except KeyboardInterrupt:
        raise RunInterrupted("modelling") from None
    _collect(summary, models)
    _raise_if_stopped(summary, "modelling")
    summary.success = models.success


def _raise_if_stopped(summary: RunSummary, phase: str) -> None:
    """After a job: a SIGINT or a warehouse held too long ends the run here."""
    if summary.interrupted_step is not None:
        step = summary.interrupted_step
        raise RunInterrupted(f"{phase} ({step})" if step else phase)
    if summary.locked is not None:
        raise WarehouseLocked(summary.locked)


def _error_classes(error: object) -> Iterator[tuple[str, str]]:
    """(class name, message) of a serialised Dagster error and its causes and contexts."""
    pending, seen = [error], 0
    while pending and seen < 50:
        current = pending.pop()
        seen += 1
        if current is None:
            continue
        yield getattr(current, "cls_name", "") or "", str(getattr(current, "message", "") or "")
        pending += [getattr(current, "cause", None), getattr(current, "context", None)]


def _stop_reason(summary: RunSummary, error: object, step: str | None) -> bool:
    """Record an interruption or a lock timeout found in ``error``; whether it was one."""
    for cls_name, message in _error_classes(error):
        if cls_name in _INTERRUPT_ERRORS:
            summary.interrupted_step = (step or "").replace("__", "/")
            return True
        if cls_name == _LOCKED_ERROR:
            # Dagster's message is "WarehouseLocked: <line>\n"
            summary.locked = message.strip().removeprefix(f"{_LOCKED_ERROR}: ").splitlines()[0]
            return True
    return False


def _collect(summary: RunSummary, result: dg.ExecuteInProcessResult) -> None:
    """Failed steps, errors and failed or warning checks of one job run."""
    running: str | None = None
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_START:
            running = event.step_key
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            # interrupted between steps: the run, not a step, carries the error
            data = event.event_specific_data
            _stop_reason(summary, getattr(data, "error", None), running)
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            summary.failed_steps.append(event.step_key or "?")
            error = event.step_failure_data.error if event.step_failure_data else None
            if error is not None and _stop_reason(summary, error, event.step_key):
                continue
            if error is not None:
                # a full disk or DuckDB out of memory: what ran out and what to do
                message = explain_error(error) or _root_message(error)
                summary.errors.append(f"{event.step_key}: {message}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation is not None and not evaluation.passed:
                label = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    summary.warned_checks.append(label)
                else:
                    summary.failed_checks.append(label)


def _root_message(error: object) -> str:
    """The innermost message of a serialised Dagster error (the user's real problem)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    message = str(getattr(error, "message", error) or "").strip()
    # the first line states the error; DuckDB's later lines are the query and a caret
    return message.splitlines()[0] if message else "unknown error"


def _fill_from_warehouse(summary: RunSummary, settings: Settings) -> None:
    with connect(settings, read_only=True) as con:
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


def configure_progress_output() -> None:
    """Print the per-asset progress lines on stdout."""
    logger = logging.getLogger("orders_pipeline.progress")
    if not any(getattr(h, "_orders_progress", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        handler._orders_progress = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
