"""A run killed with SIGKILL at any point leaves the warehouse and the analyst database in their
last consistent state; the next run completes and gives the tables of an uninterrupted run,
with no event counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.generator import GeneratorConfig, generate
from orders_pipeline.progress import INTERRUPT_AFTER
from tests.conftest import cli_run_in_process, table_contents

pytestmark = pytest.mark.heavy(seconds=60)  # scheduled first (tests/conftest.py)

PROJECT = Path(__file__).resolve().parents[2]

# Kill points: while landing (a delay after start), or right after the progress line of a step
# (the process sends itself SIGKILL there: orders_pipeline/progress.py's test hook), that is,
# before the next step starts.
KILL_POINTS = [
    ("during landing", None),
    ("during validation", "raw/odp_events"),
    ("during the staging models", "staging/odp_event_records"),
    ("during identity and the ledger", "core/identifier_fanout"),
    ("during the reports", "core/customers"),
    ("during publishing", "reporting/monthly_cohorts"),
]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "landing"
    generate(folder / "odp_events", GeneratorConfig(line_items=3_000, days=30, seed=7))
    return folder


@pytest.fixture(scope="module")
def expected(landing, tmp_path_factory) -> dict[str, list[tuple[Any, ...]]]:
    """The tables of an uninterrupted run."""
    reference = tmp_path_factory.mktemp("reference") / "wh.duckdb"
    assert cli_run_in_process(landing, reference) == 0
    return _tables(reference)


def _command(landing: Path, warehouse: Path) -> list[str]:
    return [sys.executable, "-m", "orders_pipeline.cli", "run", "--landing", str(landing),
            "--warehouse", str(warehouse)]  # fmt: skip


def _tables(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    return table_contents(warehouse)


def _killed_run(landing: Path, warehouse: Path, after_line: str | None) -> str:
    if after_line is not None:
        env = {**os.environ, INTERRUPT_AFTER: f"{after_line}:KILL"}
        done = subprocess.run(_command(landing, warehouse), cwd=PROJECT, capture_output=True,
                              text=True, timeout=600, env=env)  # fmt: skip
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-2000:])
        assert f"{after_line} " in done.stdout  # killed right after that step's line
        return done.stdout
    process = subprocess.Popen(
        _command(landing, warehouse), cwd=PROJECT, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    seen = []
    try:
        assert process.stdout is not None
        seen.append(process.stdout.readline())  # the banner: imports are done
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    return "".join(seen)


@pytest.mark.slow
@pytest.mark.parametrize(("label", "after_line"), KILL_POINTS, ids=[p[0] for p in KILL_POINTS])
def test_sigkill_then_rerun_equals_an_uninterrupted_run(
    landing, expected, tmp_path, label, after_line
):
    warehouse = tmp_path / "killed" / "wh.duckdb"
    output = _killed_run(landing, warehouse, after_line)
    assert "run succeeded" not in output, f"the run finished before the kill ({label})"
    analytics = warehouse.parent / "analytics.duckdb"
    if analytics.exists():  # a published copy is always a whole one
        con = duckdb.connect(str(analytics), read_only=True)
        con.execute("select count(*) from core.orders").fetchall()
        con.close()
    if warehouse.exists():  # what was committed before the kill is consistent
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            broken = con.execute(
                """select count(*) from audit.loads
                   where validated_at is not null
                     and records <> accepted + quarantined + duplicates"""
            ).fetchall()[0][0]
        finally:
            con.close()
        assert broken == 0

    # the next run: the CLI's code on the same Dagster instance, in this process (what is
    # tested of a process is how it dies, above)
    assert cli_run_in_process(landing, warehouse) == 0
    assert _tables(warehouse) == expected
    assert not list(warehouse.parent.glob(".analytics.duckdb.*.tmp"))
