"""Validating ODP events needs little DuckDB memory: a regression guard.

Every ``json_*`` call in a query parses each record again and keeps a parsing arena of its
own while the query runs, so memory grows with the number of JSON calls, not with the data.
The candidate query once made ~60 single-path calls per record and needed over 1 GB of
DuckDB memory for 4.7k records; it now reads every field through a few lists of paths.
"""

from __future__ import annotations

from pathlib import Path

from orders_pipeline.config import Settings
from orders_pipeline.generator import GeneratorConfig, generate
from orders_pipeline.landing.land import land_new_files
from orders_pipeline.sources import ensure_source_tables, source_named
from orders_pipeline.validation.outcomes import validate_pending
from orders_pipeline.warehouse import connect, ensure_landing_tables

# The old query failed below ~1 GB here; the current one passes from ~190 MB (2 threads).
MEMORY_LIMIT = "256MB"


def test_validation_of_thousands_of_records_passes_with_256mb(tmp_path: Path) -> None:
    source = source_named("odp_events")
    generate(tmp_path / "landing" / source.name, GeneratorConfig(line_items=10_000, days=90))
    settings = Settings(
        landing_dir=tmp_path / "landing",
        warehouse=tmp_path / "warehouse.duckdb",
        duckdb_memory_limit=MEMORY_LIMIT,
        # the arenas are per thread: pin the count so that the guard means the same anywhere
        duckdb_threads=2,
        duckdb_temp_dir=tmp_path / "spill",
    )
    with connect(settings) as con:
        ensure_landing_tables(con)
        ensure_source_tables(con)
        landed = land_new_files(con, settings, [source])[source.name]
        report = validate_pending(con, source.validation)

    assert landed.records_landed > 4000
    assert report.records == landed.records_landed
    assert report.records == report.accepted + report.quarantined + report.duplicates
    assert report.accepted > 0.95 * report.records
