-- Every source's identifiers, normalised (docs/semantics.md §5, sql/macros.sql): email trimmed and
-- lower-cased, phone reduced to `+` and digits, other ids trimmed, invisible characters
-- stripped from all. Empty values never link.
-- materialized: incremental
with odp_identifiers as (
    select * from staging.stg_odp_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

ometria_identifiers as (
    select * from staging.stg_ometria_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

optimizely_identifiers as (
    select * from staging.stg_optimizely_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

odp_csv_identifiers as (
    select * from intermediate.int_odp_csv_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

unioned as (
    select * from odp_identifiers
    union all
    select * from ometria_identifiers
    union all
    select * from optimizely_identifiers
    union all
    select * from odp_csv_identifiers
),

cleaned as (
    -- each value cleaned once (sql/macros.sql: normalise_cleaned_identifier)
    select
        event_id,
        source,
        order_id,
        arrival_seq,
        normalise_identifier_type(identifier_type) as identifier_type,
        clean_identifier(identifier_value) as cleaned_value
    from unioned
),

final as (
    -- sql/macros.sql: the one normalisation of every source's identifiers
    select distinct
        event_id,
        source,
        order_id,
        arrival_seq,
        identifier_type,
        normalise_cleaned_identifier(identifier_type, cleaned_value) as identifier_value
    from cleaned
)

select * from final
where identifier_value is not null and identifier_type is not null
