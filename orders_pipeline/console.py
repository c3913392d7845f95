"""The ``orders-pipeline`` console script's entry point, kept light on purpose.

Importing the command (``orders_pipeline.cli``: polars, DuckDB, the landing and model code)
takes about half a CPU second; Dagster follows only when a run has work to do
(``runner.py``). Ctrl-C or SIGTERM in that time would otherwise end in a ``KeyboardInterrupt``
traceback from deep inside some import, because the CLI's own handling of interruptions
(one line, exit 130: issue 11) does not exist yet. This module imports nothing heavy: it
turns a stop during the imports into the same kind of line and exit code, then hands over
to :func:`orders_pipeline.cli.process_main`.
"""

from __future__ import annotations

import signal
import sys

# 128 + SIGINT, as shells report a program stopped by Ctrl-C (also used for SIGTERM)
EXIT_INTERRUPTED = 130

STOPPED_WHILE_STARTING = "interrupted while starting, before any work: nothing was read or written"


def main() -> int:
    """Run ``orders-pipeline`` with the arguments in ``sys.argv``; the process exit code."""
    # SIGTERM stops the start-up like Ctrl-C (as it stops a run); the previous handler is
    # back once the command is imported, and `run` installs its own (cli._run)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        from orders_pipeline.cli import process_main
    except KeyboardInterrupt:
        return stopped_while_starting()
    signal.signal(signal.SIGTERM, previous)
    return process_main()


def stopped_while_starting() -> int:
    """Say that Ctrl-C or SIGTERM stopped the command before it did any work; exit code."""
    return end_interrupted(STOPPED_WHILE_STARTING)


def end_interrupted(what_happened: str) -> int:
    """End the command that Ctrl-C or SIGTERM stopped: ``what_happened`` on one line of
    stderr, no traceback, and the exit code (:data:`EXIT_INTERRUPTED`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C adds no traceback
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"orders-pipeline: {what_happened}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED
