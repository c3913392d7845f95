-- One ledger row per event.
-- severity: error
-- blocking: true
-- incremental_on: event_date
with checked_events as (
    -- once the check passed, a duplicate shares its event id with a row on a day re-derived
    -- since (orders_pipeline/checks.py, incremental_on): those rows only
    select * from core.order_ledger
    where not coalesce(getvariable('check_days_only'), false)
        or hash(event_id) in (
            select hash(event_id) from core.order_ledger
            where event_date between getvariable('check_first_day')
                and getvariable('check_last_day')
        )
)

select event_id, count(*) as n
from checked_events
group by 1
having count(*) > 1
