"""One warehouse for the whole conformance suite: the vendors' examples (``examples.py``)
landed in one folder and run through the real pipeline once, in-process."""

from __future__ import annotations

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conformance.examples import LANDING
from tests.conftest import RECENT_PARTITION_START, Warehouse


@pytest.fixture(scope="package")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("conformance")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    for name, text in LANDING.items():
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    summary = run_pipeline(
        Settings(landing_dir=landing, warehouse=warehouse, partition_start=RECENT_PARTITION_START)
    )
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=warehouse, summary=summary)
