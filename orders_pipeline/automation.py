"""When the pipeline runs by itself: a daily schedule and a sensor on the landing folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from orders_pipeline.landing.files import is_complete

JOB_NAME = "orders_job"


def landing_fingerprint(landing_dir: Path) -> tuple[str, int]:
    """A fingerprint of the complete files in the landing folder (path, size, mtime) and how
    many there are. Files still being written (temporary names) are not part of it."""
    digest = hashlib.sha256()
    count = 0
    if landing_dir.is_dir():
        for path in sorted(p for p in landing_dir.rglob("*") if p.is_file() and is_complete(p)):
            if any(part.startswith(".") for part in path.relative_to(landing_dir).parts):
                continue
            stat = path.stat()
            digest.update(
                f"{path.relative_to(landing_dir).as_posix()}\0{stat.st_size}\0"
                f"{stat.st_mtime_ns}\n".encode()
            )
            count += 1
    return digest.hexdigest(), count


def build_job() -> dg.UnresolvedAssetJobDefinition:
    """Every asset and check, in one process: DuckDB allows one writer (PITFALLS)."""
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        description="Land new files, validate, and rebuild the ledger, entities and reports.",
        tags={"orders_pipeline/writes": "warehouse"},
    )


def build_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Daily at 02:00 UTC: ingest whatever landed and refresh everything downstream."""
    return dg.ScheduleDefinition(
        name="daily_orders_refresh",
        job=job,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def build_sensor(job: dg.UnresolvedAssetJobDefinition, landing_dir: Path) -> dg.SensorDefinition:
    """Starts a run when the set of complete files in the landing folder changes."""

    @dg.sensor(
        name="landing_folder_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Watches the landing folder; write files under a temporary name "
        "(.tmp/.part or a leading dot) and rename them when complete.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        fingerprint, count = landing_fingerprint(landing_dir)
        if count == 0 or fingerprint == context.cursor:
            return dg.SkipReason(f"no new complete files in {landing_dir}")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=fingerprint, tags={"landing/files": str(count)})

    return _sensor
