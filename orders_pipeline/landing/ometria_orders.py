"""Landing Ometria Order / OrderExtended snapshots (SEMANTICS §1.4) from
``<landing>/ometria_orders/``: one raw row per record of a ``.json`` (one object or an array)
/ ``.ndjson`` / ``.jsonl`` file (see ``json_records``)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.json_records import JSON_SUFFIXES, land_json_file

SOURCE = "ometria_orders"
RAW_TABLE = "raw.ometria_orders"
SUFFIXES = JSON_SUFFIXES


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    in_python: bool,
) -> int:
    """Insert the records of one Ometria orders file into ``raw.ometria_orders``."""
    return land_json_file(con, RAW_TABLE, landed, file_seq, loaded_at, in_python=in_python)
