"""Every form Ctrl-C or SIGTERM takes when it stops a run is an interruption
(orders_pipeline/interrupts.py), and nothing else is."""

from __future__ import annotations

import dagster as dg
import duckdb
import pyarrow
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


class _Frame:
    """An object DuckDB reads through its Arrow export (as it reads a polars frame the
    pipeline registers), which raises ``raised`` when DuckDB calls it."""

    def __init__(self, raised: BaseException) -> None:
        self.raised = raised

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        raise self.raised


def _stream(raised: BaseException) -> object:
    """A stream of Arrow batches whose second batch raises ``raised`` as DuckDB reads it."""

    def batches():
        yield pyarrow.record_batch([pyarrow.array([1])], names=["a"])
        raise raised

    schema = pyarrow.schema([("a", pyarrow.int64())])
    return pyarrow.RecordBatchReader.from_batches(schema, batches())


def _duckdb_error_reading(registered: object) -> duckdb.Error:
    """The error DuckDB raises when the Python code it calls to read ``registered`` raises."""
    con = duckdb.connect()
    try:
        con.register("registered_rows", registered)
        con.execute("select * from registered_rows").fetchall()
    except duckdb.Error as error:
        return error
    finally:
        con.close()
    raise AssertionError("DuckDB read it without an error")


@pytest.mark.parametrize("read", [_Frame, _stream], ids=["frame", "stream"])
@pytest.mark.parametrize(
    "stop", [KeyboardInterrupt, dg.DagsterExecutionInterruptedError], ids=lambda c: c.__name__
)
def test_ctrl_c_in_python_that_duckdb_called_is_an_interruption(read, stop):
    """Ctrl-C while DuckDB reads a registered frame raises in the frame's export, which
    DuckDB runs: DuckDB reports it as its own error ("reading the object registered as …
    failed: KeyboardInterrupt"), still an interruption; any other error raised there is not."""
    stopped = _duckdb_error_reading(read(stop()))
    assert stop.__name__ in str(stopped)  # DuckDB's error, carrying what Python raised
    assert is_interruption(stopped)
    failed = _duckdb_error_reading(read(ValueError("KeyboardInterrupt")))
    assert not is_interruption(failed)
