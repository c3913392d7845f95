"""Validating exchange rates (``exchange_rates/``, docs/semantics.md §6): one record per CSV row
``date,currency,rate_to_base`` with an optional ``base_currency`` column — one unit of
``currency`` is worth ``rate_to_base`` units of ``base_currency`` on ``date``. A row that names
no base (the three-column layout, or an empty cell) is a rate to :data:`UNDECLARED_BASE`: the
file's meaning never depends on the ``ORDERS_BASE_CURRENCY`` of the run that reads it, so a
changed base currency cannot relabel rates to the old one (issue 11). A later record for the
same date, base and currency replaces the earlier one (``intermediate.int_exchange_rates`` keeps the
latest arrival); the models convert with the rates to the configured base only.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.csv_rows import CsvRowSchema
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.parsed import JsonRecordFields
from orders_pipeline.validation.rules import row_check

SOURCE = "exchange_rates"
RAW_TABLE = "raw.exchange_rates"
# A rate is stored as DECIMAL(18,10): up to 8 integer digits and 10 decimals, enough for
# 1 IDR = 0.0000613 USD as for 1 USD = 16,250 IDR.
RATE_PATTERN = r"^\d{1,8}(\.\d{1,10})?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
# The base of a rate that names none: USD, the default ORDERS_BASE_CURRENCY, which is what
# rates files meant before they could name their base (docs/semantics.md §6).
UNDECLARED_BASE = "USD"


# The fields a rate is read for (one json_transform per row: validation/parsed.py).
RECORD_FIELDS = JsonRecordFields(
    leaves=("$.date", "$.currency", "$.rate_to_base", "$.base_currency")
)


def candidates_sql() -> str:
    """One row per landed rate record of the batch's files (CSV rows as JSON objects)."""
    f = RECORD_FIELDS
    return f"""
    with records as (
        select r.*
        from {RAW_TABLE} as r
        join batch_files as b using (file_seq)
    ),
    extracted as (
        select *, {f.extraction()} from records
    ),
    fields as (
        select
            arrival_seq as row_id, file, record_no, loaded_at, decode_error, csv_error,
            case when json_type(doc) = 'OBJECT' then doc end as doc,
            coalesce(json_type(doc), 'INVALID') as root_kind,
            trim({f.string("$.date")}) as date_text,
            upper(trim({f.string("$.currency")})) as currency,
            trim({f.string("$.rate_to_base")}) as rate_text,
            coalesce(nullif(upper(trim({f.string("$.base_currency")})), ''), '{UNDECLARED_BASE}')
                as base_currency
        from extracted
    )
    select
        *,
        case when regexp_full_match(coalesce(date_text, ''), '{DATE_PATTERN}')
             then try_cast(date_text as date) end as rate_date,
        case when regexp_full_match(coalesce(rate_text, ''), '{RATE_PATTERN}')
             then try_cast(rate_text as decimal(18, 10)) end as rate_to_base
    from fields
    """


def _schema() -> pa.DataFrameSchema:
    col = pl.col
    checks = [
        row_check("invalid_utf8", "the row's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        row_check("invalid_date", "date must be a calendar date written YYYY-MM-DD",
                  lambda: (col("root_kind") != "OBJECT") | col("rate_date").is_not_null()),
        row_check("invalid_currency", "currency must be a 3-letter ISO 4217 code",
                  lambda: (col("root_kind") != "OBJECT")
                  | col("currency").str.contains(r"^[A-Z]{3}$")),
        row_check("invalid_base_currency", "base_currency, when given, must be a 3-letter "
                  "ISO 4217 code",
                  lambda: (col("root_kind") != "OBJECT")
                  | col("base_currency").str.contains(r"^[A-Z]{3}$")),
        row_check("invalid_rate", "rate_to_base must be a positive decimal written with digits "
                  "and a point (at most 8 integer digits and 10 decimals); a currency's rate "
                  "to itself is 1",
                  lambda: (col("root_kind") != "OBJECT")
                  | (col("rate_to_base").is_not_null() & (col("rate_to_base") > 0)
                     & ((col("currency") != col("base_currency"))
                        | (col("rate_to_base") == 1)))),
    ]  # fmt: skip
    return CsvRowSchema(name="exchange_rate", checks=checks)


STAGING_DDL = """
create table if not exists staging.exchange_rate_records (
    arrival_seq   bigint not null,
    file          varchar not null,
    record_no     bigint not null,
    event_id      varchar not null,
    dedupe_key    varchar not null,
    rate_date     date not null,
    currency      varchar not null,
    rate_to_base  decimal(18, 10) not null,
    loaded_at     timestamptz not null,
    base_currency varchar not null
);
-- last, as the column that warehouses staged before rates named their base receive here (the
-- insert is by position): their rates were all rates to USD
alter table staging.exchange_rate_records
    add column if not exists base_currency varchar default 'USD';
"""


def accepted_sql() -> str:
    """Typed staging rows of the accepted rates."""
    return """
    select c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key,
           c.rate_date, c.currency, c.rate_to_base, c.loaded_at, c.base_currency
    from exchange_rate_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table="exchange_rate_candidates",
    candidates_sql=candidates_sql(),
    event_schema=_schema(),
    staging_table="staging.exchange_rate_records",
    accepted_sql=accepted_sql,
    # a rate to the undeclared base keeps the key it had before files could name a base
    dedupe_key_sql=f"""md5(concat_ws('|', c.date_text, c.currency, c.rate_text,
        nullif(c.base_currency, '{UNDECLARED_BASE}')))""",
    raw_document_sql="r.doc",
    unvalidated_columns=("doc",),
)
