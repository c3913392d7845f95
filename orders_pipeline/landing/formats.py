"""How the files of a JSON or CSV source become raw records, chosen by the file's suffix:
``.json`` / ``.ndjson`` / ``.jsonl`` through ``json_records``, ``.csv`` through
``csv_records``, each optionally gzipped (``.ndjson.gz``: decompressed as it streams).
(Optimizely XML has a lander of its own, ``optimizely_xml``.)"""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.csv_records import CSV_SUFFIXES, land_csv_file
from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file
from orders_pipeline.landing.land import LandRecords

__all__ = ["CSV_SUFFIXES", "JSON_SUFFIXES", "records_into"]


def records_into(raw_table: str) -> LandRecords:
    """The lander that inserts a JSON-family or CSV file's records into ``raw_table`` (a
    trusted name from the source registry). A table that takes CSV files has the extra
    columns ``csv_records.CSV_RAW_EXTRA_COLUMNS``."""

    def land_records(
        con: duckdb.DuckDBPyConnection,
        landed: LandedFile,
        file_seq: int,
        loaded_at: datetime,
    ) -> int:
        if landed.format_name.endswith(CSV_SUFFIXES):
            return land_csv_file(con, raw_table, landed, file_seq, loaded_at)
        return land_json_file(con, raw_table, landed, file_seq, loaded_at)

    return land_records
