"""Table-for-table comparison of the DuckDB warehouse with the Spark engine's Parquet tables
(issue 17: the same landing folder gives the same tables on both engines)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb


@dataclass(frozen=True)
class TableDifference:
    """One table that differs: what differs, and a few rows only one side has."""

    table: str
    problem: str
    only_duckdb: tuple[Any, ...] = ()
    only_spark: tuple[Any, ...] = ()


def _normal(value: Any, is_json: bool) -> Any:
    """A value as both engines must agree on it: decimals by value (DECIMAL(38,4) and
    DECIMAL(28,4) hold the same number), JSON by content (key order and spacing aside)."""
    if value is None:
        return None
    if is_json and isinstance(value, str):
        return json.dumps(json.loads(value), sort_keys=True)
    if isinstance(value, Decimal):
        return value.normalize() if value else Decimal(0)
    if isinstance(value, list):
        return tuple(_normal(v, False) for v in value)
    return value


def compare_tables(
    warehouse: Path, spark_output: Path, schemas: tuple[str, ...] = ("core", "reporting")
) -> list[TableDifference]:
    """Every table of ``schemas`` in the DuckDB ``warehouse`` against its Parquet folder under
    ``spark_output``: the same columns and the same rows (as multisets)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    differences: list[TableDifference] = []
    try:
        con.execute("set TimeZone = 'UTC'")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where list_contains(?, table_schema) order by 1, 2",
            [list(schemas)],
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            folder = spark_output / schema / table
            if not folder.is_dir():
                differences.append(TableDifference(name, "no Spark table"))
                continue
            spark_rel = f"read_parquet('{folder}/*.parquet')"
            duck_columns = dict(
                (r[0], r[1]) for r in con.execute(f"describe {schema}.{table}").fetchall()
            )
            spark_types = dict(
                (r[0], r[1]) for r in con.execute(f"describe select * from {spark_rel}").fetchall()
            )
            spark_columns = list(spark_types)
            if list(duck_columns) != spark_columns:
                differences.append(
                    TableDifference(name, f"columns {list(duck_columns)} vs {spark_columns}")
                )
                continue
            # money stays DECIMAL on both sides (never DOUBLE)
            not_decimal = [
                c
                for c, kind in duck_columns.items()
                if kind.startswith("DECIMAL") and not spark_types[c].startswith("DECIMAL")
            ]
            if not_decimal:
                differences.append(TableDifference(name, f"not DECIMAL on Spark: {not_decimal}"))
                continue
            json_columns = [t == "JSON" for t in duck_columns.values()]
            columns = ", ".join(f'"{c}"' for c in duck_columns)

            def rows(
                relation: str, flags: list[bool] = json_columns, columns: str = columns
            ) -> list[tuple[Any, ...]]:
                return sorted(
                    (
                        tuple(_normal(v, j) for v, j in zip(row, flags, strict=True))
                        for row in con.execute(f"select {columns} from {relation}").fetchall()
                    ),
                    key=repr,
                )

            duck_rows, spark_rows = rows(f"{schema}.{table}"), rows(spark_rel)
            if duck_rows != spark_rows:
                only_duck = [r for r in duck_rows if r not in spark_rows]
                only_spark = [r for r in spark_rows if r not in duck_rows]
                differences.append(
                    TableDifference(
                        name,
                        f"{len(duck_rows)} vs {len(spark_rows)} rows, "
                        f"{len(only_duck)} only on DuckDB, {len(only_spark)} only on Spark",
                        tuple(only_duck[:3]),
                        tuple(only_spark[:3]),
                    )
                )
    finally:
        con.close()
    return differences
