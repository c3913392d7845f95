"""``orders-pipeline run`` end to end in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.landing.files import RACY_NS
from tests.conftest import cli_run_in_process, day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)

PROJECT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orders_pipeline.cli", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_run_prints_progress_and_a_truthful_summary(tmp_path: Path):
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("purchase", "A1", day(1), subtotal=100),  # exact duplicate
            odp_event("purchase", "B1", day(2), subtotal=50.5),
            odp_event("refund", "B1", day(3), subtotal=10),
            "{not json",
        ],
    )
    warehouse = tmp_path / "out" / "wh.duckdb"
    result = _cli("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "core/order_events" in out and "reporting/daily_revenue" in out
    assert "records: 5 in 1 file(s) — 3 accepted, 1 quarantined, 1 duplicates" in out
    assert "orders: 2 (0 anonymous)   customers: 2" in out
    assert "net revenue: 140.50 USD" in out
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select sum(net) from reporting.daily_revenue").fetchall()[0][0] == (
            __import__("decimal").Decimal("140.50")
        )
    finally:
        con.close()


# The command in a fresh process, then which of the heavy libraries it loaded.
_PROBE = """
import sys
from orders_pipeline import cli
code = cli.main(sys.argv[1:])
print("loaded:", *sorted(m for m in ("dagster", "sqlglot") if m in sys.modules))
sys.exit(code)
"""


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    """``orders-pipeline <args>`` in a fresh process; its last line of output names the
    heavy libraries it loaded."""
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=PROJECT,
        timeout=300,
    )  # fmt: skip


def test_a_run_with_no_new_file_answers_without_loading_dagster(tmp_path: Path):
    """Issue 15: a run that would change nothing is decided from the warehouse and the
    landing folder alone, so it starts and ends in a fraction of Dagster's import time; it
    still prints the warehouse's summary."""
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("refund", "A1", day(2), subtotal=30),
        ],
    )
    # a file changed within RACY_NS of the moment its hash was recorded is read again rather
    # than trusted by its metadata (landing/files.py); files landed earlier than that are not
    time.sleep(RACY_NS / 1e9 + 0.1)
    warehouse = tmp_path / "wh.duckdb"
    assert cli_run_in_process(landing, warehouse) == 0
    args = ["run", "--landing", str(landing), "--warehouse", str(warehouse)]
    result = _probe(*args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "loaded:"
    assert [line.split() for line in lines[2:4]] == [
        ["landing", "no", "new", "file"],
        ["models", "up", "to", "date:", "nothing", "to", "re-derive"],
    ]
    assert "records: 2 in 1 file(s) — 2 accepted, 0 quarantined, 0 duplicates" in lines
    assert "orders: 1 (0 anonymous)   customers: 1" in lines

    # a new file: the next run is a real one again
    write_ndjson(
        landing / "odp_events" / "b.ndjson", [odp_event("purchase", "B1", day(3), subtotal=40)]
    )
    result = _probe(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: dagster"
    assert "orders: 2 (0 anonymous)   customers: 2" in result.stdout


def test_environment_variables_configure_the_run(tmp_path: Path):
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [odp_event("purchase", "A1", day(1), subtotal=7, currency="EUR")],
    )
    warehouse = tmp_path / "wh.duckdb"
    result = _cli(
        "run",
        env={
            "ORDERS_LANDING_DIR": str(landing),
            "ORDERS_WAREHOUSE": str(warehouse),
            "ORDERS_BASE_CURRENCY": "eur",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "net revenue: 7.00 EUR" in result.stdout


def test_missing_landing_folder_is_a_clear_error(tmp_path: Path):
    result = _cli(
        "run", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "wh.duckdb")
    )
    assert result.returncode == 2
    assert "landing folder" in result.stderr and "nope" in result.stderr


def test_bad_configuration_names_the_variable(tmp_path: Path):
    result = _cli("run", "--landing", str(tmp_path), env={"ORDERS_BASE_CURRENCY": "dollars"})
    assert result.returncode == 2
    assert "ORDERS_BASE_CURRENCY" in result.stderr
