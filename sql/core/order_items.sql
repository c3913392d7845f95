-- Line items of every ledger event, with the event's action, time and currency.
-- partition_by: event_date
with items as (
    select * from staging.stg_order_items
),

ledger as (
    select * from core.order_ledger
),

final as (
    select
        items.event_id,
        items.order_id,
        ledger.action,
        ledger.action_class,
        ledger.ts,
        ledger.event_date,
        items.item_no,
        items.product_id,
        items.sku,
        items.price,
        items.quantity,
        items.discount,
        items.subtotal,
        items.subtotal_derived,
        items.custom,
        items.attributes,
        items.source,
        ledger.currency,
        cast(items.subtotal * ledger.rate_to_base as decimal(38, 4)) as subtotal_base,
        ledger.is_order_creating
    from items
    inner join ledger on ledger.event_id = items.event_id
)

select * from final
