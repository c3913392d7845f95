-- One row per resolved customer.
-- severity: error
-- blocking: true
-- incremental_on: key_changes
with checked_customers as (
    -- once the check passed, a duplicate shares its customer_id with a row a build replaced
    -- since (orders_pipeline/checks.py, incremental_on: key_changes): those rows only
    select customer_id from core.customers
    where not coalesce(getvariable('check_keys_only'), false)
        or customer_id in (
            select key[1] from keys_replaced_since_check('core.customers')
        )
)

select customer_id, count(*) as n
from checked_customers
group by 1
having count(*) > 1
