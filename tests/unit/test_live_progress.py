"""Issue 16 item 3: live progress of a long step, on a terminal and off it (cron, CI), with a
fake clock: what the operator sees, never how fast the machine is."""

from __future__ import annotations

import io

from orders_pipeline import live_progress
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
