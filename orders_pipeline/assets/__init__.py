"""Dagster assets, grouped by layer: landing, validation, identity and the SQL models."""
