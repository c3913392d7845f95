"""Compare every table of two warehouses row for row (issue 15: a change for speed must leave
every table as it was).

    python scripts/compare_warehouses.py A.duckdb B.duckdb

Each table is compared as a multiset (``except all`` both ways, and the row counts), over every
column except the ones that say when a run happened or where its files were: the wall-clock
times of landing, validation and publishing, a file's inode and times in the hash cache, and
the warehouse's own random identity. Exit status 0 when everything is identical.
"""

from __future__ import annotations

import re
import sys

import duckdb

# Columns that record a run's clock or the files' places on disk, not data.
RUN_COLUMNS = re.compile(
    r"^(loaded_at|validated_at|updated_at|first_seen_at|seen_at|published_at|created_at"
    r"|device|inode|mtime_ns|ctime_ns|recorded_at_ns)$"
)
# Tables that hold a run's identity: the warehouse's random id, where its analyst copy went.
RUN_TABLES = {("state", "warehouse_identity"), ("state", "publication_builds")}
# Rows that hash the analyst copy (its path and publication time are inside it).
RUN_ROWS = {("state", "table_versions"): "table_name <> 'publish.analytics_database'"}


def _tables(con: duckdb.DuckDBPyConnection, db: str) -> set[tuple[str, str]]:
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?", [db]
    ).fetchall()
    return {(schema, table) for schema, table in rows}


def _columns(con: duckdb.DuckDBPyConnection, db: str, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where database_name = ? and schema_name = ? "
        "and table_name = ? order by column_index",
        [db, schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def compare(first: str, second: str) -> int:
    """Print one line per table and return the number of tables that differ."""
    con = duckdb.connect()
    con.execute("attach ? as a (read_only)", [first])
    con.execute("attach ? as b (read_only)", [second])
    in_a, in_b = _tables(con, "a"), _tables(con, "b")
    differences = 0
    if in_a != in_b:
        print(f"DIFF tables only on one side: {sorted(in_a ^ in_b)}")
        differences += 1
    for schema, table in sorted(in_a & in_b):
        if (schema, table) in RUN_TABLES:
            print(f"skip {schema}.{table} (the run's own identity)")
            continue
        columns = _columns(con, "a", schema, table)
        if columns != _columns(con, "b", schema, table):
            print(f"DIFF {schema}.{table}: the columns differ")
            differences += 1
            continue
        kept = ", ".join(f'"{c}"' for c in columns if not RUN_COLUMNS.match(c))
        where = f" where {RUN_ROWS[(schema, table)]}" if (schema, table) in RUN_ROWS else ""
        side = {db: f"select {kept} from {db}.{schema}.{table}{where}" for db in ("a", "b")}
        count = {db: con.execute(f"select count(*) from ({side[db]})").fetchone()[0] for db in side}
        missing, extra = (
            con.execute(f"select count(*) from ({one} except all {other})").fetchone()[0]
            for one, other in ((side["a"], side["b"]), (side["b"], side["a"]))
        )
        same = count["a"] == count["b"] and missing == 0 and extra == 0
        differences += not same
        print(
            f"{'OK  ' if same else 'DIFF'} {schema}.{table}: {count['a']} vs {count['b']} rows, "
            f"{missing} only in the first, {extra} only in the second"
        )
    print("IDENTICAL" if differences == 0 else f"{differences} TABLE(S) DIFFER")
    return differences


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(1 if compare(sys.argv[1], sys.argv[2]) else 0)
