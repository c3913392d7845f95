"""The pipeline's two Dagster jobs run in this process: ingest, then, when a table would
change, the models (or the model layer on Spark). ``runner.run_pipeline`` calls it after
deciding that a run has something to do, so a run with no new file never imports Dagster."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.steps import BuildFailed
from orders_pipeline.automation import INGEST_JOB, MODELS_JOB
from orders_pipeline.config import Settings
from orders_pipeline.definitions import build_definitions
from orders_pipeline.faults import explain_error
from orders_pipeline.freshness import stale_tables
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.interrupts import raise_if_stopped
from orders_pipeline.partition_start import follow_data_start, partition_start
from orders_pipeline.partitions import FULL_REFRESH_TAG, daily_partitions, plan_model_run
from orders_pipeline.warehouse import connect, ensure_landing_tables

if TYPE_CHECKING:
    from orders_pipeline.runner import RunSummary

# Dagster logs every step event; the CLI shows our progress lines and its own error summary.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_jobs(
    summary: RunSummary,
    settings: Settings,
    instance: dg.DagsterInstance | Callable[[], dg.DagsterInstance] | None,
    quiet: bool,
    full_refresh: bool,
    engine: str,
) -> None:
    """Ingest new files, then re-derive what they change (everything with
    ``full_refresh``), recording both runs in ``instance`` (an ephemeral one when None; a
    callable opens it only now). Fills ``summary``'s outcome, failed steps, errors and checks;
    raises ``RunInterrupted`` or ``WarehouseLocked`` when Ctrl-C or a held warehouse stopped
    it."""
    defs = build_definitions(settings)
    partitions = daily_partitions(partition_start(settings))
    owned = instance is None
    if instance is None:
        instance = ephemeral_instance()
    elif not isinstance(instance, dg.DagsterInstance):
        instance = instance()  # opened only now: a run with nothing to do does not need it
    run_config = QUIET_RUN_CONFIG if quiet else None
    try:
        ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags={FULL_REFRESH_TAG: "true"} if full_refresh else None,
        )
        _collect(summary, ingest)
        raise_if_stopped(ingest, "ingesting")  # Ctrl-C, or the warehouse held too long
        if ingest.success and engine == "spark":
            _run_models_on_spark(summary, settings)
        elif ingest.success:
            with connect(settings) as con:
                ensure_landing_tables(con)
                if follow_data_start(con, settings) is not None:
                    # the first events, or older ones: the models run on partitions that
                    # start with the data, as every later load of the definitions will
                    defs = build_definitions(settings)
                    partitions = daily_partitions(partition_start(settings))
                plan = plan_model_run(con, partitions, full_refresh=full_refresh)
                stale = full_refresh or stale_tables(con, settings)
            if stale:
                summary.plan = plan
                models = defs.resolve_job_def(MODELS_JOB).execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    run_config=run_config,
                    tags={**plan.tags, **({FULL_REFRESH_TAG: "true"} if full_refresh else {})},
                )
                _collect(summary, models)
                raise_if_stopped(models, "modelling")
                summary.success = models.success
            else:
                # issue 15: no new file, no changed setting or model: nothing to re-derive
                summary.success = summary.up_to_date = True
                progress.LOGGER.info("%-36s %s", "models", "up to date: nothing to re-derive")
    finally:
        if owned:
            instance.dispose()


def _run_models_on_spark(summary: RunSummary, settings: Settings) -> None:
    """The model layer on Spark (orders_pipeline.engines.spark): every model rebuilt."""
    from orders_pipeline.engines.spark.runner import run_models

    try:
        run_models(settings, log=progress.report)
        summary.success = True
    except Exception as error:  # a model Spark rejects, no Java: one line, as for DuckDB
        summary.failed_steps.append("spark_models")
        summary.errors.append(f"spark: {str(error).strip().splitlines()[0]}")


def _collect(summary: RunSummary, result: dg.ExecuteInProcessResult) -> None:
    """Failed steps, errors and failed or warning checks of one job run."""
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            summary.failed_steps.append(event.step_key or "?")
            error = event.step_failure_data.error if event.step_failure_data else None
            if error is not None:
                # a full disk or DuckDB out of memory: what ran out and what to do
                message = explain_error(error) or _root_message(error)
                summary.errors.append(f"{_failed_asset(error) or event.step_key}: {message}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation is not None and not evaluation.passed:
                label = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    summary.warned_checks.append(label)
                else:
                    summary.failed_checks.append(label)


def _failed_asset(error: object) -> str | None:
    """The asset a step was building when it failed (``assets.steps.BuildFailed``): a step
    builds many, the error line names the one."""
    while error is not None:
        if getattr(error, "cls_name", None) == BuildFailed.__name__:
            return str(getattr(error, "message", "")).split(": ", 1)[-1].strip() or None
        error = getattr(error, "cause", None)
    return None


def _root_message(error: object) -> str:
    """The innermost message of a serialised Dagster error (the user's real problem)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    message = str(getattr(error, "message", error) or "").strip()
    # the first line states the error; DuckDB's later lines are the query and a caret
    return message.splitlines()[0] if message else "unknown error"
