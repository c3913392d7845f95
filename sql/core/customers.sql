-- Resolved customers (docs/semantics.md §5, §7): one row per connected component of identifiers,
-- with profile fields (first value wins) and lifecycle metrics on the order subtotal.
-- An incremental build recomputes only the customers customers.changed.sql lists.
-- materialized: incremental
-- unique_key: customer_id
with contacts as (
    select * from core.customer_contacts
    where getvariable('incremental_after') < 0
        or customer_id in (select customer_id from changed_keys)
),

orders as (
    -- §4.4: an order known only from Orders-object updates has no events and no revenue: it
    -- is in no customer's metrics
    select * from core.orders
    where customer_id is not null and event_count > 0
        and (getvariable('incremental_after') < 0
             or customer_id in (select customer_id from changed_keys))
),

order_customers as (
    select * from core.order_customers
    where getvariable('incremental_after') < 0
        or customer_id in (select customer_id from changed_keys)
),

ledger as (
    -- core.order_events, read from its tables so that only the chosen customers' events are
    -- joined
    select order_ledger.*, order_customers.customer_id
    from core.order_ledger
    inner join order_customers on order_customers.order_id = order_ledger.order_id
    where not order_ledger.is_pass_through
),

profiles as (
    -- §5: the first non-empty value in time order is never overwritten
    select
        customer_id,
        first(first_name order by ts, arrival_seq) filter (where first_name is not null)
            as first_name,
        first(last_name order by ts, arrival_seq) filter (where last_name is not null)
            as last_name,
        first(name order by ts, arrival_seq) filter (where name is not null) as name
    from ledger
    group by customer_id
),

order_metrics as (
    -- §7: cancelled orders do not count; returned or refunded ones do
    select
        customer_id,
        count(*) filter (where counts_for_lifecycle) as lifecycle_order_count,
        count(*) as order_count_all,
        -- §7: LTV over all orders (a full cancel nets to ≤ 0), on the subtotal
        sum(subtotal_base) as ltv,
        min(placed_at) filter (where counts_for_lifecycle) as first_order_at,
        max(placed_at) filter (where counts_for_lifecycle) as last_order_at
    from orders
    group by customer_id
),

final as (
    select
        order_metrics.customer_id,
        coalesce(contacts.emails, []) as emails,
        coalesce(contacts.phones, []) as phones,
        coalesce(contacts.other_identifiers, '{}'::json) as other_identifiers,
        profiles.first_name,
        profiles.last_name,
        profiles.name,
        cast(order_metrics.lifecycle_order_count as integer) as lifecycle_order_count,
        case
            when order_metrics.lifecycle_order_count = 0 then 'no_purchase'
            when order_metrics.lifecycle_order_count >= getvariable('loyal_min_orders')
                then 'loyal'
            when order_metrics.lifecycle_order_count >= getvariable('repeat_min_orders')
                then 'repeat'
            else 'one_purchase'
        end as lifecycle_stage,
        cast(order_metrics.ltv as decimal(38, 4)) as ltv,
        case when order_metrics.lifecycle_order_count > 0
            then decimal_division(
                cast(order_metrics.ltv as decimal(38, 4)),
                cast(order_metrics.lifecycle_order_count as decimal(18, 0)),
                4)
        end as aov,
        order_metrics.first_order_at,
        order_metrics.last_order_at,
        cast(order_metrics.order_count_all as integer) as order_count_all
    from order_metrics
    left join contacts on contacts.customer_id = order_metrics.customer_id
    left join profiles on profiles.customer_id = order_metrics.customer_id
)

select * from final
