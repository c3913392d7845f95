"""Validating landed Ometria order snapshots (docs/semantics.md §1.4, §2, §6).

One record is the whole current state of one order: an Ometria ``Order`` (amounts at the top
level) or ``OrderExtended`` (amounts under ``totals.local`` and, in the account's base
currency, ``totals.base``). As for ODP events, DuckDB extracts every field with an explicit
type and JSON kind from the raw text, pandera checks the candidates, and each record ends
accepted (``staging.ometria_order_snapshots`` and ``staging.ometria_order_snapshot_items``),
quarantined with every reason, or counted as an exact duplicate. Turning snapshots into
ledger events is SQL (``sql/intermediate/int_ometria_*.sql``).

Partial records (Ometria's Push API: "send a partial record and only the supplied fields
will be merged into the existing record", e.g. ``{"@type": "order", "id": "123551",
"status": "cancelled", "is_valid": false}``): a record that lacks a field a full Order
requires (``timestamp``, ``currency``, ``grand_total`` / ``totals``) is partial. It is
staged as sent (``is_partial``) and merged field by field into its order's previous state
by ``sql/intermediate/int_ometria_order_states.sql`` (docs/semantics.md §1.4). Its time is its own
``timestamp`` when sent, else its file's ingestion time (``ts_inferred``). A partial record
for an order with no accepted full snapshot before it (staged, or earlier in the batch) is
quarantined (``unknown_order``, with the missing fields' reasons): land the full order, then
the partial record again in a new file (the same bytes are never ingested twice).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.json_fields import (
    ISO_WITH_OFFSET,
    MAX_DEPTH,
    MAX_EPOCH,
    NOT_SENT,
    TEXT_KINDS,
)
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.parsed import JsonRecordFields, item_ctes, record_ctes
from orders_pipeline.validation.rules import (
    MAX_SIGNIFICANT_DIGITS,
    NUMBER_KINDS,
    fits_decimal,
    money_checks,
    row_check,
)

SOURCE = "ometria_orders"
RAW_TABLE = "raw.ometria_orders"
STAGING_TABLE = "staging.ometria_order_snapshots"
CANDIDATES = "ometria_order_candidates"
ITEM_CANDIDATES = "ometria_order_item_candidates"

# Order-level amounts: at the top level (Order) and under totals.local / totals.base
# (OrderExtended), each stored as sent.
MONEY_FIELDS = ("grand_total", "subtotal", "discount", "shipping", "tax")
TOTALS = ("local", "base")
# Line-item amounts, at the line's top level and under its totals.local / totals.base.
ITEM_MONEY_FIELDS = ("unit_price", "subtotal", "total", "refunded", "discount", "tax")
QUANTITY_FIELDS = ("quantity", "quantity_refunded")
# Documented Order / OrderExtended keys; every other top-level key (``properties``
# included) is kept as the snapshot's ``custom`` JSON.
ORDER_FIELDS = (
    "@type", "id", "timestamp", "grand_total", "subtotal", "discount", "shipping", "tax",
    "currency", "web_id", "status", "is_valid", "customer", "lineitems", "ip_address",
    "channel", "store", "payment_method", "shipping_method", "shipping_address",
    "billing_address", "coupon_code", "totals",
)  # fmt: skip
TEXT_FIELDS = (
    "web_id", "status", "ip_address", "channel", "store", "payment_method", "shipping_method",
    "coupon_code",
)  # fmt: skip
CUSTOMER_TEXT_FIELDS = ("email", "firstname", "lastname")
ADDRESS_FIELDS = ("shipping_address", "billing_address")
# Documented OrderLineItem keys (plus ``name``, which some shops send); any other key of a
# line is counted as dropped.
ITEM_FIELDS = (
    "product_id", "variant_id", "sku", "name", "quantity", "quantity_refunded", "unit_price",
    "refunded", "subtotal", "tax", "total", "discount", "is_on_sale", "variant_options",
    "totals", "properties",
)  # fmt: skip
ID_KINDS = ("VARCHAR", "UBIGINT", "BIGINT")


def _timestamp_expression(kind: str, text: str) -> str:
    """ISO-8601 with a UTC offset only (Ometria's own example, ``+00``, has an hour-only
    offset); epoch numbers are not an Ometria format. 1970 to 2100, as for ODP."""
    parsed = f"""case when {kind} = 'VARCHAR' and regexp_matches(trim({text}), '{ISO_WITH_OFFSET}')
        then try_cast(upper(trim({text})) as timestamptz) end"""
    return f"""case when {parsed} between to_timestamp(0) and to_timestamp({MAX_EPOCH})
        then {parsed} end"""


# The fields a record is read for (one json_transform per record: validation/parsed.py).
RECORD_FIELDS = JsonRecordFields(
    leaves=(
        '$."@type"', "$.id", "$.timestamp", "$.currency", "$.is_valid", "$.customer.id",
        "$.lineitems",
        *(f"$.{name}" for name in (*MONEY_FIELDS, *TEXT_FIELDS, *ADDRESS_FIELDS)),
        *(f"$.totals.{part}.{name}" for part in TOTALS for name in (*MONEY_FIELDS, "currency")),
        *(f"$.customer.{name}" for name in CUSTOMER_TEXT_FIELDS),
    ),
    # objects whose keys must be unique (docs/semantics.md §2: a repeated key is ambiguous)
    keyed=("$", "$.customer", "$.totals", "$.totals.base", "$.totals.local"),
)  # fmt: skip
ITEM_READ = JsonRecordFields(
    leaves=(
        "$.product_id", "$.sku", "$.variant_id", "$.name", "$.is_on_sale", "$.variant_options",
        "$.properties",
        *(f"$.{name}" for name in (*ITEM_MONEY_FIELDS, *QUANTITY_FIELDS)),
        *(f"$.totals.{part}.{name}" for part in TOTALS
          for name in (*ITEM_MONEY_FIELDS, "currency")),
    ),
    keyed=("$", "$.totals"),
)  # fmt: skip


def candidates_sql() -> str:
    """One row per raw record of the new files: every field as text plus its JSON kind.

    No ``?`` parameter; the caller registers ``batch_files`` (file_seq) to restrict it.
    """
    f = RECORD_FIELDS
    money = ",".join(f.money("$", name) for name in MONEY_FIELDS)
    totals_money = ",".join(
        f.money(f"$.totals.{part}", name, f"{part}_{name}")
        for part in TOTALS
        for name in MONEY_FIELDS
    )
    totals_currency = ",".join(
        f"{f.kind(f'$.totals.{part}.currency')} as {part}_currency_kind, "
        f"upper(trim({f.string(f'$.totals.{part}.currency')})) as {part}_currency, "
        f"{f.kind(f'$.totals.{part}')} as {part}_totals_kind"
        for part in TOTALS
    )
    texts = ",".join(f.text(f"$.{name}", name) for name in TEXT_FIELDS)
    customer = ",".join(
        f.text(f"$.customer.{name}", f"customer_{name}") for name in CUSTOMER_TEXT_FIELDS
    )
    addresses = ",".join(f"{f.kind(f'$.{name}')} as {name}_kind" for name in ADDRESS_FIELDS)
    known = ", ".join(f"'{name}'" for name in ORDER_FIELDS)
    record_fields = f"""
            {f.kind('$."@type"')} as type_kind,
            {f.string('$."@type"')} as record_type,
            {f.kind("$.id")} as order_id_kind,
            trim({f.string("$.id")}) as order_id,
            {f.kind("$.timestamp")} as timestamp_kind,
            {f.string("$.timestamp")} as timestamp_text,
            {f.kind("$.currency")} as currency_kind,
            upper(trim({f.string("$.currency")})) as currency,
            {f.kind("$.is_valid")} as is_valid_kind,
            case when {f.json_type("$.is_valid")} = 'BOOLEAN'
                then cast({f.string("$.is_valid")} as boolean) end as is_valid,
            {f.kind("$.customer")} as customer_kind,
            {f.kind("$.customer.id")} as customer_id_kind,
            trim({f.string("$.customer.id")}) as customer_id,
            {f.kind("$.totals")} as totals_kind,
            {f.kind("$.lineitems")} as lineitems_kind,
            case when {f.json_type("$.lineitems")} = 'ARRAY'
                then json_array_length({f.part("$.lineitems")}) else 0 end as item_count,
            {money},
            {totals_money},
            {totals_currency},
            {texts},
            {customer},
            {addresses},"""
    return f"""
    with {record_ctes(RAW_TABLE, f)},
    fields as (
        select
            arrival_seq as row_id, file, record_no, loaded_at, is_json, root_kind,
            decode_error, doc, depth, unique_keys,{record_fields}
            -- a repeated key cannot become a map (and the record is quarantined anyway)
            case when root_kind = 'OBJECT' and unique_keys then
                to_json(map_from_entries(list_filter(
                    map_entries(cast(doc as map(varchar, json))),
                    lambda e: e.key not in ({known}))))
                end as custom
        from keyed
    ),
    timed as (
        select
            *,
            {_timestamp_expression("timestamp_kind", "timestamp_text")} as ts,
            -- §1.4: a record without a field a full Order requires is a partial record
            root_kind = 'OBJECT' and (
                timestamp_kind in {NOT_SENT}
                or (currency_kind in {NOT_SENT} and local_currency_kind in {NOT_SENT})
                or (totals_kind <> 'OBJECT' and grand_total_kind in {NOT_SENT})
                or (totals_kind = 'OBJECT' and local_grand_total_kind in {NOT_SENT})
            ) as is_partial
        from fields
    )
    select
        *,
        -- a partial record merges into a full snapshot of its order accepted before it:
        -- staged already, or earlier in this batch (one that fails its own checks is
        -- ruled out afterwards: UNKNOWN_ORDER_SQL)
        exists (select 1 from {STAGING_TABLE} as s where s.order_id = timed.order_id)
        or exists (select 1 from timed as e
                   where e.order_id = timed.order_id and e.row_id < timed.row_id
                     and not e.is_partial and e.root_kind = 'OBJECT') as order_known
    from timed
    """


def item_candidates_sql() -> str:
    """One row per element of ``lineitems`` of the candidate records."""
    f = ITEM_READ
    money = ",".join(f.money("$", name) for name in (*ITEM_MONEY_FIELDS, *QUANTITY_FIELDS))
    totals_money = ",".join(
        f.money(f"$.totals.{part}", name, f"{part}_{name}")
        for part in TOTALS
        for name in ITEM_MONEY_FIELDS
    )
    totals_currency = ",".join(
        f"{f.kind(f'$.totals.{part}.currency')} as {part}_currency_kind, "
        f"upper(trim({f.string(f'$.totals.{part}.currency')})) as {part}_currency"
        for part in TOTALS
    )
    known = ", ".join(f"'{name}'" for name in ITEM_FIELDS)
    return f"""
    with {item_ctes(CANDIDATES, "$.lineitems", "lineitems_kind", f)}
    select
        row_id, item_no, doc as item,
        {f.kind("$")} as item_kind,
        {f.unique_keys()} as unique_keys,
        {f.text("$.product_id", "product_id")},
        {f.text("$.sku", "sku")},
        {f.text("$.variant_id", "variant_id")},
        {f.text("$.name", "name")},
        {f.kind("$.is_on_sale")} as is_on_sale_kind,
        {f.kind("$.variant_options")} as variant_options_kind,
        {f.kind("$.properties")} as properties_kind,
        {f.kind("$.totals")} as totals_kind,
        try_cast({f.string("$.quantity")} as decimal(18, 4)) as quantity,
        try_cast({f.string("$.quantity_refunded")} as decimal(18, 4)) as quantity_refunded,
        {money},
        {totals_money},
        {totals_currency},
        case when json_type(doc) = 'OBJECT' then
            len(list_filter({f.keys("$")}, lambda k: k not in ({known})))
            else 0 end as dropped_fields
    from items_read
    """


def _not_positive(field: str, where: str) -> pa.Check:
    kind, text = pl.col(f"{field}_kind"), pl.col(f"{field}_text")
    return row_check(
        "invalid_discount",
        f"{where} must be 0 or negative (Ometria sends discounts as negative numbers)",
        lambda: ~kind.is_in(NUMBER_KINDS) | (text.cast(pl.Float64, strict=False) <= 0),
    )


def _text_check(field: str, where: str) -> pa.Check:
    return row_check(
        "invalid_text",
        f"{where} must be a string or a number",
        lambda: pl.col(f"{field}_kind").is_in(TEXT_KINDS),
    )


def _event_schema() -> pa.DataFrameSchema:
    col = pl.col
    is_object = col("root_kind") == "OBJECT"
    is_extended = col("totals_kind") == "OBJECT"
    currency = pl.when(col("currency_kind").is_in(NOT_SENT)).then(
        col("local_currency")).otherwise(col("currency"))  # fmt: skip
    money = [
        *(c for f in MONEY_FIELDS for c in money_checks(f, f)),
        *(
            c
            for p in TOTALS
            for f in MONEY_FIELDS
            for c in money_checks(f"{p}_{f}", f"totals.{p}.{f}")
        ),
    ]
    discounts = [
        _not_positive("discount", "discount"),
        *(_not_positive(f"{p}_discount", f"totals.{p}.discount") for p in TOTALS),
    ]
    texts = [
        *(_text_check(f, f) for f in TEXT_FIELDS),
        *(_text_check(f"customer_{f}", f"customer.{f}") for f in CUSTOMER_TEXT_FIELDS),
    ]
    addresses = [
        row_check("invalid_address", f"{f} must be an object (an OrderAddress)",
                  lambda f=f: col(f"{f}_kind").is_in(["OBJECT", *NOT_SENT]))
        for f in ADDRESS_FIELDS
    ]  # fmt: skip
    currencies = [
        row_check("invalid_currency", f"{where} must be a 3-letter ISO 4217 code",
                  lambda kind=kind, value=value: col(kind).is_in(NOT_SENT)
                  | ((col(kind) == "VARCHAR") & col(value).str.contains(r"^[A-Z]{3}$")))
        for kind, value, where in (
            ("currency_kind", "currency", "currency"),
            ("local_currency_kind", "local_currency", "totals.local.currency"),
            ("base_currency_kind", "base_currency", "totals.base.currency"),
        )
    ]  # fmt: skip
    checks = [
        row_check("invalid_utf8", "the record's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        row_check("invalid_json", "the record is not valid JSON",
                  lambda: col("decode_error").is_not_null() | col("is_json")),
        row_check("not_an_object", "the record must be a JSON object (one Ometria order)",
                  lambda: ~col("is_json") | is_object),
        row_check("too_deep", f"the record nests objects and arrays more than {MAX_DEPTH} "
                  "levels deep", lambda: col("depth") <= MAX_DEPTH),
        row_check("duplicate_key", "an object of the order (the record, customer, totals, "
                  "totals.base or totals.local) repeats a key, so which value counts is "
                  "ambiguous", lambda: ~is_object | col("unique_keys")),
        row_check("unsupported_type", '@type must be "order" when it is sent',
                  lambda: ~is_object | col("type_kind").is_in(NOT_SENT)
                  | ((col("type_kind") == "VARCHAR") & (col("record_type") == "order"))),
        row_check("missing_order_id", "id must be a non-empty string or whole number",
                  lambda: ~is_object
                  | (col("order_id_kind").is_in(ID_KINDS)
                     & (col("order_id").str.len_chars() > 0))),
        row_check("unknown_order", UNKNOWN_ORDER_MESSAGE,
                  lambda: ~col("is_partial") | col("order_known")),
        row_check("missing_timestamp", "timestamp is required (ISO-8601 with a UTC offset) "
                  "unless the record updates an order loaded before (a partial record)",
                  lambda: ~is_object | col("order_known")
                  | ~col("timestamp_kind").is_in(NOT_SENT)),
        row_check("invalid_timestamp",
                  "timestamp must be ISO-8601 with a UTC offset (2026-06-01T09:00:00+00:00, "
                  "+00 or Z), between 1970 and 2100",
                  lambda: col("timestamp_kind").is_in(NOT_SENT) | col("ts").is_not_null()),
        row_check("missing_currency",
                  "currency is required (or totals.local.currency on an OrderExtended) unless "
                  "the record updates an order loaded before (a partial record)",
                  lambda: ~is_object | col("order_known") | currency.is_not_null()),
        row_check("conflicting_currency",
                  "currency and totals.local.currency differ, so the order's currency is "
                  "ambiguous",
                  lambda: col("currency_kind").is_in(NOT_SENT)
                  | col("local_currency_kind").is_in(NOT_SENT)
                  | (col("currency") == col("local_currency"))),
        row_check("invalid_totals", "totals, totals.base and totals.local must be objects",
                  lambda: col("totals_kind").is_in(["OBJECT", *NOT_SENT])
                  & col("local_totals_kind").is_in(["OBJECT", *NOT_SENT])
                  & col("base_totals_kind").is_in(["OBJECT", *NOT_SENT])),
        row_check("invalid_totals",
                  "totals.base needs its currency and grand_total (OrderExtendedBaseTotal)",
                  lambda: (col("base_totals_kind") != "OBJECT")
                  | (~col("base_currency_kind").is_in(NOT_SENT)
                     & ~col("base_grand_total_kind").is_in(NOT_SENT))),
        row_check("missing_amount",
                  "an Order needs grand_total (an OrderExtended totals.local.grand_total) "
                  "unless the record updates an order loaded before (a partial record)",
                  lambda: ~is_object | col("order_known")
                  | pl.when(is_extended).then(~col("local_grand_total_kind").is_in(NOT_SENT))
                  .otherwise(~col("grand_total_kind").is_in(NOT_SENT))),
        row_check("invalid_is_valid", "is_valid must be true or false",
                  lambda: col("is_valid_kind").is_in(["BOOLEAN", *NOT_SENT])),
        row_check("invalid_customer", "customer must be an object (an OrderCustomer)",
                  lambda: col("customer_kind").is_in(["OBJECT", *NOT_SENT])),
        row_check("invalid_customer", "customer.id must be a string or whole number",
                  lambda: col("customer_id_kind").is_in([*ID_KINDS, *NOT_SENT])),
        row_check("invalid_lineitems", "lineitems must be an array of OrderLineItem objects",
                  lambda: col("lineitems_kind").is_in(["ARRAY", *NOT_SENT])),
        *currencies,
        *money,
        *discounts,
        *texts,
        *addresses,
    ]  # fmt: skip
    return pa.DataFrameSchema(name="ometria_order", checks=checks)


def _item_schema() -> pa.DataFrameSchema:
    col = pl.col
    money = [
        *(c for f in ITEM_MONEY_FIELDS for c in money_checks(f, f"lineitems[].{f}")),
        *(
            c
            for p in TOTALS
            for f in ITEM_MONEY_FIELDS
            for c in money_checks(f"{p}_{f}", f"lineitems[].totals.{p}.{f}")
        ),
    ]
    quantities = [
        row_check("invalid_quantity",
                  f"lineitems[].{f} must be a number ≥ 0 with at most 4 decimals and "
                  f"{MAX_SIGNIFICANT_DIGITS} significant digits",
                  lambda f=f: col(f"{f}_kind").is_in(NOT_SENT)
                  | (col(f"{f}_kind").is_in(NUMBER_KINDS) & (col(f) >= 0)
                     & fits_decimal(col(f"{f}_exact"), col(f"{f}_text"))))
        for f in QUANTITY_FIELDS
    ]  # fmt: skip
    has_product_id = col("product_id_kind").is_in(ID_KINDS) & (
        col("product_id").str.len_chars() > 0
    )
    has_sku = col("sku_kind").is_in(TEXT_KINDS) & (col("sku").str.len_chars() > 0)
    checks = [
        row_check("invalid_item", "each line item must be an object",
                  lambda: col("item_kind") == "OBJECT"),
        row_check("missing_product",
                  "a line item needs a product_id or a sku (Ometria requires one of them)",
                  lambda: (col("item_kind") != "OBJECT") | has_product_id | has_sku),
        row_check("invalid_product_id",
                  "lineitems[].product_id must be a string or whole number",
                  lambda: col("product_id_kind").is_in([*ID_KINDS, *NOT_SENT])),
        row_check("invalid_text", "lineitems[].sku must be a string or a number",
                  lambda: col("sku_kind").is_in(TEXT_KINDS)),
        row_check("invalid_text", "lineitems[].variant_id must be a string or a number",
                  lambda: col("variant_id_kind").is_in(TEXT_KINDS)),
        row_check("invalid_text", "lineitems[].name must be a string or a number",
                  lambda: col("name_kind").is_in(TEXT_KINDS)),
        row_check("invalid_item", "lineitems[].is_on_sale must be true or false",
                  lambda: col("is_on_sale_kind").is_in(["BOOLEAN", *NOT_SENT])),
        row_check("invalid_item",
                  "lineitems[].variant_options must be an array (of OrderLineItemVariantOption)",
                  lambda: col("variant_options_kind").is_in(["ARRAY", *NOT_SENT])),
        row_check("invalid_item", "lineitems[].properties must be an object",
                  lambda: col("properties_kind").is_in(["OBJECT", *NOT_SENT])),
        row_check("invalid_item", "lineitems[].totals must be an object",
                  lambda: col("totals_kind").is_in(["OBJECT", *NOT_SENT])),
        row_check("invalid_currency", "lineitems[].totals.*.currency must be a 3-letter ISO "
                  "4217 code",
                  lambda: (col("local_currency_kind").is_in(NOT_SENT)
                           | col("local_currency").str.contains(r"^[A-Z]{3}$"))
                  & (col("base_currency_kind").is_in(NOT_SENT)
                     | col("base_currency").str.contains(r"^[A-Z]{3}$"))),
        row_check("duplicate_key",
                  "the line item repeats a key, so which value counts is ambiguous",
                  lambda: (col("item_kind") != "OBJECT") | col("unique_keys")),
        *quantities,
        *money,
    ]  # fmt: skip
    return pa.DataFrameSchema(name="ometria_order_item", checks=checks)


UNKNOWN_ORDER_MESSAGE = (
    "a partial record (no timestamp, currency or grand_total of its own: Ometria's Push API "
    "merges it into the order it updates) for an order with no full snapshot loaded before "
    "it; land the full order, then this record again in a new file"
)
# The per-record check above trusts an earlier full snapshot of the batch; one that is
# itself quarantined does not make the order known (docs/semantics.md §1.4).
UNKNOWN_ORDER_SQL = f"""
select p.row_id, 'unknown_order: {UNKNOWN_ORDER_MESSAGE.replace("'", "''")}' as reason
from {CANDIDATES} as p
where p.is_partial
  and not exists (select 1 from {STAGING_TABLE} as s where s.order_id = p.order_id)
  and not exists (
      select 1 from {CANDIDATES} as e
      where e.order_id = p.order_id and e.row_id < p.row_id and not e.is_partial
        and e.root_kind = 'OBJECT'
        and e.row_id not in (select row_id from batch_record_failures))
"""

EVENT_SCHEMA = _event_schema()
ITEM_SCHEMA = _item_schema()


def _amount_columns(prefix: str, fields: tuple[str, ...], sql_type: str) -> str:
    return ",\n    ".join(f"{prefix}{f} {sql_type}" for f in fields)


STAGING_DDL = f"""
create table if not exists staging.ometria_order_snapshots (
    arrival_seq      bigint not null,
    file             varchar not null,
    record_no        bigint not null,
    event_id         varchar not null,   -- md5 of the snapshot's minified JSON text
    dedupe_key       varchar not null,   -- equal for records that may be duplicates (§2)
    order_id         varchar not null,
    ts               timestamptz not null,  -- the snapshot's timestamp
    is_extended      boolean not null,   -- an OrderExtended (it has `totals`)
    is_valid         boolean,            -- as sent; absent means valid (§1.4)
    currency         varchar,            -- `currency` as sent
    {_amount_columns("", MONEY_FIELDS, "decimal(18, 4)")},
    local_currency   varchar,            -- totals.local (OrderExtended)
    {_amount_columns("local_", MONEY_FIELDS, "decimal(18, 4)")},
    base_currency    varchar,            -- totals.base: the Ometria account's currency (§6)
    {_amount_columns("base_", MONEY_FIELDS, "decimal(18, 4)")},
    {_amount_columns("", TEXT_FIELDS, "varchar")},
    customer_id        varchar,
    customer_email     varchar,
    customer_firstname varchar,
    customer_lastname  varchar,
    shipping_address json,               -- OrderAddress objects as sent
    billing_address  json,
    custom           json,               -- `properties` and every undocumented key
    item_count       integer not null,
    loaded_at        timestamptz not null,
    is_partial       boolean not null default false,  -- a partial record (§1.4): merged into
                                         -- the order's previous state (int_ometria_order_states)
    ts_inferred      boolean not null default false,  -- a partial record without timestamp:
                                         -- ts is its file's ingestion time
    sent_lineitems   boolean not null default true    -- it sent `lineitems` (a partial record
                                         -- that did not keeps the previous lines)
);
-- warehouses created before partial records were read
alter table staging.ometria_order_snapshots
    add column if not exists is_partial boolean default false;
alter table staging.ometria_order_snapshots
    add column if not exists ts_inferred boolean default false;
alter table staging.ometria_order_snapshots
    add column if not exists sent_lineitems boolean default true;
create table if not exists staging.ometria_order_snapshot_items (
    arrival_seq       bigint not null,
    event_id          varchar not null,
    item_no           integer not null,
    product_id        varchar,
    sku               varchar,
    variant_id        varchar,
    name              varchar,
    quantity          decimal(18, 4),
    quantity_refunded decimal(18, 4),
    {_amount_columns("", ITEM_MONEY_FIELDS, "decimal(18, 4)")},
    is_on_sale        boolean,
    local_currency    varchar,
    {_amount_columns("local_", ITEM_MONEY_FIELDS, "decimal(18, 4)")},
    base_currency     varchar,
    {_amount_columns("base_", ITEM_MONEY_FIELDS, "decimal(18, 4)")},
    variant_options   json,
    properties        json,
    dropped_fields    integer not null  -- undocumented keys of the line (not kept)
);
"""


def _decimal(field: str, prefix: str = "c") -> str:
    return (
        f"case when {prefix}.{field}_kind in {NUMBER_KINDS} "
        f"then cast({prefix}.{field}_text as decimal(18, 4)) end as {field}"
    )


def _nullable_text(field: str, prefix: str = "c") -> str:
    return f"nullif({prefix}.{field}, '') as {field}"


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates (``batch_outcomes.outcome = 'accepted'``)."""
    money = ", ".join(_decimal(f) for f in MONEY_FIELDS)
    totals = ", ".join(
        f"nullif(c.{p}_currency, '') as {p}_currency, "
        + ", ".join(_decimal(f"{p}_{f}") for f in MONEY_FIELDS)
        for p in TOTALS
    )
    texts = ", ".join(_nullable_text(f) for f in TEXT_FIELDS)
    customer = ", ".join(_nullable_text(f"customer_{f}") for f in ("id", *CUSTOMER_TEXT_FIELDS))
    addresses = ", ".join(
        f"case when c.{f}_kind = 'OBJECT' then json_extract(c.doc, '$.{f}') end as {f}"
        for f in ADDRESS_FIELDS
    )
    return f"""
    select
        c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key, c.order_id,
        -- §1.4: a partial record's time is its own timestamp, else its arrival
        coalesce(c.ts, c.loaded_at) as ts, c.totals_kind = 'OBJECT' as is_extended, c.is_valid,
        nullif(c.currency, '') as currency, {money}, {totals}, {texts}, {customer},
        {addresses}, c.custom, c.item_count, c.loaded_at,
        c.is_partial, c.ts is null as ts_inferred, c.lineitems_kind = 'ARRAY' as sent_lineitems
    from {CANDIDATES} as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


def accepted_items_sql() -> str:
    """Typed line-item rows of the accepted candidates."""
    money = ", ".join(_decimal(f, "i") for f in ITEM_MONEY_FIELDS)
    totals = ", ".join(
        f"nullif(i.{p}_currency, '') as {p}_currency, "
        + ", ".join(_decimal(f"{p}_{f}", "i") for f in ITEM_MONEY_FIELDS)
        for p in TOTALS
    )
    texts = ", ".join(_nullable_text(f, "i") for f in ("product_id", "sku", "variant_id", "name"))
    return f"""
    select
        i.row_id as arrival_seq, o.event_id, i.item_no, {texts},
        i.quantity, i.quantity_refunded, {money},
        case when i.is_on_sale_kind = 'BOOLEAN'
            then cast(json_extract_string(i.item, '$.is_on_sale') as boolean) end as is_on_sale,
        {totals},
        case when i.variant_options_kind = 'ARRAY'
            then json_extract(i.item, '$.variant_options') end as variant_options,
        case when i.properties_kind = 'OBJECT'
            then json_extract(i.item, '$.properties') end as properties,
        i.dropped_fields
    from {ITEM_CANDIDATES} as i
    join batch_outcomes as o using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table=CANDIDATES,
    candidates_sql=candidates_sql(),
    item_candidates_table=ITEM_CANDIDATES,
    item_candidates_sql=item_candidates_sql(),
    event_schema=EVENT_SCHEMA,
    item_schema=ITEM_SCHEMA,
    staging_table=STAGING_TABLE,
    staging_items_table="staging.ometria_order_snapshot_items",
    accepted_sql=accepted_records_sql,
    accepted_items_sql=accepted_items_sql,
    # part of the dedupe key: its definition must not change (see odp_events)
    dedupe_key_sql="""md5(concat_ws(chr(31), c.record_type, c.order_id, c.timestamp_text,
        c.grand_total_text, c.subtotal_text, c.local_grand_total_text, c.local_subtotal_text,
        c.base_grand_total_text, c.currency, c.status, c.is_valid, c.item_count))""",
    dependent_failures_sql=UNKNOWN_ORDER_SQL,
)
