"""One progress line per asset, on the ``orders_pipeline.progress`` logger, which the CLI
prints; Dagster's own event log keeps the full detail."""

from __future__ import annotations

import logging
import os
import signal

from orders_pipeline import live_progress

LOGGER = logging.getLogger("orders_pipeline.progress")

# Test hook (tests/property/test_exactly_once.py): ``<n>:INT`` or ``<n>:KILL`` makes the
# process send itself SIGINT or SIGKILL right after its n-th progress line (``<asset>:INT``:
# after that asset's line), so an interrupted run is reproducible without timing.
INTERRUPT_AFTER = "ORDERS_TEST_INTERRUPT_AFTER"
_reports = 0


def report(asset: str, rows: int | None, seconds: float, detail: str = "") -> None:
    """Log ``asset  rows  seconds  detail`` for a finished asset."""
    counted = f"{rows:>12,} rows" if rows is not None else " " * 17
    with live_progress.paused():  # a step's live line never shares a line with this one
        LOGGER.info("%-36s %s %8.2f s  %s", asset, counted, seconds, detail)
    global _reports
    _reports += 1
    hook = os.environ.get(INTERRUPT_AFTER, "")
    if hook:
        step, _, kind = hook.partition(":")
        if step == asset or (step.isdigit() and int(step) == _reports):
            for handler in LOGGER.handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL if kind == "KILL" else signal.SIGINT)
