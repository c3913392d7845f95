-- Refund rate by month (docs/semantics.md §4.3, §8): of the orders placed in a month (UTC, by
-- `placed_at`), how many have any return, refund or cancel since (`refund_state` partial
-- or full), and that share; beside it, the month's gross sales and the amounts returned,
-- refunded and cancelled *in* that month (reporting.daily_revenue), base currency.
-- reporting.refund_summary.refund_rate is the same share over all orders, on every row.
with orders as (
    select * from core.orders
    -- an order known only from Orders-object updates has no placed_at and no month
    where placed_at is not null
),

daily_revenue as (
    select * from reporting.daily_revenue
),

orders_by_month as (
    select
        utc_month(placed_at) as month,
        count(*) as orders_placed,
        count(*) filter (where refund_state <> 'none') as refunded_orders,
        count(*) filter (where refund_state = 'full') as fully_refunded_orders
    from orders
    group by 1
),

amounts_by_month as (
    select
        date_trunc('month', date)::date as month,
        sum(gross) as gross,
        sum(returns + refunds + cancellations) as refunded_amount
    from daily_revenue
    group by 1
),

months as (
    select month from orders_by_month
    union
    select month from amounts_by_month
),

final as (
    select
        months.month,
        cast(coalesce(orders_by_month.orders_placed, 0) as bigint) as orders_placed,
        cast(coalesce(orders_by_month.refunded_orders, 0) as bigint) as refunded_orders,
        cast(coalesce(orders_by_month.fully_refunded_orders, 0) as bigint)
            as fully_refunded_orders,
        cast(round(decimal_division(
            cast(orders_by_month.refunded_orders as decimal(18, 4)),
            cast(nullif(orders_by_month.orders_placed, 0) as decimal(18, 0)), 4), 4)
             as decimal(18, 4)) as refund_rate,
        cast(round(coalesce(amounts_by_month.gross, 0), 2) as decimal(38, 2)) as gross,
        cast(round(coalesce(amounts_by_month.refunded_amount, 0), 2) as decimal(38, 2))
            as refunded_amount
    from months
    left join orders_by_month on orders_by_month.month = months.month
    left join amounts_by_month on amounts_by_month.month = months.month
)

select * from final
order by month
