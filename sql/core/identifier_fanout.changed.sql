-- The identifiers an incremental build of core.identifier_fanout recomputes: every
-- identifier on an order that received identifiers since the last build (its order count
-- and the others it appears with can only have changed there).
with new_orders as (
    select distinct order_id from intermediate.int_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

final as (
    select distinct identifier_type, identifier_value
    from intermediate.int_order_identifiers
    where order_id in (select order_id from new_orders)
)

select * from final
