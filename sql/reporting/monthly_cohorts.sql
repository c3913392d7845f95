-- Monthly acquisition cohorts (docs/semantics.md §8): customers by the month of their first counted
-- order; for every later month, the cohort's net revenue and how many of its customers
-- placed a counted order. core.customer_months holds each customer's months (its net revenue
-- and counted orders each month, and its cohort): a cohort's month adds up its customers'.
with customers as (
    select * from core.customers
    where first_order_at is not null
),

customer_months as (
    select * from core.customer_months
),

cohorts as (
    select customer_id, utc_month(first_order_at) as cohort_month
    from customers
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_customers
    from cohorts
    group by cohort_month
),

cohort_activity as (
    -- one row per customer and month: counting the rows counts the customers
    select
        cohort_month,
        activity_month,
        sum(net_revenue) as net_revenue,
        count(*) filter (where counted_orders > 0) as active_customers
    from customer_months
    where cohort_month is not null
    group by cohort_month, activity_month
),

final as (
    select
        cohort_activity.cohort_month,
        cohort_activity.activity_month,
        cast(datediff('month', cohort_activity.cohort_month, cohort_activity.activity_month)
             as integer) as months_since_acquisition,
        cast(cohort_sizes.cohort_customers as bigint) as cohort_customers,
        cast(cohort_activity.active_customers as bigint) as active_customers,
        cast(round(coalesce(cohort_activity.net_revenue, 0), 2) as decimal(38, 2))
            as net_revenue
    from cohort_activity
    inner join cohort_sizes on cohort_sizes.cohort_month = cohort_activity.cohort_month
    where cohort_activity.activity_month >= cohort_activity.cohort_month
)

select * from final
order by cohort_month, activity_month
