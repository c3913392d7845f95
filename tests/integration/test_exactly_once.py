"""Issue 11: whatever happens between runs (an ingestion on its own, an interrupted run, a
changed setting), the next successful run gives the tables of one fresh run over the same
files and settings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from orders_pipeline.automation import INGEST_JOB
from orders_pipeline.config import PROJECT_ROOT, ConfigError, Settings
from orders_pipeline.definitions import build_definitions
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.interrupts import DUCKDB_SIGNAL_MESSAGE, RunInterrupted
from orders_pipeline.jobs_in_process import QUIET_RUN_CONFIG
from orders_pipeline.progress import INTERRUPT_AFTER
from orders_pipeline.runner import RunSummary, run_pipeline
from orders_pipeline.validation import outcomes
from tests.conftest import day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=60)  # scheduled first (tests/conftest.py)

DERIVED = ("staging", "intermediate", "core", "reporting")


def _first_batch(landing: Path) -> None:
    # the blank line numbers the records after it past the file's record count: the last
    # record's arrival sequence is file_seq * 1e9 + 4, with 3 records
    write_ndjson(
        landing / "odp_events" / "1_first.ndjson",
        [
            odp_event("purchase", "O1", day(1), subtotal=100, currency="USD"),
            odp_event("purchase", "O2", day(2), subtotal=50, currency="EUR"),
            "",
            odp_event("refund", "O1", day(3), subtotal=30, currency="USD"),
        ],
    )
    (landing / "exchange_rates").mkdir(parents=True, exist_ok=True)
    # rates to USD (of EUR) and to EUR (of USD): either can be the base currency
    (landing / "exchange_rates" / "rates.csv").write_text(
        "date,base_currency,currency,rate_to_base\n2026-05-01,USD,EUR,1.10\n"
        "2026-05-01,EUR,USD,0.90\n"
    )


def _second_batch(landing: Path) -> None:
    write_ndjson(
        landing / "odp_events" / "2_second.ndjson",
        [
            odp_event("return", "O2", day(4), subtotal=10, currency="EUR"),
            "",
            odp_event("purchase", "O3", day(5), subtotal=70, currency="USD"),
        ],
    )


def _run(landing: Path, warehouse: Path, **settings: Any) -> RunSummary:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse, **settings))
    assert summary.success, (summary.failed_checks, summary.errors)
    return summary


def _fresh_tables(tmp_path: Path, landing: Path, **settings: Any) -> dict[str, Any]:
    fresh = tmp_path / "fresh" / "wh.duckdb"
    _run(landing, fresh, **settings)
    return table_contents(fresh, DERIVED)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """A folder after one run over the first batch (``landing/``, ``wh.duckdb``) and that
    run's summary: the start the tests share, copied, instead of a run each."""
    folder = tmp_path_factory.mktemp("first_run")
    _first_batch(folder / "landing")
    return folder, _run(folder / "landing", folder / "wh.duckdb")


@pytest.fixture
def after_first_run(tmp_path: Path, first_run: tuple[Path, RunSummary]) -> tuple[Path, Path]:
    """This test's copy of ``first_run``'s folder: its landing folder and warehouse."""
    shutil.copytree(first_run[0], tmp_path, dirs_exist_ok=True)
    return tmp_path / "landing", tmp_path / "wh.duckdb"


@pytest.fixture(scope="module")
def fresh_after_both_batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tables of one fresh run over both batches."""
    folder = tmp_path_factory.mktemp("fresh_after_both_batches")
    _first_batch(folder / "landing")
    _second_batch(folder / "landing")
    return _fresh_tables(folder, folder / "landing")


def test_an_ingestion_on_its_own_then_a_run_gives_the_tables_of_one_fresh_run(
    after_first_run: tuple[Path, Path], fresh_after_both_batches: dict[str, Any]
):
    landing, warehouse = after_first_run
    _second_batch(landing)
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    # what the daily schedule starts: the ingestion job alone
    with ephemeral_instance() as instance:
        ingest = (
            build_definitions(settings)
            .resolve_job_def(INGEST_JOB)
            .execute_in_process(instance=instance, run_config=QUIET_RUN_CONFIG)
        )
    assert ingest.success
    _run(landing, warehouse)
    assert table_contents(warehouse, DERIVED) == fresh_after_both_batches


def test_a_run_interrupted_after_staging_then_a_run_gives_the_tables_of_one_fresh_run(
    after_first_run: tuple[Path, Path], fresh_after_both_batches: dict[str, Any]
):
    landing, warehouse = after_first_run
    _second_batch(landing)
    # Ctrl-C right after the intermediate/int_order_events line (a hook, not a timer)
    interrupted = subprocess.run(
        [sys.executable, "-m", "orders_pipeline.cli", "run"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "ORDERS_LANDING_DIR": str(landing),
            "ORDERS_WAREHOUSE": str(warehouse),
            INTERRUPT_AFTER: "intermediate/int_order_events:INT",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "intermediate/int_order_events" in interrupted.stdout
    assert "run succeeded" not in interrupted.stdout
    _run(landing, warehouse)
    assert table_contents(warehouse, DERIVED) == fresh_after_both_batches


def test_a_run_failed_between_validation_slices_then_a_run_gives_the_tables_of_one_fresh_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_after_both_batches: dict[str, Any]
):
    """Issue 15: validation commits a slice of whole files at a time. A run that stops after
    the first slice leaves that file validated and the next pending, and the next run
    validates the rest: the tables of one fresh run."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _first_batch(landing)
    _second_batch(landing)
    monkeypatch.setattr(outcomes, "SLICE_SHARE_OF_MEMORY_LIMIT", 0)  # a slice per file
    validate_slice = outcomes._validate_slice
    odp_slices: list[list[str]] = []

    def failing_at_the_second(con, spec, files):
        if spec.source == "odp_events":
            odp_slices.append(files["file"].to_list())
            if len(odp_slices) == 2:
                raise RuntimeError("the machine failed between two slices")
        return validate_slice(con, spec, files)

    monkeypatch.setattr(outcomes, "_validate_slice", failing_at_the_second)
    failed = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert not failed.success
    assert odp_slices == [["odp_events/1_first.ndjson"], ["odp_events/2_second.ndjson"]]
    con = duckdb.connect(str(warehouse), read_only=True)
    validated = con.execute(
        "select file, validated_at is not null from audit.loads where source = 'odp_events' "
        "order by file"
    ).fetchall()
    con.close()
    assert validated == [("odp_events/1_first.ndjson", True), ("odp_events/2_second.ndjson", False)]

    monkeypatch.setattr(outcomes, "_validate_slice", validate_slice)
    _run(landing, warehouse)
    assert table_contents(warehouse, DERIVED) == fresh_after_both_batches


def test_ctrl_c_stopping_a_duckdb_query_in_a_step_is_an_interruption_and_the_next_run_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_after_both_batches: dict[str, Any]
):
    """Ctrl-C while DuckDB runs a query: DuckDB's Python client stops the query and raises a
    plain ``RuntimeError('Query interrupted')`` (duckdb 2.0), which a run reported as a failed
    step ("run FAILED … RuntimeError: Query interrupted", exit 1). It is an interruption like
    any other: the run stops with the one line, and the next run gives the tables of one
    fresh run."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _first_batch(landing)
    _second_batch(landing)
    stage_candidates = outcomes._stage_candidates

    def stopped_by_ctrl_c(con, spec):
        raise RuntimeError(DUCKDB_SIGNAL_MESSAGE)  # what DuckDB raises for the signal

    monkeypatch.setattr(outcomes, "_stage_candidates", stopped_by_ctrl_c)
    with pytest.raises(RunInterrupted, match=r"^interrupted while ingesting \(validated_sources\)"):
        run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))

    monkeypatch.setattr(outcomes, "_stage_candidates", stage_candidates)
    _run(landing, warehouse)
    assert table_contents(warehouse, DERIVED) == fresh_after_both_batches


def test_ctrl_c_while_duckdb_reads_a_files_records_from_python_is_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Ctrl-C can arrive while DuckDB runs Python code of the pipeline's: landing hands DuckDB
    a file's records as a polars frame, and DuckDB calls the frame's Arrow export to read it.
    The signal raises there, and DuckDB reports that as its own error. A user's Ctrl-C on the
    bundled sample ended so: "run FAILED … could not land odp_events/…_batch.json:
    InvalidInputException: … reading the object registered as 'json_landing_rows' as Arrow
    data failed: DagsterExecutionInterruptedError", exit 1. It is an interruption: the run
    stops with the one line, and the next run gives the tables of one fresh run."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _first_batch(landing)
    # a JSON document (an array of events): its records reach DuckDB as a frame
    document = [
        odp_event("return", "O2", day(4), subtotal=10, currency="EUR"),
        odp_event("purchase", "O3", day(5), subtotal=70, currency="USD"),
    ]
    (landing / "odp_events" / "2_second.json").write_text(json.dumps(document))
    fresh = _fresh_tables(tmp_path, landing)
    export = pl.DataFrame.to_arrow
    frames_read: list[list[str]] = []

    def ctrl_c_while_duckdb_reads(frame: pl.DataFrame, *args: Any, **kwargs: Any) -> Any:
        frames_read.append(frame.columns)
        if "raw" in frame.columns:  # a file's records, as DuckDB reads them
            monkeypatch.setattr(pl.DataFrame, "to_arrow", export)  # one Ctrl-C
            signal.raise_signal(signal.SIGINT)  # the handler raises here, in DuckDB's call
        return export(frame, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "to_arrow", ctrl_c_while_duckdb_reads)
    with pytest.raises(RunInterrupted, match=r"^interrupted while ingesting"):
        run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert ["record_no", "raw", "decode_error"] in frames_read

    _run(landing, warehouse)
    assert table_contents(warehouse, DERIVED) == fresh


def test_a_changed_base_currency_rebuilds_every_derived_number(
    tmp_path: Path, first_run: tuple[Path, RunSummary], after_first_run: tuple[Path, Path]
):
    landing, warehouse = after_first_run
    usd = first_run[1]
    # 100 - 30 USD and 50 EUR at 1.10
    assert usd.net_revenue == 125
    eur = _run(landing, warehouse, base_currency="EUR")
    # 70 USD at 0.90 and 50 EUR, never the USD figure relabelled
    assert (eur.net_revenue, eur.base_currency) == (113, "EUR")
    assert table_contents(warehouse, DERIVED) == _fresh_tables(
        tmp_path, landing, base_currency="EUR"
    )


def test_a_base_currency_that_is_no_currency_is_a_configuration_error():
    # issue 11: `--base-currency XYZ` "succeeded" and printed the figures as XYZ
    with pytest.raises(ConfigError, match="ORDERS_BASE_CURRENCY='XYZ': not an ISO 4217"):
        Settings(base_currency="XYZ").validate()
    Settings(base_currency="CHF").validate()


def test_a_base_currency_with_no_usable_rates_is_reported(tmp_path: Path):
    landing = tmp_path / "landing"
    # orders in USD only, and no exchange rates: nothing converts into CHF
    write_ndjson(
        landing / "odp_events" / "1.ndjson",
        [odp_event("purchase", "O1", day(1), subtotal=10, currency="USD")],
    )
    summary = run_pipeline(
        Settings(landing_dir=landing, warehouse=tmp_path / "wh.duckdb", base_currency="CHF")
    )
    # a warning, as for any order without a usable rate (docs/semantics.md §6): the local
    # amounts stay, the base-currency reports are empty, nothing is relabelled
    assert "core/order_ledger:base_currency_is_usable" in summary.warned_checks
    assert summary.net_revenue == 0


def test_a_model_that_changed_kind_replaces_the_old_table_or_view(tmp_path, landing, run_landing):
    # a warehouse built by a version in which core.order_events was a table and
    # reporting.refund_summary a view: the models' `-- materialized:` changed since, and
    # DuckDB's `create or replace` will not swap a table for a view or back
    write_ndjson(landing / "odp_events" / "e.ndjson", [
        odp_event("purchase", "A1", day(1), subtotal=100),
        odp_event("refund", "A1", day(3), subtotal=30),
    ])  # fmt: skip
    first = run_landing(landing)
    con = duckdb.connect(str(first.path))
    con.execute("drop view core.order_events")
    con.execute("create table core.order_events as select 1 as left_by_an_older_version")
    con.execute("drop table reporting.refund_summary")
    con.execute("create view reporting.refund_summary as select 1 as left_by_an_older_version")
    con.close()

    again = run_landing(landing)

    kinds = dict(
        again.query(
            "select table_schema || '.' || table_name, table_type from information_schema.tables "
            "where table_name in ('order_events', 'refund_summary')"
        )
    )
    assert kinds == {"core.order_events": "VIEW", "reporting.refund_summary": "BASE TABLE"}
    fresh = run_landing(landing, tmp_path / "fresh" / "wh.duckdb")
    layers = ("core", "reporting")
    assert table_contents(again.path, layers) == table_contents(fresh.path, layers)
