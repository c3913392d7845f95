-- Customers by lifecycle stage (docs/semantics.md §7), every stage listed even when empty.
with customers as (
    select * from core.customers
),

stages as (
    select * from (values
        (1, 'no_purchase'), (2, 'one_purchase'), (3, 'repeat'), (4, 'loyal')
    ) as stage(stage_order, lifecycle_stage)
),

per_stage as (
    select
        lifecycle_stage,
        count(*) as customers,
        sum(lifecycle_order_count) as lifecycle_orders,
        sum(ltv) as ltv
    from customers
    group by lifecycle_stage
),

final as (
    select
        stages.lifecycle_stage,
        stages.stage_order,
        cast(coalesce(per_stage.customers, 0) as bigint) as customers,
        cast(coalesce(per_stage.lifecycle_orders, 0) as bigint) as lifecycle_orders,
        cast(round(coalesce(per_stage.ltv, 0), 2) as decimal(38, 2)) as ltv,
        cast(round(decimal_division(
            cast(per_stage.ltv as decimal(38, 4)),
            cast(nullif(per_stage.lifecycle_orders, 0) as decimal(18, 0)), 4), 2)
             as decimal(38, 2)) as aov,
        cast(round(decimal_division(cast(per_stage.ltv as decimal(38, 4)),
                                    cast(nullif(per_stage.customers, 0) as decimal(18, 0)), 4), 2)
             as decimal(38, 2)) as ltv_per_customer
    from stages
    left join per_stage on per_stage.lifecycle_stage = stages.lifecycle_stage
)

select * from final
order by stage_order
