-- One row per (order_id) in core.order_customers.
-- severity: error
-- blocking: true
select order_id, count(*) as n
from core.order_customers
group by all
having count(*) > 1
