"""Issue 16: ``orders-pipeline run`` records into the persistent Dagster instance in
``$DAGSTER_HOME`` that the UI reads, so the UI shows its runs, materialisations, partition
status and check results."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from orders_pipeline.checks import CHECKS
from orders_pipeline.config import Settings
from orders_pipeline.partition_start import partition_start
from tests.conftest import cli_run_in_process, day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)


def test_after_a_cli_run_the_instance_holds_its_materialisations_and_check_evaluations(
    tmp_path, monkeypatch, capsys
):
    """Then a second run with one new event: its progress lines say what it did (one row
    written for one re-derived day), and that day's materialisation records its own rows."""
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("purchase", "B1", day(2), subtotal=50),
        ],
    )
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    warehouse = tmp_path / "wh.duckdb"
    assert cli_run_in_process(landing, warehouse) == 0, capsys.readouterr().err
    first = capsys.readouterr().out
    assert f"Dagster instance: {home}" in first
    # the partitions start with the data (the month of its first event), for every later
    # load of the definitions, the UI's included; no hint to set anything
    assert partition_start(Settings(warehouse=warehouse)) == date(2026, 6, 1)
    assert "hint:" not in first
    assert (home / "dagster.yaml").exists()  # the project's instance settings, copied
    write_ndjson(
        landing / "odp_events" / "b.ndjson", [odp_event("purchase", "C1", day(4), subtotal=20)]
    )
    assert cli_run_in_process(landing, warehouse) == 0
    second = {
        line.split()[0]: " ".join(line.split()[1:])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  core/") or line.startswith("  staging/")
    }
    fourth = datetime.fromtimestamp(day(4), UTC).date().isoformat()
    assert second["core/order_ledger"].startswith("1 rows")
    assert second["core/order_ledger"].endswith(
        f"days {fourth} .. {fourth} re-derived, 0 rows replaced"
    )
    assert second["staging/stg_odp_order_events"].startswith("1 rows")
    assert second["staging/stg_odp_order_events"].endswith("new records only, 0 rows replaced")

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["ingest_job"] * 2 + ["models_job"] * 2
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # unpartitioned and partitioned assets are materialised; the partitions are the days
        # with events, as the UI's partition bar shows them
        for key in (["raw", "odp_events"], ["core", "customers"], ["reporting", "daily_revenue"]):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
        days = {datetime.fromtimestamp(day(n), UTC).date().isoformat() for n in (1, 2)}
        ledger = dg.AssetKey(["core", "order_ledger"])
        assert days <= instance.get_materialized_partitions(ledger)
        # the new day's materialisation: its one row, not the table's three
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=ledger, asset_partitions=[fourth]), limit=5
        ).records
        metadata = record.asset_materialization.metadata
        assert metadata["dagster/row_count"].value == 1
        assert (metadata["rows_inserted"].value, metadata["rows_deleted"].value) == (1, 0)
        # the column schema and preview are on each materialisation, and only there: the
        # steps' output events carry none of an asset's metadata (recorded once, not twice)
        customers = instance.get_latest_materialization_event(dg.AssetKey(["core", "customers"]))
        shown = customers.asset_materialization.metadata  # type: ignore[union-attr]
        assert {"dagster/column_schema", "preview", "dagster/row_count"} <= set(shown)
        outputs = [
            event.dagster_event.step_output_data
            for run in runs
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
        ]
        assert len(outputs) > len(CHECKS)  # every asset's output and every check's
        assert [o.metadata for o in outputs if o.metadata] == []
        # every check's evaluation is recorded, as the UI's Checks tab lists them
        for check in CHECKS[:3]:
            key = dg.AssetCheckKey(dg.AssetKey(list(check.asset)), check.name)
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert history and history[0].status.value == "SUCCEEDED", key
    finally:
        instance.dispose()
