"""SQL models: every ``sql/<schema>/<table>.sql`` file builds the table ``<schema>.<table>``.

A model's dependencies are the ``schema.table`` names its SQL reads, found with sqlglot, so a
model never declares them twice. Each model runs as ``create or replace table ... as`` inside
one transaction: readers of the warehouse see the old table or the new one, never half.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from orders_pipeline.warehouse import count_rows


@dataclass(frozen=True)
class SqlModel:
    """One SQL file and the table it builds."""

    path: Path
    schema: str
    name: str
    sql: str
    references: frozenset[tuple[str, str]]  # every schema.table the SQL reads

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
            lines.append(line.removeprefix("--").strip())
        return " ".join(lines)


def table_references(sql: str) -> frozenset[tuple[str, str]]:
    """The schema-qualified tables a query reads (CTE names and table functions excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    refs = {(table.db, table.name) for table in tree.find_all(exp.Table) if table.db and table.name}
    return frozenset(refs)


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
            )
        )
    return models


@dataclass(frozen=True)
class ModelRun:
    """What building one model did."""

    rows: int
    seconds: float


def run_model(con: duckdb.DuckDBPyConnection, model: SqlModel) -> ModelRun:
    """(Re)build the model's table from its SQL in one transaction."""
    started = time.perf_counter()
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {model.schema}")
        con.execute(f"create or replace table {model.qualified_name} as\n{model.sql}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return ModelRun(
        rows=count_rows(con, model.qualified_name), seconds=time.perf_counter() - started
    )
