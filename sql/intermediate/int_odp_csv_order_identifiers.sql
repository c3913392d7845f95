-- Identifiers of ODP historical CSV events (docs/semantics.md §1.2, §5): every identifier column of
-- every accepted row (email, phone, customer_id, vuid, <platform>_customer_id), one row per
-- (row, type, value) as sent, on the row's event. arrival_seq is the row's own, so that the
-- identifiers of a row joining an earlier file's event reach the incremental models.
-- Normalisation happens in int_order_identifiers, once for every source.
-- materialized: incremental
with event_rows as (
    select * from intermediate.int_odp_csv_event_rows
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

identifier_entries as (
    -- each entry of the identifiers object: its keys and its values in lock-step (the idiom
    -- of stg_odp_order_identifiers)
    select
        order_event_id,
        order_id,
        arrival_seq,
        unnest(json_keys(identifiers)) as identifier_type,
        unnest(json_extract(identifiers, '$.*')) as entry_value
    from event_rows
    where identifiers is not null
),

final as (
    select
        order_event_id as event_id,
        'odp_csv' as source,
        order_id,
        identifier_type,
        entry_value ->> '$' as identifier_value,
        arrival_seq
    from identifier_entries
)

select * from final
