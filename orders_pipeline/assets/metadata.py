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


def markdown_preview(columns: list[str], rows: list[tuple[object, ...]]) -> str:
    """Rows of a table under its ``columns`` as a markdown table (values shortened to 40
    characters)."""

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
    preview, columns = _preview_and_columns(con, qualified_name, is_view)
    return {
        **essentials,
        "preview": dg.MetadataValue.md(preview),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            # descriptions from the column dictionary (orders_pipeline/dictionary.py)
            dg.TableSchema(
                columns=[
                    dg.TableColumn(name, kind, description=_description(schema, table, name))
                    for name, kind in columns
                ]
            )
        ),
    }


def _preview_and_columns(
    con: duckdb.DuckDBPyConnection, qualified_name: str, is_view: bool
) -> tuple[str, list[tuple[str, str]]]:
    """The preview's markdown and each column's name and type, as DuckDB binds a query of
    the table (the names and types ``duckdb_columns()`` gives). One statement reads the
    first rows and their description (a relation's bind and then its ``limit`` cost 2.5
    times as much, for every asset of every run); a view's query is only bound: its first
    rows cost its whole query."""
    if is_view:
        relation = con.sql(f"select * from {qualified_name}")  # noqa: S608
        return PREVIEW_OF_VIEW, [
            (n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True)
        ]
    shown = values_may_be_shown(con)
    # hash mode: no row, the names and types only
    result = con.execute(
        f"select * from {qualified_name} limit {PREVIEW_ROWS}"  # noqa: S608
        if shown
        else f"select * from {qualified_name} limit 0"  # noqa: S608
    )
    columns = [(column[0], str(column[1])) for column in result.description or []]
    rows = result.fetchall()
    preview = markdown_preview([n for n, _ in columns], rows) if shown else PREVIEW_WITHHELD
    return preview, columns


def _description(schema: str, table: str, name: str) -> str | None:
    entry = column(schema, table, name)
    return entry.description if entry else None
