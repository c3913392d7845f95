-- ODP historical CSV line items (docs/semantics.md §1.2): one row per accepted CSV row that carries
-- an item (item_product_id, item_sku, item_price, item_quantity, item_discount or
-- item_subtotal). Order-level custom fields are copied onto every item, as for ODP events
-- (§1.1). arrival_seq is the row's own, not its event's: an item that joins an event begun
-- in an earlier file is a new row for the incremental models downstream.
-- materialized: incremental
with event_rows as (
    select * from intermediate.int_odp_csv_event_rows
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

items_with_subtotal as (
    select
        event_rows.*,
        -- §3: an item subtotal, when absent, is price × quantity − discount (a line
        -- without a quantity is one unit), widened before multiplying
        coalesce(
            event_rows.item_subtotal,
            cast(event_rows.price as decimal(38, 4)) * coalesce(event_rows.quantity, 1)
                - coalesce(event_rows.item_discount, 0)
        ) as line_subtotal
    from event_rows
    where event_rows.is_item
),

final as (
    select
        order_event_id as event_id,
        'odp_csv' as source,
        order_id,
        action,
        ts,
        item_no,
        product_id,
        sku,
        price,
        quantity,
        item_discount as discount,
        cast(line_subtotal as decimal(38, 4)) as subtotal,
        item_subtotal is null as subtotal_derived,
        dropped_fields,
        coalesce(custom, json('{}')) as custom,
        -- ODP drops custom item fields (§1.1): item_<key> columns are counted, not kept
        cast(null as json) as attributes,
        arrival_seq
    from items_with_subtotal
)

select * from final
