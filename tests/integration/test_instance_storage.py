"""The local instance writes Dagster's events in batches over open connections
(orders_pipeline/instance_storage.py, issue 15); what it stores must be what Dagster's own
SQLite storage stores: the same events in the same order, the same partitions
materialised, the same latest materialisation of each asset, planned runs and check
results. The same runs go into a stock home and into a home with the project's
``dagster.yaml``, and the two are compared; and likewise into Dagster's ephemeral instance
and the project's (what every in-process run uses)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orders_pipeline import instance as local
from orders_pipeline.instance_storage import (
    InMemoryEventLog,
    LocalEventLogStorage,
    LocalInstance,
    ephemeral_instance,
)

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-09")


@dg.asset(partitions_def=DAYS)
def daily(context) -> dg.MaterializeResult:
    keys = context.partition_keys
    return dg.MaterializeResult(metadata={"days": len(keys), "first": keys[0]})


@dg.asset(deps=[daily])
def whole() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset_check(asset=whole)
def whole_has_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


DEFS = dg.Definitions(
    assets=[daily, whole],
    asset_checks=[whole_has_rows],
    jobs=[
        dg.define_asset_job("days_job", selection=[daily], partitions_def=DAYS),
        dg.define_asset_job("whole_job", selection=[whole]),
    ],
)


def _runs(instance: dg.DagsterInstance) -> list[dict]:
    """A range of eight days, one day again, then the unpartitioned asset and its check:
    what is stored after each."""
    days = DEFS.resolve_job_def("days_job")
    days.execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-01-01",
            ASSET_PARTITION_RANGE_END_TAG: "2026-01-08",
        },
    )
    after_range = _stored(instance)
    days.execute_in_process(instance=instance, partition_key="2026-01-03")
    after_day = _stored(instance)
    DEFS.resolve_job_def("whole_job").execute_in_process(instance=instance)
    return [after_range, after_day, _stored(instance)]


def _stored(instance: dg.DagsterInstance) -> dict:
    """What the UI reads, without run ids and timestamps."""
    runs = list(reversed(instance.get_runs()))  # newest first: in the order they ran
    order = {run.run_id: index for index, run in enumerate(runs)}
    logs = [
        (
            order[run.run_id],
            event.dagster_event_type.value if event.dagster_event_type else None,
            event.dagster_event.asset_key.to_user_string()
            if event.dagster_event and event.dagster_event.asset_key
            else None,
            event.dagster_event.partition if event.dagster_event else None,
        )
        for run in runs
        for event in instance.all_logs(run.run_id)
    ]
    daily_key, whole_key = dg.AssetKey("daily"), dg.AssetKey("whole")
    records = {
        record.asset_entry.asset_key.to_user_string(): record
        for record in instance.get_asset_records([daily_key, whole_key])
    }
    latest = {
        name: (
            order[record.asset_entry.last_materialization_record.run_id],
            record.asset_entry.last_materialization_record.partition_key,
            record.asset_entry.last_materialization_record.storage_id,
            order[record.asset_entry.last_run_id],
        )
        for name, record in records.items()
    }
    planned = instance.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, daily_key)
    )
    made = instance.fetch_materializations(daily_key, limit=100).records
    check = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(whole_key, "whole_has_rows"), limit=5
    )
    return {
        "logs": logs,
        "latest": latest,
        "materialized": sorted(instance.get_materialized_partitions(daily_key)),
        "planned": sorted((record.partition_key, record.storage_id) for record in planned),
        "made": [
            (record.partition_key, record.storage_id, dict(record.asset_materialization.metadata))
            for record in made
        ],
        "check": [row.status.value for row in check],
    }


def test_the_local_instance_stores_what_dagsters_own_sqlite_storage_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    stock_home, local_home = tmp_path / "stock", tmp_path / "local"
    stock_home.mkdir()
    (stock_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(local_home))
    local.prepare_home()

    batches: list[int] = []
    store_event_batch = LocalEventLogStorage.store_event_batch

    def counted(self, events):
        batches.append(len(events))
        return store_event_batch(self, events)

    monkeypatch.setattr(LocalEventLogStorage, "store_event_batch", counted)

    stored = {}
    for name, home in (("stock", stock_home), ("local", local_home)):
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            assert isinstance(instance, LocalInstance) == (name == "local")
            stored[name] = _runs(instance)
        finally:
            instance.dispose()

    # the batches were used: the range's planned and made materialisations, eight each
    assert batches.count(8) >= 2, batches
    assert stored["local"] == stored["stock"]
    after_range, after_day, last = stored["local"]
    assert last["materialized"] == [f"2026-01-0{day}" for day in range(1, 9)]
    assert len(last["planned"]) == 9 and last["check"] == ["SUCCEEDED"]
    # the latest materialisation is the range's last day, then the day run again, each
    # with the index's own id
    assert after_range["latest"]["daily"][:2] == (0, "2026-01-08")
    assert after_day["latest"]["daily"][:2] == (1, "2026-01-03")
    for snapshot in (after_range, after_day):
        (_, _, storage_id, _) = snapshot["latest"]["daily"]
        assert storage_id == max(storage for _, storage, _ in snapshot["made"])


def test_the_ephemeral_instance_stores_what_dagsters_own_stores(monkeypatch: pytest.MonkeyPatch):
    """The in-process runs' instance (``ephemeral_instance``: the held connection, batched
    writes) against ``DagsterInstance.ephemeral()``: the same runs, the same stored events,
    partitions, latest materialisations, planned runs and check results."""
    batches: list[int] = []
    store_event_batch = InMemoryEventLog.store_event_batch

    def counted(self, events):
        batches.append(len(events))
        return store_event_batch(self, events)

    monkeypatch.setattr(InMemoryEventLog, "store_event_batch", counted)
    stored = {}
    for name, make in (("stock", dg.DagsterInstance.ephemeral), ("ours", ephemeral_instance)):
        with make() as instance:
            stored[name] = _runs(instance)
    assert batches.count(8) >= 2, batches  # the range's planned and made materialisations
    assert stored["ours"] == stored["stock"]


def test_a_home_with_the_earlier_shipped_settings_gets_the_current_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A home made by an earlier version still holds that version's copy of
    deploy/local/dagster.yaml, untouched: it gets the current one. One its owner edited
    stays as it is."""
    shipped = tmp_path / "earlier.yaml"
    shipped.write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    monkeypatch.setattr(
        local, "SHIPPED_BEFORE", frozenset({hashlib.sha256(shipped.read_bytes()).hexdigest()})
    )
    untouched, edited = tmp_path / "untouched", tmp_path / "edited"
    for home in (untouched, edited):
        home.mkdir()
        shutil.copyfile(shipped, home / "dagster.yaml")
    (edited / "dagster.yaml").write_text(shipped.read_text() + "# mine\n")

    for home in (untouched, edited):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        local.prepare_home()

    assert (untouched / "dagster.yaml").read_bytes() == local.LOCAL_INSTANCE_CONFIG.read_bytes()
    assert (edited / "dagster.yaml").read_text().endswith("# mine\n")
    assert not list(untouched.glob(".dagster.yaml.*"))


@pytest.mark.parametrize("storage", ["ephemeral", "local"])
def test_a_table_or_column_found_is_not_looked_up_again_and_one_missing_is(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Dagster asks before many statements whether a migration's table or column exists;
    # once found it stays (migrations only add), so the answer is remembered
    log = InMemoryEventLog() if storage == "ephemeral" else LocalEventLogStorage(str(tmp_path))
    base = InMemoryEventLogStorage if storage == "ephemeral" else SqliteEventLogStorage
    asked: list[str] = []
    for method in ("has_table", "_has_asset_key_col_on_connection"):
        original = getattr(base, method)

        def counted(self, *args, _original=original, _method=method):
            asked.append(f"{_method} {args[-1]}")
            return _original(self, *args)

        monkeypatch.setattr(base, method, counted)
    for _ in range(3):
        assert log.has_table("asset_check_executions")
        assert log.has_asset_key_index_cols()
        assert not log.has_table("no_such_table")
    assert asked == [
        "has_table asset_check_executions",
        "_has_asset_key_col_on_connection last_materialization_timestamp",
        *["has_table no_such_table"] * 3,
    ]
    log.dispose()
