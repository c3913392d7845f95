-- One row per (identifier_type, identifier_value) in core.customer_identifiers.
-- severity: error
-- blocking: true
-- incremental_on: key_changes
with checked_identifiers as (
    -- once the check passed, a duplicate shares its identifier with a row identity
    -- resolution replaced since (orders_pipeline/checks.py, incremental_on: key_changes):
    -- those rows only
    select identifier_type, identifier_value from core.customer_identifiers
    where not coalesce(getvariable('check_keys_only'), false)
        or (identifier_type, identifier_value) in (
            select key[1], key[2] from keys_replaced_since_check('core.customer_identifiers')
        )
)

select identifier_type, identifier_value, count(*) as n
from checked_identifiers
group by all
having count(*) > 1
