"""Engines other than DuckDB that run the SQL models (issue 17)."""
