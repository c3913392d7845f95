-- One row per (product_id) in core.products.
-- severity: error
-- blocking: true
select product_id, count(*) as n
from core.products
group by all
having count(*) > 1
