"""Validating landed ODP order events (docs/semantics.md §1.1, §2).

DuckDB extracts every field with an explicit type from each record's raw text (never
inference: docs/pitfalls.md), pandera checks the candidates as a polars frame, and the outcome of
every record of the batch is written in one transaction: accepted (typed, into
``staging.odp_event_records`` and ``staging.odp_event_record_items``), quarantined (with
every reason and the raw text) or an exact duplicate of an accepted record (counted).
"""

from __future__ import annotations

import json

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.json_fields import (
    MAX_DEPTH,
    NOT_SENT,
    TEXT_KINDS,
    ts_expression,
    visible,
)
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.parsed import (
    JsonRecordFields,
    item_ctes,
    record_ctes,
    sql_literal,
)
from orders_pipeline.validation.rules import (
    MAX_SIGNIFICANT_DIGITS,
    NUMBER_KINDS,
    fits_decimal,
    money_checks,
    row_check,
)

SOURCE = "odp_events"
MONEY_FIELDS = ("subtotal", "total", "tax", "shipping", "discount")
ITEM_MONEY_FIELDS = ("price", "discount", "subtotal")
# data.order keys with a meaning of their own; every other key is a custom field (§1.1).
ORDER_FIELDS = (
    "order_id", "total", "subtotal", "tax", "shipping", "discount", "currency", "coupon_code",
    "bill_address", "ship_address", "phone", "first_name", "last_name", "name", "email", "items",
)  # fmt: skip
ITEM_FIELDS = ("product_id", "sku", "price", "quantity", "discount", "subtotal")
TEXT_FIELDS = (
    "coupon_code", "bill_address", "ship_address", "phone", "first_name", "last_name", "name",
    "email",
)  # fmt: skip

# An identifier must be a string or a number: `true` or an object would link every customer
# who sends the same one.
NOT_AN_IDENTIFIER = ("OBJECT", "ARRAY", "BOOLEAN")


# The fields an event is read for (one json_transform per record: validation/parsed.py).
_ORDER = "$.data.order"
EVENT_FIELDS = JsonRecordFields(
    leaves=(
        "$.type", "$.action", "$.ts", "$.identifiers", "$.data.ts", "$.data.idempotence_id",
        f"{_ORDER}.order_id",
        f"{_ORDER}.currency", f"{_ORDER}.items",
        *(f"{_ORDER}.{f}" for f in (*MONEY_FIELDS, *TEXT_FIELDS)),
    ),
    # objects whose keys must be unique (docs/semantics.md §2: a repeated key is ambiguous)
    keyed=("$", "$.data", _ORDER, "$.identifiers"),
)  # fmt: skip
ITEM_READ = JsonRecordFields(
    leaves=("$.product_id", "$.sku", *(f"$.{f}" for f in (*ITEM_MONEY_FIELDS, "quantity"))),
    keyed=("$",),
)


# A JSON merge patch (RFC 7396) removing every key of ORDER_FIELDS: what is left is custom.
_WITHOUT_KNOWN = json.dumps(dict.fromkeys(ORDER_FIELDS), separators=(",", ":"))


def candidates_sql(raw_table: str) -> str:
    """One row per raw record of the new files: every field as text plus its JSON kind.

    ``?`` parameter: none; the caller registers ``batch_files`` (file_seq) to restrict it.
    """
    f = EVENT_FIELDS
    money = ",".join(f.money(_ORDER, name) for name in MONEY_FIELDS)
    texts = ",".join(
        f"{f.string(f'{_ORDER}.{name}')} as {name}, {f.kind(f'{_ORDER}.{name}')} as {name}_kind"
        for name in TEXT_FIELDS
    )
    ts_kind = f"coalesce({f.json_type('$.data.ts')}, {f.json_type('$.ts')}, 'ABSENT')"
    ts_text = f"""case when {f.json_type("$.data.ts")} is not null
                      then {f.string("$.data.ts")}
                      else {f.string("$.ts")} end"""
    known = ", ".join(f"'{name}'" for name in ORDER_FIELDS)
    identifiers = f.part("$.identifiers")
    not_identifier = ", ".join(f"'{kind}'" for kind in NOT_AN_IDENTIFIER)
    items = f.part(f"{_ORDER}.items")
    email, phone = f.string(f"{_ORDER}.email"), f.string(f"{_ORDER}.phone")
    return f"""
    with {record_ctes(raw_table, f)},
    identified as (
        select *,
               -- json_extract(doc, '$.identifiers.*'), read from the identifiers alone
               case when {f.json_type("$.identifiers")} = 'OBJECT'
                    then json_extract({identifiers}, '$.*') end as identifier_values
        from keyed
    ),
    fields as (
        select
            arrival_seq as row_id, file, record_no, loaded_at, is_json, root_kind,
            decode_error, depth, unique_keys,
            -- the md5 of the record's canonical text (doc is json()'s text of the record:
            -- parsed.record_ctes); the document itself is not kept (candidate_document_sql)
            md5(doc) as event_id,
            {f.kind("$.type")} as type_kind,
            {f.string("$.type")} as event_type,
            {f.kind("$.action")} as action_kind,
            lower(trim({f.string("$.action")})) as action,
            {f.kind("$.data")} as data_kind,
            {f.kind(_ORDER)} as order_kind,
            {f.kind(f"{_ORDER}.order_id")} as order_id_kind,
            trim({f.string(f"{_ORDER}.order_id")}) as order_id,
            {f.kind("$.identifiers")} as identifiers_kind,
            coalesce(len(list_filter(identifier_values,
                                     lambda v: json_type(v) in ({not_identifier}))), 0)
                as nested_identifiers,
            {ts_kind} as ts_kind,
            {ts_text} as ts_text,
            -- the id the sender keeps on every retry (VALIDATION.idempotence_key_sql, read here
            -- with the record's other fields)
            nullif(trim({f.string("$.data.idempotence_id")}), '') as idempotence_key,
            {f.kind(f"{_ORDER}.currency")} as currency_kind,
            upper(trim({f.string(f"{_ORDER}.currency")})) as currency,
            {f.kind(f"{_ORDER}.items")} as items_kind,
            {money},
            {texts},
            case when {f.json_type(f"{_ORDER}.items")} = 'ARRAY'
                then json_array_length({items}) else 0 end as item_count,
            -- the fragments the items and the staged identifiers are read from (not the doc)
            case when {f.json_type(f"{_ORDER}.items")} = 'ARRAY' then {items} end as items,
            case when {f.json_type("$.identifiers")} = 'OBJECT' then {identifiers} end
                as identifiers,
            -- items that carry an amount of their own (§3: a price or a subtotal)
            case when {f.json_type(f"{_ORDER}.items")} = 'ARRAY' then
                len(list_filter(
                    list_transform(cast({items} as json[]),
                                   lambda i: json_type(i, ['$.price', '$.subtotal'])),
                    lambda t: coalesce(t[1], 'NULL') <> 'NULL'
                              or coalesce(t[2], 'NULL') <> 'NULL'))
                else 0 end as priced_item_count,
            -- part of the dedupe key: its definition must not change, or a record landed
            -- before and its retry landed after the change would no longer meet as duplicates
            -- (json_extract_string(doc, '$.identifiers.*'), read from the identifiers alone)
            case when {f.json_type("$.identifiers")} = 'OBJECT' then
                len(list_filter(json_extract_string({identifiers}, '$.*'),
                                lambda v: coalesce(trim(v), '') <> ''))
                else 0 end
              + case when coalesce(trim({email}), '') <> '' then 1 else 0 end
              + case when coalesce(trim({phone}), '') <> '' then 1 else 0 end
                as identifier_count,
            -- identifiers that can identify someone: a string or number a person can see
            coalesce(len(list_filter(identifier_values,
                                     lambda v: json_type(v) not in ('NULL', {not_identifier})
                                               and {visible("v ->> '$'")})), 0)
              + case when {visible(email)} then 1 else 0 end
              + case when {visible(phone)} then 1 else 0 end as usable_identifiers,
            -- the order without its known keys: a merge patch that sets each to null
            -- removes it (RFC 7396) and keeps the other keys in their order; a repeated key
            -- would be ambiguous (and the record is quarantined anyway)
            -- (most orders send no custom key: they skip the parse of the order; no key
            -- outside the known ones is tested as the items' dropped fields are, half the CPU
            -- of list_has_all at 1M line items)
            case when {f.json_type(_ORDER)} = 'OBJECT' and unique_keys
                      and len(list_filter({f.keys(_ORDER)}, lambda k: k not in ({known}))) = 0
                    then '{{}}'::json
                when {f.json_type(_ORDER)} = 'OBJECT' and unique_keys then
                json_merge_patch({f.part(_ORDER)}, {sql_literal(_WITHOUT_KNOWN)})
                end as custom
        from identified
    )
    select *, {ts_expression("ts_kind", "ts_text")} as ts
    from fields
    """


def item_candidates_sql() -> str:
    """One row per element of ``data.order.items`` of the candidate records."""
    f = ITEM_READ
    money = ",".join(f.money("$", name) for name in (*ITEM_MONEY_FIELDS, "quantity"))
    known = ", ".join(f"'{name}'" for name in ITEM_FIELDS)
    return f"""
    with {item_ctes("odp_event_candidates", f"{_ORDER}.items", "items_kind", f, "items")}
    select
        row_id, item_no,
        {f.kind("$")} as item_kind,
        {f.kind("$.product_id")} as product_id_kind,
        trim({f.string("$.product_id")}) as product_id,
        trim({f.string("$.sku")}) as sku,
        {f.kind("$.sku")} as sku_kind,
        try_cast({f.string("$.quantity")} as decimal(18, 4)) as quantity,
        {f.unique_keys()} as unique_keys,
        {money},
        case when json_type(doc) = 'OBJECT' then
            len(list_filter({f.keys("$")}, lambda k: k not in ({known})))
            else 0 end as dropped_fields
    from items_read
    """


def _event_schema() -> pa.DataFrameSchema:
    col = pl.col
    is_object = col("root_kind") == "OBJECT"
    has_order = col("order_kind") == "OBJECT"
    # §2: missing_amount is "no subtotal, no total, no items". An amount or items that are
    # sent but invalid are reported by their own rule, not as missing as well. Items with
    # neither a price nor a subtotal carry no amount either: the order's value is unknowable.
    has_amount = (
        ~col("subtotal_kind").is_in(NOT_SENT)
        | ~col("total_kind").is_in(NOT_SENT)
        | (col("priced_item_count") > 0)
        | ~col("items_kind").is_in(["ARRAY", *NOT_SENT])
    )
    money = [
        check for field in MONEY_FIELDS for check in money_checks(field, f"data.order.{field}")
    ]
    texts = [
        row_check("invalid_text", f"data.order.{field} must be a string or a number",
                  lambda field=field: col(f"{field}_kind").is_in(TEXT_KINDS))
        for field in TEXT_FIELDS
    ]  # fmt: skip
    checks = [
        row_check("invalid_utf8", "the record's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        row_check("invalid_json", "the record is not valid JSON",
                  lambda: col("decode_error").is_not_null() | col("is_json")),
        row_check("not_an_object", "the record must be a JSON object",
                  lambda: ~col("is_json") | is_object),
        row_check("too_deep", f"the record nests objects and arrays more than {MAX_DEPTH} "
                  "levels deep", lambda: col("depth") <= MAX_DEPTH),
        row_check("duplicate_key", "an object of the event (the record, data, data.order or "
                  "identifiers) repeats a key, so which value counts is ambiguous",
                  lambda: ~is_object | col("unique_keys")),
        row_check("unsupported_event_type", "type must be 'order'",
                  lambda: ~is_object | (col("event_type") == "order")),
        row_check("missing_action", "action must be a non-empty string",
                  lambda: ~is_object
                  | ((col("action_kind") == "VARCHAR") & (col("action").str.len_chars() > 0))),
        row_check("missing_order", "data.order must be an object",
                  lambda: ~is_object | has_order),
        row_check("missing_order_id",
                  "data.order.order_id must be a non-empty string or whole number",
                  lambda: ~has_order
                  | (col("order_id_kind").is_in(["VARCHAR", "UBIGINT", "BIGINT"])
                     & (col("order_id").str.len_chars() > 0))),
        row_check("missing_identifier",
                  "ODP requires at least one identifier (identifiers.*, data.order.email or "
                  "data.order.phone)",
                  lambda: ~is_object | (col("usable_identifiers") > 0)),
        row_check("invalid_identifiers",
                  "identifiers must be an object whose values are strings or numbers (not "
                  "booleans, objects or arrays)",
                  lambda: col("identifiers_kind").is_in(["OBJECT", *NOT_SENT])
                  & (col("nested_identifiers") == 0)),
        row_check("invalid_ts",
                  "ts must be epoch seconds (1970-2100) or ISO-8601 with a UTC offset",
                  lambda: col("ts_kind").is_in(NOT_SENT) | col("ts").is_not_null()),
        row_check("invalid_currency", "currency must be a 3-letter ISO 4217 code",
                  lambda: col("currency_kind").is_in(NOT_SENT)
                  | ((col("currency_kind") == "VARCHAR")
                     & col("currency").str.contains(r"^[A-Z]{3}$"))),
        row_check("invalid_items", "data.order.items must be an array",
                  lambda: col("items_kind").is_in(["ARRAY", *NOT_SENT])),
        row_check("missing_amount",
                  "a purchase, return or refund needs a subtotal, a total or items with a "
                  "price or subtotal",
                  lambda: ~has_order | ~col("action").is_in(["purchase", "return", "refund"])
                  | has_amount),
        *money,
        *texts,
    ]  # fmt: skip
    return pa.DataFrameSchema(name="odp_event", checks=checks)


def _item_schema() -> pa.DataFrameSchema:
    col = pl.col
    money = [
        check for field in ITEM_MONEY_FIELDS for check in money_checks(field, f"items[].{field}")
    ]
    checks = [
        row_check("invalid_item", "each item must be an object",
                  lambda: col("item_kind") == "OBJECT"),
        row_check("invalid_quantity",
                  "items[].quantity must be a number ≥ 0 with at most 4 decimals and "
                  f"{MAX_SIGNIFICANT_DIGITS} significant digits",
                  lambda: col("quantity_kind").is_in(NOT_SENT)
                  | (col("quantity_kind").is_in(NUMBER_KINDS) & (col("quantity") >= 0)
                     & fits_decimal(col("quantity_exact"), col("quantity_text")))),
        row_check("invalid_product_id", "items[].product_id must be a string or whole number",
                  lambda: col("product_id_kind").is_in(["VARCHAR", "UBIGINT", "BIGINT",
                                                        *NOT_SENT])),
        row_check("invalid_text", "items[].sku must be a string or a number",
                  lambda: col("sku_kind").is_in(TEXT_KINDS)),
        row_check("duplicate_key", "the item repeats a key, so which value counts is ambiguous",
                  lambda: (col("item_kind") != "OBJECT") | col("unique_keys")),
        *money,
    ]  # fmt: skip
    return pa.DataFrameSchema(name="odp_event_item", checks=checks)


EVENT_SCHEMA = _event_schema()
ITEM_SCHEMA = _item_schema()


STAGING_DDL = """
create table if not exists staging.odp_event_records (
    arrival_seq  bigint not null,
    file         varchar not null,
    record_no    bigint not null,
    event_id     varchar not null,   -- md5 of the record's minified JSON text
    dedupe_key   varchar not null,   -- equal for records that may be duplicates (§2)
    action       varchar not null,
    ts           timestamptz not null,
    ts_inferred  boolean not null,   -- no ts was sent: the file's ingestion time is used
    order_id     varchar not null,
    currency     varchar,
    subtotal     decimal(18, 4),
    total        decimal(18, 4),
    tax          decimal(18, 4),
    shipping     decimal(18, 4),
    discount     decimal(18, 4),
    coupon_code  varchar,
    bill_address varchar,
    ship_address varchar,
    phone        varchar,
    first_name   varchar,
    last_name    varchar,
    name         varchar,
    email        varchar,
    identifiers  json,
    custom       json,
    item_count   integer not null,
    loaded_at    timestamptz not null
);
create table if not exists staging.odp_event_record_items (
    arrival_seq    bigint not null,
    event_id       varchar not null,
    item_no        integer not null,
    product_id     varchar,
    sku            varchar,
    price          decimal(18, 4),
    quantity       decimal(18, 4),
    discount       decimal(18, 4),
    subtotal       decimal(18, 4),
    dropped_fields integer not null  -- custom fields inside items: ODP ignores them (§1.1)
);
"""


def _decimal(field: str, prefix: str = "c") -> str:
    return (
        f"case when {prefix}.{field}_kind in {NUMBER_KINDS} "
        f"then cast({prefix}.{field}_text as decimal(18, 4)) end as {field}"
    )


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates (``batch_outcomes.outcome = 'accepted'``)."""
    money = ", ".join(_decimal(f) for f in MONEY_FIELDS)
    texts = ", ".join(f"nullif(trim(c.{f}), '') as {f}" for f in TEXT_FIELDS)
    return f"""
    select
        c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key, c.action,
        coalesce(c.ts, c.loaded_at) as ts, c.ts is null as ts_inferred,
        c.order_id, nullif(c.currency, '') as currency,
        {money}, {texts},
        c.identifiers,
        c.custom, c.item_count, c.loaded_at
    from odp_event_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


def accepted_items_sql() -> str:
    """Typed item rows of the accepted candidates."""
    return f"""
    select
        i.row_id as arrival_seq, o.event_id, i.item_no,
        nullif(i.product_id, '') as product_id, nullif(i.sku, '') as sku,
        {_decimal("price", "i")}, i.quantity, {_decimal("discount", "i")},
        {_decimal("subtotal", "i")}, i.dropped_fields
    from odp_event_item_candidates as i
    join batch_outcomes as o using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table="raw.odp_events",
    candidates_table="odp_event_candidates",
    candidates_sql=candidates_sql("raw.odp_events"),
    item_candidates_table="odp_event_item_candidates",
    item_candidates_sql=item_candidates_sql(),
    event_schema=EVENT_SCHEMA,
    item_schema=ITEM_SCHEMA,
    staging_table="staging.odp_event_records",
    staging_items_table="staging.odp_event_record_items",
    accepted_sql=accepted_records_sql,
    accepted_items_sql=accepted_items_sql,
    # every check looks at one record: pandera sees 100k records at a time (bounded memory)
    validation_chunk_records=100_000,
    unvalidated_columns=("custom", "items", "identifiers"),
    dedupe_key_sql="""md5(concat_ws(chr(31), c.event_type, c.action, c.order_id, c.ts_text,
        c.subtotal_text, c.total_text, c.tax_text, c.shipping_text, c.discount_text,
        c.currency, c.item_count, c.identifier_count))""",
    # ODP's SDKs give every event a fresh UUID as data.idempotence_id when it is created and
    # keep it on every retry (optimizely/python-sdk optimizely/odp/odp_event.py,
    # optimizely/javascript-sdk odp_event_manager.ts augmentCommonData): a re-sent event with
    # the same id is a duplicate, even if the retry carries a new ts (§2)
    idempotence_key_sql="nullif(trim({doc} ->> '$.data.idempotence_id'), '')",
    candidate_idempotence_key_sql="c.idempotence_key",
    # read in the record's one parse (candidates_sql)
    event_id_sql="c.event_id",
    # the candidates keep no copy of each document: a passing record is a JSON object, whose
    # canonical document is json() of its raw text (as for a staged record)
    candidate_document_sql="json(r.raw)",
)
