"""SQL models: every ``sql/<schema>/<table>.sql`` file builds the table ``<schema>.<table>``.

A model's dependencies are the ``schema.table`` names its SQL reads, found with sqlglot, so a
model never declares them twice. Each model runs as ``create or replace table ... as`` inside
one transaction: readers of the warehouse see the old table or the new one, never half.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from orders_pipeline.warehouse import count_rows, transaction


@dataclass(frozen=True)
class SqlModel:
    """One SQL file and the table it builds."""

    path: Path
    schema: str
    name: str
    sql: str
    references: frozenset[tuple[str, str]]  # every schema.table the SQL reads
    # A column of UTC dates when the table is partitioned by day (``-- partition_by: col``).
    partition_column: str | None = None
    # ``-- materialized: view`` makes a view instead of a table.
    is_view: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def description(self) -> str:
        """The leading ``--`` comment block of the file."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            if not any(directive.match(line) for directive in _DIRECTIVES):
                lines.append(line.removeprefix("--").strip())
        return " ".join(lines)


def table_references(sql: str) -> frozenset[tuple[str, str]]:
    """The schema-qualified tables a query reads (CTE names and table functions excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    refs = {(table.db, table.name) for table in tree.find_all(exp.Table) if table.db and table.name}
    return frozenset(refs)


_PARTITION_DIRECTIVE = re.compile(r"^--\s*partition_by:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_VIEW_DIRECTIVE = re.compile(r"^--\s*materialized:\s*view\s*$", re.M)
_DIRECTIVES = (_PARTITION_DIRECTIVE, _VIEW_DIRECTIVE)


def partition_column(sql: str) -> str | None:
    """The column named by a ``-- partition_by: <column>`` line of the model, if any."""
    match = _PARTITION_DIRECTIVE.search(sql)
    return match.group(1) if match else None


def discover_models(sql_dir: Path) -> list[SqlModel]:
    """All models under ``sql_dir``, sorted by schema and name."""
    models = []
    for path in sorted(sql_dir.glob("*/*.sql")):
        sql = path.read_text(encoding="utf-8")
        models.append(
            SqlModel(
                path=path,
                schema=path.parent.name,
                name=path.stem,
                sql=sql,
                references=table_references(sql),
                partition_column=partition_column(sql),
                is_view=bool(_VIEW_DIRECTIVE.search(sql)),
            )
        )
    return models


@dataclass(frozen=True)
class ModelRun:
    """What building one model did."""

    rows: int
    seconds: float


def run_model(con: duckdb.DuckDBPyConnection, model: SqlModel) -> ModelRun:
    """(Re)build the model's table (or view) from its SQL in one transaction."""
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        kind = "view" if model.is_view else "table"
        con.execute(f"create or replace {kind} {model.qualified_name} as\n{model.sql}")
    return ModelRun(
        rows=count_rows(con, model.qualified_name), seconds=time.perf_counter() - started
    )


def run_model_partitions(
    con: duckdb.DuckDBPyConnection, model: SqlModel, first: date | None, last: date | None
) -> ModelRun:
    """Re-derive the model's rows whose partition column lies in [first, last] (``None``: open
    on that side, so the first and last partitions also hold anything earlier or later), by
    delete-and-insert in one transaction: re-running a partition never duplicates rows, and
    rows outside the range are not touched. With both ends open this is a full rebuild,
    which also takes any change of the model's columns."""
    if first is None and last is None:
        return run_model(con, model)
    column = model.partition_column
    assert column is not None, f"{model.qualified_name} is not partitioned"
    in_range = (
        f"(?::date is null or {column} >= ?::date) and (?::date is null or {column} <= ?::date)"
    )
    bounds = [first, first, last, last]
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        con.execute(
            f"create table if not exists {model.qualified_name} as "
            f"select * from ({model.sql}) limit 0"
        )
        con.execute(f"delete from {model.qualified_name} where {in_range}", bounds)
        con.execute(
            f"insert into {model.qualified_name} select * from ({model.sql}) where {in_range}",
            bounds,
        )
    return ModelRun(
        rows=count_rows(con, model.qualified_name), seconds=time.perf_counter() - started
    )
