"""Landing ODP order-event payloads (SEMANTICS §1.1) from ``<landing>/odp_events/``: one raw
row per record of a ``.json`` / ``.ndjson`` / ``.jsonl`` file (see ``json_records``)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file

SOURCE = "odp_events"
RAW_TABLE = "raw.odp_events"
SUFFIXES = JSON_SUFFIXES


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the records of one ODP events file into ``raw.odp_events``."""
    return land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
