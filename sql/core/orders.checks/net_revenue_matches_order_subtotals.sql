-- Σ daily net = Σ tally subtotals of all orders (base currency), within the half-cent per day
-- that rounding to cents allows (docs/semantics.md §8). Checked on core.orders, which runs
-- after the partitioned daily revenue in every backfill.
-- severity: error
-- blocking: true
-- also_after: reporting.daily_revenue
with revenue as (
    select sum(net) as net, count(*) as days from reporting.daily_revenue
),

orders as (
    select coalesce(sum(tally_subtotal_base), 0) as subtotal from core.orders
)

select revenue.net, orders.subtotal, revenue.days
from revenue, orders
where abs(coalesce(revenue.net, 0) - orders.subtotal) > 0.005 * revenue.days
