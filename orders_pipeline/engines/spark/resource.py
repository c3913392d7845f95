"""The Spark engine as a Dagster resource (issue 17): a deployment whose model layer runs on
Spark gives its model asset this resource instead of running the SQL model assets.

```python
defs = dg.Definitions(
    assets=[spark_model_layer],
    resources={"spark": SparkEngine(master="yarn"), "warehouse": OrdersWarehouse(...)},
)
```
Not wired into ``definitions.py``: the default deployment models on DuckDB.
"""

from dataclasses import replace
from pathlib import Path

import dagster as dg

from orders_pipeline.assets.steps import metadata_on_materialization
from orders_pipeline.config import Settings
from orders_pipeline.engines.spark.runner import SparkRun, run_models


class SparkEngine(dg.ConfigurableResource):
    """Where the models run on Spark: a master URL (``local[*]``, ``yarn``,
    ``spark://host:7077``) or a Spark Connect URL (``sc://host:15002``, wins over the
    master), and the folder the Parquet tables go to (seen at the same path by the driver
    and every executor). Empty
    fields keep the ``ORDERS_SPARK_*`` settings."""

    master: str = ""
    remote: str = ""
    output: str = ""

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` with this resource's Spark fields."""
        return replace(
            settings,
            spark_master=self.master or settings.spark_master,
            spark_remote=self.remote or settings.spark_remote,
            spark_output=Path(self.output) if self.output else settings.spark_output,
        )

    def run_models(self, settings: Settings) -> SparkRun:
        """Every model of ``sql/`` on Spark over the validated records of the warehouse."""
        return run_models(self.settings_for(settings))


@dg.asset(
    key=dg.AssetKey(["spark", "model_layer"]),
    group_name="spark",
    kinds={"spark", "parquet"},
    description="Every SQL model (staging → core → reporting) and identity resolution, run on "
    "Spark into Parquet tables, one folder per schema/table.",
)
def spark_model_layer(
    context: dg.AssetExecutionContext, spark: SparkEngine
) -> dg.MaterializeResult:
    run = spark.run_models(Settings.from_env())
    context.log.info("Spark built %d tables into %s", len(run.rows), run.output)
    result = dg.MaterializeResult(
        metadata={
            "output": dg.MetadataValue.path(str(run.output)),
            "tables": dg.MetadataValue.json(run.rows),
            "identity_rounds": dg.MetadataValue.int(run.identity_rounds),
        }
    )
    return metadata_on_materialization(context, result)
