-- Identifiers of Optimizely offline orders (SEMANTICS §5): <user email> is an `email`
-- identifier, as sent; an order without <user> has none (anonymous). Normalisation happens
-- in stg_order_identifiers, once for every source.
-- materialized: incremental
with records as (
    select * from staging.optimizely_order_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

final as (
    select
        event_id,
        'optimizely_xml' as source,
        order_id,
        'email' as identifier_type,
        email as identifier_value,
        arrival_seq
    from records
    where email is not null
)

select * from final
