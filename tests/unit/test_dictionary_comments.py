"""The dictionary's descriptions are written on the tables and columns (``COMMENT ON``)
where they are missing or different, and only there: a table rebuilt since the last run
gets them again, the others are left as they are."""

from __future__ import annotations

import duckdb

from orders_pipeline.dictionary import TABLES, apply_comments


def _declared_table(con: duckdb.DuckDBPyConnection, qualified: str) -> None:
    schema, _ = qualified.split(".")
    columns = ", ".join(f'"{name}" varchar' for name in TABLES[qualified].columns)
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace table {qualified} ({columns}, undeclared varchar)")


def _comments(con: duckdb.DuckDBPyConnection, qualified: str) -> dict[str, str | None]:
    schema, name = qualified.split(".")
    found = dict(
        con.execute(
            """select column_name, comment from duckdb_columns()
               where schema_name = ? and table_name = ?""",
            [schema, name],
        ).fetchall()
    )
    (found[""],) = con.execute(
        "select comment from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return found


def test_descriptions_are_written_where_missing_and_only_there():
    first, second = list(TABLES)[:2]
    con = duckdb.connect()
    for qualified in (first, second):
        _declared_table(con, qualified)
    expected = {qualified: 1 + len(TABLES[qualified].columns) for qualified in (first, second)}

    assert apply_comments(con) == sum(expected.values())
    for qualified in (first, second):
        comments = _comments(con, qualified)
        assert comments[""] == TABLES[qualified].description
        assert comments["undeclared"] is None
        for name, entry in TABLES[qualified].columns.items():
            assert comments[name] == entry.description, (qualified, name)

    # nothing changed: nothing written
    assert apply_comments(con) == 0
    # one table rebuilt (its comments gone), one column's comment changed by hand
    _declared_table(con, first)
    column = next(iter(TABLES[second].columns))
    con.execute(f"comment on column {second}.\"{column}\" is 'edited'")
    assert apply_comments(con) == expected[first] + 1
    assert _comments(con, second)[column] == TABLES[second].columns[column].description
    assert apply_comments(con) == 0
