"""Jobs, and when the pipeline runs by itself: a daily schedule, a sensor on the landing
folder, and a sensor that follows every ingestion with a model run over the days it changed.

Two jobs split the work at the staging layer: ``ingest_job`` lands and validates new files
(unpartitioned), ``models_job`` re-derives the ledger partitions the new events touch and
everything downstream. ``orders_job`` holds every asset, for runs and backfills from the UI.
All run in one process: DuckDB allows one writer (docs/pitfalls.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

import dagster as dg
from dagster._core.storage.tags import BACKFILL_ID_TAG

from orders_pipeline.config import Settings
from orders_pipeline.landing.files import is_complete
from orders_pipeline.partition_start import follow_data_start
from orders_pipeline.partitions import plan_model_run
from orders_pipeline.warehouse import connect

INGEST_JOB = "ingest_job"
MODELS_JOB = "models_job"
ALL_JOB = "orders_job"
WRITES_TAG = {"orders_pipeline/writes": "warehouse"}
# Runs of the ingest and model jobs (the CLI, the schedule, the sensors) do not rebuild a
# model that is up to date (models.build_model); a backfill (from any job's page: a job's tags
# reach its backfill's runs), a run of the whole job from the UI or a materialisation picked
# there re-derives what it targets (skips_up_to_date).
SKIP_UP_TO_DATE_TAG = "orders_pipeline/skip_up_to_date"
AUTOMATED_TAGS = {**WRITES_TAG, SKIP_UP_TO_DATE_TAG: "true"}


def skips_up_to_date(tags: Mapping[str, str]) -> bool:
    """Whether a run with these tags leaves up-to-date models as they are: runs of the ingest
    and model jobs do, except the runs of a backfill, which is asked for to re-derive its
    range (issue 16: a backfill from ``models_job``'s page rebuilt nothing)."""
    return tags.get(SKIP_UP_TO_DATE_TAG) == "true" and BACKFILL_ID_TAG not in tags


@dataclass(frozen=True)
class Jobs:
    """The three jobs of the definitions."""

    ingest: dg.UnresolvedAssetJobDefinition
    models: dg.UnresolvedAssetJobDefinition
    everything: dg.UnresolvedAssetJobDefinition

    def all(self) -> list[dg.UnresolvedAssetJobDefinition]:
        return [self.ingest, self.models, self.everything]


def build_jobs(partitioned: Sequence[dg.AssetKey], ingested: Sequence[dg.AssetKey]) -> Jobs:
    """Split the graph at the partitioned assets: landing and validation of every source
    (``ingested``) and the unpartitioned upstream of the partitioned assets are ingestion,
    the rest is modelling."""
    ingest = (
        dg.AssetSelection.assets(*ingested) | dg.AssetSelection.assets(*partitioned).upstream()
    ) - dg.AssetSelection.assets(*partitioned)
    return Jobs(
        ingest=dg.define_asset_job(
            INGEST_JOB,
            selection=ingest,
            executor_def=dg.in_process_executor,
            description="Land new files, validate them and refresh the staging models.",
            tags=AUTOMATED_TAGS,
        ),
        models=dg.define_asset_job(
            MODELS_JOB,
            selection=dg.AssetSelection.all() - ingest,
            executor_def=dg.in_process_executor,
            description="Resolve customers, re-derive the targeted ledger partitions and "
            "everything downstream, and publish the analyst database.",
            tags=AUTOMATED_TAGS,
        ),
        everything=dg.define_asset_job(
            ALL_JOB,
            selection=dg.AssetSelection.all(),
            executor_def=dg.in_process_executor,
            description="Every asset and check, for the partition range you choose.",
            tags=WRITES_TAG,
        ),
    )


def landing_fingerprint(landing_dir: Path) -> tuple[str, int]:
    """A fingerprint of the complete files in the landing folder (path, inode, size, mtime,
    ctime: a rewrite that keeps size and mtime, as ``cp -p`` does, still changes it) and how
    many there are. Files still being written (temporary names) and links (never landed)
    are not part of it."""
    digest = hashlib.sha256()
    count = 0
    if landing_dir.is_dir():
        for path in sorted(p for p in landing_dir.rglob("*") if is_complete(p)):
            if any(part.startswith(".") for part in path.relative_to(landing_dir).parts):
                continue
            stat = path.lstat()
            if not S_ISREG(stat.st_mode):
                continue
            digest.update(
                f"{path.relative_to(landing_dir).as_posix()}\0{stat.st_ino}\0{stat.st_size}\0"
                f"{stat.st_mtime_ns}\0{stat.st_ctime_ns}\n".encode()
            )
            count += 1
    return digest.hexdigest(), count


def build_schedule(jobs: Jobs) -> dg.ScheduleDefinition:
    """Daily at 02:00 UTC: ingest whatever landed; the model sensor follows with the rest."""
    return dg.ScheduleDefinition(
        name="daily_orders_refresh",
        job=jobs.ingest,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def build_landing_sensor(jobs: Jobs, landing_dir: Path) -> dg.SensorDefinition:
    """Starts an ingestion when the set of complete files in the landing folder changes."""

    @dg.sensor(
        name="landing_folder_sensor",
        job=jobs.ingest,
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


def build_models_sensor(
    jobs: Jobs, settings: Settings, partitions: dg.DailyPartitionsDefinition
) -> dg.SensorDefinition:
    """After every successful ingestion, a model run over the partitions it changed."""

    @dg.run_status_sensor(
        name="models_after_ingest_sensor",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[jobs.ingest],
        request_job=jobs.models,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Follows each ingestion with a model run over the days its events touch.",
    )
    def _sensor(context: dg.RunStatusSensorContext):
        # assets → automation (the run tags): imported when the sensor runs
        from orders_pipeline.freshness import stale_tables

        with connect(settings, read_only=True) as con:
            # the partitions start with the data from the next load of the definitions on
            # (a run's own process loads them anew); this sensor plans on the ones it has
            follow_data_start(con, settings)
            plan = plan_model_run(con, partitions)
            stale = stale_tables(con, settings)
        if not stale:
            return dg.SkipReason("no model to re-derive: nothing new since the last model run")
        context.log.info(f"model run over {plan.first_key} .. {plan.last_key}: {plan.reason}")
        return dg.RunRequest(run_key=context.dagster_run.run_id, tags=plan.tags)

    return _sensor
