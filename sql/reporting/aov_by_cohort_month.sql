-- Average order value and repeat purchase by acquisition cohort (docs/semantics.md §7, §8):
-- customers grouped by the month of their first counted order; over their whole lifetime,
-- their counted orders, net subtotal (LTV, base currency) and AOV = LTV / counted orders
-- (subtotal based, never the total), and the share of them who bought again.
with customers as (
    select * from core.customers
    where first_order_at is not null
),

cohort_totals as (
    select
        utc_month(first_order_at) as cohort_month,
        count(*) as customers,
        sum(lifecycle_order_count) as lifecycle_orders,
        sum(ltv) as ltv,
        count(*) filter (where lifecycle_stage in ('repeat', 'loyal')) as repeat_customers
    from customers
    group by 1
),

final as (
    select
        cohort_month,
        cast(customers as bigint) as customers,
        cast(lifecycle_orders as bigint) as lifecycle_orders,
        cast(round(ltv, 2) as decimal(38, 2)) as ltv,
        cast(round(decimal_division(cast(ltv as decimal(38, 4)),
                                    cast(nullif(lifecycle_orders, 0) as decimal(18, 0)), 4), 2)
             as decimal(38, 2)) as aov,
        cast(repeat_customers as bigint) as repeat_customers,
        cast(round(decimal_division(cast(repeat_customers as decimal(18, 4)),
                                    cast(nullif(customers, 0) as decimal(18, 0)), 4), 4)
             as decimal(18, 4)) as repeat_purchase_rate
    from cohort_totals
)

select * from final
order by cohort_month
