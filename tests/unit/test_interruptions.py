"""Every form Ctrl-C or SIGTERM takes when it stops a run is an interruption
(orders_pipeline/interrupts.py), and nothing else is."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from orders_pipeline.interrupts import DUCKDB_SIGNAL_MESSAGE, RunInterrupted, is_interruption
from orders_pipeline.warehouse import WarehouseLocked


@pytest.mark.parametrize(
    "error",
    [
        KeyboardInterrupt(),
        # DuckDB's Python client, when the signal arrives while its query runs (duckdb 2.0)
        RuntimeError(DUCKDB_SIGNAL_MESSAGE),
        # DuckDB, when a connection's interrupt() stops its query
        duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
        dg.DagsterExecutionInterruptedError(),
        RunInterrupted("modelling"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_each_form_of_a_stopped_run_is_an_interruption(error):
    assert is_interruption(error)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a step that fails half way"),
        RuntimeError(f"{DUCKDB_SIGNAL_MESSAGE} by the disk"),
        WarehouseLocked(DUCKDB_SIGNAL_MESSAGE),  # a RuntimeError of another kind
        duckdb.IOException("IO Error: No space left on device"),
        ValueError(DUCKDB_SIGNAL_MESSAGE),
    ],
    ids=repr,
)
def test_other_errors_are_not(error):
    assert not is_interruption(error)
