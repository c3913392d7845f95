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

final as (
    select
        event_rows.order_event_id as event_id,
        'odp_csv' as source,
        event_rows.order_id,
        entry.key as identifier_type,
        entry.value ->> '$' as identifier_value,
        event_rows.arrival_seq
    from event_rows, json_each(event_rows.identifiers) as entry
    where event_rows.identifiers is not null
)

select * from final
