"""Validating landed ODP Orders-object updates (docs/semantics.md §1.3, §4.4).

One record is one update of one order's summary: ``order_id`` (required) and any Order
Summary field: ``status``, ``subtotal``, ``total``, ``tax``, ``shipping``, ``discount``,
``currency``, ``coupon_code``, ``bill_address``, ``ship_address``, ``phone``, ``email``,
``first_name``, ``last_name``, ``name``. Any other key is a custom field, kept as JSON.

A field is *carried* when its key is present with a value that is not null and not empty
(spaces aside). JSON ``null`` and an empty CSV cell mean "not carried": they never clear a
value (the Objects endpoint has no way to say "erase"; an empty cell is how a CSV says
"nothing"). An update carrying no field at all is quarantined (``empty_update``).

Types: in JSON, amounts are numbers that DECIMAL(18,4) holds exactly (as for ODP events), text
fields strings or numbers; in CSV every value is text and amounts must be plain decimals that
fit DECIMAL(18,4) exactly. ``currency`` is a 3-letter code; ``status`` is trimmed and
lower-cased like an event action. Updates create no ledger events (§1.3): the model
``int_odp_order_updates`` folds them into one row per order, latest arrival per field.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.csv_rows import (
    CsvRowSchema,
    decimal_text_fits,
    decimal_text_message,
)
from orders_pipeline.validation.json_fields import MAX_DEPTH, nesting_sql
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.parsed import JsonRecordFields
from orders_pipeline.validation.rules import NUMBER_KINDS, money_checks, row_check

SOURCE = "odp_orders"
RAW_TABLE = "raw.odp_orders"
MONEY_FIELDS = ("subtotal", "total", "tax", "shipping", "discount")
TEXT_FIELDS = (
    "status", "currency", "coupon_code", "bill_address", "ship_address", "phone", "email",
    "first_name", "last_name", "name",
)  # fmt: skip
SUMMARY_FIELDS = (*MONEY_FIELDS, *TEXT_FIELDS)
KNOWN_KEYS = ("order_id", *SUMMARY_FIELDS)
TEXT_KINDS = ("VARCHAR", "UBIGINT", "BIGINT", "DOUBLE", "NULL", "ABSENT")


# The fields an update is read for (one json_transform per record: validation/parsed.py).
RECORD_FIELDS = JsonRecordFields(leaves=tuple(f"$.{key}" for key in KNOWN_KEYS), keyed=("$",))


def _field_columns(field: str) -> str:
    """``<f>_kind`` (JSON kind; ABSENT on CSV rows), ``<f>_text`` and ``<f>_exact`` for JSON
    values, ``csv_<f>_text`` for CSV cells, and ``<f>`` (the value as text, NULL when not
    carried)."""
    f = RECORD_FIELDS
    json_kind = f.kind(f"$.{field}")
    json_text = f.string(f"$.{field}")
    return f"""
        case when is_csv then 'ABSENT' else {json_kind} end as {field}_kind,
        case when not is_csv then {json_text} end as {field}_text,
        case when not is_csv and {json_kind} in {NUMBER_KINDS} then coalesce(
            try_cast({json_text} as decimal(38, 10)) = try_cast({json_text} as decimal(18, 4)),
            false) end as {field}_exact,
        case when is_csv then nullif(trim({json_text}), '') end as csv_{field}_text,
        case when is_csv or {json_kind} not in ('OBJECT', 'ARRAY', 'BOOLEAN')
            then nullif(trim({json_text}), '') end as {field}"""


def candidates_sql(raw_table: str) -> str:
    """One row per raw record of the new files (JSON and CSV alike); the caller registers
    ``batch_files`` (file_seq)."""
    f = RECORD_FIELDS
    known = ", ".join(f"'{k}'" for k in KNOWN_KEYS)
    fields = ",".join(_field_columns(name) for name in SUMMARY_FIELDS)
    return f"""
    with records as (
        select r.*
        from {raw_table} as r
        join batch_files as b using (file_seq)
    ),
    {nesting_sql()},
    parsed as (
        select
            r.arrival_seq, r.file_seq, r.file, r.record_no, r.loaded_at, r.decode_error,
            r.csv_error, lower(r.file) like '%.csv' as is_csv,
            coalesce(n.depth, 0) as depth,
            r.doc is not null
                or (r.decode_error is null and r.csv_error is null and json_valid(r.raw))
                as is_json,
            case when r.doc is not null then 'OBJECT'
                 when r.decode_error is null and r.csv_error is null and json_valid(r.raw)
                     then json_type(r.raw)
                 else 'INVALID' end as root_kind,
            case when r.doc is not null then r.doc
                 when r.decode_error is null and r.csv_error is null and json_valid(r.raw)
                      and json_type(r.raw) = 'OBJECT' then json(r.raw) end as doc
        from records as r
        left join nesting as n using (arrival_seq)
    ),
    extracted as (
        select *, {f.extraction()} from parsed
    ),
    keyed as (
        select *, {f.unique_keys()} as unique_keys from extracted
    ),
    fields as (
        select
            arrival_seq as row_id, file_seq, file, record_no, loaded_at, decode_error,
            csv_error, is_csv, depth, is_json, root_kind, doc, unique_keys,
            case when is_csv then
                case when nullif(trim({f.string("$.order_id")}), '') is null then 'ABSENT'
                     else 'VARCHAR' end
                else {f.kind("$.order_id")} end as order_id_kind,
            trim({f.string("$.order_id")}) as order_id,
            {fields},
            -- keys besides order_id sent with a value (null and empty are not carried)
            case when doc is not null and unique_keys then
                len(list_filter(map_entries(cast(doc as map(varchar, json))),
                    lambda e: e.key <> 'order_id' and json_type(e.value) <> 'NULL'
                              and coalesce(trim(e.value ->> '$'), 'x') <> ''))
                else 0 end as sent_keys,
            -- other keys are custom fields; null and empty values are not carried
            case when doc is not null and unique_keys then
                to_json(map_from_entries(list_filter(
                    map_entries(cast(doc as map(varchar, json))),
                    lambda e: e.key not in ({known}) and json_type(e.value) <> 'NULL'
                              and coalesce(trim(e.value ->> '$'), 'x') <> '')))
                end as custom
        from keyed
    )
    select *,
        -- the summary fields carried, sorted (plus "custom" when a custom field is)
        list_sort(list_filter([{
        ", ".join(f"case when {f} is not null then '{f}' end" for f in SUMMARY_FIELDS)
    }],
                              lambda f: f is not null)) as carried_fields
    from fields
    """


def _schema() -> pa.DataFrameSchema:
    col = pl.col
    is_object = col("root_kind") == "OBJECT"
    money = [
        check
        for field in MONEY_FIELDS
        for check in money_checks(field, field)  # JSON rows: kinds are ABSENT on CSV rows
    ]
    csv_money = [
        row_check(
            "invalid_amount",
            decimal_text_message(field),
            lambda field=field: (
                col(f"csv_{field}_text").is_null() | decimal_text_fits(col(f"csv_{field}_text"))
            ),
        )
        for field in MONEY_FIELDS
    ]
    texts = [
        row_check("invalid_text", f"{field} must be a string or a number",
                  lambda field=field: col(f"{field}_kind").is_in(TEXT_KINDS))
        for field in TEXT_FIELDS
    ]  # fmt: skip
    checks = [
        row_check("invalid_utf8", "the record's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        row_check("invalid_json", "the record is not valid JSON",
                  lambda: col("is_csv") | col("decode_error").is_not_null() | col("is_json")),
        row_check("not_an_object", "the record must be a JSON object",
                  lambda: col("is_csv") | ~col("is_json") | is_object),
        row_check("too_deep", f"the record nests objects and arrays more than {MAX_DEPTH} "
                  "levels deep", lambda: col("depth") <= MAX_DEPTH),
        row_check("duplicate_key", "the record repeats a key, so which value counts is "
                  "ambiguous", lambda: ~is_object | col("unique_keys")),
        row_check("missing_order_id",
                  "order_id must be a non-empty string or whole number",
                  lambda: ~is_object
                  | (col("order_id_kind").is_in(["VARCHAR", "UBIGINT", "BIGINT"])
                     & (col("order_id").str.len_chars() > 0))),
        row_check("empty_update",
                  "the update carries no Order Summary or custom field besides order_id "
                  "(null and empty values are not carried)",
                  lambda: ~is_object | ~col("unique_keys") | (col("sent_keys") > 0)),
        row_check("invalid_currency", "currency must be a 3-letter ISO 4217 code",
                  lambda: col("currency").is_null()
                  | col("currency").str.contains(r"^[A-Za-z]{3}$")),
        *money,
        *csv_money,
        *texts,
    ]  # fmt: skip
    return CsvRowSchema(name="odp_order_update", checks=checks)


UPDATE_SCHEMA = _schema()


STAGING_DDL = """
create table if not exists staging.odp_order_update_records (
    arrival_seq     bigint not null,
    file            varchar not null,
    record_no       bigint not null,
    event_id        varchar not null,   -- md5 of the record's JSON (an update, not an event)
    dedupe_key      varchar not null,
    order_id        varchar not null,
    status          varchar,            -- each field NULL when the update does not carry it
    subtotal        decimal(18, 4),
    total           decimal(18, 4),
    tax             decimal(18, 4),
    shipping        decimal(18, 4),
    discount        decimal(18, 4),
    currency        varchar,
    coupon_code     varchar,
    bill_address    varchar,
    ship_address    varchar,
    phone           varchar,            -- as sent
    email           varchar,            -- as sent
    first_name      varchar,
    last_name       varchar,
    name            varchar,
    custom          json,               -- other keys with a value: {} when none
    carried_fields  varchar[] not null, -- the summary fields this update carries, sorted
    loaded_at       timestamptz not null
);
"""


def _amount(field: str) -> str:
    return (
        f"case when c.{field}_kind in {NUMBER_KINDS} "
        f"then cast(c.{field}_text as decimal(18, 4)) "
        f"else cast(c.csv_{field}_text as decimal(18, 4)) end as {field}"
    )


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates."""
    money = ", ".join(_amount(f) for f in MONEY_FIELDS)
    texts = ", ".join(f"c.{f}" for f in TEXT_FIELDS if f not in ("status", "currency"))
    return f"""
    select
        c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key, c.order_id,
        lower(c.status) as status, {money}, upper(c.currency) as currency, {texts},
        coalesce(c.custom, json('{{}}')) as custom, c.carried_fields, c.loaded_at
    from odp_order_update_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table="odp_order_update_candidates",
    candidates_sql=candidates_sql(RAW_TABLE),
    event_schema=UPDATE_SCHEMA,
    staging_table="staging.odp_order_update_records",
    accepted_sql=accepted_records_sql,
    dedupe_key_sql="""md5(concat_ws(chr(31), c.is_csv, c.order_id, c.status,
        c.subtotal_text, c.csv_subtotal_text, c.total_text, c.csv_total_text,
        array_to_string(c.carried_fields, ','), len(json_keys(c.doc))))""",
    raw_document_sql="coalesce(r.doc, json(r.raw))",
)
