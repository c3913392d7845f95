-- Every line item belongs to an order. Checked on core.orders, which runs after the
-- partitioned items in every backfill.
-- severity: error
-- blocking: true
-- also_after: core.order_items
-- incremental_on: key_changes
-- incremental_days_of: core.order_items
with checked_items as (
    -- once the check passed, an item without its order lies on a day of the items
    -- re-derived since, or its order's row was replaced since (orders_pipeline/checks.py,
    -- incremental_on: key_changes): those items only, each read once. Two reads, not one
    -- with both tests joined by OR: the days' items are found by the zone maps of
    -- event_date, and the replaced orders' by one semi-join (issue 15)
    select event_id, order_id from core.order_items
    where not coalesce(getvariable('check_keys_only'), false)
        or event_date between getvariable('check_first_day') and getvariable('check_last_day')
    union all
    select event_id, order_id from core.order_items
    where coalesce(getvariable('check_keys_only'), false)
        and not coalesce(
            event_date between getvariable('check_first_day') and getvariable('check_last_day'),
            false)
        and order_id in (
            select key[1] from keys_replaced_since_check('core.orders')
        )
)

select items.event_id, items.order_id
from checked_items as items
left join core.orders as orders using (order_id)
where orders.order_id is null
