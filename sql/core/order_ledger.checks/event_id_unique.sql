-- One ledger row per event.
-- severity: error
-- blocking: true
select event_id, count(*) as n
from core.order_ledger
group by 1
having count(*) > 1
