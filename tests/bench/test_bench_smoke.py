"""A smoke test of the ``orders-pipeline bench`` harness at a small size: it runs end to end and
writes every figure with sane types. Not a timed assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)

# small: the smoke test checks the harness, not the figures (a bench runs the pipeline three
# times besides the floors and the plain SQL chain; its fixed costs do not shrink with size)
LINE_ITEMS = 800
DAYS = 10


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    """One small bench, in a subprocess, as a user runs it."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "orders_pipeline.cli",
            "bench",
            "--line-items",
            str(LINE_ITEMS),
            "--days",
            str(DAYS),
            "--work-dir",
            str(root / "work"),
            "--json",
            str(results),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data = json.loads(results.read_text())
    data["work_dir"] = str(root / "work")  # (not a figure: where the runs' logs are)
    return completed, data


@pytest.mark.slow
def test_prints_the_table(bench_run):
    completed, _ = bench_run
    for label in (
        "floor: read_text", "plain SQL chain", "full run", "incremental run", "next day run",
        "no-op run", "cpu s", "full / plain SQL chain", "full / floor", "incremental / full",
        "next day / full", "no-op run s",
        "peak RSS", "other work on the machine",
    ):  # fmt: skip
        assert label in completed.stdout, label


@pytest.mark.slow
def test_machine_and_workload(bench_run):
    _, data = bench_run
    machine = data["machine"]
    assert _positive(machine["cores"]) and _positive(machine["memory_bytes"])
    assert {"duckdb", "dagster"} <= machine["versions"].keys() and machine["python"]
    history = data["history"]
    assert history["config"]["line_items"] == LINE_ITEMS == history["line_items"]
    assert history["config"]["days"] == DAYS
    for key in ("files", "bytes", "records", "events", "orders"):
        assert _positive(history[key]), key
    increment, next_day = data["increment"], data["next_increment"]
    assert increment["config"]["days"] == 1 and _positive(increment["records"])
    assert increment["config"]["start_date"] > history["config"]["start_date"]
    assert next_day["config"]["days"] == 1 and _positive(next_day["records"])
    assert next_day["config"]["start_date"] > increment["config"]["start_date"]


@pytest.mark.slow
def test_floor_figures(bench_run):
    _, data = bench_run
    for name in ("floor", "floor_lines"):
        floor = data[name]
        assert isinstance(floor["method"], str) and "read_" in floor["method"]
        assert _positive(floor["seconds"]) and _positive(floor["rows"])
        assert 0 < floor["bytes"] <= data["history"]["bytes"]
    # read_text stores every byte of every file (the lines floor drops the line ends)
    assert data["floor"]["bytes"] == data["history"]["bytes"]
    assert data["floor"]["rows"] == data["history"]["files"]


@pytest.mark.slow
def test_run_figures(bench_run):
    _, data = bench_run
    for name in ("full", "incremental", "next_day", "noop"):
        run = data[name]
        assert run["success"] is True and run["exit_code"] == 0
        for key in ("wall_seconds", "cpu_seconds", "peak_rss_bytes"):
            assert _positive(run[key]), (name, key)
        added = run["added"]
        assert added["records"] == added["accepted"] + added["quarantined"] + added["duplicates"]
        assert run["events_per_second"] == pytest.approx(
            added["ledger_events"] / run["wall_seconds"]
        )
        assert run["records_per_second"] == pytest.approx(added["records"] / run["wall_seconds"])
        assert all(a["seconds"] >= 0 for a in run["assets"])
    # what other processes spent on the machine meanwhile (Linux: /proc/stat)
    for name in ("floor", "floor_lines", "chain", "full", "incremental", "next_day", "noop"):
        other = data[name]["other_cpu_seconds"]
        assert isinstance(other, float) and other >= 0, (name, other)
    full, incremental, noop = data["full"], data["incremental"], data["noop"]
    next_day = data["next_day"]
    # the full run loads the history; the incremental one only the extra day on top of it
    assert full["added"]["records"] == data["history"]["records"]
    assert full["added"]["ledger_events"] == data["history"]["events"]
    assert incremental["added"]["records"] == data["increment"]["records"]
    assert incremental["totals"]["orders"] > full["totals"]["orders"]
    # the next day adds its own orders (never the first day's: their ids differ)
    assert next_day["added"]["records"] == data["next_increment"]["records"]
    assert next_day["totals"]["orders"] > incremental["totals"]["orders"]
    assert full["assets"] and incremental["assets"] and next_day["assets"]
    # every publication after the full run's updates the spare in place, the first one
    # too: the full publication keeps a copy of its file (publish.py)
    logs = Path(data["work_dir"])
    assert "incremental, spare" in (logs / "incremental-run.log").read_text()
    assert "incremental, spare" in (logs / "next-day-run.log").read_text()
    # the no-op run finds no new file, and so runs no Dagster job: no asset step at all
    assert noop["added"]["records"] == 0 and noop["totals"] == next_day["totals"]
    assert noop["assets"] == []


@pytest.mark.slow
def test_chain_figures(bench_run):
    _, data = bench_run
    chain = data["chain"]
    assert chain["success"] is True and chain["exit_code"] == 0
    for key in ("wall_seconds", "sql_seconds", "cpu_seconds", "peak_rss_bytes"):
        assert _positive(chain[key]), key
    # every table of the chain is written, from the history's records
    rows = chain["rows"]
    assert all(_positive(count) for count in rows.values()), rows
    assert rows["chain_records"] <= data["history"]["records"]
    assert rows["chain_ledger"] == rows["chain_events"] <= rows["chain_records"]


@pytest.mark.slow
def test_ratios_come_from_the_times(bench_run):
    _, data = bench_run
    ratios = data["ratios"]
    full, floor = data["full"]["wall_seconds"], data["floor"]["seconds"]
    assert ratios["full_over_floor"] == pytest.approx(full / floor)
    assert ratios["full_over_chain"] == pytest.approx(full / data["chain"]["wall_seconds"])
    assert ratios["cpu_full_over_chain"] == pytest.approx(
        data["full"]["cpu_seconds"] / data["chain"]["cpu_seconds"]
    )
    assert ratios["incremental_over_full"] == pytest.approx(
        data["incremental"]["wall_seconds"] / full
    )
    assert ratios["cpu_next_day_over_full"] == pytest.approx(
        data["next_day"]["cpu_seconds"] / data["full"]["cpu_seconds"]
    )
