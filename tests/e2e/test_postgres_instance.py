"""Issue 16 item 1: the production instance (``deploy/postgres/dagster.yaml``: PostgreSQL
storage, queued runs, the daemon) against a real PostgreSQL server this test starts
(Debian's ``postgresql`` package; ``.ci/run`` installs it when missing). Through the same
GraphQL API the UI uses, it starts the schedule and the landing sensor, queues an ingestion
and launches a backfill of a three-day range; then ``dagster-daemon`` alone must: tick the
schedule and the sensor, run the four queued runs one after the other (the warehouse
pool), and complete the backfill as ONE run."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import (
    day,
    odp_event,
    processes_with_environment,
    stop_process_group,
    write_ndjson,
)

pytestmark = [pytest.mark.slow, pytest.mark.heavy(seconds=110, waits=True)]

PROJECT = Path(__file__).resolve().parents[2]
DAEMON = Path(sys.executable).with_name("dagster-daemon")


def _postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned folder."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    return Path(folders[-1]) if folders and Path(folders[-1], "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free port of 127.0.0.1 (trust authentication), run
    as the ``postgres`` user when this is root (PostgreSQL refuses to run as root)."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    as_user: list[str] = []
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")  # Debian's package creates it
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    # under /tmp, not pytest's tmp_path: the server's user must be able to reach it
    root = Path(tempfile.mkdtemp(prefix="orders_pg_"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            [*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
             "-o", options, "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _key(n: int) -> str:
    return datetime.fromtimestamp(day(n), UTC).date().isoformat()


def _gql(context, query: str, variables: dict) -> dict:
    from dagster_graphql.test.utils import execute_dagster_graphql

    result = execute_dagster_graphql(context, query, variables)
    assert not result.errors, result.errors
    (payload,) = result.data.values()
    return payload


START_SCHEDULE = """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
  __typename ... on PythonError { message } } }"""
START_SENSOR = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
  __typename ... on PythonError { message } } }"""
LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message } } }"""
LAUNCH_BACKFILL = """mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) { __typename
    ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
PARTITIONED = "{ assetNodes { assetKey { path } isPartitioned } }"


def test_daemon_on_postgres_ticks_queues_and_backfills(tmp_path, monkeypatch, postgres_url):
    from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData
    from dagster_graphql.test.utils import (
        define_out_of_process_context,
        infer_job_selector,
        infer_schedule_selector,
        infer_sensor_selector,
    )

    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("refund", "A1", day(2), subtotal=30),
            odp_event("purchase", "B1", day(3), subtotal=50),
        ],
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres_url,
        "ORDERS_LANDING_DIR": str(landing),
        "ORDERS_WAREHOUSE": str(tmp_path / "wh.duckdb"),
        "ORDERS_PARTITION_START": _key(1),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    days = [_key(1), _key(2), _key(3)]

    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    daemon = None
    try:
        with define_out_of_process_context(
            str(PROJECT / "workspace.yaml"), None, instance
        ) as context:
            schedule = infer_schedule_selector(context, "daily_orders_refresh")
            assert (
                _gql(context, START_SCHEDULE, {"s": schedule})["__typename"]
                == "ScheduleStateResult"
            )
            sensor = infer_sensor_selector(context, "landing_folder_sensor")
            assert _gql(context, START_SENSOR, {"s": sensor})["__typename"] == "Sensor"
            # an ingestion queued before the daemon starts is the first run it dequeues: the
            # backfill's run finds the events staged whatever order the rest comes in
            ingest = infer_job_selector(context, "ingest_job")
            first = _gql(context, LAUNCH_RUN, {"p": {"selector": ingest, "runConfigData": {}}})
            assert first["run"]["status"] == "QUEUED", first
            nodes = _gql(context, PARTITIONED, {})
            launched = _gql(
                context,
                LAUNCH_BACKFILL,
                {
                    "p": {
                        "assetSelection": [
                            {"path": n["assetKey"]["path"]} for n in nodes if n["isPartitioned"]
                        ],
                        "partitionNames": days,
                        "fromFailure": False,
                    }
                },
            )
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        # the daily schedule's last 02:00 lies inside its window: the daemon's first look
        # at it is a due tick, not a wait until tomorrow
        (state,) = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        instance.update_instigator_state(
            state.with_data(
                ScheduleInstigatorData(
                    cron_schedule=state.instigator_data.cron_schedule,
                    start_timestamp=time.time() - 25 * 3600,
                )
            )
        )
        daemon_started = time.time()
        daemon = subprocess.Popen(
            [str(DAEMON), "run", "-w", "workspace.yaml"],
            cwd=PROJECT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

        def finished() -> bool:
            runs = instance.get_runs()
            if any(r.status == dg.DagsterRunStatus.FAILURE for r in runs):
                return True  # the assertions below say which
            done = all(r.is_finished for r in runs)
            backfill = instance.get_backfill(backfill_id)
            by = {tag: [r for r in runs if tag in r.tags] for tag in _ORIGIN_TAGS}
            return (
                done
                and backfill is not None
                and backfill.status.value.startswith("COMPLETED")
                and all(by.values())
            )

        _wait(finished, instance)
    finally:
        if daemon is not None:
            stop_process_group(daemon)
    # nothing the daemon spawned (code server, run workers) outlives it
    assert not processes_with_environment("DAGSTER_HOME", str(home))

    try:
        runs = instance.get_runs()
        assert {r.run_id: r.status for r in runs} == {
            r.run_id: dg.DagsterRunStatus.SUCCESS for r in runs
        }
        # the schedule and the sensor each ticked and started a run
        assert [r.tags["dagster/schedule_name"] for r in runs if "dagster/schedule_name" in r.tags]
        assert [r.tags["dagster/sensor_name"] for r in runs if "dagster/sensor_name" in r.tags]
        # the backfill of three days is one run, over the range
        (backfill_run,) = [r for r in runs if r.tags.get("dagster/backfill") == backfill_id]
        assert backfill_run.tags["dagster/asset_partition_range_start"] == days[0]
        assert backfill_run.tags["dagster/asset_partition_range_end"] == days[-1]
        assert instance.get_backfill(backfill_id).status.value == "COMPLETED_SUCCESS"
        ledger = dg.AssetKey(["core", "order_ledger"])
        assert set(days) <= instance.get_materialized_partitions(ledger)
        # four runs queued at once (the ingestion, the schedule's, the sensor's, the
        # backfill's) ran one after another: the warehouse pool let one in at a time
        records = sorted(
            (instance.get_run_record_by_id(r.run_id) for r in runs), key=lambda r: r.start_time
        )
        for record in records:  # the timeline, for `pytest -s`
            offset = record.start_time - daemon_started
            print(
                record.dagster_run.job_name,
                f"{offset:.0f} s +{record.end_time - record.start_time:.0f} s",
            )
        assert len(records) == 4
        assert all(a.end_time <= b.start_time for a, b in zip(records, records[1:], strict=False))
    finally:
        instance.dispose()


_ORIGIN_TAGS = ("dagster/schedule_name", "dagster/sensor_name", "dagster/backfill")


def _wait(done, instance: dg.DagsterInstance, seconds: float = 240) -> None:
    """Poll until ``done()``; fail naming each run's state when it does not come."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    states = {r.run_id[:8]: (r.job_name, r.status.value, dict(r.tags)) for r in instance.get_runs()}
    pytest.fail(f"the daemon did not get there in {seconds} s: {states}")
