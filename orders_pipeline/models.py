"""SQL models: every ``sql/<schema>/<table>.sql`` file builds the table ``<schema>.<table>``.

A model's dependencies are the ``schema.table`` names its SQL reads, found with sqlglot, so a
model never declares them twice. Each model runs as ``create or replace table ... as`` inside
one transaction: readers of the warehouse see the old table or the new one, never half.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from orders_pipeline.warehouse import (
    ARRIVAL_STRIDE,
    SETTING_VARIABLES,
    count_rows,
    table_exists,
    transaction,
)


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
    # ``-- unique_key: col[, col]`` on an incremental model: a build recomputes only the keys
    # the companion query ``<name>.changed.sql`` lists (``changed_sql``) and replaces their
    # rows. The companion may read the model's own table (its previous build).
    unique_key: tuple[str, ...] | None = None
    changed_sql: str | None = None
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


# Parsing every model takes about a second, and definitions are built for every run in a
# process (tests, the sensor's runs): the same text parses to the same references.
@functools.cache
def table_references(sql: str) -> frozenset[tuple[str, str]]:
    """The schema-qualified tables a query reads (CTE names and table functions excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    refs = {(table.db, table.name) for table in tree.find_all(exp.Table) if table.db and table.name}
    return frozenset(refs)


_PARTITION_DIRECTIVE = re.compile(r"^--\s*partition_by:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_VIEW_DIRECTIVE = re.compile(r"^--\s*materialized:\s*view\s*$", re.M)
_INCREMENTAL_DIRECTIVE = re.compile(r"^--\s*materialized:\s*incremental\s*$", re.M)
_UNIQUE_KEY_DIRECTIVE = re.compile(
    r"^--\s*unique_key:\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*$", re.M
)
_DIRECTIVES = (
    _PARTITION_DIRECTIVE,
    _VIEW_DIRECTIVE,
    _INCREMENTAL_DIRECTIVE,
    _UNIQUE_KEY_DIRECTIVE,
)
# ``sql/<schema>/<name>.changed.sql``: the keys an incremental build of <name> recomputes
CHANGED_SUFFIX = ".changed.sql"


def partition_column(sql: str) -> str | None:
    """The column named by a ``-- partition_by: <column>`` line of the model, if any."""
    match = _PARTITION_DIRECTIVE.search(sql)
    return match.group(1) if match else None


def discover_models(sql_dir: Path) -> list[SqlModel]:
    """All models under ``sql_dir``, sorted by schema and name."""
    models = []
    for path in sorted(sql_dir.glob("*/*.sql")):
        if path.name.endswith(CHANGED_SUFFIX):
            continue
        sql = path.read_text(encoding="utf-8")
        key = _UNIQUE_KEY_DIRECTIVE.search(sql)
        companion = path.with_name(path.stem + CHANGED_SUFFIX)
        changed_sql = companion.read_text(encoding="utf-8") if companion.exists() else None
        is_incremental = bool(_INCREMENTAL_DIRECTIVE.search(sql))
        if bool(key) != (changed_sql is not None) or (key and not is_incremental):
            raise ValueError(
                f"{path}: an incremental model with '-- unique_key: <column>' needs "
                f"{companion.name} (the keys to recompute), and the other way round"
            )
        references = table_references(sql)
        if changed_sql is not None:
            own = (path.parent.name, path.stem)
            references = references | (table_references(changed_sql) - {own})
        models.append(
            SqlModel(
                path=path,
                schema=path.parent.name,
                name=path.stem,
                sql=sql,
                references=references,
                partition_column=partition_column(sql),
                is_view=bool(_VIEW_DIRECTIVE.search(sql)),
                is_incremental=is_incremental,
                unique_key=tuple(c.strip() for c in key.group(1).split(",")) if key else None,
                changed_sql=changed_sql,
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
            own = [model.sql, model.changed_sql or ""]
            memo[key] = hashlib.sha256("\0".join([*own, *upstream]).encode()).hexdigest()
        return memo[key]

    return [replace(m, fingerprint=digest((m.schema, m.name), ())) for m in models]


@dataclass(frozen=True)
class ModelRun:
    """What building one model did."""

    rows: int | None  # None for a view
    seconds: float
    incremental: bool = False  # only new records' rows were added


def run_model(con: duckdb.DuckDBPyConnection, model: SqlModel) -> ModelRun:
    """(Re)build the model's table (or view) from its SQL in one transaction."""
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        kind = "view" if model.is_view else "table"
        con.execute(f"create or replace {kind} {model.qualified_name} as\n{model.sql}")
    # counting a view's rows would run its query (a join over the whole ledger)
    rows = None if model.is_view else count_rows(con, model.qualified_name)
    return ModelRun(rows=rows, seconds=time.perf_counter() - started)


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

    A model with a ``unique_key`` is an entity (one row per order, per customer) whose rows
    may change when new records arrive: its companion query lists the keys to recompute
    (into the temp table ``changed_keys``), their rows are deleted, and the model's SQL, which
    then reads only those keys, inserts them again.

    A full build (every record) happens when the table does not exist yet, when the model's
    SQL or any model upstream of it changed since the last build (its fingerprint), when a
    setting the SQL may read changed (``SETTING_VARIABLES``), or with ``full_refresh``.
    Both kinds of build give the same table.
    """
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        through = con.execute(_VALIDATED_THROUGH).fetchall()[0][0]
        partition_build_no = con.execute(
            "select coalesce(max(build_no), 0) from state.partition_builds"
        ).fetchall()[0][0]
        built = con.execute(
            "select fingerprint, built_through, partition_build_no from state.model_builds "
            "where model = ?",
            [model.qualified_name],
        ).fetchall()
        exists = table_exists(con, model.schema, model.name)
        fingerprint = _build_fingerprint(con, model)
        incremental = not full_refresh and exists and built and built[0][0] == fingerprint
        after = built[0][1] if incremental else -1
        con.execute("set variable incremental_after = ?::bigint", [after])
        if model.unique_key is not None:
            _set_rederived_days(con, built[0][2] if incremental else None)
            _collect_changed_keys(con, model, incremental)
        if incremental:
            if model.unique_key is not None:
                matches = " and ".join(
                    f"{model.qualified_name}.{column} = changed_keys.{column}"
                    for column in model.unique_key
                )
                con.execute(
                    f"delete from {model.qualified_name} using changed_keys where {matches}"
                )
            con.execute(f"insert into {model.qualified_name}\n{model.sql}")
        else:
            con.execute(f"create or replace table {model.qualified_name} as\n{model.sql}")
        con.execute("delete from state.model_builds where model = ?", [model.qualified_name])
        con.execute(
            "insert into state.model_builds values (?, ?, ?, ?)",
            [model.qualified_name, fingerprint, through, partition_build_no],
        )
    return ModelRun(
        rows=count_rows(con, model.qualified_name),
        seconds=time.perf_counter() - started,
        incremental=bool(incremental),
    )


def _collect_changed_keys(
    con: duckdb.DuckDBPyConnection, model: SqlModel, incremental: bool
) -> None:
    """``changed_keys``: the keys an incremental build recomputes (empty for a full build,
    whose SQL reads every key: ``incremental_after`` is -1)."""
    assert model.unique_key is not None
    columns = ", ".join(model.unique_key)
    typed = ", ".join(f"{column} varchar" for column in model.unique_key)
    present = " and ".join(f"{column} is not null" for column in model.unique_key)
    con.execute(f"create or replace temp table changed_keys ({typed})")
    if incremental:
        con.execute(
            f"insert into changed_keys select distinct {columns} from ({model.changed_sql}) "
            f"where {present}"
        )


def _set_rederived_days(con: duckdb.DuckDBPyConnection, after_build: int | None) -> None:
    """Variables for a companion query: whether partitioned models re-derived any day since
    partition build ``after_build`` (``rederived``), and the span of those days
    (``rederived_first_day``/``rederived_last_day``, NULL when open on that side)."""
    row = con.execute(
        """select count(*) > 0,
                  case when bool_and(first_day is not null) then min(first_day) end,
                  case when bool_and(last_day is not null) then max(last_day) end
           from state.partition_builds where build_no > ?""",
        [after_build if after_build is not None else -1],
    ).fetchall()[0]
    con.execute("set variable rederived = ?::boolean", [row[0]])
    con.execute("set variable rederived_first_day = ?::date", [row[1]])
    con.execute("set variable rederived_last_day = ?::date", [row[2]])


def _build_fingerprint(con: duckdb.DuckDBPyConnection, model: SqlModel) -> str:
    """The model's fingerprint with the settings of this session: a build under other
    settings (base currency, lifecycle thresholds, identity limits) is not comparable."""
    settings = con.execute(
        "select list(name || '=' || value::varchar order by name) from duckdb_variables() "
        "where list_contains(?, name)",
        [list(SETTING_VARIABLES)],
    ).fetchall()[0][0]
    return hashlib.sha256("\0".join([model.fingerprint, *(settings or [])]).encode()).hexdigest()
