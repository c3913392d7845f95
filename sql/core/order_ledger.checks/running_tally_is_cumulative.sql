-- Each running subtotal and total is the sum of the order's deltas up to that event
-- (docs/semantics.md §3).
-- severity: error
-- blocking: true
with cumulative as (
    select
        *,
        sum(subtotal_delta) over order_timeline as cumulative_subtotal,
        sum(total_delta) over order_timeline as cumulative_total
    from core.order_ledger
    window order_timeline as (
        partition by order_id order by event_seq rows unbounded preceding
    )
)

select order_id, event_seq, running_subtotal, cumulative_subtotal, running_total,
    cumulative_total
from cumulative
where running_subtotal <> cumulative_subtotal or running_total <> cumulative_total
