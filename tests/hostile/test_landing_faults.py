"""Faults while landing a file: the file's good records still load, a file that vanishes is
retried rather than recorded as empty, and an error that stops the run names the file."""

from __future__ import annotations

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing import json_records, land
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson

EVENTS = [odp_event("purchase", f"LF{n}", day(1), subtotal=10) for n in range(3)]


def refuse(*_args, **_kwargs):
    raise duckdb.InvalidInputException("simulated: DuckDB's reader refuses this file")


def test_a_file_duckdb_refuses_is_landed_line_by_line(landing, run_landing, monkeypatch):
    """DuckDB refusing a file's content aborts its transaction; the file is landed again in
    a new one, split in Python, and validation judges its records."""
    write_ndjson(landing / "odp_events" / "refused.ndjson", [*EVENTS, "not json"])
    monkeypatch.setattr(json_records, "_land_utf8", refuse)
    wh = run_landing(landing)
    [load] = wh.dicts("select records, accepted, quarantined from audit.loads")
    assert load == {"records": 4, "accepted": 3, "quarantined": 1}


def test_a_landing_error_names_the_file(landing, tmp_path, monkeypatch):
    write_ndjson(landing / "odp_events" / "it's broken [1].ndjson", EVENTS)

    def fail(*_args, **_kwargs):
        raise duckdb.CatalogException("simulated\nLINE 1: select ...\n        ^^^")

    monkeypatch.setattr(json_records, "_land_utf8", refuse)
    monkeypatch.setattr(json_records, "_land_split_in_python", fail)
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
    real_new_files = land.new_files

    def scan_then_move(con, landing_dir, source, suffixes):
        scan = real_new_files(con, landing_dir, source, suffixes)
        if source == "odp_events":
            path.rename(parked)
        return scan

    monkeypatch.setattr(land, "new_files", scan_then_move)
    first = run_landing(landing)
    assert first.value("select count(*) from audit.loads") == 0

    monkeypatch.setattr(land, "new_files", real_new_files)
    parked.rename(path)
    again = run_landing(landing)
    [load] = again.dicts("select file, records, accepted from audit.loads")
    assert load == {"file": "odp_events/moving.ndjson", "records": 3, "accepted": 3}
