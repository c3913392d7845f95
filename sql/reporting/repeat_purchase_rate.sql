-- The repeat-purchase rate (docs/semantics.md §7, §8), one row: of the customers with at least
-- one counted order, the share with at least ORDERS_LIFECYCLE_REPEAT_MIN of them (lifecycle
-- stage `repeat` or `loyal`). By acquisition cohort: reporting.aov_by_cohort_month.
with customers as (
    select * from core.customers
    where lifecycle_order_count > 0
),

totals as (
    select
        count(*) as customers,
        count(*) filter (where lifecycle_stage in ('repeat', 'loyal')) as repeat_customers,
        count(*) filter (where lifecycle_stage = 'loyal') as loyal_customers
    from customers
),

final as (
    select
        cast(customers as bigint) as customers,
        cast(repeat_customers as bigint) as repeat_customers,
        cast(loyal_customers as bigint) as loyal_customers,
        cast(round(decimal_division(cast(repeat_customers as decimal(18, 4)),
                                    cast(nullif(customers, 0) as decimal(18, 0)), 4), 4)
             as decimal(18, 4)) as repeat_purchase_rate
    from totals
)

select * from final
