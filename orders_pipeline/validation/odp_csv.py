"""Validating landed rows of ODP historical CSV imports (docs/semantics.md §1.2, §2).

The layout is the vendor's own (ODP "Import data using CSV"; Zaius dev-docs "CSV Upload" and
its ``zaius_orders_example.csv``): one record is one row = one line item of one order
event; there is no ``event_type`` column (ODP names the object by the file name prefix
``zaius_orders``). Every value arrives as text (see ``landing.csv_records``); an empty cell
is a value not sent. Each row is read once, by the declaration ``RECORD_FIELDS``
(``validation/landed.py``). The columns:

- event columns: ``action``, ``order_id``, ``ts`` (every form the ODP CSV import documents,
  see :func:`csv_ts_expression`; empty = the file's ingestion time);
- order-level (Order Summary) columns, unprefixed: amounts ``total``, ``subtotal``,
  ``discount``, ``tax``, ``shipping``; text ``currency``, ``coupon_code``, ``bill_address``,
  ``ship_address``, ``first_name``, ``last_name``, ``name``;
- line-item columns, prefixed ``item_``: ``item_product_id``, ``item_sku``, ``item_price``,
  ``item_quantity``, ``item_discount``, ``item_subtotal``. A row with none of them is an
  order-level row (a refund of an amount, say): it belongs to the event but is no line item.
  Any other ``item_<key>`` column is a custom event field: dropped and counted, as ODP
  ignores custom item fields (§1.1);
- identifier columns: ``email``, ``phone``, ``customer_id``, ``vuid`` (and the aliases
  ``email_address``, ``phone_number``, ``mobile``), and any ``<platform>_customer_id`` (an
  ecommerce platform's id). ``email`` and ``phone`` are also the order's contacts;
- any other unprefixed column is a custom order field, kept as JSON under its name.
  ``event_type``, if a file has it, must be ``order``.
Amounts may be negative on returns and refunds: −10 and 10 mean the same (§3).

Rows sharing (``order_id``, ``action``, ``ts``) form one order event, in one file or
across several (an export cut into parts): the ``int_odp_csv_*`` models group them. Because
an event is judged whole, some rules look at all its rows, those of this batch and those
already staged from earlier files: it needs one identifier and (purchase, return, refund)
one amount among its rows; its rows must not disagree on an order-level value (an empty cell
is no disagreement, so a value repeated on every row counts once); and when any of its rows
in this batch is quarantined, the batch's other rows of it are quarantined with it
(``incomplete_event``), so that the corrected file, landed again, adds its rows once.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.csv_rows import CsvRowSchema, decimal_text_fits
from orders_pipeline.validation.json_fields import ISO_WITH_OFFSET, MAX_EPOCH, visible
from orders_pipeline.validation.landed import (
    CsvColumn,
    CsvRecordFields,
    Rule,
    landed_record_ctes,
)
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.rules import row_check

SOURCE = "odp_csv"
RAW_TABLE = "raw.odp_csv"
STAGING_TABLE = "staging.odp_csv_records"
EVENT_COLUMNS = ("action", "order_id", "ts", "event_type")
# item_<field> columns -> the candidate column (text, or ``<name>_text`` for numbers)
ITEM_TEXT_COLUMNS = {"item_product_id": "product_id", "item_sku": "sku"}
ITEM_NUMBER_COLUMNS = {
    "item_price": "price", "item_quantity": "quantity", "item_discount": "discount",
    "item_subtotal": "subtotal",
}  # fmt: skip
ITEM_MONEY = ("price", "discount", "subtotal")
ORDER_MONEY = ("subtotal", "total", "tax", "shipping", "discount")
ORDER_TEXT = (
    "currency", "coupon_code", "bill_address", "ship_address", "first_name", "last_name", "name",
)  # fmt: skip
IDENTIFIER_COLUMNS = (
    "email", "phone", "customer_id", "vuid", "email_address", "phone_number", "mobile",
)  # fmt: skip
# Columns that are neither identifiers nor custom order fields.
RESERVED = (*EVENT_COLUMNS, *ORDER_MONEY, *ORDER_TEXT)
AMOUNT_ACTIONS = ("purchase", "return", "refund")

# The ts forms of the ODP CSV import besides epoch seconds and ISO-8601 with an offset:
# ISO-8601 without a zone (a date alone, or with a time: "T" or a space), and the US forms
# MM/DD/YY or MM/DD/YYYY with HH:MM or HH:MM:SS. A value without a zone is UTC.
ISO_WITHOUT_ZONE = r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
US_FORMS = {
    r"\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}": "%m/%d/%y %H:%M",
    r"\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}:\d{2}": "%m/%d/%y %H:%M:%S",
    r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}": "%m/%d/%Y %H:%M",
    r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}": "%m/%d/%Y %H:%M:%S",
}
TS_FORMS_MESSAGE = (
    "ts must be epoch seconds, ISO-8601 (with an offset, or without a zone: UTC), "
    "YYYY-MM-DD, YYYY-MM-DD HH:MM:SS, or MM/DD/YY or MM/DD/YYYY with HH:MM or HH:MM:SS, "
    "between 1970 and 2100"
)


# Order-level values all rows of one event must agree on (empty cells aside): the candidate
# column -> the staging column holding the value of rows accepted earlier.
_STAGED_COLUMNS = {
    **{f"order_{f}_value": f"s.order_{f}" for f in ORDER_MONEY},
    "order_currency": "s.currency",
    **{f"order_{f}": f"s.{f}" for f in ORDER_TEXT if f != "currency"},
    "custom": "s.custom",
}
AGREED_COLUMNS = tuple(_STAGED_COLUMNS)
EVENT_KEY = ("order_id", "action", "event_ts")


def _quoted(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


# The columns a row is read for (one json_transform per row: validation/landed.py); the
# kinds bring the amounts' rule (invalid_amount). Other columns are read from the row's map.
RECORD_FIELDS = CsvRecordFields(
    columns=(
        CsvColumn("event_type", kind="lower"),
        CsvColumn("action", kind="lower"),
        CsvColumn("order_id"),
        CsvColumn("ts", "ts_text"),
        *(CsvColumn(header, name) for header, name in ITEM_TEXT_COLUMNS.items()),
        *(CsvColumn(header, name, "money" if name in ITEM_MONEY else "number")
          for header, name in ITEM_NUMBER_COLUMNS.items()),
        *(CsvColumn(f, f"order_{f}", "money") for f in ORDER_MONEY),
        *(CsvColumn(f, f"order_{f}") for f in ORDER_TEXT),
    )
)  # fmt: skip


def csv_ts_expression(text: str) -> str:
    """A UTC timestamp from the text of a CSV ``ts`` (trimmed, not empty), in any form the
    ODP CSV import documents, within 1970-2100; else NULL."""
    us_forms = " ".join(
        f"when regexp_full_match({text}, '{pattern}') then try_strptime({text}, '{form}')"
        for pattern, form in US_FORMS.items()
    )
    parsed = f"""case
        when regexp_full_match({text}, '\\d{{1,10}}(\\.\\d+)?')
            then case when try_cast({text} as double) between 0 and {MAX_EPOCH}
                      then to_timestamp(try_cast({text} as double)) end
        when regexp_matches({text}, '{ISO_WITH_OFFSET}')
            then try_cast(upper({text}) as timestamptz)
        when regexp_full_match({text}, '{ISO_WITHOUT_ZONE}')
            then timezone('UTC', try_cast(upper({text}) as timestamp))
        else timezone('UTC', case {us_forms} end)
        end"""
    return f"""case when {parsed} between to_timestamp(0) and to_timestamp({MAX_EPOCH})
        then {parsed} end"""


def _is_identifier(key: str) -> str:
    return f"({key} in ({_quoted(IDENTIFIER_COLUMNS)}) or ends_with({key}, '_customer_id'))"


def candidates_sql(raw_table: str) -> str:
    """One row per raw record of the new files, every column as text (and the order-level
    amounts' exact DECIMAL value as text, to compare the rows of one event), with what the
    rows of the same event already staged from earlier files say. The caller registers
    ``batch_files`` (file_seq)."""
    f = RECORD_FIELDS
    reserved = _quoted(RESERVED)
    item_columns = _quoted([*ITEM_TEXT_COLUMNS, *ITEM_NUMBER_COLUMNS])
    order_values = ",".join(
        f"try_cast(order_{m}_text as decimal(18, 4))::varchar as order_{m}_value"
        for m in ORDER_MONEY
    )
    staged_values = ",".join(
        f"first({column}::varchar) filter (where {column} is not null) as staged_{agreed}"
        for agreed, column in _STAGED_COLUMNS.items()
    )
    return f"""
    with {landed_record_ctes(raw_table, f)},
    cells as (
        select landed.*, {f.entries()} as entries
        from landed
    ),
    cells_read as (
        select
            row_id, file_seq, file, record_no, loaded_at, decode_error, csv_error, doc,
            {f.cells()},
            coalesce({f.cell("email")}, {f.cell("email_address")}) as contact_email,
            coalesce({f.cell("phone")}, {f.cell("phone_number")}, {f.cell("mobile")})
                as contact_phone,
            -- identifiers: the identifier columns with a visible value
            to_json(map_from_entries(list_filter(entries,
                lambda e: {_is_identifier("e.key")} and {visible("e.value")})))
                as identifiers,
            len(list_filter(entries,
                lambda e: {_is_identifier("e.key")} and {visible("e.value")}))
                as usable_identifiers,
            -- part of the dedupe key: its definition must not change (see odp_events)
            len(list_filter(entries, lambda e: coalesce(trim(e.value), '') <> ''))
                as sent_cells,
            -- custom order fields: unprefixed columns without a meaning of their own (§1.2),
            -- keys sorted so that rows of two files with other column orders compare equal
            nullif(to_json(map_from_entries(list_sort(list_filter(entries,
                lambda e: e.key not in ({reserved}) and not starts_with(e.key, 'item_')
                          and not {_is_identifier("e.key")}
                          and coalesce(trim(e.value), '') <> ''))))::varchar, '{{}}')
                as custom,
            len(list_filter(entries, lambda e: starts_with(e.key, 'item_')
                                               and e.key not in ({item_columns})
                                               and coalesce(trim(e.value), '') <> ''))
                as dropped_fields
        from cells
    ),
    fields as (
        select cells_read.*, {order_values}
        from cells_read
    ),
    timed as (
        select fields.*,
            {csv_ts_expression("ts_text")} as ts
        from fields
    ),
    keyed as (
        -- the event a row belongs to: (order_id, action, ts); no ts = the ingestion time
        select timed.*,
            case when ts_text is null then loaded_at else ts end as event_ts
        from timed
    ),
    staged as (
        -- what the rows of the same events accepted from earlier files say
        select
            s.order_id, s.action, s.ts as event_ts,
            bool_or(s.identifiers::varchar <> '{{}}') as staged_identifier,
            bool_or(s.price is not null or s.item_subtotal is not null
                    or s.order_subtotal is not null or s.order_total is not null)
                as staged_amount,
            {staged_values}
        from {STAGING_TABLE} as s
        join (select distinct order_id, action, event_ts from keyed) as k
            on k.order_id = s.order_id and k.action = s.action and k.event_ts = s.ts
        group by s.order_id, s.action, s.ts
    )
    select keyed.*,
        coalesce(staged.staged_identifier, false) as staged_identifier,
        coalesce(staged.staged_amount, false) as staged_amount,
        {", ".join(f"staged.staged_{agreed}" for agreed in _STAGED_COLUMNS)}
    from keyed
    left join staged
        on staged.order_id = keyed.order_id and staged.action = keyed.action
        and staged.event_ts = keyed.event_ts
    """


def _row_rules() -> list[Rule]:
    """Rules about one row on its own: (reason, message, expression true for good rows)."""
    col = pl.col
    readable = col("csv_error").is_null() & col("decode_error").is_null()
    rules: list[Rule] = [
        ("invalid_utf8", "the row's bytes are not valid UTF-8",
         lambda: col("decode_error").is_null()),
        ("unsupported_event_type", "event_type, when a file has it, must be 'order'",
         lambda: ~readable | col("event_type").is_null() | (col("event_type") == "order")),
        ("missing_action", "action must be a non-empty value",
         lambda: ~readable | col("action").is_not_null()),
        ("missing_order_id", "order_id must be a non-empty value",
         lambda: ~readable | col("order_id").is_not_null()),
        ("invalid_ts", TS_FORMS_MESSAGE,
         lambda: col("ts_text").is_null() | col("ts").is_not_null()),
        ("invalid_currency", "currency must be a 3-letter ISO 4217 code",
         lambda: col("order_currency").is_null()
         | col("order_currency").str.contains(r"^[A-Za-z]{3}$")),
        ("invalid_quantity",
         "item_quantity must be a plain decimal number ≥ 0 with at most 4 decimals",
         lambda: col("quantity_text").is_null()
         | (decimal_text_fits(col("quantity_text"))
            & ~col("quantity_text").str.contains(r"^-.*[1-9]"))),
    ]  # fmt: skip
    return [*rules, *RECORD_FIELDS.rules()]


def _event_rules(row_ok: pl.Expr) -> list[Rule]:
    """Rules about the event a row belongs to: its rows in this batch, and what its rows
    staged from earlier files say (§1.2)."""
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
         "ODP requires at least one identifier (email, phone, customer_id, vuid or a "
         "<platform>_customer_id column) on some row of the order event",
         lambda: ~readable | (col("usable_identifiers").sum().over(key) > 0)
         | col("staged_identifier")),
        ("missing_amount",
         "a purchase, return or refund needs an item_price, item_subtotal, subtotal or "
         "total on some row of the order event",
         lambda: ~readable | ~col("action").is_in(AMOUNT_ACTIONS)
         | has_amount.any().over(key) | col("staged_amount")),
    ]  # fmt: skip
    for column in AGREED_COLUMNS:
        shown = column.removesuffix("_value").removeprefix("order_")
        value = col(column).str.to_uppercase() if column == "order_currency" else col(column)
        staged = col(f"staged_{column}")
        rules.append((
            "conflicting_order_values",
            f"rows of one order event (same order_id, action and ts, in this file or an "
            f"earlier one) send different {shown} values; send the same value on each row "
            f"or leave it empty",
            lambda value=value, staged=staged: ~readable
            | ((value.drop_nulls().n_unique().over(key) <= 1)
               & (value.is_null() | staged.is_null() | (value == staged))),
        ))  # fmt: skip
    rules.append((
        "incomplete_event",
        "another row of this order event (same order_id, action and ts) is quarantined, so "
        "the event's rows are held back together; fix that row and land the file again",
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
    product_id         varchar,            -- item_product_id
    sku                varchar,            -- item_sku
    price              decimal(18, 4),     -- item_price
    quantity           decimal(18, 4),     -- item_quantity
    item_discount      decimal(18, 4),
    item_subtotal      decimal(18, 4),
    currency           varchar,
    order_subtotal     decimal(18, 4),     -- the order-level (unprefixed) amounts
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
    email              varchar,            -- the email column as sent (the order's contact)
    phone              varchar,            -- the phone column as sent
    identifiers        json,               -- identifier columns with a visible value
    custom             json,               -- custom order fields (unprefixed columns)
    dropped_fields     integer not null,   -- item_<key> custom cells: ODP ignores them (§1.1)
    loaded_at          timestamptz not null
);
"""


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates."""
    f = RECORD_FIELDS
    order_money = ", ".join(f"{f.decimal(m)} as order_{m}" for m in ORDER_MONEY)
    order_texts = ", ".join(f"c.order_{t} as {t}" for t in ORDER_TEXT if t != "currency")
    item_cells = " or ".join(
        [*(f"c.{name} is not null" for name in ITEM_TEXT_COLUMNS.values()),
         *(f"c.{name}_text is not null" for name in ITEM_NUMBER_COLUMNS.values())]
    )  # fmt: skip
    return f"""
    select
        c.row_id as arrival_seq, c.file_seq, c.file, c.record_no, o.event_id, k.dedupe_key,
        c.action, c.event_ts as ts, c.ts is null as ts_inferred, c.order_id,
        ({item_cells}) as is_item,
        c.product_id, c.sku,
        {f.decimal("item_price")} as price,
        {f.decimal("item_quantity")} as quantity,
        {f.decimal("item_discount")} as item_discount,
        {f.decimal("item_subtotal")} as item_subtotal,
        upper(c.order_currency) as currency,
        {order_money},
        {order_texts},
        c.contact_email as email, c.contact_phone as phone,
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
    staging_table=STAGING_TABLE,
    accepted_sql=accepted_records_sql,
    dedupe_key_sql="""md5(concat_ws(chr(31), c.action, c.order_id, c.ts_text, c.product_id,
        c.sku, c.price_text, c.quantity_text, c.subtotal_text, c.order_subtotal_text,
        c.order_total_text, c.sent_cells))""",
    raw_document_sql="r.doc",
    unvalidated_columns=("doc", "identifiers"),
)
