-- Identifiers of ODP events (docs/semantics.md §5): every key of `identifiers` plus
-- data.order.email and data.order.phone, one row per (event, type, value) as sent.
-- Normalisation happens in int_order_identifiers, once for every source.
-- materialized: incremental
with records as (
    select * from staging.odp_event_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

-- each entry of identifiers (an object, or NULL: validation): its keys and its values
-- (json_extract '$.*') are both in document order and DuckDB unnests the lists of one select
-- in lock-step, so each key meets its own value (a lateral json_each costs DuckDB a DISTINCT
-- over the objects and a hash join back on them: issue 15)
identifier_entries as (
    select
        event_id,
        order_id,
        arrival_seq,
        unnest(json_keys(identifiers)) as identifier_type,
        unnest(json_extract(identifiers, '$.*')) as entry_value
    from records
    where identifiers is not null
),

identifier_values as (
    select event_id, order_id, arrival_seq, identifier_type,
           entry_value ->> '$' as identifier_value
    from identifier_entries
    where json_type(entry_value) not in ('OBJECT', 'ARRAY', 'NULL')
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
    from identifier_values
    union all
    select event_id, 'odp_events' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from order_level_contacts
)

select * from final
