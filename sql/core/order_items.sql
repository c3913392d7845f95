-- Line items of every ledger event, with the event's action, time and currency.
-- partition_by: event_date
with items as (
    select * from intermediate.int_order_items
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
        -- items are in the currency their event was sent in; none of an event left
        -- unconverted counts (core/order_ledger:events_in_order_currency)
        ledger.sent_currency as currency,
        cast(case when not ledger.is_unconverted then items.subtotal * ledger.sent_rate_to_base end
             as decimal(38, 4)) as subtotal_base,
        ledger.is_order_creating
    from items
    inner join ledger
        on ledger.event_id = items.event_id
        -- implied by the key: an item never arrives before its event (it comes in the same
        -- record, or in a later row of an ODP CSV event: int_odp_csv_order_items). Said
        -- here, it lets a build of a few days skip the items that arrived before their
        -- first event instead of reading every item (DuckDB's join filter on the zone maps)
        and items.arrival_seq >= ledger.arrival_seq
)

select * from final
