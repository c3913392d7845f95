"""The Dagster concurrency pool every warehouse-writing asset belongs to. With the project's
instance settings (``deploy/local/dagster.yaml``, ``deploy/postgres/dagster.yaml``: pool
granularity ``run``, limit 1) runs that write the warehouse are queued one after another
instead of failing on DuckDB's file lock."""

WAREHOUSE_POOL = "duckdb_warehouse"
