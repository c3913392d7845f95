"""A run stopped by the user (Ctrl-C, SIGTERM) or by a warehouse another process holds too
long is not a failed run to summarise: it ends with one line (issue 11).

Dagster turns SIGINT inside a step into a step failure (``DagsterExecutionInterruptedError``,
or ``KeyboardInterrupt``), and between steps into a run failure carrying that error; a step
that gave up waiting for the warehouse fails with ``WarehouseLocked``. A SIGINT that arrives
while DuckDB runs a query is taken by DuckDB's Python client, which stops the query and raises
a plain ``RuntimeError("Query interrupted")`` instead (duckdb 2.0; its ``InterruptException``
comes only from ``interrupt()``). And one that arrives while DuckDB runs Python code of ours
(reading a frame the pipeline registered calls the frame's Arrow export) raises in that code,
which DuckDB reports as its own error, the Python exception in its message: "reading the
object registered as 'json_landing_rows' as Arrow data failed:
DagsterExecutionInterruptedError". :func:`is_interruption` knows every form.
:func:`raise_if_stopped` reads a finished job's events and raises the matching exception for
the CLI to print.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import duckdb

from orders_pipeline.warehouse import WarehouseLocked

if TYPE_CHECKING:
    import dagster as dg

# Dagster's error for a stopped run, known by name: this module does not import Dagster (a
# run with nothing to do never loads it, and then cannot raise its errors)
_DAGSTER_INTERRUPTED = "DagsterExecutionInterruptedError"
# Dagster maps SIGTERM to SIGINT while it runs steps: both arrive as one of these.
_INTERRUPT_ERRORS = {"KeyboardInterrupt", _DAGSTER_INTERRUPTED, "InterruptException"}
# What DuckDB's Python client raises (a plain RuntimeError) when a signal stops its query.
DUCKDB_SIGNAL_MESSAGE = "Query interrupted"
_LOCKED_ERROR = WarehouseLocked.__name__
# DuckDB's error for Python code it called that raised: reading a registered frame ("reading
# the object registered as 'x' as Arrow data failed: KeyboardInterrupt: ", "reading the schema
# of the object registered as 'x' failed: …") or stream ("reading the stream registered as 'x'
# failed: … Python exception: Traceback …\nKeyboardInterrupt\n"); what follows "failed:" is
# what the Python code raised
_PYTHON_CALLED_BY_DUCKDB = re.compile(
    r"registered as '[^'\n]*'[^\n]*? failed: (?P<raised>.*)", re.S
)
# ... when that was an interruption: the exception's class at the start of a line
_RAISED_INTERRUPTION = re.compile(
    r"^(?:[\w.]+\.)?(?:KeyboardInterrupt|" + _DAGSTER_INTERRUPTED + r")\b", re.M
)


class RunInterrupted(Exception):
    """The run was stopped by Ctrl-C (SIGINT) or SIGTERM; ``str()`` is the one line to
    print. ``what`` names the step or phase that was running."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"interrupted while {what}; the warehouse is consistent (every step commits whole "
            "files or whole builds, and what was cut short was rolled back); the next run "
            "carries on from there: it lands the files not landed yet and re-derives what they "
            "change"
        )


def is_interruption(error: BaseException) -> bool:
    """Whether ``error`` is Ctrl-C or SIGTERM stopping the run, in any of its forms."""
    if isinstance(error, RunInterrupted | KeyboardInterrupt | duckdb.InterruptException):
        return True
    if any(cls.__name__ == _DAGSTER_INTERRUPTED for cls in type(error).__mro__):
        return True
    return _stopped_query(type(error).__name__, str(error)) or (
        isinstance(error, duckdb.Error) and _stopped_python_called_by_duckdb(str(error))
    )


def _stopped_query(cls_name: str, message: str) -> bool:
    """DuckDB's RuntimeError for a query a signal stopped (``message`` as raised, or as
    Dagster serialises it: ``RuntimeError: Query interrupted``)."""
    return (
        cls_name == "RuntimeError"
        and message.strip().removeprefix("RuntimeError: ") == DUCKDB_SIGNAL_MESSAGE
    )


def _stopped_python_called_by_duckdb(message: str) -> bool:
    """Whether DuckDB's error ``message`` reports that Python code it called (a registered
    frame's export) was stopped by Ctrl-C or SIGTERM: DuckDB caught the interruption there
    and raised its own error, which would otherwise read as a failure of the statement."""
    called = _PYTHON_CALLED_BY_DUCKDB.search(message)
    return called is not None and _RAISED_INTERRUPTION.search(called["raised"]) is not None


def raise_if_stopped(result: dg.ExecuteInProcessResult, phase: str) -> None:
    """Raise :class:`RunInterrupted` (``phase`` and the step) or :class:`WarehouseLocked`
    when that is how the job ended; return otherwise."""
    import dagster as dg  # loaded already: the job ran

    running: str | None = None
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_START:
            running = event.step_key
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error if event.step_failure_data else None
            _raise_for(error, phase, event.step_key)
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            # interrupted between steps: the run, not a step, carries the error
            _raise_for(getattr(event.event_specific_data, "error", None), phase, running)


def _raise_for(error: object, phase: str, step: str | None) -> None:
    for cls_name, message in _error_chain(error):
        if (
            cls_name in _INTERRUPT_ERRORS
            or _stopped_query(cls_name, message)
            or _stopped_python_called_by_duckdb(message)
        ):
            raise RunInterrupted(f"{phase} ({step.replace('__', '/')})" if step else phase)
        if cls_name == _LOCKED_ERROR:
            # Dagster's message is "orders_pipeline.warehouse.WarehouseLocked: <the line>\n"
            line = message.strip().splitlines()[0] if message.strip() else ""
            raise WarehouseLocked(line.split(f"{_LOCKED_ERROR}: ", 1)[-1])


def _error_chain(error: object) -> Iterator[tuple[str, str]]:
    """(class name, message) of a serialised Dagster error, its causes and contexts."""
    pending, seen = [error], 0
    while pending and seen < 50:
        current = pending.pop()
        seen += 1
        if current is None:
            continue
        yield getattr(current, "cls_name", "") or "", str(getattr(current, "message", "") or "")
        pending += [getattr(current, "cause", None), getattr(current, "context", None)]
