-- One summary row per order.
-- severity: error
-- blocking: true
-- incremental_on: key_changes
with checked_orders as (
    -- once the check passed, a duplicate shares its order_id with a row a build replaced
    -- since (orders_pipeline/checks.py, incremental_on: key_changes): those rows only
    select order_id from core.orders
    where not coalesce(getvariable('check_keys_only'), false)
        or order_id in (
            select key[1] from keys_replaced_since_check('core.orders')
        )
)

select order_id, count(*) as n
from checked_orders
group by 1
having count(*) > 1
