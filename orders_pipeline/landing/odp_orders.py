"""Landing ODP Orders-object updates (SEMANTICS §1.3) from ``<landing>/odp_orders/``: one raw
row per update, from ``.json`` (an object or an array), ``.ndjson`` / ``.jsonl`` (see
``json_records``) or ``.csv`` (one update per data row, see ``csv_records``). Both kinds share
``raw.odp_orders``; CSV rows also fill its ``doc``, ``line_no`` and ``csv_error`` columns."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.csv_records import CSV_SUFFIXES, land_csv_file
from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file

SOURCE = "odp_orders"
RAW_TABLE = "raw.odp_orders"
SUFFIXES = (*JSON_SUFFIXES, *CSV_SUFFIXES)


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the updates of one Orders-object file into ``raw.odp_orders``."""
    if landed.path.name.lower().endswith(CSV_SUFFIXES):
        return land_csv_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
    return land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
