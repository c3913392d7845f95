-- Orders by refund state (docs/semantics.md §4.3, §8) and the refund rate: the share of orders with
-- any return, refund or cancel.
with orders as (
    select * from core.orders
),

states as (
    select * from (values (1, 'none'), (2, 'partial'), (3, 'full')) as s(state_order, refund_state)
),

per_state as (
    select
        refund_state,
        count(*) as orders,
        count(*) filter (where is_cancelled) as cancelled_orders,
        sum(subtotal_base) as net_subtotal
    from orders
    group by refund_state
),

totals as (
    select
        count(*) as all_orders,
        count(*) filter (where refund_state <> 'none') as refunded_orders
    from orders
),

final as (
    select
        states.refund_state,
        states.state_order,
        cast(coalesce(per_state.orders, 0) as bigint) as orders,
        cast(coalesce(per_state.cancelled_orders, 0) as bigint) as cancelled_orders,
        cast(round(coalesce(per_state.net_subtotal, 0), 2) as decimal(38, 2)) as net_subtotal,
        cast(round(decimal_division(cast(coalesce(per_state.orders, 0) as decimal(18, 4)),
                                    cast(nullif(totals.all_orders, 0) as decimal(18, 0)), 4), 4)
             as decimal(18, 4)) as share_of_orders,
        cast(round(decimal_division(cast(totals.refunded_orders as decimal(18, 4)),
                                    cast(nullif(totals.all_orders, 0) as decimal(18, 0)), 4), 4)
             as decimal(18, 4)) as refund_rate
    from states
    cross join totals
    left join per_state on per_state.refund_state = states.refund_state
)

select * from final
order by state_order
