"""Issue 16 item 3: live progress of a long step, on a terminal and off it (cron, CI), with a
fake clock: what the operator sees, never how fast the machine is."""

from __future__ import annotations

import io
import logging
import sys

import duckdb

from orders_pipeline import live_progress, progress
from orders_pipeline.live_progress import LiveProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_one_line_is_redrawn_with_totals_rate_and_eta_then_erased():
    out, clock = io.StringIO(), Clock()
    live = LiveProgress("landing", out, 4, 4_000_000, clock=clock, tty=True)
    clock.now += 2
    live.advance(files=1, nbytes=1_000_000, records=10)
    assert out.getvalue() == (
        "\r\x1b[K  landing: 1/4 files, 1.0/4.0 MB, 0.5 MB/s, 10 records, 5 records/s, ETA 6 s"
    )
    clock.now += 2
    live.advance(files=1, nbytes=1_000_000, records=10)
    assert out.getvalue().rsplit("\r\x1b[K", 1)[1] == (
        "  landing: 2/4 files, 2.0/4.0 MB, 0.5 MB/s, 20 records, 5 records/s, ETA 4 s"
    )
    live.close()
    assert out.getvalue().endswith("\r\x1b[K")  # the step's own line takes its place


def test_off_a_terminal_a_plain_line_every_ten_seconds_and_no_carriage_return():
    out, clock = io.StringIO(), Clock()
    live = LiveProgress("validating odp_events", out, clock=clock, tty=False)
    clock.now += 3
    live.render()
    assert out.getvalue() == ""  # a short step prints only its own line
    clock.now += 9
    live.render()
    clock.now += 1
    live.render()
    assert out.getvalue() == "  validating odp_events: 12 s\n"
    clock.now += 70
    live.render()
    live.close()
    assert out.getvalue().splitlines()[-1] == "  validating odp_events: 1 min 23 s"
    assert "\r" not in out.getvalue()


def test_live_progress_is_off_unless_the_cli_turns_it_on():
    with live_progress.task("landing", 1, 10) as live:
        assert live is None
    out = io.StringIO()
    live_progress.enable(out)
    try:
        with live_progress.task("landing", 1, 10) as live:
            assert live is not None
            live.advance(files=1, nbytes=10)
    finally:
        live_progress.disable()
    assert "\r" not in out.getvalue()  # StringIO is not a terminal


class Statement:
    """A stand-in DuckDB connection: DuckDB's percentage of the running statement, -1 when
    none runs (``DuckDBPyConnection.query_progress``)."""

    def __init__(self) -> None:
        self.percent = -1.0

    def query_progress(self) -> float:
        return self.percent


def test_validation_shows_records_validated_of_those_pending_the_rate_and_an_eta():
    out, clock, con = io.StringIO(), Clock(), Statement()
    live = LiveProgress("validating odp_events", out, clock=clock, tty=True, total_records=120_000)
    clock.now += 1
    live.poll(con)  # nothing running yet: the time it has run
    live.render()
    assert out.getvalue().endswith("  validating odp_events: 0/120,000 records, 1 s")
    clock.now += 2
    con.percent = 25.0  # DuckDB: a quarter of the statement reading the pending records
    live.poll(con)
    live.render()
    assert out.getvalue().rsplit("\r\x1b[K", 1)[1] == (
        "  validating odp_events: 30,000/120,000 records, 10,000 records/s, ETA 9 s"
    )
    con.percent = 100.0
    live.poll(con)
    con.percent = 10.0  # a later, smaller statement of the step: the count never goes back
    live.poll(con)
    live.render()
    assert out.getvalue().rsplit("\r\x1b[K", 1)[1] == (
        "  validating odp_events: 120,000/120,000 records, 40,000 records/s, writing"
    )


def test_a_validation_in_slices_counts_each_slices_statements_from_the_records_done_before():
    out, clock, con = io.StringIO(), Clock(), Statement()
    live = LiveProgress("validating odp_events", out, clock=clock, tty=True, total_records=120_000)
    live.part(0, 40_000)  # the first slice: 40,000 of the records
    clock.now += 2
    con.percent = 50.0
    live.poll(con)
    live.render()
    assert out.getvalue().rsplit("\r\x1b[K", 1)[1] == (
        "  validating odp_events: 20,000/120,000 records, 10,000 records/s, ETA 10 s"
    )
    live.part(40_000, 80_000)  # the second slice starts where the first ended
    con.percent = 25.0
    live.poll(con)
    live.render()
    assert out.getvalue().rsplit("\r\x1b[K", 1)[1] == (
        "  validating odp_events: 60,000/120,000 records, 30,000 records/s, ETA 2 s"
    )


def test_a_model_step_shows_the_model_it_builds_and_how_many_of_its_models_are_done():
    out, clock, con = io.StringIO(), Clock(), Statement()
    live = LiveProgress("modelling core/models", out, clock=clock, tty=False, total_models=3)
    live.start_model("core/order_ledger")
    con.percent = 43.0
    clock.now += 12
    live.poll(con)
    live.render()
    live.finish_model()
    live.start_model("core/orders")
    clock.now += 10
    live.render()
    live.finish_model()
    assert out.getvalue() == (
        "  modelling core/models: 0/3 done, building core/order_ledger (43%), 12 s\n"
        "  modelling core/models: 1/3 done, building core/orders, 22 s\n"
    )  # off a terminal: plain lines, no carriage return


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_step_line_printed_during_a_live_step_starts_on_a_cleared_line():
    out = Terminal()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    progress.LOGGER.addHandler(handler)
    level = progress.LOGGER.level
    progress.LOGGER.setLevel(logging.INFO)
    live_progress.enable(out)
    try:
        with live_progress.task("modelling core/models", total_models=2) as live:
            assert live is not None
            live.start_model("core/orders")  # drawn on the terminal
            progress.report("core/orders", 10, 0.5, "10 new rows")
    finally:
        live_progress.disable()
        progress.LOGGER.removeHandler(handler)
        progress.LOGGER.setLevel(level)
    assert "\r\x1b[K  core/orders " in out.getvalue()
    assert "building core/orders  core/orders" not in out.getvalue()


def test_duckdb_estimates_statements_only_while_a_step_shows_them_and_never_draws_a_bar():
    con = duckdb.connect()
    live_progress.enable(io.StringIO())
    try:
        with live_progress.task("validating odp_events", total_records=10, con=con) as live:
            assert live is not None
            assert _setting(con, "enable_progress_bar") == "true"
            assert _setting(con, "enable_progress_bar_print") == "false"
            live.poll(con)  # nothing running: -1, nothing counted
            assert live.records == 0
    finally:
        live_progress.disable()
    assert _setting(con, "enable_progress_bar") == "false"


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return str(con.execute(f"select current_setting('{name}')").fetchall()[0][0]).lower()


def test_live_progress_reaches_stdout_while_dagster_captures_a_steps_output(tmp_path, monkeypatch):
    """While a step runs, Dagster points descriptor 1 at its compute-log file (and a tail
    process copies it out later): the live line and the step lines go to stdout as it was
    when the CLI began, in order, and never into the step's compute log."""
    from dagster._core.execution.compute_logs import redirect_to_file

    with open(tmp_path / "stdout", "w", encoding="utf-8") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        live_progress.enable()
        try:
            out = live_progress.output()
            with (
                redirect_to_file(sys.stdout, tmp_path / "compute.log"),
                live_progress.task("validating odp_events", total_records=10) as live,
            ):
                assert live is not None and out is not None
                live.advance(records=4)
                out.write("  staging/odp_event_records  4 rows\n")
        finally:
            live_progress.disable()
    assert (tmp_path / "compute.log").read_text() == ""
    assert (tmp_path / "stdout").read_text() == "  staging/odp_event_records  4 rows\n"
