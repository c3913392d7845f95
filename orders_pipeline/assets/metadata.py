"""Asset metadata shared by every asset: row counts, timings and a markdown preview.

Previews (and check samples) show data values, which Dagster stores in its database and
shows in the UI: they are given only in ``ORDERS_PII_MODE=plain``. In hash mode nothing but
counts, timings and column names reaches Dagster (issue 13)."""

from __future__ import annotations

import dagster as dg
import duckdb

from orders_pipeline.dictionary import column
from orders_pipeline.warehouse import count_rows

PREVIEW_ROWS = 5


def markdown_preview(relation: duckdb.DuckDBPyRelation) -> str:
    """The first rows of a table (``relation``: all its rows, unread) as a markdown table
    (values shortened to 40 characters)."""
    columns = relation.columns
    rows = relation.limit(PREVIEW_ROWS).fetchall()

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 40 else text[:39] + "…"

    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


PREVIEW_WITHHELD = "withheld: ORDERS_PII_MODE=hash keeps data values out of Dagster"
# A view's first rows cost its whole query (core.order_events joins the ledger to every
# order's customer: 0.4-0.9 s at 10M line items, in every run), like its row count
PREVIEW_OF_VIEW = "none for a view: its rows are computed when it is read (query it)"


def values_may_be_shown(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether data values may go into Dagster metadata: only on a connection prepared in
    plain PII mode (``warehouse.prepare_session``); in hash mode, or when unknown, not."""
    mode = con.execute("select getvariable('pii_mode')").fetchall()[0][0]
    return mode == "plain"


def table_metadata(
    con: duckdb.DuckDBPyConnection,
    qualified_name: str,
    seconds: float,
    rows: int | None = None,
    is_view: bool = False,
    brief: bool = False,
) -> dict[str, dg.MetadataValue]:
    """Row count (``rows`` when the caller counted them already; none for a view, whose
    count would run its query), run time, a preview (plain PII mode only; none for a view,
    for the same reason) and the column schema, for the UI; ``brief``: the count, time and
    table name only."""
    if not is_view and rows is None:
        rows = count_rows(con, qualified_name)
    counts = {} if is_view else {"dagster/row_count": dg.MetadataValue.int(rows)}
    essentials = {
        **counts,
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "table": dg.MetadataValue.text(qualified_name),
    }
    if brief:
        return essentials
    schema, _, table = qualified_name.partition(".")
    # the columns and their types as DuckDB binds a query of the table, which runs nothing
    # until the preview reads its rows: the names and types duckdb_columns() gives (the same
    # text for each of the 82 tables and views, session 19), at a third of its cost, for
    # every asset of every run
    relation = con.sql(f"select * from {qualified_name}")  # noqa: S608
    columns = zip(relation.columns, relation.types, strict=True)
    return {
        **essentials,
        "preview": dg.MetadataValue.md(_preview(con, relation, is_view)),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            # descriptions from the column dictionary (orders_pipeline/dictionary.py)
            dg.TableSchema(
                columns=[
                    dg.TableColumn(name, str(kind), description=_description(schema, table, name))
                    for name, kind in columns
                ]
            )
        ),
    }


def _preview(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, is_view: bool
) -> str:
    if is_view:
        return PREVIEW_OF_VIEW
    return markdown_preview(relation) if values_may_be_shown(con) else PREVIEW_WITHHELD


def _description(schema: str, table: str, name: str) -> str | None:
    entry = column(schema, table, name)
    return entry.description if entry else None
