"""Landing ODP historical CSV imports (SEMANTICS §1.2) from ``<landing>/odp_csv/``: one raw
row per data row (= one line item) of a ``.csv`` file (see ``csv_records``)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.csv_records import CSV_SUFFIXES, land_csv_file
from orders_pipeline.landing.files import LandedFile

SOURCE = "odp_csv"
RAW_TABLE = "raw.odp_csv"
SUFFIXES = CSV_SUFFIXES


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the rows of one ODP CSV file into ``raw.odp_csv``."""
    return land_csv_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
