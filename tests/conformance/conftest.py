"""One warehouse for the whole conformance suite: the vendors' examples (``examples.py``)
landed in one folder and run through the real pipeline once, in-process."""

from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conformance.examples import LANDING
from tests.conftest import RECENT_PARTITION_START, Warehouse


def _build(root: Path) -> Warehouse:
    """Land the examples under ``root`` and run the pipeline on them; the run's summary is
    kept beside the warehouse (``summary.pickle``)."""
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    for name, text in LANDING.items():
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    summary = run_pipeline(
        Settings(landing_dir=landing, warehouse=warehouse, partition_start=RECENT_PARTITION_START)
    )
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    (root / "summary.pickle").write_bytes(pickle.dumps(summary))
    return Warehouse(path=warehouse, summary=summary)


@pytest.fixture(scope="package")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The warehouse, built once per test session. ``make test`` runs the conformance files on
    several pytest-xdist workers, and a package fixture is per worker: the first worker to
    need it builds it in the session's shared temporary folder, under a lock, and the others
    read that one (read-only; DuckDB allows many readers) instead of running it again."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _build(tmp_path_factory.mktemp("conformance"))
    shared = tmp_path_factory.getbasetemp().parent  # one per session, above each worker's
    done = shared / "conformance"
    with open(shared / "conformance.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.is_dir():
            # built aside and renamed when it succeeded: a failed build is never reused
            building = Path(tempfile.mkdtemp(prefix="conformance.", dir=shared))
            _build(building)
            building.rename(done)
    summary = pickle.loads((done / "summary.pickle").read_bytes())
    return Warehouse(path=done / "warehouse.duckdb", summary=summary)
