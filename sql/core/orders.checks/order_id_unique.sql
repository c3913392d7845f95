-- One summary row per order.
-- severity: error
-- blocking: true
select order_id, count(*) as n
from core.orders
group by 1
having count(*) > 1
