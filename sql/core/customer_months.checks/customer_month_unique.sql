-- One row per customer and month of activity (reporting.monthly_cohorts counts these rows
-- as active customers: a repeated row would count a customer twice).
-- severity: error
-- blocking: true
-- incremental_on: key_changes
with checked_months as (
    -- once the check passed, a duplicate shares its customer_id with the rows of a customer
    -- a build replaced since (orders_pipeline/checks.py, incremental_on: key_changes): those
    -- rows only
    select customer_id, activity_month from core.customer_months
    where not coalesce(getvariable('check_keys_only'), false)
        or customer_id in (
            select key[1] from keys_replaced_since_check('core.customer_months')
        )
)

select customer_id, activity_month, count(*) as n
from checked_months
group by all
having count(*) > 1
