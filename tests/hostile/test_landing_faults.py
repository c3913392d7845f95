"""Faults while landing a file: a file that vanishes is retried rather than recorded as empty,
and an error that stops the run names the file."""

from __future__ import annotations

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing import json_records, land
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson

EVENTS = [odp_event("purchase", f"LF{n}", day(1), subtotal=10) for n in range(3)]


def test_a_landing_error_names_the_file(landing, tmp_path, monkeypatch):
    write_ndjson(landing / "odp_events" / "it's broken [1].ndjson", EVENTS)

    def fail(*_args, **_kwargs):
        raise duckdb.CatalogException("simulated\nLINE 1: select ...\n        ^^^")

    monkeypatch.setattr(json_records._Records, "lines", fail)
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=tmp_path / "w.duckdb"))
    assert not summary.success
    [error] = summary.errors
    assert "odp_events/it's broken [1].ndjson" in error and "simulated" in error


def test_a_file_that_vanishes_before_it_is_read_is_retried(landing, run_landing, monkeypatch):
    """Between the scan (which hashes the file) and the read, the file is moved away: it
    must not be recorded as landed with no records, or its bytes would count as already
    loaded when the file comes back."""
    path = write_ndjson(landing / "odp_events" / "moving.ndjson", EVENTS)
    parked = path.with_name("parked.bak")
    real_scan = land.scan_landing

    def scan_then_move(landing_dir, suffixes_by_source):
        scan = real_scan(landing_dir, suffixes_by_source)
        path.rename(parked)
        return scan

    monkeypatch.setattr(land, "scan_landing", scan_then_move)
    first = run_landing(landing)
    assert first.value("select count(*) from audit.loads") == 0

    monkeypatch.setattr(land, "scan_landing", real_scan)
    parked.rename(path)
    again = run_landing(landing)
    [load] = again.dicts("select file, records, accepted from audit.loads")
    assert load == {"file": "odp_events/moving.ndjson", "records": 3, "accepted": 3}
