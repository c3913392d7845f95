-- Each customer's months (docs/semantics.md §7, §8): one row per customer and UTC calendar month
-- with an event of the customer's orders: the customer's net revenue that month, the counted
-- orders it placed that month, and its acquisition cohort (the month of its first counted
-- order). reporting.monthly_cohorts adds these rows up per cohort: with one row per customer
-- and month, its active customers are a plain count of rows, never a distinct count over
-- every order.
-- An incremental build recomputes only the customers core.customers recomputes
-- (customers.changed.sql): a customer's months change only with what its metrics are built
-- from, its orders, their events and its identifiers.
-- materialized: incremental
-- unique_key: customer_id
-- changed_keys_of: core.customers
with customers as (
    select * from core.customers
    where getvariable('incremental_after') < 0
        or customer_id in (select customer_id from changed_keys)
),

orders as (
    -- §4.4: an order known only from Orders-object updates has no events: it joins no row
    select * from core.orders
    where customer_id is not null
        and (getvariable('incremental_after') < 0
             or customer_id in (select customer_id from changed_keys))
),

ledger as (
    -- every event of the customers' orders, a pass-through too: its month is one of activity
    select
        order_ledger.event_date,
        order_ledger.event_seq,
        order_ledger.subtotal_delta_base,
        orders.customer_id,
        orders.counts_for_lifecycle
    from core.order_ledger
    inner join orders on orders.order_id = order_ledger.order_id
),

monthly as (
    select
        customer_id,
        date_trunc('month', event_date)::date as activity_month,
        sum(subtotal_delta_base) as net_revenue,
        -- an order is placed by its first event (placed_at, §4); §7: a cancelled one does
        -- not count
        count(*) filter (where event_seq = 1 and counts_for_lifecycle) as counted_orders
    from ledger
    group by 1, 2
),

final as (
    select
        monthly.customer_id,
        monthly.activity_month,
        utc_month(customers.first_order_at) as cohort_month,
        -- NULL when none of the month's events converted to the base currency (§6)
        cast(monthly.net_revenue as decimal(38, 4)) as net_revenue,
        cast(monthly.counted_orders as integer) as counted_orders
    from monthly
    left join customers on customers.customer_id = monthly.customer_id
)

select * from final
