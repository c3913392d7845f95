"""One Dagster asset per SQL model; dependencies come from the tables each model reads."""

import warnings

import dagster as dg

from orders_pipeline import progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.models import (
    SqlModel,
    run_incremental_model,
    run_model,
    run_model_partitions,
)
from orders_pipeline.partitions import FULL_REFRESH_TAG, range_bounds
from orders_pipeline.resources import OrdersWarehouse

# Single-run backfills are what partitioned DuckDB models want (orders_pipeline.partitions);
# Dagster marks the parameter beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")


def model_asset(
    model: SqlModel,
    known_tables: set[tuple[str, str]],
    partitions: dg.DailyPartitionsDefinition,
) -> dg.AssetsDefinition:
    """The asset that (re)builds ``model``'s table, or the partitions of it a run targets."""
    deps = sorted(ref for ref in model.references if ref in known_tables)
    partitioned = model.partition_column is not None
    # a changed first partition re-derives the partitioned tables whole (issue 11)
    partition_start = f"partition_start={partitions.get_first_partition_key()}"

    @dg.asset(
        key=dg.AssetKey([model.schema, model.name]),
        deps=[dg.AssetKey(list(ref)) for ref in deps],
        group_name=model.schema,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "sql"},
        description=model.description or None,
        metadata={"sql_file": dg.MetadataValue.path(str(model.path))},
        partitions_def=partitions if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
    )
    def _build(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        with warehouse.connect() as con:
            if partitioned:
                first, last = range_bounds(partitions, context.partition_key_range)
                # the targeted days and any the model still owes (run_model_partitions)
                run = run_model_partitions(
                    con, model, first, last, full_refresh=full_refresh, salt=partition_start
                )
            elif model.is_incremental:
                run = run_incremental_model(con, model, full_refresh=full_refresh)
            else:
                run = run_model(con, model)
            # a partition range's materialisation records the rows of its days (issue 16)
            rows = run.range_rows if partitioned else run.rows
            metadata = table_metadata(
                con, model.qualified_name, run.seconds, rows=rows, is_view=model.is_view
            )
        # the progress line says what this build did (models.ModelRun.did), not totals
        progress.report(f"{model.schema}/{model.name}", run.inserted, run.seconds, run.did())
        return dg.MaterializeResult(metadata={**metadata, **run.metadata()})

    return _build


def model_assets(
    models: list[SqlModel],
    python_tables: set[tuple[str, str]],
    partitions: dg.DailyPartitionsDefinition,
) -> list[dg.AssetsDefinition]:
    """Assets for every model; a reference to a table that neither a model nor a Python asset
    builds is an error, so a typo in a model fails at load time, not in the middle of a run."""
    known = {(m.schema, m.name) for m in models} | python_tables
    for model in models:
        unknown = sorted(ref for ref in model.references if ref not in known)
        if unknown:
            names = ", ".join(".".join(ref) for ref in unknown)
            raise ValueError(f"{model.path}: reads {names}, which no asset builds")
    return [model_asset(model, known, partitions) for model in models]
