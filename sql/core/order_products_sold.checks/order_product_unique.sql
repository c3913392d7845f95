-- One row per order and product it sold (reporting.product_sales counts these rows as
-- orders per product: a repeated row would count an order twice).
-- severity: error
-- blocking: true
-- incremental_on: key_changes
with checked_products as (
    -- once the check passed, a duplicate shares its order_id with the rows of an order a
    -- build replaced since (orders_pipeline/checks.py, incremental_on: key_changes): those
    -- rows only
    select order_id, product_key from core.order_products_sold
    where not coalesce(getvariable('check_keys_only'), false)
        or order_id in (
            select key[1] from keys_replaced_since_check('core.order_products_sold')
        )
)

select order_id, product_key, count(*) as n
from checked_products
group by all
having count(*) > 1
