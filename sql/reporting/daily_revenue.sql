-- Daily revenue in the base currency by UTC date of the event ts (SEMANTICS §8).
-- Σ net over all days = Σ tally subtotals of all orders; amounts are summed unrounded and
-- rounded to cents only here.
with ledger as (
    select * from core.order_events
),

orders as (
    select * from core.orders
),

items as (
    select * from core.order_items
),

event_days as (
    select
        cast(ts as date) as date,
        sum(subtotal_delta_base) filter (where action_class = 'purchase'
            or (action_class = 'custom' and is_order_creating)) as gross,
        -sum(subtotal_delta_base) filter (where action_class = 'return') as returns,
        -sum(subtotal_delta_base) filter (where action_class = 'refund') as refunds,
        -sum(subtotal_delta_base) filter (where action_class = 'cancel') as cancellations,
        sum(subtotal_delta_base) as net
    from ledger
    group by 1
),

placed_days as (
    select cast(placed_at as date) as date, count(*) as orders_placed
    from orders
    group by 1
),

item_days as (
    select cast(ts as date) as date, sum(quantity) as items_sold
    from items
    where action_class = 'purchase' or (action_class = 'custom' and is_order_creating)
    group by 1
),

all_days as (
    select date from event_days
    union
    select date from placed_days
),

final as (
    select
        all_days.date,
        cast(round(coalesce(event_days.gross, 0), 2) as decimal(18, 2)) as gross,
        cast(round(coalesce(event_days.returns, 0), 2) as decimal(18, 2)) as returns,
        cast(round(coalesce(event_days.refunds, 0), 2) as decimal(18, 2)) as refunds,
        cast(round(coalesce(event_days.cancellations, 0), 2) as decimal(18, 2))
            as cancellations,
        cast(round(coalesce(event_days.net, 0), 2) as decimal(18, 2)) as net,
        cast(coalesce(placed_days.orders_placed, 0) as bigint) as orders_placed,
        cast(coalesce(item_days.items_sold, 0) as decimal(18, 4)) as items_sold
    from all_days
    left join event_days on event_days.date = all_days.date
    left join placed_days on placed_days.date = all_days.date
    left join item_days on item_days.date = all_days.date
)

select * from final
order by date
