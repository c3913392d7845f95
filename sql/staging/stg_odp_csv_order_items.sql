-- ODP historical CSV line items (SEMANTICS §1.2): one row per accepted CSV row that carries
-- an item (product_id, sku, price, quantity, discount or subtotal). Order-level custom
-- fields are copied onto every item, as for ODP events (§1.1).
-- materialized: incremental
with event_rows as (
    select * from staging.stg_odp_csv_event_rows
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
        custom,
        -- ODP drops custom item fields (§1.1): item_<key> columns are counted, not kept
        cast(null as json) as attributes,
        event_arrival_seq as arrival_seq
    from items_with_subtotal
)

select * from final
