"""Issue 17: the same models on Apache Spark give the same tables.

One local Spark session (two shuffle partitions, no UI) serves every test of this file, which
CI runs on one worker (``--dist loadfile``): a JVM start costs seconds, a second one more.
The Spark tests are skipped when pyspark or Java 17+ is missing (``.ci/run`` installs Java).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.cli import main
from orders_pipeline.config import PROJECT_ROOT, SQL_DIR, Settings
from orders_pipeline.engines.spark.compare import compare_tables
from orders_pipeline.engines.spark.session import MIN_JAVA, java_major_version
from orders_pipeline.engines.spark.transpile import OVERRIDE_SUFFIX, load_macros, to_spark
from orders_pipeline.generator import GeneratorConfig, generate
from orders_pipeline.models import discover_models
from orders_pipeline.runner import run_pipeline

pytestmark = pytest.mark.heavy(seconds=120)  # scheduled first (tests/conftest.py)

# Every model that Spark runs from a named override (sql/<schema>/<name>.spark.sql) instead
# of its transpiled DuckDB SQL, and why the DuckDB SQL does not transpile. Empty: every
# model transpiles.
OVERRIDES: dict[str, str] = {}

# DuckDB functions that must not reach Spark (each has a rewrite in transpile.py)
DUCKDB_ONLY = (
    "getvariable",
    "decimal_division",
    "json_each",
    "json_type",
    "arg_min_null",
    "epoch_us",
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """One landing folder for every Spark test: the bundled sample (every source, customers
    linked across sources) and a generated one (bad records, late and duplicate events), its
    order ids renamed from ``O…`` to ``G…`` so that the two sets of orders stay apart. One
    Spark run over it costs half of one run per folder: every model is a Spark job or more,
    whatever the size of its table."""
    root = tmp_path_factory.mktemp("spark")
    shutil.copytree(PROJECT_ROOT / "data" / "landing", root / "landing")
    generate(root / "generated", GeneratorConfig(line_items=800, days=10, seed=17))
    for path in sorted((root / "generated").iterdir()):
        renamed = path.read_bytes().replace(b'"order_id":"O', b'"order_id":"G')
        (root / "landing" / "odp_events" / f"generated_{path.name}").write_bytes(renamed)
    return root / "landing"


@pytest.fixture(scope="module")
def sample(landing) -> Settings:
    """The landing folder run on DuckDB."""
    root = landing.parent
    settings = Settings(
        landing_dir=landing, warehouse=root / "w.duckdb", spark_output=root / "spark"
    )
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return settings


def _columns(warehouse: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{schema: {table: {column: type}}} of a warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns"
        ).fetchall()
    finally:
        con.close()
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for db, table, column, kind in rows:
        schema.setdefault(db, {}).setdefault(table, {})[column] = kind
    return schema


def test_every_model_transpiles_and_overrides_are_listed_with_a_reason(sample):
    from orders_pipeline.engines.spark.runner import model_variables

    macros = load_macros((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    variables = model_variables(sample)
    # star modifiers and union by name need the input columns (the runner passes Spark's)
    columns = _columns(sample.warehouse)
    models = discover_models(SQL_DIR)
    assert len(models) > 30
    for model in models:
        lowered = to_spark(model.sql, macros, variables, columns).lower()
        for name in DUCKDB_ONLY:
            assert f"{name}(" not in lowered, f"{model.qualified_name}: {name} left"
        for macro in macros:
            assert f"{macro}(" not in lowered, f"{model.qualified_name}: {macro} unexpanded"
        # DuckDB's CTE plan hints (core/orders.sql) are no Spark SQL
        assert " materialized (" not in lowered, f"{model.qualified_name}: CTE hint left"
    overrides = {
        f"{path.parent.name}.{path.name.removesuffix(OVERRIDE_SUFFIX)}"
        for path in SQL_DIR.glob(f"*/*{OVERRIDE_SUFFIX}")
    }
    assert overrides == set(OVERRIDES), "list every Spark override in OVERRIDES with its reason"


requires_spark = pytest.mark.skipif(
    shutil.which("java") is None or (java_major_version() or 0) < MIN_JAVA,
    reason=f"the Spark engine needs Java {MIN_JAVA}+ (.ci/run installs openjdk-17-jre-headless)",
)


@pytest.fixture(scope="module")
def spark():
    pyspark = pytest.importorskip("pyspark")
    del pyspark
    from orders_pipeline.engines.spark.session import spark_session

    session = spark_session(
        Settings(spark_master="local[2]"),
        {
            "spark.ui.enabled": "false",
            # tiny tables: every stage, task, broadcast and compiled plan is overhead (one
            # partition and no broadcast joins measured 30 % faster here than two partitions)
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "1",
            "spark.sql.autoBroadcastJoinThreshold": "-1",
            "spark.sql.codegen.wholeStage": "false",
            # adaptive execution re-plans each stage of a job: for tables this small only its
            # cost is seen (the CLI run: 64.4-64.7 machine CPU s without it, 67.9 with it)
            "spark.sql.adaptive.enabled": "false",
            # a short-lived JVM: the quick JIT tier only (halved the run here)
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        },
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


def _assert_same_tables(warehouse: Path, output: Path) -> None:
    differences = compare_tables(warehouse, output, schemas=("staging", "core", "reporting"))
    # the validated records are Spark's inputs, not its tables
    differences = [d for d in differences if d.problem != "no Spark table"]
    assert not differences, "\n".join(
        f"{d.table}: {d.problem}\n  DuckDB only: {d.only_duckdb}\n  Spark only: {d.only_spark}"
        for d in differences
    )


@requires_spark
def test_cli_engine_spark_gives_the_same_tables_as_duckdb(spark, sample, capsys, monkeypatch):
    """``orders-pipeline run --engine spark`` on the warehouse DuckDB modelled (ingest finds
    nothing new; Spark builds every model from the same validated records): every staging,
    core and reporting table is the same."""
    from orders_pipeline.engines.spark import identity

    rounds: list[int] = []
    resolve = identity.resolve_customers

    def counting(*args, **kwargs):  # the real resolution; its rounds kept for the assertion
        rounds.append(resolve(*args, **kwargs))
        return rounds[-1]

    monkeypatch.setattr(identity, "resolve_customers", counting)
    output = sample.spark_output_dir
    monkeypatch.setenv("ORDERS_SPARK_OUTPUT", str(output))
    code = main(["run", "--engine", "spark", "--landing", str(sample.landing_dir),
                 "--warehouse", str(sample.warehouse)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "core/orders" in printed and "run succeeded" in printed
    assert (output / "reporting" / "daily_revenue").is_dir()
    assert rounds and rounds[0] >= 2  # the sample has customers linked across sources
    con = duckdb.connect(str(sample.warehouse), read_only=True)
    try:
        orders, generated = con.execute(
            "select count(*), count(*) filter (where order_id like 'G%') from core.orders"
        ).fetchall()[0]
    finally:
        con.close()
    assert orders > 1000 and generated > 100
    assert f"orders: {orders:,}" in printed
    _assert_same_tables(sample.warehouse, output)


# identifiers objects staging can hold (validation quarantines a repeated key), with what the
# sample lacks: no entry, keys that need quoting or escaping, escaped and non-ASCII values,
# whole numbers, booleans, null, nested values (not identifiers: left out by the model)
EDGE_IDENTIFIERS = [
    None,
    "{}",
    '{"email":"a@b.c","customer_id":"C1"}',
    '{"n":7,"big":12345678901234567890,"neg":-5,"half":1.5,"t":true,"f":false,"nil":null}',
    r'{"s":"a\"b\\c\u00e9\n\tz","u":"\ud83d\ude00","o":{"k":1},"arr":[1,"x"]}',
    '{"é":"1","日本":"2","a.b":"3","x y":"4","a\\"q":"5","":"6","$":"7","*":"8","[0]":"9"}',
    '{"z":"3","a":"1","m":"2"}',
]


@requires_spark
def test_identifier_entries_on_spark_are_duckdbs(spark):
    """``staging.stg_odp_order_identifiers`` pairs each key of ``identifiers`` with its value
    by two unnests in one select, which Spark runs as one ``variant_explode``: the same rows
    as DuckDB's for every kind of identifiers object above."""
    from orders_pipeline.engines.spark.transpile import view_name

    model = next(m for m in discover_models(SQL_DIR) if m.name == "stg_odp_order_identifiers")
    rows = [
        (f"e{n}", f"O{n}", n, f"m{n}@x" if n % 2 else None, f"+{n}" if n % 3 == 0 else None, doc)
        for n, doc in enumerate(EDGE_IDENTIFIERS)
    ]
    con = duckdb.connect()
    try:
        con.execute("create schema staging")
        con.execute(
            "create table staging.odp_event_records (event_id varchar, order_id varchar, "
            "arrival_seq bigint, email varchar, phone varchar, identifiers json)"
        )
        con.executemany("insert into staging.odp_event_records values (?, ?, ?, ?, ?, ?)", rows)
        con.execute("set variable incremental_after = -1::bigint")
        con.execute("set variable incremental_through = 9223372036854775807::bigint")
        duckdb_rows = sorted(con.execute(model.sql).fetchall(), key=repr)
    finally:
        con.close()
    view = view_name("staging", "odp_event_records")
    spark.createDataFrame(
        rows,
        "event_id string, order_id string, arrival_seq bigint, email string, phone string, "
        "identifiers string",
    ).createOrReplaceTempView(view)
    variables = {"incremental_after": -1, "incremental_through": 2**63 - 1}
    try:
        result = spark.sql(to_spark(model.sql, {}, variables)).collect()
    finally:
        spark.catalog.dropTempView(view)  # the session's other tests register their own
    spark_rows = sorted((tuple(row) for row in result), key=repr)
    assert len(duckdb_rows) == 28
    assert spark_rows == duckdb_rows


def test_without_java_the_spark_engine_says_how_to_install_it(tmp_path, monkeypatch):
    from orders_pipeline.engines.spark.session import JavaMissing, check_java

    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no java on it
    with pytest.raises(JavaMissing, match="openjdk-17-jre-headless"):
        check_java()
