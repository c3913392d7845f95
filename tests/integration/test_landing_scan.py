"""Issue 5: a run reads only the landing files it has not loaded yet. A loaded file whose
size and modification time are unchanged is not hashed again (so a run does not re-read
the whole history); a file rewritten in place is."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.config import Settings
from orders_pipeline.landing import files
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the landing scan reads to hash, run after run."""
    names: list[str] = []
    real = files.fingerprint

    def counting(path: Path) -> tuple[str, bool]:
        names.append(path.name)
        return real(path)

    monkeypatch.setattr(files, "fingerprint", counting)
    return names


def _run(landing: Path, warehouse: Path) -> None:
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=warehouse))
    assert summary.success, summary.errors


def test_loaded_files_are_not_read_again_unless_they_change(tmp_path: Path, hashed: list[str]):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    first = write_ndjson(
        landing / "odp_events" / "1.ndjson", [odp_event("purchase", "O1", day(1), subtotal=10)]
    )
    _run(landing, warehouse)
    assert hashed == ["1.ndjson"]

    write_ndjson(
        landing / "odp_events" / "2.ndjson", [odp_event("purchase", "O2", day(2), subtotal=10)]
    )
    hashed.clear()
    _run(landing, warehouse)
    assert hashed == ["2.ndjson"]  # 1.ndjson: same size and mtime as when it was loaded

    # rewritten in place (same size, new time): read again, and its new record is landed
    stat = first.stat()
    write_ndjson(first, [odp_event("purchase", "O3", day(3), subtotal=10)])
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    hashed.clear()
    _run(landing, warehouse)
    assert hashed == ["1.ndjson"]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        orders = con.execute("select order_id from core.orders order by 1").fetchall()
    finally:
        con.close()
    assert orders == [("O1",), ("O2",), ("O3",)]
