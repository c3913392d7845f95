-- Daily revenue in the base currency by UTC date of the event ts (docs/semantics.md §8).
-- Σ net over all days = Σ tally subtotals of all orders; amounts are summed unrounded and
-- rounded to cents only here.
-- partition_by: date
with ledger as (
    select * from core.order_ledger
),

items as (
    select * from core.order_items
),

event_days as (
    select
        event_date as date,
        sum(subtotal_delta_base) filter (where counts_as_gross(action_class, is_order_creating))
            as gross,
        -sum(subtotal_delta_base) filter (where action_class = 'return') as returns,
        -sum(subtotal_delta_base) filter (where action_class = 'refund') as refunds,
        -sum(subtotal_delta_base) filter (where action_class = 'cancel') as cancellations,
        sum(subtotal_delta_base) as net,
        -- an order is placed on the date of its first event (core.orders.placed_at)
        count(*) filter (where event_seq = 1) as orders_placed
    from ledger
    group by event_date
),

item_days as (
    select event_date as date, sum(quantity) as items_sold
    from items
    where counts_as_gross(action_class, is_order_creating)
    group by event_date
),

final as (
    select
        event_days.date,
        cast(round(coalesce(event_days.gross, 0), 2) as decimal(38, 2)) as gross,
        cast(round(coalesce(event_days.returns, 0), 2) as decimal(38, 2)) as returns,
        cast(round(coalesce(event_days.refunds, 0), 2) as decimal(38, 2)) as refunds,
        cast(round(coalesce(event_days.cancellations, 0), 2) as decimal(38, 2))
            as cancellations,
        cast(round(coalesce(event_days.net, 0), 2) as decimal(38, 2)) as net,
        cast(event_days.orders_placed as bigint) as orders_placed,
        cast(coalesce(item_days.items_sold, 0) as decimal(38, 4)) as items_sold
    from event_days
    left join item_days on item_days.date = event_days.date
)

select * from final
order by date
