"""Issue 11: a warehouse held by another process (an analyst's DuckDB session, another run)
makes the pipeline wait with a message naming the file and the holder's pid and command, up
to ORDERS_LOCK_TIMEOUT, then fail with one line — never DuckDB's raw lock text — or carry on
once the holder lets go. (The CLI's exit code: tests/e2e/test_interrupts.py.)"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orders_pipeline.config import ConfigError, Settings
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import WarehouseLocked, open_duckdb, writer_lock
from tests.conftest import day, odp_event, write_ndjson

# A process that holds a lock until its stdin closes; it prints "held" once it has it.
HOLD_DUCKDB = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""
HOLD_WRITER_LOCK = """
import fcntl, os, sys
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.truncate(0); handle.write(f"{os.getpid()}\\n"); handle.flush()
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def hold(script: str, path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding a lock on ``path`` until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("", timeout=30)


@pytest.fixture
def analyst_session(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the warehouse open (as `duckdb data/warehouse.duckdb` would)."""
    with hold(HOLD_DUCKDB, tmp_path / "wh.duckdb") as holder:
        yield holder


def test_a_held_warehouse_waits_naming_the_holder_then_fails_in_one_line(
    tmp_path, analyst_session, caplog
):
    caplog.set_level(logging.INFO, logger="orders_pipeline.progress")
    with pytest.raises(WarehouseLocked) as failure:
        open_duckdb(tmp_path / "wh.duckdb", timeout_seconds=0.5)
    message = str(failure.value)
    assert f"held by PID {analyst_session.pid} (python" in message
    assert "ORDERS_LOCK_TIMEOUT" in message and "\n" not in message
    assert "Conflicting lock" not in message  # not DuckDB's text
    [waiting] = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert str(tmp_path / "wh.duckdb") in waiting and f"PID {analyst_session.pid}" in waiting


def test_a_lock_timeout_of_zero_fails_at_once_without_waiting(tmp_path, analyst_session, caplog):
    caplog.set_level(logging.INFO, logger="orders_pipeline.progress")
    with pytest.raises(WarehouseLocked, match=f"PID {analyst_session.pid}"):
        open_duckdb(tmp_path / "wh.duckdb", read_only=True, timeout_seconds=0)
    assert not [r for r in caplog.records if "waiting" in r.getMessage()]


def test_a_run_waiting_for_another_run_names_it(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="orders_pipeline.progress")
    warehouse = tmp_path / "wh.duckdb"
    with hold(HOLD_WRITER_LOCK, tmp_path / "wh.duckdb.lock") as holder:
        with pytest.raises(WarehouseLocked) as failure, writer_lock(warehouse, 0.5):
            pass
        assert f"another orders-pipeline run, PID {holder.pid} (python" in str(failure.value)
    with writer_lock(warehouse, 0.5):  # released: taken at once
        pass


def test_the_lock_timeout_is_a_setting():
    assert Settings.from_env({}).lock_timeout == 300
    assert Settings.from_env({"ORDERS_LOCK_TIMEOUT": "0"}).lock_timeout == 0
    with pytest.raises(ConfigError, match="ORDERS_LOCK_TIMEOUT"):
        Settings.from_env({"ORDERS_LOCK_TIMEOUT": "-1"})


class ReleaseWhenWaiting(logging.Handler):
    """Ends the holder's session as soon as the run says it is waiting for it."""

    def __init__(self, holder: subprocess.Popen[str]) -> None:
        super().__init__()
        self.holder = holder
        self.waiting: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for the warehouse" in record.getMessage():
            self.waiting.append(record.getMessage())
            self.holder.communicate("", timeout=30)


def test_a_run_waits_for_a_held_warehouse_and_carries_on_when_it_is_released(tmp_path):
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "e.ndjson", [odp_event("purchase", "A1", day(1), subtotal=5)]
    )
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "wh.duckdb", lock_timeout=600)
    progress = logging.getLogger("orders_pipeline.progress")
    with hold(HOLD_DUCKDB, settings.warehouse) as analyst:
        release = ReleaseWhenWaiting(analyst)
        progress.addHandler(release)
        try:
            summary = run_pipeline(settings)
        finally:
            progress.removeHandler(release)
    assert len(release.waiting) == 1 and f"PID {analyst.pid}" in release.waiting[0]
    assert summary.success and summary.orders == 1
