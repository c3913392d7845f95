-- Identifiers of ODP events (docs/semantics.md §5): every key of `identifiers` plus
-- data.order.email and data.order.phone, one row per (event, type, value) as sent.
-- Normalisation happens in int_order_identifiers, once for every source.
-- materialized: incremental
with records as (
    select * from staging.odp_event_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

identifier_entries as (
    select
        records.event_id,
        records.order_id,
        records.arrival_seq,
        entry.key as identifier_type,
        entry.value ->> '$' as identifier_value
    from records, json_each(records.identifiers) as entry
    where records.identifiers is not null
      and entry.type not in ('OBJECT', 'ARRAY', 'NULL')
),

order_level_contacts as (
    select event_id, order_id, arrival_seq, 'email' as identifier_type, email as identifier_value
    from records
    where email is not null
    union all
    select event_id, order_id, arrival_seq, 'phone' as identifier_type, phone as identifier_value
    from records
    where phone is not null
),

final as (
    select event_id, 'odp_events' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from identifier_entries
    union all
    select event_id, 'odp_events' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from order_level_contacts
)

select * from final
