"""Validating the product catalog (``products/``, issue 3): one record per product, from a CSV
row or a JSON object, with ``product_id``, optional ``sku`` and ``name``, and any attributes
(every other field). A later record for the same ``product_id`` replaces the earlier one
(``core.products`` keeps the latest arrival).

CSV rows arrive as JSON objects of strings (``landing/csv_records``; a row it could not read
carries a ``csv_error`` that becomes its quarantine reason), JSON records as sent, so one
extraction serves both: every field is read as text with its JSON kind.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.csv_rows import CsvRowSchema
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.parsed import JsonRecordFields
from orders_pipeline.validation.rules import row_check

SOURCE = "products"
RAW_TABLE = "raw.products"
NAMED_FIELDS = ("product_id", "sku", "name")
ID_KINDS = ("VARCHAR", "UBIGINT", "BIGINT")
TEXT_KINDS = ("VARCHAR", "UBIGINT", "BIGINT", "DOUBLE", "NULL", "ABSENT")
SCALAR_KINDS = ("VARCHAR", "UBIGINT", "BIGINT", "DOUBLE", "HUGEINT", "BOOLEAN", "NULL")
NOT_SENT = ("ABSENT", "NULL")


# The fields a product is read for (one json_transform per record: validation/parsed.py).
RECORD_FIELDS = JsonRecordFields(
    leaves=("$.product_id", "$.sku", "$.name"),
    keyed=("$",),
)


def candidates_sql() -> str:
    """One row per landed product record of the batch's files."""
    f = RECORD_FIELDS
    named = ", ".join(f"'{name}'" for name in NAMED_FIELDS)
    return f"""
    with records as (
        select r.*,
               coalesce(r.doc, case when r.decode_error is null and r.csv_error is null
                                         and json_valid(r.raw) then json(r.raw) end) as parsed
        from {RAW_TABLE} as r
        join batch_files as b using (file_seq)
    ),
    fields as (
        select
            arrival_seq as row_id, file, record_no, loaded_at, decode_error, csv_error,
            parsed is not null as is_json,
            coalesce(json_type(parsed), 'INVALID') as root_kind,
            case when json_type(parsed) = 'OBJECT' then parsed end as doc
        from records
    ),
    attribute_entries as (
        -- every field but the named ones is an attribute; its value must be a scalar
        select f.row_id, e.key, e.type, e.value ->> '$' as value
        from fields as f, json_each(f.doc) as e
        where f.doc is not null and e.key not in ({named})
    ),
    attributes as (
        select row_id,
               count(*) filter (where type not in {SCALAR_KINDS}) as nested_attributes,
               case when count(*) filter (where type <> 'NULL') > 0 then
                   to_json(map(list(key) filter (where type <> 'NULL'),
                               list(value) filter (where type <> 'NULL'))) end as attributes
        from attribute_entries
        group by row_id
    ),
    parsed as (
        select f.*, {f.extraction()} from fields as f
    ),
    extracted as (
        select
            f.* exclude ({f.name}, {f.name}_keys),
            {f.unique_keys()} as unique_keys,
            {f.kind("$.product_id")} as product_id_kind,
            trim({f.string("$.product_id")}) as product_id,
            {f.kind("$.sku")} as sku_kind,
            nullif(trim({f.string("$.sku")}), '') as sku,
            {f.kind("$.name")} as name_kind,
            nullif(trim({f.string("$.name")}), '') as name,
            coalesce(a.nested_attributes, 0) as nested_attributes,
            a.attributes
        from parsed as f
        left join attributes as a using (row_id)
    )
    select * from extracted
    """


def _schema() -> pa.DataFrameSchema:
    col = pl.col
    is_object = col("root_kind") == "OBJECT"
    checks = [
        row_check("invalid_utf8", "the record's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        row_check("invalid_json", "the record is not valid JSON",
                  lambda: col("decode_error").is_not_null() | col("csv_error").is_not_null()
                  | col("is_json")),
        row_check("not_an_object", "a product must be a JSON object (or a CSV row)",
                  lambda: ~col("is_json") | is_object),
        row_check("duplicate_key", "the product repeats a field, so which value counts is "
                  "ambiguous", lambda: ~is_object | col("unique_keys")),
        row_check("missing_product_id", "product_id must be a non-empty string or whole number",
                  lambda: ~is_object | (col("product_id_kind").is_in(ID_KINDS)
                                        & (col("product_id").str.len_chars() > 0))),
        row_check("invalid_text", "sku and name must be strings or numbers",
                  lambda: col("sku_kind").is_in(TEXT_KINDS) & col("name_kind").is_in(TEXT_KINDS)),
        row_check("invalid_attribute", "attribute values must be strings, numbers or booleans "
                  "(not objects or arrays)", lambda: col("nested_attributes") == 0),
    ]  # fmt: skip
    return CsvRowSchema(name="product", checks=checks)


STAGING_DDL = """
create table if not exists staging.product_records (
    arrival_seq  bigint not null,
    file         varchar not null,
    record_no    bigint not null,
    event_id     varchar not null,   -- md5 of the record's minified JSON text
    dedupe_key   varchar not null,
    product_id   varchar not null,
    sku          varchar,
    name         varchar,
    attributes   json,               -- every other field: {"name": "value as text"}
    loaded_at    timestamptz not null
);
"""


def accepted_sql() -> str:
    """Typed staging rows of the accepted product records."""
    return """
    select
        c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key,
        c.product_id, c.sku, c.name,
        c.attributes,
        c.loaded_at
    from product_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table="product_candidates",
    candidates_sql=candidates_sql(),
    event_schema=_schema(),
    staging_table="staging.product_records",
    accepted_sql=accepted_sql,
    # records of different products are never duplicates; same-product records are compared
    # by their canonical content
    dedupe_key_sql="md5(coalesce(c.product_id, ''))",
    raw_document_sql="coalesce(r.doc, json(r.raw))",
    unvalidated_columns=("doc", "attributes"),
)
