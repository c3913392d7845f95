"""Landing the product catalog (``<landing>/products/``): ``.csv`` (one row per product,
see ``csv_records``), or ``.json`` (an object or an array), ``.ndjson`` / ``.jsonl`` (one
record per product)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.csv_records import CSV_SUFFIXES, land_csv_file
from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file

SOURCE = "products"
RAW_TABLE = "raw.products"
SUFFIXES = (*CSV_SUFFIXES, *JSON_SUFFIXES)


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the records of one catalog file into ``raw.products``."""
    if landed.path.name.lower().endswith(CSV_SUFFIXES):
        return land_csv_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
    return land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
