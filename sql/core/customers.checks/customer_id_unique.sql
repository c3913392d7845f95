-- One row per resolved customer.
-- severity: error
-- blocking: true
select customer_id, count(*) as n
from core.customers
group by 1
having count(*) > 1
