"""Shared by the conformance modules: each module lands the vendor's own published examples
once, runs the real pipeline over them in-process, and its tests query that one small
warehouse (module-scoped, so the suite stays cheap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse


def land(landing: Path, files: dict[str, str]) -> None:
    """Write ``files`` (path under the landing folder → text) into ``landing``."""
    for name, text in files.items():
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(landing: Path, warehouse: Path) -> Warehouse:
    """One pipeline run over ``landing`` into ``warehouse`` (a second call is incremental)."""
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=warehouse, summary=summary)


def folders(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, Path]:
    """A fresh landing folder and warehouse path for one module."""
    root = tmp_path_factory.mktemp(name)
    return root / "landing", root / "warehouse.duckdb"
