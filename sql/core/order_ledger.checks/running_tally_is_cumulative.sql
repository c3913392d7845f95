-- Each running subtotal and total is the sum of the order's deltas up to that event
-- (docs/semantics.md §3).
-- severity: error
-- blocking: true
-- incremental_on: event_date
with checked_orders as (
    -- once the check passed, only an order with a row on a day re-derived since can fail it
    -- (orders_pipeline/checks.py, incremental_on): those orders only
    select * from core.order_ledger
    where not coalesce(getvariable('check_days_only'), false)
        or hash(order_id) in (
            select hash(order_id) from core.order_ledger
            where event_date between getvariable('check_first_day')
                and getvariable('check_last_day')
        )
),

cumulative as (
    select
        *,
        sum(subtotal_delta) over order_timeline as cumulative_subtotal,
        sum(total_delta) over order_timeline as cumulative_total
    from checked_orders
    window order_timeline as (
        partition by order_id order by event_seq rows unbounded preceding
    )
)

select order_id, event_seq, running_subtotal, cumulative_subtotal, running_total,
    cumulative_total
from cumulative
where running_subtotal <> cumulative_subtotal or running_total <> cumulative_total
