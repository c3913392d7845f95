"""Issue 11: what the user sees when a run is stopped or blocked, as a process.

Ctrl-C (SIGINT) or SIGTERM, whichever step runs, prints one line (what was interrupted, that
the warehouse is consistent, what the next run does) and exits 130, no traceback; the next
run succeeds. A warehouse held by another process makes the run fail with one line (exit 1)
at ORDERS_LOCK_TIMEOUT (waiting and carrying on: tests/unit/test_warehouse_lock.py).
Signals are sent when the child prints a given progress line, never after a delay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson
from tests.unit.test_warehouse_lock import HOLD_DUCKDB, hold

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    write_ndjson(
        folder / "odp_events" / "events.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("refund", "A1", day(3), subtotal=30),
            odp_event("purchase", "B1", day(2), subtotal=40),
        ],
    )
    return folder


def start_run(landing: Path, warehouse: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orders_pipeline.cli", "run",
         "--landing", str(landing), "--warehouse", str(warehouse)],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip


def read_until(run: subprocess.Popen[str], text: str) -> str:
    """The child's output up to and including the first line that contains ``text``."""
    assert run.stdout is not None
    seen = []
    for line in run.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"the run ended before printing {text!r}: {''.join(seen)}")


def finish(run: subprocess.Popen[str]) -> tuple[str, str, int]:
    stdout, stderr = run.communicate(timeout=300)
    return stdout, stderr, run.returncode


def test_ctrl_c_or_sigterm_in_any_step_prints_one_line_and_the_next_run_succeeds(tmp_path, landing):
    warehouse = tmp_path / "wh.duckdb"
    for after_line, sent, what in [
        ("raw/odp_events", signal.SIGINT, "interrupted while ingesting"),
        ("core/order_ledger", signal.SIGINT, "interrupted while modelling"),
        ("raw/odp_events", signal.SIGTERM, "interrupted while ingesting"),
    ]:
        run = start_run(landing, warehouse)
        read_until(run, after_line)
        run.send_signal(sent)
        stdout, stderr, code = finish(run)
        assert code == 130, (after_line, sent, stdout, stderr)
        [line] = stderr.splitlines()
        assert line.startswith(f"orders-pipeline: {what}")
        assert "the warehouse is consistent" in line and "the next run" in line
        assert "Traceback" not in stdout + stderr
        assert "run succeeded" not in stdout

    # the next run (in this process: it need not be a process of its own) succeeds
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors
    assert summary.net_revenue == Decimal("110.00")


# The console script's entry (orders_pipeline.console:main), run with a finder that stops
# when the module its first argument names is first imported (polars: the first heavy
# library the command loads; Dagster: loaded once a run has work to do): it says so and
# waits on stdin, where the signal finds it. Not a delay: the signal is sent once the line
# is read.
STOP_WHILE_IMPORTING = """
import sys
from importlib.abc import MetaPathFinder

STOP_AT = sys.argv.pop(1)

class StopAt(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == STOP_AT:
            sys.meta_path.remove(self)
            print("importing", name, flush=True)
            sys.stdin.readline()
        return None

sys.meta_path.insert(0, StopAt())
sys.argv = ["orders-pipeline", *sys.argv[1:]]
from orders_pipeline.console import main
sys.exit(main())
"""


def _stopped_while_importing(
    module: str, landing: Path, warehouse: Path, sent: signal.Signals
) -> tuple[str, str, int]:
    """``orders-pipeline run`` stopped by ``sent`` once it first imports ``module``: its
    stdout, stderr and exit code."""
    run = subprocess.Popen(
        [sys.executable, "-c", STOP_WHILE_IMPORTING, module, "run",
         "--landing", str(landing), "--warehouse", str(warehouse)],
        cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    read_until(run, f"importing {module}")
    run.send_signal(sent)
    return finish(run)


def test_the_console_script_enters_through_the_light_module():
    [script] = entry_points(group="console_scripts", name="orders-pipeline")
    assert script.value == "orders_pipeline.console:main"


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_while_the_command_still_imports_prints_one_line(tmp_path, landing, sent):
    warehouse = tmp_path / "wh.duckdb"
    stdout, stderr, code = _stopped_while_importing("polars", landing, warehouse, sent)
    assert code == 130, (stdout, stderr)
    assert stderr.splitlines() == [
        "orders-pipeline: interrupted while starting, before any work: nothing was read or written"
    ]
    assert "Traceback" not in stdout
    assert not warehouse.exists()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_while_a_run_loads_dagster_prints_one_line(tmp_path, landing, sent):
    """A run with work to do imports Dagster (1.5-2 CPU s) only after deciding so."""
    write_ndjson(landing / "odp_events" / "a.ndjson", [odp_event("purchase", "A1", day(1))])
    warehouse = tmp_path / "wh.duckdb"
    stdout, stderr, code = _stopped_while_importing("dagster", landing, warehouse, sent)
    assert code == 130, (stdout, stderr)
    [line] = stderr.splitlines()
    assert line.startswith(
        "orders-pipeline: interrupted while loading Dagster, before any step; the warehouse is "
        "consistent"
    )
    assert "Traceback" not in stdout


def test_a_held_warehouse_fails_at_the_lock_timeout_with_one_line(tmp_path, landing):
    warehouse = tmp_path / "wh.duckdb"
    with hold(HOLD_DUCKDB, warehouse) as analyst:
        stdout, stderr, code = finish(start_run(landing, warehouse, ORDERS_LOCK_TIMEOUT="1"))
    assert code == 1
    [line] = stderr.splitlines()
    assert line.startswith(f"orders-pipeline: the warehouse {warehouse} is still held by ")
    assert f"held by PID {analyst.pid} (python" in line
    assert "ORDERS_LOCK_TIMEOUT" in line
    assert f"waiting for the warehouse {warehouse}: it is held by PID {analyst.pid}" in stdout
    assert "Traceback" not in stdout + stderr and "Conflicting lock" not in stdout + stderr
