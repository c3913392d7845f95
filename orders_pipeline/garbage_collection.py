"""Python's garbage collector, tuned in a process that runs the pipeline.

A run makes millions of short-lived containers (Dagster's events and their serialisation,
polars and pandera frames of the validation); with Python's default thresholds the
collector runs thousands of times a run, each older pass walking every imported module's
objects again. A process that exists to run the pipeline therefore freezes what it has
imported and collects less often (:func:`tune_garbage_collection`):

- ``orders-pipeline`` (``cli.process_main``), before it parses its arguments;
- a process Dagster starts for a run (:func:`tune_if_running_dagster_runs`, called when
  ``orders_pipeline.definitions`` builds ``defs``): the child a code server
  (``dagster api grpc``, what ``dagster dev``, the webserver and the daemon start) spawns
  for each run it is asked to launch, ``dagster api execute_run``/``resume_run``/
  ``execute_step`` (the container and step launchers), ``dagster job execute``,
  ``dagster asset materialize`` and ``dg launch``;
- the test processes, once their tests are collected (tests/conftest.py).

Any other process that imports the definitions (a notebook, a code server, the webserver)
keeps its collector as it was."""

from __future__ import annotations

import gc
import multiprocessing
import sys
from collections.abc import Sequence
from pathlib import Path

# the commands of Dagster's command-line programs whose process executes a run or a step
RUN_COMMANDS = {
    "dagster": frozenset(
        {
            ("api", "execute_run"),
            ("api", "resume_run"),
            ("api", "execute_step"),
            ("job", "execute"),
            ("asset", "materialize"),
        }
    ),
    "dg": frozenset({("launch",)}),  # `dg launch` materialises in its own process
}
# a code server: a process it spawns is a run (``StartRun``: dagster/_grpc/server.py)
CODE_SERVER = ("api", "grpc")


def tune_garbage_collection() -> None:
    """Collect less often in this process: what was imported so far (some 230,000 objects
    once Dagster is) is moved out of the collector's reach (``gc.freeze``), and a young
    collection waits for 20,000 new objects instead of 700. Cycles are still collected.
    Measured: a day at 10M line items 0.6 CPU s less of 23-25 (``orders-pipeline run``,
    five alternating pairs, session 17); ``dagster job execute`` of the ingest job on the
    bundled sample 6.7-8.9 → 6.1-7.6 CPU s, 13 % less on average (four alternating pairs,
    session 28)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def runs_dagster_runs(argv: Sequence[str], spawned: bool) -> bool:
    """Whether a process with command line ``argv`` executes Dagster runs: ``dagster`` (the
    console script or ``python -m dagster``) or ``dg`` with one of :data:`RUN_COMMANDS`, or
    a process ``spawned`` by a code server (``multiprocessing`` gives such a child its
    parent's ``argv``)."""
    program = _program(argv[0]) if argv else None
    if program is None:
        return False
    if any(tuple(argv[1 : 1 + len(c)]) == c for c in RUN_COMMANDS[program]):
        return True
    return spawned and program == "dagster" and tuple(argv[1:3]) == CODE_SERVER


def tune_if_running_dagster_runs() -> None:
    """:func:`tune_garbage_collection` when this process executes Dagster runs
    (:func:`runs_dagster_runs`)."""
    if runs_dagster_runs(sys.argv, spawned=multiprocessing.parent_process() is not None):
        tune_garbage_collection()


def _program(path_text: str) -> str | None:
    """``dagster`` for ``…/bin/dagster`` (the console script) or ``…/dagster/__main__.py``
    (``python -m dagster``), ``dg`` for ``…/bin/dg``; None for any other program."""
    path = Path(path_text)
    if path.name in RUN_COMMANDS:
        return path.name
    if path.name == "__main__.py" and path.parent.name == "dagster":
        return "dagster"
    return None
