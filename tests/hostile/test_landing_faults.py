"""Faults while landing a file: a file that vanishes is retried rather than recorded as empty,
and an error that stops the run names the file."""

from __future__ import annotations

import errno

import duckdb

from orders_pipeline.config import Settings
from orders_pipeline.landing import json_records, land
from orders_pipeline.runner import run_pipeline
from orders_pipeline.sources import SOURCES, ensure_source_tables
from orders_pipeline.warehouse import connect, ensure_landing_tables
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


def test_a_file_that_fails_midway_leaves_no_row_and_its_batch_goes_on(
    landing, tmp_path, monkeypatch
):
    """Files are landed in batches (issue 15): one whose read fails after some of its rows
    went in has them removed, the next file of the batch takes its sequence number, and it
    is landed whole on the next pass."""
    write_ndjson(landing / "odp_events" / "1_breaks.ndjson", EVENTS)
    write_ndjson(landing / "odp_events" / "2_fine.ndjson", EVENTS[:2])
    real = json_records._Records.lines

    def break_first(self, text, lines_before):
        real(self, text, lines_before)  # its rows are in the open transaction...
        if self.params[1].endswith("1_breaks.ndjson"):
            raise OSError(errno.EIO, "Input/output error")  # ...when its read fails

    settings = Settings(landing_dir=landing, warehouse=tmp_path / "w.duckdb")

    def land_pass() -> list[tuple]:
        with connect(settings) as con:
            ensure_landing_tables(con)
            ensure_source_tables(con)
            land.land_new_files(con, settings, SOURCES)
            return con.execute(
                """select l.file, l.file_seq, l.records, count(r.file_seq)
                   from audit.loads as l left join raw.odp_events as r using (file_seq)
                   group by all order by l.file_seq"""
            ).fetchall()

    monkeypatch.setattr(json_records._Records, "lines", break_first)
    assert land_pass() == [("odp_events/2_fine.ndjson", 1, 2, 2)]
    monkeypatch.setattr(json_records._Records, "lines", real)
    assert land_pass() == [
        ("odp_events/2_fine.ndjson", 1, 2, 2),
        ("odp_events/1_breaks.ndjson", 2, 3, 3),
    ]
