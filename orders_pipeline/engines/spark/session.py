"""The Spark session the models run in: ``local[*]`` by default, any master or a Spark Connect
URL by setting (``ORDERS_SPARK_MASTER``, ``ORDERS_SPARK_REMOTE``)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from orders_pipeline.config import Settings

# The settings that make Spark compute what DuckDB computes (tests/spark compares them):
SAME_NUMBERS_CONF = {
    # dates of timestamps in UTC, as every DuckDB session (warehouse.prepare_session)
    "spark.sql.session.timeZone": "UTC",
    # DuckDB keeps a product's scale (DECIMAL(38,4) × DECIMAL(18,10) is DECIMAL(38,14));
    # Spark would round it to 6 decimals to make room for integer digits
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    # Parquet timestamps every reader knows (Spark's default, INT96, is deprecated)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

# Spark 4 runs on Java 17 or 21
MIN_JAVA = 17


class JavaMissing(RuntimeError):
    """No usable Java for a local Spark; the message says how to install one."""


def java_major_version() -> int | None:
    """The major version of the ``java`` on PATH (None: no java)."""
    java = shutil.which("java")
    if java is None:
        return None
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    for token in (result.stderr + result.stdout).split('"')[1:2]:
        major = token.split(".")[0]
        return int(major) if major.isdigit() else None
    return None


def check_java() -> None:
    """Raise :class:`JavaMissing` unless Java 17+ is on PATH (a local Spark needs it)."""
    version = java_major_version()
    if version is None or version < MIN_JAVA:
        found = "no java on PATH" if version is None else f"java {version}"
        raise JavaMissing(
            f"the Spark engine needs Java {MIN_JAVA} or later ({found}): on Debian or Ubuntu "
            "`sudo apt-get install openjdk-17-jre-headless`, or set ORDERS_SPARK_REMOTE to a "
            "Spark Connect server"
        )


def spark_session(settings: Settings, extra_conf: dict[str, Any] | None = None) -> Any:
    """A Spark session with the same-numbers settings: through Spark Connect when
    ``settings.spark_remote`` is set, else on ``settings.spark_master``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("orders-pipeline")
    if settings.spark_remote:
        builder = builder.remote(settings.spark_remote)
    else:
        check_java()
        builder = builder.master(settings.spark_master).config(
            "spark.ui.showConsoleProgress", "false"
        )
    for key, value in {**SAME_NUMBERS_CONF, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in SAME_NUMBERS_CONF.items():  # a reused session keeps its own otherwise
        spark.conf.set(key, value)
    return spark
