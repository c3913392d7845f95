"""Resource errors told as one line a person can act on. The messages below are DuckDB 2.0.1's
and Python's own, captured from runs provoked in tests/e2e/test_resource_faults.py."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import pytest

from orders_pipeline.faults import explain_error, explain_resource_error

WAL_FULL = (
    "_duckdb.TransactionException: TransactionContext Error: Failed to commit: Could not write "
    'file "/mnt/wh/wh.duckdb.wal": No space left on device'
)
ROLLBACK_AFTER = (
    "_duckdb.TransactionException: TransactionContext Error: cannot rollback - no transaction "
    "is active"
)
DETACH_FULL = (
    "_duckdb.IOException: IO Error: Detached database 'analytics_publish', but CHECKPOINT "
    'during DETACH failed. \nCheckpoint failed for database "analytics_publish". The database '
    'has been invalidated. Original error: Could not write file "/mnt/wh/.analytics.duckdb.'
    '0110d9c5.tmp": No space left on device'
)
CHECKPOINT_TOO_LARGE = (
    "_duckdb.FatalException: FATAL Error: Failed to create checkpoint because of error: Could "
    'not write file "/data/wh.duckdb": File too large'
)
ALLOCATE = (
    "_duckdb.OutOfMemoryException: Out of Memory Error: failed to allocate data of size 4.0 MiB "
    "(17.8 MiB/19.0 MiB used)\n\nPossible solutions:\n* Reducing the number of threads (SET "
    "threads=X)\n* Increasing the memory limit (SET memory_limit='...GB')"
)
ALLOCATE_BLOCK = (
    "_duckdb.OutOfMemoryException: Out of Memory Error: could not allocate block of size "
    "256.0 KiB (18.8 MiB/19.0 MiB used)\n\nPossible solutions:\n* Reducing the number of threads"
)
OFFLOAD = (
    "_duckdb.OutOfMemoryException: Out of Memory Error: failed to offload data block of size "
    "256.0 KiB (0 bytes/57.5 KiB used).\nThis limit was set by the 'max_temp_directory_size' "
    "setting.\nBy default, this setting utilizes the available disk space on the drive where "
    "the 'temp_directory' is located."
)


@dataclass
class SerialisedError:
    """The shape of Dagster's ``SerializableErrorInfo`` that the runner receives."""

    message: str
    cause: SerialisedError | None = None
    context: SerialisedError | None = None


def test_a_full_disk_names_the_file_and_what_to_do():
    line = explain_resource_error(WAL_FULL)
    assert line is not None and "\n" not in line
    assert line.startswith("the disk is full: could not write /mnt/wh/wh.duckdb.wal")
    assert "No space left on device" in line and "ORDERS_WAREHOUSE" in line
    assert "run again" in line


def test_the_real_cause_is_found_past_the_first_line():
    line = explain_resource_error(DETACH_FULL)
    assert line is not None
    assert "could not write /mnt/wh/.analytics.duckdb.0110d9c5.tmp" in line


def test_a_file_size_limit_is_not_called_a_full_disk():
    line = explain_resource_error(CHECKPOINT_TOO_LARGE)
    assert line is not None
    assert line.startswith("a file size limit was reached: could not write /data/wh.duckdb")
    assert "ulimit -f" in line and "disk is full" not in line


@pytest.mark.parametrize("message", [ALLOCATE, ALLOCATE_BLOCK])
def test_out_of_memory_names_the_setting_and_the_numbers(message):
    line = explain_resource_error(message)
    assert line is not None and "\n" not in line
    assert line.startswith("DuckDB ran out of memory (")
    assert "of its 19.0 MiB limit in use" in line
    assert "Raise ORDERS_DUCKDB_MEMORY_LIMIT" in line


def test_a_full_spill_folder_names_the_temp_dir():
    line = explain_resource_error(OFFLOAD)
    assert line is not None
    assert "could not spill to disk" in line
    assert "ORDERS_DUCKDB_TEMP_DIR" in line and "ORDERS_DUCKDB_MEMORY_LIMIT" in line


@pytest.mark.parametrize(
    "message",
    [
        ROLLBACK_AFTER,
        "odp_events/x.ndjson: could not land: CatalogException: Table does not exist",
        'Could not write file "/x": Permission denied',
        "[Errno 2] No such file or directory: '/landing/gone.ndjson'",
        "",
    ],
)
def test_other_errors_are_left_alone(message):
    assert explain_resource_error(message) is None


def test_a_commit_failure_hidden_behind_a_failed_rollback_is_found():
    """Landing rolls back after a failed commit; DuckDB then says only "cannot rollback". The
    runner sees Dagster's error whose cause is the rollback and whose context the commit."""
    error = SerialisedError(
        'Error occurred while executing op "raw__odp_events":',
        cause=SerialisedError(ROLLBACK_AFTER, context=SerialisedError(WAL_FULL)),
    )
    line = explain_error(error)
    assert line is not None and "could not write /mnt/wh/wh.duckdb.wal" in line


def test_python_exceptions_are_read_with_their_chain():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/mnt/wh/analytics.duckdb")
        except OSError:
            raise RuntimeError("publishing failed") from None
    except RuntimeError as error:
        hidden = error
    # ``from None`` keeps the context (only hides it from tracebacks)
    line = explain_error(hidden)
    assert line is not None
    assert line.startswith("the disk is full: could not write /mnt/wh/analytics.duckdb")
    assert explain_error(OSError(errno.EFBIG, "File too large")) is not None
    assert explain_error(OSError(errno.EACCES, "Permission denied", "/x")) is None
    assert explain_error(ValueError("no")) is None
