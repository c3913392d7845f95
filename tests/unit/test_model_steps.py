"""Issue 15: the SQL models run as a few Dagster steps, one per layer folder of ``sql/``,
split only where Dagster needs it (one partitions definition per step, no cycle between
steps); a step checkpoints the warehouse after each model that wrote many rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orders_pipeline.assets.sql_models import CHECKPOINT_AFTER_ROWS, _build_in_order, group_models
from orders_pipeline.models import ModelRun, SqlModel


def model(name: str, *reads: str, partitioned: bool = False) -> SqlModel:
    schema, table = name.split(".")
    return SqlModel(
        path=Path(f"sql/{schema}/{table}.sql"),
        schema=schema,
        name=table,
        sql="select 1",
        references=frozenset(tuple(r.split(".")) for r in reads),
        partition_column="day" if partitioned else None,
    )


def steps(models: list[SqlModel], python: dict[str, frozenset[str]] | None = None):
    groups = group_models(models, python or {}, {})
    return {g.step_name: [m.qualified_name for m in g.models] for g in groups}


def test_each_layer_folder_is_one_step_with_its_models_in_dependency_order():
    models = [
        model("reporting.daily", "intermediate.int_days"),
        model("intermediate.int_days", "staging.stg_b"),
        model("staging.stg_b", "staging.stg_a"),
        model("staging.stg_a", "staging.records"),
    ]
    assert steps(models, {"staging.records": frozenset()}) == {
        "staging__models": ["staging.stg_a", "staging.stg_b"],
        "intermediate__models": ["intermediate.int_days"],
        "reporting__models": ["reporting.daily"],
    }


def test_partitioned_models_of_a_layer_are_a_step_of_their_own():
    models = [
        model("core.ledger", "staging.events", partitioned=True),
        model("core.items", "core.ledger", partitioned=True),
        model("core.products", "staging.events"),
    ]
    assert steps(models) == {
        "core__partitioned": ["core.ledger", "core.items"],
        "core__models": ["core.products"],
    }


def test_a_layer_is_cut_where_a_python_step_reads_it_and_it_reads_that_step():
    # identity (Python) reads core.fanout; core.customers reads identity's table
    models = [
        model("core.fanout", "staging.ids"),
        model("core.customers", "core.identifiers", "core.fanout"),
        model("core.orders", "staging.ids"),
    ]
    assert steps(models, {"core.identifiers": frozenset({"core.fanout"})}) == {
        "core__models": ["core.fanout", "core.orders"],
        "core__models_2": ["core.customers"],
    }


def test_a_step_checkpoints_after_a_model_that_wrote_many_rows_and_not_after_a_few(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    wal = tmp_path / "wh.duckdb.wal"
    con.execute("create schema core")
    writes = {"core.few": 3, "core.many": CHECKPOINT_AFTER_ROWS, "core.rebuilt": 5}

    def build(built: SqlModel) -> ModelRun:
        rows = writes[built.qualified_name]
        con.execute(f"create table {built.qualified_name} as select range as n from range({rows})")
        # core.rebuilt replaced a table of 2,000 rows: deleting them counts as writing
        deleted = 2_000 if built.name == "rebuilt" else 0
        return ModelRun(rows=rows, seconds=0.0, inserted=rows, deleted=deleted)

    logged = {}
    steps = _build_in_order(con, [model(name) for name in writes], [], build)
    for result in steps:  # each model's materialisation comes after its checkpoint, if any
        logged[".".join(result.asset_key.path)] = wal.stat().st_size if wal.exists() else 0
    assert logged["core.few"] > 0  # its rows wait in the log
    assert logged["core.many"] == 0  # the log went into the file, with core.few's rows
    assert logged["core.rebuilt"] == 0
