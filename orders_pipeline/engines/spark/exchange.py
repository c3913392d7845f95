"""The validated records, exchanged with Spark as Parquet (issue 17).

DuckDB writes every table the models read but do not build (the validated records of each
source) to ``<folder>/<schema>/<table>/``, partitioned by ingestion (``ingested_file``, the
landing file's sequence number: docs/semantics.md §3), so a cluster reads a day's new files
as new folders. Types stay exact: DECIMAL as DECIMAL, timestamps as UTC instants, JSON as
text.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from orders_pipeline.warehouse import ARRIVAL_STRIDE, table_exists

# The Hive-style partition column of the exchanged tables (dropped again on reading)
PARTITION_COLUMN = "ingested_file"


def export_inputs(
    con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], folder: Path
) -> dict[str, int]:
    """Write each ``(schema, table)`` as Parquet under ``folder``; the rows of each."""
    written: dict[str, int] = {}
    for schema, table in tables:
        target = folder / schema / table
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        if not table_exists(con, schema, table):
            raise LookupError(f"{schema}.{table}: the models read it, the warehouse lacks it")
        rows = int(con.execute(f"select count(*) from {schema}.{table}").fetchall()[0][0])
        columns = {r[0] for r in con.execute(f"describe {schema}.{table}").fetchall()}
        if rows and "arrival_seq" in columns:
            con.execute(
                f"copy (select *, arrival_seq // {ARRIVAL_STRIDE} as {PARTITION_COLUMN} "
                f"from {schema}.{table}) to '{target}' "
                f"(format parquet, partition_by ({PARTITION_COLUMN}), overwrite_or_ignore)"
            )
        else:
            # no rows (a source not used) or no arrival order: one file, the schema kept
            con.execute(
                f"copy (select * from {schema}.{table}) to '{target / 'data_0.parquet'}' "
                "(format parquet)"
            )
        written[f"{schema}.{table}"] = rows
    return written
