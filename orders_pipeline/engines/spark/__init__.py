"""The model layer on Apache Spark (README, "When one machine is not enough").

Landing and validation stay on DuckDB; the validated records are exchanged as Parquet
(``exchange``), every model of ``sql/`` is transpiled from DuckDB's dialect to Spark's
(``transpile``) and run in dependency order (``runner``), identity resolution runs as label
propagation (``identity``), and each table is written as Parquet, one folder per
``schema/table``.
"""
