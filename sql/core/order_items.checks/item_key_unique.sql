-- One row per (event_id, item_no) in core.order_items.
-- severity: error
-- blocking: true
select event_id, item_no, count(*) as n
from core.order_items
group by all
having count(*) > 1
