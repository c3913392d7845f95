"""SQL models: every ``sql/<schema>/<table>.sql`` file builds the table ``<schema>.<table>``.

A model's dependencies are the ``schema.table`` names its SQL reads, found with sqlglot, so a
model never declares them twice. Each model runs as ``create or replace table ... as`` inside
one transaction: readers of the warehouse see the old table or the new one, never half.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from orders_pipeline.warehouse import ARRIVAL_STRIDE, count_rows, transaction


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
    # ``-- materialized: incremental``: the rows of records already built never change, so a
    # build adds only the rows of records that arrived since (``run_incremental_model``).
    is_incremental: bool = False
    # A digest of the model's SQL and of every model it reads, recursively: a change to any of
    # them makes the next incremental build a full one.
    fingerprint: str = ""

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
_INCREMENTAL_DIRECTIVE = re.compile(r"^--\s*materialized:\s*incremental\s*$", re.M)
_DIRECTIVES = (_PARTITION_DIRECTIVE, _VIEW_DIRECTIVE, _INCREMENTAL_DIRECTIVE)


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
                is_incremental=bool(_INCREMENTAL_DIRECTIVE.search(sql)),
            )
        )
    return _with_fingerprints(models)


def _with_fingerprints(models: list[SqlModel]) -> list[SqlModel]:
    """The models with their ``fingerprint``: their SQL and their upstream models' SQL."""
    by_name = {(m.schema, m.name): m for m in models}
    memo: dict[tuple[str, str], str] = {}

    def digest(key: tuple[str, str], path: tuple[tuple[str, str], ...]) -> str:
        if key not in memo:
            if key in path:
                raise ValueError(f"models read each other in a cycle: {path + (key,)}")
            model = by_name[key]
            upstream = sorted(
                digest(ref, path + (key,)) for ref in model.references if ref in by_name
            )
            memo[key] = hashlib.sha256("\0".join([model.sql, *upstream]).encode()).hexdigest()
        return memo[key]

    return [replace(m, fingerprint=digest((m.schema, m.name), ())) for m in models]


@dataclass(frozen=True)
class ModelRun:
    """What building one model did."""

    rows: int
    seconds: float
    incremental: bool = False  # only new records' rows were added


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
        # logged first: a publication after a failed rebuild copies the table whole, which is
        # merely slower, never stale
        _record_partition_build(con, model, None, None)
        return run_model(con, model)
    column = model.partition_column
    assert column is not None, f"{model.qualified_name} is not partitioned"
    in_range = (
        f"(?::date is null or {column} >= ?::date) and (?::date is null or {column} <= ?::date)"
    )
    bounds = [first, first, last, last]
    started = time.perf_counter()
    # a model may read only what the range needs (order_ledger: the orders with events in it)
    con.execute("set variable partition_first = ?::date", [first])
    con.execute("set variable partition_last = ?::date", [last])
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
        _record_partition_build(con, model, first, last)
    con.execute("set variable partition_first = null::date")
    con.execute("set variable partition_last = null::date")
    return ModelRun(
        rows=count_rows(con, model.qualified_name), seconds=time.perf_counter() - started
    )


def _record_partition_build(
    con: duckdb.DuckDBPyConnection, model: SqlModel, first: date | None, last: date | None
) -> None:
    """Log which days of the model were re-derived (publish.py copies only those)."""
    con.execute(
        """insert into state.partition_builds
           select ?, coalesce(max(build_no), 0) + 1, ?, ? from state.partition_builds""",
        [model.qualified_name, first, last],
    )


# Every record of a validated file has arrival_seq <= file_seq * stride + records.
_VALIDATED_THROUGH = f"""
select coalesce(max(file_seq * {ARRIVAL_STRIDE} + records), -1)
from audit.loads
where validated_at is not null
"""


def run_incremental_model(
    con: duckdb.DuckDBPyConnection, model: SqlModel, full_refresh: bool = False
) -> ModelRun:
    """Add to the model's table the rows of the records validated since its last build.

    The model's SQL reads only records with ``arrival_seq > getvariable('incremental_after')``
    (its import CTEs filter on it), and its rows for earlier records never change: a record
    is validated once, and rows derived from it depend on it and earlier arrivals only. So
    the build inserts the new rows, and ``state.model_builds`` remembers how far it got.

    A full build (every record) happens when the table does not exist yet, when the model's
    SQL or any model upstream of it changed since the last build (its fingerprint), or with
    ``full_refresh``. Both kinds of build give the same table.
    """
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        through = con.execute(_VALIDATED_THROUGH).fetchall()[0][0]
        built = con.execute(
            "select fingerprint, built_through from state.model_builds where model = ?",
            [model.qualified_name],
        ).fetchall()
        schema, name = model.schema, model.name
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
        incremental = not full_refresh and exists and built and built[0][0] == model.fingerprint
        after = built[0][1] if incremental else -1
        con.execute("set variable incremental_after = ?::bigint", [after])
        if incremental:
            con.execute(f"insert into {model.qualified_name}\n{model.sql}")
        else:
            con.execute(f"create or replace table {model.qualified_name} as\n{model.sql}")
        con.execute("delete from state.model_builds where model = ?", [model.qualified_name])
        con.execute(
            "insert into state.model_builds values (?, ?, ?)",
            [model.qualified_name, model.fingerprint, through],
        )
    return ModelRun(
        rows=count_rows(con, model.qualified_name),
        seconds=time.perf_counter() - started,
        incremental=bool(incremental),
    )
