"""Landing exchange rates (``<landing>/exchange_rates/``, SEMANTICS §6): ``.csv`` files with
the header ``date,currency,rate_to_base``, one record per row (see ``csv_records``)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.csv_records import CSV_SUFFIXES, land_csv_file
from orders_pipeline.landing.files import LandedFile

SOURCE = "exchange_rates"
RAW_TABLE = "raw.exchange_rates"
SUFFIXES = CSV_SUFFIXES


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the rows of one exchange-rate file into ``raw.exchange_rates``."""
    return land_csv_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
