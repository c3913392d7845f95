-- Identifiers of ODP historical CSV events (SEMANTICS §1.2, §5): every identifier column of
-- every accepted row (email, phone, customer_id and any column that is not an event, item
-- or order_ column) plus order_email and order_phone, one row per (row, type, value) as sent.
-- Normalisation happens in stg_order_identifiers, once for every source.
-- materialized: incremental
with event_rows as (
    select * from staging.stg_odp_csv_event_rows
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

identifier_cells as (
    select
        event_rows.order_event_id as event_id,
        event_rows.order_id,
        event_rows.event_arrival_seq as arrival_seq,
        lower(trim(entry.key)) as identifier_type,
        entry.value ->> '$' as identifier_value
    from event_rows, json_each(event_rows.identifiers) as entry
    where event_rows.identifiers is not null
),

order_level_contacts as (
    select order_event_id as event_id, order_id, event_arrival_seq as arrival_seq,
           'email' as identifier_type,
           email as identifier_value
    from event_rows
    where email is not null
    union all
    select order_event_id as event_id, order_id, event_arrival_seq as arrival_seq,
           'phone' as identifier_type,
           phone as identifier_value
    from event_rows
    where phone is not null
),

final as (
    select event_id, 'odp_csv' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from identifier_cells
    union all
    select event_id, 'odp_csv' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from order_level_contacts
)

select * from final
