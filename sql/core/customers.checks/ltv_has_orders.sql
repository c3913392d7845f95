-- No customer has an LTV without orders.
-- severity: error
-- blocking: true
select customer_id, ltv, order_count_all
from core.customers
where ltv <> 0 and order_count_all = 0
