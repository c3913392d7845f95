-- Identifiers of Optimizely offline orders (docs/semantics.md §1.5, §5): <user email> is an `email`
-- identifier and <order customerId> (Optimizely Configured Commerce) a `customer_id` one, as
-- sent; an order with neither is anonymous. Normalisation happens in int_order_identifiers,
-- once for every source.
-- materialized: incremental
with records as (
    select * from staging.optimizely_order_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

sent_identifiers as (
    select event_id, order_id, arrival_seq, 'email' as identifier_type, email as identifier_value
    from records
    where email is not null
    union all
    select event_id, order_id, arrival_seq, 'customer_id' as identifier_type,
           customer_id as identifier_value
    from records
    where customer_id is not null
),

final as (
    select
        event_id,
        'optimizely_xml' as source,
        order_id,
        identifier_type,
        identifier_value,
        arrival_seq
    from sent_identifiers
)

select * from final
