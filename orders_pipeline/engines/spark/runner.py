"""Run the model layer — staging → core → reporting — on Spark (issue 17).

Every model of ``sql/`` is transpiled (``transpile``) and run in dependency order as a full
rebuild: incremental and partitioned builds are DuckDB's bookkeeping to spare work on one
machine, and a cluster rebuilds each table from its inputs instead (the tables are the same:
models.py builds them equal both ways). Each table is written as Parquet to
``<output>/<schema>/<table>/`` and read back from there by the models that follow.
"""

from __future__ import annotations

import graphlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.assets.identity import IDENTITY_INPUTS as ASSET_IDENTITY_INPUTS
from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.engines.spark import identity
from orders_pipeline.engines.spark.exchange import PARTITION_COLUMN, export_inputs
from orders_pipeline.engines.spark.transpile import (
    load_macros,
    model_override,
    to_spark,
    view_name,
)
from orders_pipeline.models import SqlModel, discover_models
from orders_pipeline.warehouse import prepare_session

# What identity resolution (a Python asset on DuckDB, label propagation here) builds and reads
IDENTITY_TABLES = (("core", "customer_identifiers"), ("core", "order_customers"))
# the tables identity resolution reads, as the DuckDB asset declares them (one list)
IDENTITY_INPUTS = tuple(tuple(name.split(".", 1)) for name in ASSET_IDENTITY_INPUTS)
_IDENTITY = "identity resolution"

# Where the exchanged inputs go, under the output folder
INPUTS_FOLDER = "_inputs"


@dataclass
class SparkRun:
    """What a Spark run built: rows and seconds per table, in build order."""

    output: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    identity_rounds: int = 0


def model_variables(settings: Settings) -> dict[str, Any]:
    """The values of every ``getvariable(...)`` the models read, as a DuckDB session of the
    pipeline has them for a full build (warehouse.prepare_session: one list of settings)."""
    con = duckdb.connect()
    try:
        prepare_session(con, settings)
        names = [row[0] for row in con.execute("select name from duckdb_variables()").fetchall()]
        return {
            name: con.execute("select getvariable(?)", [name]).fetchall()[0][0] for name in names
        }
    finally:
        con.close()


def input_tables(models: list[SqlModel]) -> list[tuple[str, str]]:
    """The tables the models read and no model builds: the validated records."""
    built = {(m.schema, m.name) for m in models} | set(IDENTITY_TABLES)
    return sorted({ref for m in models for ref in m.references} - built)


def build_order(models: list[SqlModel]) -> list[SqlModel | str]:
    """The models, and identity resolution, each after everything it reads."""
    by_key = {(m.schema, m.name): m for m in models}
    graph: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
    for model in models:
        deps = [ref for ref in model.references if ref in by_key]
        if any(ref in IDENTITY_TABLES for ref in model.references):
            deps.append(_IDENTITY)  # type: ignore[arg-type]
        graph.add((model.schema, model.name), *deps)
    graph.add(_IDENTITY, *[ref for ref in IDENTITY_INPUTS if ref in by_key])
    return [by_key[node] if node != _IDENTITY else _IDENTITY for node in graph.static_order()]


def model_sql(
    model: SqlModel,
    macros: dict[str, Any],
    variables: dict[str, Any],
    columns: dict[str, dict[str, dict[str, str]]],
) -> str:
    """The Spark SQL of a model: its override beside it, else its transpiled SQL."""
    override = model_override(model)
    if override is not None:
        return override.read_text(encoding="utf-8")
    return to_spark(model.sql, macros, variables, columns)


def _macros(sql_dir: Path) -> dict[str, Any]:
    macros_file = sql_dir / "macros.sql"
    return load_macros(macros_file.read_text(encoding="utf-8") if macros_file.exists() else "")


def run_on_spark(
    spark: Any,
    settings: Settings,
    sql_dir: Path = SQL_DIR,
    log: Any = None,
) -> SparkRun:
    """Export the validated records of ``settings.warehouse``, then build every model on
    ``spark`` into ``settings.spark_output_dir``."""
    output = settings.spark_output_dir
    models = discover_models(sql_dir)
    tables = input_tables(models)
    run = SparkRun(output=output)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        run.inputs = export_inputs(con, tables, output / INPUTS_FOLDER)
    # {schema: {table: {column: type}}} of the registered tables: sqlglot writes out
    # `* replace (...)` and `union all by name` from it
    columns: dict[str, dict[str, dict[str, str]]] = {}

    def register(schema: str, table: str, folder: Path) -> None:
        frame = spark.read.parquet(str(folder))
        if PARTITION_COLUMN in frame.columns:
            frame = frame.drop(PARTITION_COLUMN)
        frame.createOrReplaceTempView(view_name(schema, table))
        columns.setdefault(schema, {})[table] = {
            f.name: f.dataType.simpleString() for f in frame.schema.fields
        }

    def write_table(schema: str, table: str, frame: Any) -> None:
        started = time.perf_counter()
        target = output / schema / table
        frame.write.mode("overwrite").parquet(str(target))
        register(schema, table, target)
        run.rows[f"{schema}.{table}"] = _rows_written(spark, target)
        run.seconds[f"{schema}.{table}"] = time.perf_counter() - started
        if log is not None:
            log(
                f"{schema}/{table}", run.rows[f"{schema}.{table}"], run.seconds[f"{schema}.{table}"]
            )

    for schema, table in tables:
        register(schema, table, output / INPUTS_FOLDER / schema / table)
    variables = model_variables(settings)
    macros = _macros(sql_dir)
    for step in build_order(models):
        if step == _IDENTITY:
            run.identity_rounds = identity.resolve_customers(spark, write_table)
            continue
        assert isinstance(step, SqlModel)
        if step.unique_key is not None:
            # the model's import CTEs read the keys to recompute only in an incremental
            # build (incremental_after >= 0); a full build reads none
            keys = ", ".join(f"cast(null as string) as {c}" for c in step.unique_key)
            spark.sql(f"select {keys} where false").createOrReplaceTempView("changed_keys")
        sql = model_sql(step, macros, variables, columns)
        try:
            write_table(step.schema, step.name, spark.sql(sql))
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise SparkModelError(f"{step.qualified_name} on Spark: {first_line}") from error
    return run


def _rows_written(spark: Any, folder: Path) -> int:
    """The rows of a Parquet folder: from the files' footers when the folder is local (no
    Spark job), else counted by Spark."""
    if folder.is_dir():
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
    return int(spark.read.parquet(str(folder)).count())


class SparkModelError(RuntimeError):
    """A model failed on Spark; the message carries the Spark SQL it ran."""


@dataclass(frozen=True)
class SparkTotals:
    """The closing summary's figures, read from the Spark engine's tables."""

    orders: int
    anonymous_orders: int
    customers: int
    net_revenue: Any  # Decimal


def spark_totals(output: Path) -> SparkTotals:
    """Orders, customers and net revenue from the Parquet tables, read with DuckDB."""
    con = duckdb.connect()
    try:
        orders, anonymous = con.execute(
            f"select count(*), count(*) filter (where customer_id is null) "
            f"from read_parquet('{output}/core/orders/*.parquet')"
        ).fetchall()[0]
        customers = con.execute(
            f"select count(*) from read_parquet('{output}/core/customers/*.parquet')"
        ).fetchall()[0][0]
        net = con.execute(
            f"select coalesce(sum(net), 0) "
            f"from read_parquet('{output}/reporting/daily_revenue/*.parquet')"
        ).fetchall()[0][0]
    finally:
        con.close()
    return SparkTotals(int(orders), int(anonymous), int(customers), net)


def run_models(
    settings: Settings, log: Any = None, extra_conf: dict[str, Any] | None = None
) -> SparkRun:
    """The model layer on a Spark session of ``settings`` (``orders-pipeline run --engine
    spark``, the Dagster resource): every model over the validated records of the warehouse,
    into ``settings.spark_output_dir``."""
    from orders_pipeline.engines.spark.session import spark_session

    spark = spark_session(settings, extra_conf)
    if not settings.spark_remote:  # Spark's own INFO lines would bury the progress lines
        spark.sparkContext.setLogLevel("ERROR")
    return run_on_spark(spark, settings, log=log)
