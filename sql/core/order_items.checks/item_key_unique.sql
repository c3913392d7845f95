-- One row per (event_id, item_no) in core.order_items.
-- severity: error
-- blocking: true
-- incremental_on: event_date
with checked_items as (
    -- once the check passed, a duplicate shares its event with an item on a day re-derived
    -- since (orders_pipeline/checks.py, incremental_on): those items only
    select * from core.order_items
    where not coalesce(getvariable('check_days_only'), false)
        or hash(event_id) in (
            select hash(event_id) from core.order_items
            where event_date between getvariable('check_first_day')
                and getvariable('check_last_day')
        )
)

select event_id, item_no, count(*) as n
from checked_items
group by all
having count(*) > 1
