-- Monthly acquisition cohorts (docs/semantics.md §8): customers by the month of their first counted
-- order; for every later month, the cohort's net revenue and how many of its customers
-- placed a counted order.
with customers as (
    select * from core.customers
    where first_order_at is not null
),

orders as (
    select * from core.orders
    where customer_id is not null
),

ledger as (
    select * from core.order_events
    where customer_id is not null
),

cohorts as (
    select customer_id, date_trunc('month', first_order_at)::date as cohort_month
    from customers
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_customers
    from cohorts
    group by cohort_month
),

monthly_revenue as (
    select
        cohorts.cohort_month,
        date_trunc('month', ledger.ts)::date as activity_month,
        sum(ledger.subtotal_delta_base) as net_revenue
    from ledger
    inner join cohorts on cohorts.customer_id = ledger.customer_id
    group by 1, 2
),

monthly_active as (
    select
        cohorts.cohort_month,
        date_trunc('month', orders.placed_at)::date as activity_month,
        count(distinct orders.customer_id) as active_customers
    from orders
    inner join cohorts on cohorts.customer_id = orders.customer_id
    -- an order known only from Orders-object updates has no placed_at and no activity month
    where orders.counts_for_lifecycle and orders.event_count > 0
    group by 1, 2
),

cohort_months as (
    select cohort_month, activity_month from monthly_revenue
    union
    select cohort_month, activity_month from monthly_active
),

final as (
    select
        cohort_months.cohort_month,
        cohort_months.activity_month,
        cast(datediff('month', cohort_months.cohort_month, cohort_months.activity_month)
             as integer) as months_since_acquisition,
        cast(cohort_sizes.cohort_customers as bigint) as cohort_customers,
        cast(coalesce(monthly_active.active_customers, 0) as bigint) as active_customers,
        cast(round(coalesce(monthly_revenue.net_revenue, 0), 2) as decimal(38, 2))
            as net_revenue
    from cohort_months
    inner join cohort_sizes on cohort_sizes.cohort_month = cohort_months.cohort_month
    left join monthly_revenue
        on monthly_revenue.cohort_month = cohort_months.cohort_month
        and monthly_revenue.activity_month = cohort_months.activity_month
    left join monthly_active
        on monthly_active.cohort_month = cohort_months.cohort_month
        and monthly_active.activity_month = cohort_months.activity_month
    where cohort_months.activity_month >= cohort_months.cohort_month
)

select * from final
order by cohort_month, activity_month
