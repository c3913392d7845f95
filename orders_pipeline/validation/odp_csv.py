"""Validating landed rows of ODP historical CSV imports (SEMANTICS §1.2, §2).

One record is one row = one line item of one order event. Every value arrives as text (see
``landing.csv_records``); an empty cell is a value not sent. The columns:

- event columns: ``event_type`` (must be ``order``, case aside), ``action``, ``ts`` (epoch
  seconds or ISO-8601 with an offset, as for ODP events; empty = the file's ingestion time),
  ``order_id``;
- line-item columns: ``product_id``, ``sku``, ``price``, ``quantity``, ``discount``,
  ``subtotal``. A row with none of them is an order-level row (a refund of an amount, say):
  it belongs to the event but is no line item;
- order-level columns, prefixed ``order_``: amounts ``order_subtotal``, ``order_total``,
  ``order_tax``, ``order_shipping``, ``order_discount``; text ``order_currency``,
  ``order_coupon_code``, ``order_bill_address``, ``order_ship_address``, ``order_first_name``,
  ``order_last_name``, ``order_name``, ``order_email``, ``order_phone``. The unprefixed names
  ``total``, ``tax``, ``shipping``, ``currency``, ``coupon_code``, ``bill_address``,
  ``ship_address``, ``first_name``, ``last_name``, ``name`` mean the same (the ``order_`` one
  wins when a row has both): they are never identifiers. Any other ``order_<key>`` column is
  a custom order field, kept as JSON under ``<key>``;
- ``item_<key>`` columns are custom item fields: dropped and counted, as ODP ignores them;
- every other column is an identifier (``email``, ``phone``, ``customer_id``, ``vuid``, an
  ecommerce platform id ...), and so are ``order_email`` and ``order_phone`` (§1.1, §5).

Rows sharing (``order_id``, ``action``, ``ts``) within one file form one order event (the
``stg_odp_csv_*`` models). Because an event is judged whole, some rules look at all its rows:
it needs one identifier and (purchase, return, refund) one amount among its rows; its rows
must not disagree on an order-level value (an empty cell is no disagreement); and when any of
its rows is quarantined, the others are quarantined with it (``incomplete_event``), so that
the corrected file, landed again, yields the whole event once, never a part of it twice.
"""

from __future__ import annotations

from collections.abc import Callable

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.csv_rows import (
    CsvRowSchema,
    decimal_text_fits,
    decimal_text_message,
)
from orders_pipeline.validation.json_fields import ts_expression, visible
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.rules import row_check

SOURCE = "odp_csv"
RAW_TABLE = "raw.odp_csv"
EVENT_COLUMNS = ("event_type", "action", "ts", "order_id")
ITEM_TEXT_COLUMNS = ("product_id", "sku")
ITEM_MONEY_COLUMNS = ("price", "discount", "subtotal")
ITEM_COLUMNS = (*ITEM_TEXT_COLUMNS, *ITEM_MONEY_COLUMNS, "quantity")
# order-level field -> the unprefixed column that means the same (None: only ``order_<f>``;
# ``subtotal`` and ``discount`` unprefixed are the line item's)
ORDER_MONEY = {
    "subtotal": None, "total": "total", "tax": "tax", "shipping": "shipping", "discount": None,
}  # fmt: skip
ORDER_TEXT = {
    "currency": "currency", "coupon_code": "coupon_code", "bill_address": "bill_address",
    "ship_address": "ship_address", "first_name": "first_name", "last_name": "last_name",
    "name": "name", "email": None, "phone": None,
}  # fmt: skip
# Columns that are never identifiers.
RESERVED = (
    *EVENT_COLUMNS,
    *ITEM_COLUMNS,
    *(f"order_{f}" for f in (*ORDER_MONEY, *ORDER_TEXT)),
    *(alias for alias in (*ORDER_MONEY.values(), *ORDER_TEXT.values()) if alias),
)
AMOUNT_ACTIONS = ("purchase", "return", "refund")


def _quoted(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _cell(column: str) -> str:
    """The cell of a (code-named) column: NULL when absent or empty (spaces trimmed)."""
    return f"nullif(trim(doc ->> '{column}'), '')"


def _order_cell(field: str, alias: str | None) -> str:
    prefixed = _cell(f"order_{field}")
    return f"coalesce({prefixed}, {_cell(alias)})" if alias else prefixed


def candidates_sql(raw_table: str) -> str:
    """One row per raw record of the new files, every column as text (and the amounts'
    exact DECIMAL value as text, to compare rows of one event). The caller registers
    ``batch_files`` (file_seq)."""
    reserved = _quoted(RESERVED)
    item_texts = ",".join(f"{_cell(c)} as {c}" for c in ITEM_TEXT_COLUMNS)
    item_money = ",".join(f"{_cell(c)} as {c}_text" for c in (*ITEM_MONEY_COLUMNS, "quantity"))
    order_money = ",".join(
        f"{_order_cell(f, alias)} as order_{f}_text, "
        f"try_cast({_order_cell(f, alias)} as decimal(18, 4))::varchar as order_{f}_value"
        for f, alias in ORDER_MONEY.items()
    )
    order_texts = ",".join(
        f"{_order_cell(f, alias)} as order_{f}" for f, alias in ORDER_TEXT.items()
    )
    return f"""
    with records as (
        select r.*
        from {raw_table} as r
        join batch_files as b using (file_seq)
    ),
    cells as (
        select r.*,
            case when r.doc is not null then
                map_entries(cast(r.doc as map(varchar, varchar))) end as entries
        from records as r
    ),
    fields as (
        select
            arrival_seq as row_id, file_seq, file, record_no, loaded_at, decode_error,
            csv_error, doc,
            lower({_cell("event_type")}) as event_type,
            lower({_cell("action")}) as action,
            {_cell("order_id")} as order_id,
            {_cell("ts")} as ts_text,
            {item_texts},
            {item_money},
            {order_money},
            {order_texts},
            -- identifiers: every column that is not reserved, nor order_ or item_ prefixed
            to_json(map_from_entries(list_filter(entries,
                lambda e: e.key not in ({reserved}) and not starts_with(e.key, 'order_')
                          and not starts_with(e.key, 'item_')
                          and coalesce(trim(e.value), '') <> ''))) as identifiers,
            len(list_filter(entries,
                lambda e: (e.key = 'order_email' or e.key = 'order_phone'
                           or (e.key not in ({reserved}) and not starts_with(e.key, 'order_')
                               and not starts_with(e.key, 'item_')))
                          and {visible("e.value")})) as usable_identifiers,
            -- part of the dedupe key: its definition must not change (see odp_events)
            len(list_filter(entries, lambda e: coalesce(trim(e.value), '') <> ''))
                as sent_cells,
            -- custom order fields: order_<key> columns without a meaning of their own (§1.1)
            to_json(map_from_entries(list_transform(
                list_filter(entries, lambda e: starts_with(e.key, 'order_')
                                               and e.key not in ({reserved})
                                               and coalesce(trim(e.value), '') <> ''),
                lambda e: {{'key': e.key[7:], 'value': e.value}}))) as custom,
            len(list_filter(entries, lambda e: starts_with(e.key, 'item_')
                                               and coalesce(trim(e.value), '') <> ''))
                as dropped_fields
        from cells
    )
    select *,
        case when ts_text is null then 'ABSENT' else 'VARCHAR' end as ts_kind,
        {ts_expression("case when ts_text is null then 'ABSENT' else 'VARCHAR' end", "ts_text")}
            as ts
    from fields
    """


# Order-level values all rows of one event must agree on (empty cells aside).
AGREED_COLUMNS = (
    *(f"order_{f}_value" for f in ORDER_MONEY),
    *(f"order_{f}" for f in ORDER_TEXT),
    "custom",
)
EVENT_KEY = ("file_seq", "order_id", "action", "ts")

Rule = tuple[str, str, Callable[[], pl.Expr]]


def _row_rules() -> list[Rule]:
    """Rules about one row on its own: (reason, message, expression true for good rows)."""
    col = pl.col
    readable = col("csv_error").is_null() & col("decode_error").is_null()
    rules: list[Rule] = [
        ("invalid_utf8", "the row's bytes are not valid UTF-8",
         lambda: col("decode_error").is_null()),
        ("unsupported_event_type", "event_type must be 'order'",
         lambda: ~readable | (col("event_type") == "order")),
        ("missing_action", "action must be a non-empty value",
         lambda: ~readable | col("action").is_not_null()),
        ("missing_order_id", "order_id must be a non-empty value",
         lambda: ~readable | col("order_id").is_not_null()),
        ("invalid_ts",
         "ts must be epoch seconds (1970-2100) or ISO-8601 with a UTC offset",
         lambda: col("ts_text").is_null() | col("ts").is_not_null()),
        ("invalid_currency", "order_currency must be a 3-letter ISO 4217 code",
         lambda: col("order_currency").is_null()
         | col("order_currency").str.contains(r"^[A-Za-z]{3}$")),
        ("invalid_quantity",
         "quantity must be a plain decimal number ≥ 0 with at most 4 decimals",
         lambda: col("quantity_text").is_null()
         | (decimal_text_fits(col("quantity_text"))
            & ~col("quantity_text").str.contains(r"^-.*[1-9]"))),
    ]  # fmt: skip
    for field in (*ITEM_MONEY_COLUMNS, *(f"order_{f}" for f in ORDER_MONEY)):
        rules.append((
            "invalid_amount", decimal_text_message(field),
            lambda field=field: col(f"{field}_text").is_null()
            | decimal_text_fits(col(f"{field}_text")),
        ))  # fmt: skip
    return rules


def _event_rules(row_ok: pl.Expr) -> list[Rule]:
    """Rules about the event a row belongs to (its rows in the same file, §1.2)."""
    col = pl.col
    key = list(EVENT_KEY)
    readable = col("csv_error").is_null() & col("decode_error").is_null()
    has_amount = pl.any_horizontal(
        col("price_text").is_not_null(),
        col("subtotal_text").is_not_null(),
        col("order_subtotal_text").is_not_null(),
        col("order_total_text").is_not_null(),
    )
    rules: list[Rule] = [
        ("missing_identifier",
         "ODP requires at least one identifier (email, phone, customer_id or another "
         "identifier column) on some row of the order event",
         lambda: ~readable | (col("usable_identifiers").sum().over(key) > 0)),
        ("missing_amount",
         "a purchase, return or refund needs a price, subtotal, order_subtotal or "
         "order_total on some row of the order event",
         lambda: ~readable | ~col("action").is_in(AMOUNT_ACTIONS)
         | has_amount.any().over(key)),
    ]  # fmt: skip
    for column in AGREED_COLUMNS:
        shown = column.removesuffix("_value")
        rules.append((
            "conflicting_order_values",
            f"rows of one order event (same order_id, action and ts in this file) send "
            f"different {shown} values; send the same value on each row or leave it empty",
            lambda column=column: ~readable
            | (col(column).drop_nulls().n_unique().over(key) <= 1),
        ))  # fmt: skip
    rules.append((
        "incomplete_event",
        "another row of this order event (same order_id, action and ts in this file) is "
        "quarantined, so the event is held back whole; fix that row and land the file again",
        lambda: ~row_ok | row_ok.all().over(key),
    ))  # fmt: skip
    return rules


def _all_hold(rules: list[Rule]) -> pl.Expr:
    return pl.all_horizontal(*(expression().fill_null(False) for _, _, expression in rules))


def _schema() -> pa.DataFrameSchema:
    rows = _row_rules()
    readable = pl.col("csv_error").is_null() & pl.col("decode_error").is_null()
    row_ok = readable & _all_hold(rows)
    rules = [*rows, *_event_rules(row_ok)]
    return CsvRowSchema(
        name="odp_csv_row",
        checks=[row_check(reason, message, expression) for reason, message, expression in rules],
    )


ROW_SCHEMA = _schema()


STAGING_DDL = """
create table if not exists staging.odp_csv_records (
    arrival_seq        bigint not null,
    file_seq           bigint not null,
    file               varchar not null,
    record_no          bigint not null,
    event_id           varchar not null,   -- md5 of the row's JSON (the row, not its event)
    dedupe_key         varchar not null,
    action             varchar not null,
    ts                 timestamptz not null,
    ts_inferred        boolean not null,   -- no ts was sent: the file's ingestion time
    order_id           varchar not null,
    is_item            boolean not null,   -- false: an order-level row of the event
    product_id         varchar,
    sku                varchar,
    price              decimal(18, 4),
    quantity           decimal(18, 4),
    item_discount      decimal(18, 4),
    item_subtotal      decimal(18, 4),
    currency           varchar,
    order_subtotal     decimal(18, 4),
    order_total        decimal(18, 4),
    order_tax          decimal(18, 4),
    order_shipping     decimal(18, 4),
    order_discount     decimal(18, 4),
    coupon_code        varchar,
    bill_address       varchar,
    ship_address       varchar,
    first_name         varchar,
    last_name          varchar,
    name               varchar,
    email              varchar,            -- order_email as sent
    phone              varchar,            -- order_phone as sent
    identifiers        json,               -- identifier columns as sent (non-empty ones)
    custom             json,               -- order_<key> custom fields
    dropped_fields     integer not null,   -- item_<key> cells: ODP ignores them (§1.1)
    loaded_at          timestamptz not null
);
"""


def _decimal(text: str) -> str:
    return f"cast({text} as decimal(18, 4))"


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates."""
    order_money = ", ".join(f"{_decimal(f'c.order_{f}_text')} as order_{f}" for f in ORDER_MONEY)
    order_texts = ", ".join(f"c.order_{f} as {f}" for f in ORDER_TEXT if f != "currency")
    item_cells = " or ".join(
        [*(f"c.{t} is not null" for t in ITEM_TEXT_COLUMNS),
         *(f"c.{m}_text is not null" for m in (*ITEM_MONEY_COLUMNS, "quantity"))]
    )  # fmt: skip
    return f"""
    select
        c.row_id as arrival_seq, c.file_seq, c.file, c.record_no, o.event_id, k.dedupe_key,
        c.action, coalesce(c.ts, c.loaded_at) as ts, c.ts is null as ts_inferred, c.order_id,
        ({item_cells}) as is_item,
        c.product_id, c.sku,
        {_decimal("c.price_text")} as price,
        {_decimal("c.quantity_text")} as quantity,
        {_decimal("c.discount_text")} as item_discount,
        {_decimal("c.subtotal_text")} as item_subtotal,
        upper(c.order_currency) as currency,
        {order_money},
        {order_texts},
        c.identifiers, c.custom, c.dropped_fields, c.loaded_at
    from odp_csv_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table="odp_csv_candidates",
    candidates_sql=candidates_sql(RAW_TABLE),
    event_schema=ROW_SCHEMA,
    staging_table="staging.odp_csv_records",
    accepted_sql=accepted_records_sql,
    dedupe_key_sql="""md5(concat_ws(chr(31), c.event_type, c.action, c.order_id, c.ts_text,
        c.product_id, c.sku, c.price_text, c.quantity_text, c.subtotal_text,
        c.order_subtotal_text, c.order_total_text, c.sent_cells))""",
    raw_document_sql="r.doc",
    unvalidated_columns=("doc", "identifiers"),
)
