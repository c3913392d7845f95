"""Daily partitions: a backfill re-derives exactly its days, an incremental run equals a full
rebuild, and a late event lands in its own day and moves the tallies after it."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import BACKFILL_ID_TAG

from orders_pipeline.config import Settings
from orders_pipeline.definitions import build_definitions
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.partition_start import partition_start
from orders_pipeline.partitions import daily_partitions, plan_model_run, range_tags
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import connect
from tests.conftest import day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=40)  # scheduled first (tests/conftest.py)


def _key(n: int) -> str:
    return datetime.fromtimestamp(day(n), UTC).date().isoformat()


def _history() -> list[dict[str, Any]]:
    events = []
    for n in range(1, 11):
        events.append(
            odp_event(
                "purchase",
                f"O{n}",
                day(n),
                subtotal=10 * n,
                items=[{"product_id": "P1", "price": 10 * n, "quantity": 1}],
            )
        )
        if n % 3 == 0:
            events.append(odp_event("refund", f"O{n}", day(n + 2), subtotal=n))
    return events  # fmt: skip


def _late_file() -> list[dict[str, Any]]:
    return [
        odp_event("return", "O2", day(3), subtotal=5),  # late: its order was placed on day 2
        odp_event("purchase", "O11", day(11), subtotal=11),
    ]


def _tables(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    return table_contents(warehouse, ("core", "reporting", "audit", "staging", "intermediate"))


def _run(landing: Path, warehouse: Path) -> Any:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors
    return summary


@pytest.fixture(scope="module")
def history_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A folder after one run over the history (``landing/``, ``wh.duckdb``) and that run's
    summary: the start the tests share, copied, instead of a run each."""
    folder = tmp_path_factory.mktemp("history_run")
    write_ndjson(folder / "landing" / "odp_events" / "1_history.ndjson", _history())
    return folder, _run(folder / "landing", folder / "wh.duckdb")


@pytest.fixture
def after_history_run(tmp_path: Path, history_run: tuple[Path, Any]) -> tuple[Path, Path]:
    """This test's copy of ``history_run``'s folder: its landing folder and warehouse."""
    shutil.copytree(history_run[0], tmp_path, dirs_exist_ok=True)
    return tmp_path / "landing", tmp_path / "wh.duckdb"


def test_the_plan_with_nothing_new_or_staging_of_an_earlier_version(
    after_history_run: tuple[Path, Path],
):
    # the days a run plans are the ledger's own rule (order_ledger.pending.sql) for what
    # arrived since its last build: nothing, so only the latest day; a warehouse staged
    # before events could be revised (no revised_seq) is planned whole, as its ledger is
    # then rebuilt whole
    landing, warehouse = after_history_run
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    partitions = daily_partitions(partition_start(settings))
    keys = partitions.get_partition_keys()
    with connect(settings) as con:
        nothing = plan_model_run(con, partitions)
        # as an earlier version left it: a table of the events, without revised_seq
        con.execute(
            "create table intermediate.earlier_events as "
            "select * exclude (revised_seq) from intermediate.int_order_events"
        )
        con.execute("drop view intermediate.int_order_events")
        con.execute("alter table intermediate.earlier_events rename to int_order_events")
        earlier = plan_model_run(con, partitions)
    assert (nothing.first_key, nothing.last_key) == (keys[-1], keys[-1])
    assert nothing.reason == "no new events: the latest day only"
    assert (earlier.first_key, earlier.last_key) == (keys[0], keys[-1])
    assert earlier.reason == "staging of an earlier version: every partition"


def test_incremental_run_equals_a_full_rebuild_and_touches_only_changed_days(
    tmp_path: Path, history_run: tuple[Path, Any], after_history_run: tuple[Path, Path]
):
    landing, incremental = after_history_run
    assert history_run[1].plan.reason.startswith("first model run")

    write_ndjson(landing / "odp_events" / "2_late.ndjson", _late_file())
    second = _run(landing, incremental)
    # O2 changes from day 3 (its new return) on; O11 is new on day 11
    assert (second.plan.first_key, second.plan.last_key) == (_key(3), _key(11))

    full = tmp_path / "full" / "wh.duckdb"
    _run(landing, full)
    assert _tables(incremental) == _tables(full)

    con = duckdb.connect(str(incremental), read_only=True)
    try:
        late = con.execute(
            """select event_date, event_seq, running_subtotal from core.order_ledger
               where order_id = 'O2' order by event_seq"""
        ).fetchall()
        net_day3 = con.execute(
            "select returns from reporting.daily_revenue where date = ?", [_key(3)]
        ).fetchall()
    finally:
        con.close()
    assert [(str(d), s, r) for d, s, r in late] == [(_key(2), 1, 20), (_key(3), 2, 15)]
    assert net_day3 == [(5,)]

    # nothing new: no model is rebuilt and the model run is skipped, so neither the build
    # records nor the analyst database change (issue 15)
    builds = ("state.model_builds", "state.partition_builds", "state.table_versions")
    state = {t: rows for t, rows in table_contents(incremental, ("state",)).items() if t in builds}
    analytics = incremental.with_name("analytics.duckdb").stat()
    third = _run(landing, incremental)
    assert third.up_to_date and third.plan is None
    assert {t: table_contents(incremental, ("state",))[t] for t in builds} == state
    after = incremental.with_name("analytics.duckdb").stat()
    assert (after.st_ino, after.st_mtime_ns) == (analytics.st_ino, analytics.st_mtime_ns)
    assert _tables(incremental) == _tables(full)


def _backfill(job: dg.JobDefinition, first: int, last: int) -> None:
    """The one run of a backfill of the days ``first`` to ``last`` of June launched from the
    job's page (README "Backfill a range"): the range tags and the backfill's id, beside the
    job's own tags."""
    tags = {**range_tags(_key(first), _key(last)), BACKFILL_ID_TAG: f"days{first}to{last}"}
    with ephemeral_instance() as instance:
        result = job.execute_in_process(instance=instance, tags=tags)
    assert result.success


def test_backfill_of_a_range_rederives_only_those_days(after_history_run: tuple[Path, Path]):
    landing, warehouse = after_history_run
    good = _tables(warehouse)

    # days 5 and 7 of every partitioned table are spoiled in a column that no summary or
    # check adds up (so the runs' blocking checks still pass, and what a backfill rewrote
    # shows): the backfill of days 4-5 must mend day 5 and leave day 7 as it is
    spoiled = (
        ("core.order_ledger", "event_date", "coupon_code", "'SPOILED'"),
        ("core.order_items", "event_date", "sku", "'SPOILED'"),
        ("reporting.daily_revenue", "date", "orders_placed", "-1"),
    )
    con = duckdb.connect(str(warehouse))
    for table, day_column, column, value in spoiled:
        con.execute(
            f"update {table} set {column} = {value} where {day_column} in (?, ?)",
            [_key(5), _key(7)],
        )
    con.close()

    settings = Settings(landing_dir=landing, warehouse=warehouse)
    # models_job's own tags say to skip what is up to date (the CLI's and the sensors' runs):
    # a backfill must re-derive its days all the same
    job = build_definitions(settings).resolve_job_def("models_job")
    _backfill(job, first=4, last=5)

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        spoiled_days = {
            table: {
                str(d)
                for (d,) in con.execute(
                    f"select distinct {day_column} from {table} where {column} = {value}"
                ).fetchall()
            }
            for table, day_column, column, value in spoiled
        }
    finally:
        con.close()
    # day 5 re-derived, day 7 outside the range: untouched
    assert spoiled_days == {table: {_key(7)} for table, *_ in spoiled}

    _backfill(job, first=7, last=7)
    assert _tables(warehouse) == good  # the same tables as the full build


def test_older_events_move_the_partition_start_and_give_the_tables_of_a_fresh_run(
    tmp_path: Path, after_history_run: tuple[Path, Path]
):
    """The partitions start with the data (June); May's history landing later moves them to
    May, and the partitioned tables, rebuilt once, equal those of one run over every file."""
    landing, warehouse = after_history_run
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    assert partition_start(settings) == date(2026, 6, 1)
    may = [
        odp_event("purchase", "M1", day(-4), subtotal=7),
        odp_event("refund", "M1", day(2), subtotal=2),
    ]
    write_ndjson(landing / "odp_events" / "2_may.ndjson", may)
    _run(landing, warehouse)
    assert partition_start(settings) == date(2026, 5, 1)

    fresh = tmp_path / "fresh" / "wh.duckdb"
    fresh.parent.mkdir()
    _run(landing, fresh)
    assert _tables(warehouse) == _tables(fresh)
