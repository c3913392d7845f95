"""Helpers shared by the hostile-input tests."""

from __future__ import annotations

import re

from orders_pipeline.config import SQL_DIR
from orders_pipeline.models import discover_models
from orders_pipeline.sources import SOURCES
from orders_pipeline.warehouse import LANDING_DDL
from tests.conftest import Warehouse


def pipeline_tables() -> set[str]:
    """Every table the pipeline writes: the landing and source DDL's and one per model under
    sql/."""
    ddl = LANDING_DDL + "".join(source.ddl() for source in SOURCES)
    tables = set(re.findall(r"create table if not exists (\w+\.\w+)", ddl))
    tables |= {model.qualified_name for model in discover_models(SQL_DIR)}
    return tables


def existing_tables(wh: Warehouse) -> set[str]:
    """``schema.table`` of every table and view in the warehouse."""
    rows = wh.query("select table_schema, table_name from information_schema.tables")
    return {f"{schema}.{name}" for schema, name in rows}
