-- Every line item belongs to an order. Checked on core.orders, which runs after the
-- partitioned items in every backfill.
-- severity: error
-- blocking: true
-- also_after: core.order_items
select items.event_id, items.order_id
from core.order_items as items
left join core.orders as orders using (order_id)
where orders.order_id is null
