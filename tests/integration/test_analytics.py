"""Analysts read a published copy: they never block a run and never see half of one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.assets.publish import IDENTITY_KEYS
from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.models import discover_models
from orders_pipeline.publish import partition_columns, publish_analytics, unique_keys
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import connect
from tests.conftest import day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)

READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    count = lambda c: c.execute("select count(*) from core.orders").fetchall()[0][0]
    print(count(con), flush=True)
    sys.stdin.readline()               # the test runs the pipeline meanwhile
    print(count(con), flush=True)      # still the snapshot it opened
    con.close()
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(count(con), flush=True)      # a new connection sees the new run
    """
)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder after one run over one order (``landing/``, ``wh.duckdb`` and its analyst
    database): the first test reads it, the second starts from a copy of it."""
    folder = tmp_path_factory.mktemp("first_run")
    write_ndjson(
        folder / "landing" / "odp_events" / "a.ndjson",
        [odp_event("purchase", "A1", day(1), subtotal=10)],
    )
    settings = Settings(landing_dir=folder / "landing", warehouse=folder / "wh.duckdb")
    assert run_pipeline(settings).success
    return folder


def test_reader_holding_the_analyst_database_open_does_not_block_a_run(
    tmp_path: Path, first_run: Path
):
    shutil.copytree(first_run, tmp_path, dirs_exist_ok=True)
    landing = tmp_path / "landing"
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "wh.duckdb")
    analytics = settings.analytics_path
    assert analytics.exists()

    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(analytics)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "1"
        write_ndjson(landing / "odp_events" / "b.ndjson",
                     [odp_event("purchase", "B1", day(2), subtotal=20)])  # fmt: skip
        summary = run_pipeline(settings)
        assert summary.success, summary.errors
        out, _ = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    assert out.split() == ["1", "2"]


def test_analyst_database_holds_core_reporting_and_audit_but_not_raw(first_run: Path):
    settings = Settings(landing_dir=first_run / "landing", warehouse=first_run / "wh.duckdb")
    con = duckdb.connect(str(settings.analytics_path), read_only=True)
    try:
        schemas = {
            row[0]
            for row in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        net = con.execute("select sum(net) from reporting.daily_revenue").fetchall()[0][0]
    finally:
        con.close()
    # and the publication's own bookkeeping (publish.py), nothing from raw or staging
    assert schemas == {"core", "reporting", "audit", "state"}
    assert net == 10
    assert not list(first_run.glob(".analytics.duckdb.*.tmp"))


def test_two_runs_at_once_on_one_warehouse_both_succeed(tmp_path: Path):
    """Runs are serialised by the warehouse's writer lock, not failed by DuckDB's."""
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson", [odp_event("purchase", "A1", day(1), subtotal=10)]
    )
    command = [sys.executable, "-m", "orders_pipeline.cli", "run", "--landing", str(landing),
               "--warehouse", str(tmp_path / "wh.duckdb")]  # fmt: skip
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]  # fmt: skip
    results = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
        assert "net revenue: 10.00 USD" in out


# A reader of the analyst database that holds it open while it is published twice: the second
# publication's spare (publish.py) is the very file it holds.
HOLDING_READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    orders = lambda: con.execute(
        "select string_agg(order_id, ',' order by order_id) from core.orders").fetchall()[0][0]
    print(orders(), flush=True)
    sys.stdin.readline()               # the test publishes twice meanwhile
    print(orders(), flush=True)
    """
)


def _held_file(pid: int | str, like: Path) -> Path:
    """The file descriptor of process ``pid`` open on the file ``like`` is now."""
    wanted = like.stat()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.path.samestat(descriptor.stat(), wanted):
                return descriptor
        except OSError:
            continue
    raise AssertionError(f"process {pid} does not hold {like}")


def _publish(settings: Settings) -> str | None:
    """Publish the warehouse as a run does; what was brought up to date (publish.py)."""
    models = discover_models(SQL_DIR)
    with connect(settings) as con:
        report = publish_analytics(
            con,
            settings.analytics_path,
            partitioned=partition_columns(models),
            keyed={**unique_keys(models), **IDENTITY_KEYS},
        )
    return report.base


@pytest.mark.parametrize("reader", ["another process", "this process"])
def test_a_reader_holding_an_old_analyst_database_keeps_it_unwritten(
    tmp_path: Path, first_run: Path, reader: str
):
    """A reader that opened the analyst database before two publications still holds that
    file when the second would update it in place as the spare: DuckDB's lock (another
    process) or the publication's look at its own open files (this process) make it copy the
    last publication instead, and the held file is not written."""
    shutil.copytree(first_run, tmp_path, dirs_exist_ok=True)
    settings = Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "wh.duckdb")
    analytics = settings.analytics_path
    if reader == "another process":
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDING_READER, str(analytics)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        holder: int | str = process.pid
        assert process.stdout.readline().strip() == "A1"
    else:
        con = duckdb.connect(str(analytics), read_only=True)
        holder = "self"
    try:
        held = _held_file(holder, analytics)
        contents = hashlib.sha256(held.read_bytes()).hexdigest()
        # the first run's full publication kept a copy of its file, which this updates; the
        # held file is now the spare
        assert _publish(settings) == "spare"
        assert _publish(settings) == "copy"  # and is not written in place
        assert hashlib.sha256(held.read_bytes()).hexdigest() == contents
        if reader == "another process":
            out, _ = process.communicate("go\n", timeout=60)
            assert out.split() == ["A1"]  # the snapshot it opened
        else:
            assert con.execute("select count(*) from core.orders").fetchall() == [(1,)]
    finally:
        if reader == "another process":
            process.kill()
        else:
            con.close()
    # the reader gone, the spare (the file it held was removed) is the second publication's
    assert _publish(settings) == "spare"
    assert table_contents(analytics, ("core",)) == table_contents(settings.warehouse, ("core",))
